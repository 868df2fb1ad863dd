"""Pictures of a trace: a sequence diagram (:func:`timeline`) and frame sizes (:func:`sizes`).

Both follow matplotlib's convention ``f(records, *, ax=None, **kwargs) -> Axes``:
pass an Axes to draw into it, or leave ``ax`` out and a figure sized for the
data is made. Nothing here changes rcParams or calls ``plt.show()``.

:func:`timeline` draws one row per event, in time order (not to scale): the
time since the first event is printed at the left of each row, so a burst of
frames a few microseconds apart stays as readable as a slow exchange.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import ScaledTranslation

from .decode import CLOSE_CODES, DecodeError, Frame, Handshake
from .trace import Note, Record, State, Tcp

__all__ = ["timeline", "sizes", "COLORS", "STATE_COLORS"]

#: Colours of arrows and labels, by family.
COLORS = {
    "data": "#1f5fbf",
    "control": "#7d3c98",
    "close": "#c25e00",
    "handshake": "#1b2631",
    "tcp": "#6e7b7c",
    "error": "#c0392b",
    "note": "#4d5656",
}

#: Colours of the state bands along each lifeline.
STATE_COLORS = {
    "CONNECTING": "#f7dc6f",
    "OPEN": "#58c98b",
    "CLOSING": "#f5a142",
    "CLOSED": "#bcc4c6",
}

DATA_OPCODES = frozenset({"TEXT", "BINARY", "CONTINUATION"})
CONTROL_OPCODES = frozenset({"PING", "PONG"})

# Geometry of timeline(), in data units. x units are inches when timeline()
# makes the figure; y units are rows.
_ROW_IN = 0.36          # height of one row, inches
_LANE_GAP = 1.5         # between one lane's server and the next lane's client
_BAND = 0.13            # width of a state band
_HEAD = 1.6             # rows above the first event, for the lifeline heads
_ARROW_AT = 0.64        # where the arrow sits inside its row (label above it)
_GAP_PT = 2.5           # between an arrow and its label, points
_MAX_FIG_H = 40.0       # inches


# -- small helpers --------------------------------------------------------------

def _fmt_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} KB"
    return f"{n / 1_000_000:.1f} MB"


def _fmt_dt(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 10:
        return f"+{ms:.2f} ms"
    if ms < 10_000:
        return f"+{ms:.1f} ms"
    return f"+{ms / 1000:.2f} s"


def _fmt_span(seconds: float) -> str:
    return _fmt_dt(seconds)[1:]


@functools.lru_cache(maxsize=8)
def _charmap() -> frozenset[int]:
    from matplotlib.font_manager import findfont, get_font

    try:
        return frozenset(get_font(findfont(FontProperties())).get_charmap())
    except Exception:  # pragma: no cover - exotic font setups
        return frozenset(range(0x20, 0x7F))


def _clean(text: str) -> str:
    """Make payload text drawable on one line (no control chars, no missing glyphs)."""
    chars = _charmap()
    out = []
    for c in text:
        if c == "\n":
            out.append("⏎")
        elif c == "\t":
            out.append("⇥")
        elif not c.isprintable():
            out.append("·")
        elif ord(c) not in chars:
            out.append("□")
        else:
            out.append(c)
    return "".join(out)


def _payload_preview(frame: Frame) -> str:
    """Quoted text, or hex bytes for binary payloads (untruncated; see _fit)."""
    text = frame.text
    if text is None and frame.opcode != "BINARY":
        try:
            text = frame.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None and all(c.isprintable() or c in "\n\t" for c in text):
        return f'"{_clean(text)}"'
    data = frame.payload[:24]
    return " ".join(f"{b:02x}" for b in data) + (" …" if len(frame.payload) > 24 else "")


@functools.lru_cache(maxsize=4096)
def _width_pt(text: str, size: float) -> float:
    try:
        w, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    except Exception:  # pragma: no cover - fall back to an estimate
        w = 0.62 * size * len(text)
    return w * 1.04  # Agg hinting draws a little wider than the outlines


def _fit(make: Callable[[str], str], core: str, width_pt: float, size: float) -> str:
    """``make(core)``, with ``core`` shortened (ending in …) until it fits ``width_pt``."""
    full = make(core)
    if _width_pt(full, size) <= width_pt or not core:
        return full if _width_pt(full, size) <= width_pt else _cut(full, width_pt, size)
    lo, hi = 0, len(core)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _width_pt(make(core[:mid].rstrip() + "…"), size) <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return _cut(make("…"), width_pt, size)
    return make(core[:lo].rstrip() + "…")


def _cut(text: str, width_pt: float, size: float) -> str:
    if _width_pt(text, size) <= width_pt:
        return text
    while len(text) > 1 and _width_pt(text + "…", size) > width_pt:
        text = text[:-1]
    return text.rstrip() + "…"


def _frame_family(frame: Frame) -> str:
    if frame.problems:
        return "error"
    if frame.opcode == "CLOSE":
        return "close"
    if frame.opcode in CONTROL_OPCODES:
        return "control"
    if frame.opcode in DATA_OPCODES:
        return "data"
    return "error"  # reserved opcodes


def _frame_label(frame: Frame, width_pt: float, size: float) -> str:
    """``TEXT "Hello Server" (12 B, masked)``, ``CLOSE 1000 (normal closure)``, ``PING`` ..."""
    op = frame.opcode
    head = op
    if not frame.fin:
        head += " fin=0"
    elif op == "CONTINUATION":
        head += " fin=1"
    if op == "CLOSE":
        if frame.close_code is None:
            return _cut(f"{head} (no status code)", width_pt, size)
        code = frame.close_code
        name = CLOSE_CODES.get(code, "application" if 4000 <= code <= 4999 else "unknown")
        head = f"{head} {code} ({name})"
        if not frame.close_reason:
            return _cut(head, width_pt, size)
        return _fit(lambda s: f'{head} "{s}"', _clean(frame.close_reason), width_pt, size)
    if op in CONTROL_OPCODES:
        if not frame.payload:
            return head
        preview = _payload_preview(frame)
        return _fit(lambda s: f"{head} {s}", preview, width_pt, size)
    flags = [_fmt_bytes(frame.length)]
    if frame.masked:
        flags.append("masked")
    if frame.compressed:
        flags.append("deflate")
    tail = f" ({', '.join(flags)})"
    preview = _payload_preview(frame) if frame.payload or frame.text else '""'
    quoted = preview.startswith('"') and preview.endswith('"') and len(preview) >= 2
    if quoted:
        return _fit(lambda s: f'{head} "{s}"{tail}', preview[1:-1], width_pt, size)
    return _fit(lambda s: f"{head} {s}{tail}", preview, width_pt, size)


def _problems_line(problems: Sequence[str]) -> str | None:
    if not problems:
        return None
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"⚠ {problems[0]}{more}"


# -- which events become rows ---------------------------------------------------

@dataclasses.dataclass
class _Item:
    """One row of the diagram: an event, or a group of collapsed frames."""

    key: int                      # index of its first record
    conn: int
    kind: str                     # handshake, frame, group, error, tcp, note
    records: list[Record]
    height: float = 1.0
    top: float = 0.0

    @property
    def y(self) -> float:
        return self.top + _ARROW_AT


def _select(records: Sequence[Record], max_frames: int | None) -> tuple[list[_Item], int, int]:
    """Rows to draw, the number of frames shown one by one, and the number of frames."""
    frame_idx = [i for i, r in enumerate(records) if r.kind == "frame"]
    total = len(frame_idx)
    collapsed: set[int] = set()
    if max_frames is not None and total > max_frames:
        must: set[int] = set()
        by_conn: dict[int, list[int]] = {}
        for i in frame_idx:
            by_conn.setdefault(records[i].conn, []).append(i)
            f = records[i].event
            if f.opcode == "CLOSE" or f.problems or (f.opcode not in DATA_OPCODES and f.opcode not in CONTROL_OPCODES):
                must.add(i)
        for idx in by_conn.values():
            must.update((idx[0], idx[-1]))
        control = {i for i in frame_idx if records[i].event.opcode in CONTROL_OPCODES} - must
        if len(must) + len(control) <= max_frames:
            must |= control
        rest = [i for i in frame_idx if i not in must]
        budget = max(0, max_frames - len(must))
        head = budget - budget // 2
        tail = budget // 2
        keep = set(rest[:head]) | set(rest[len(rest) - tail:] if tail else ())
        collapsed = set(rest) - keep

    items: list[_Item] = []
    open_runs: dict[int, _Item] = {}
    for i, r in enumerate(records):
        if i in collapsed:
            run = open_runs.get(r.conn)
            if run is None:
                run = open_runs[r.conn] = _Item(i, r.conn, "group", [], height=1.6)
                items.append(run)
            run.records.append(r)
            continue
        open_runs.pop(r.conn, None)  # anything else on this connection ends a run
        kind = r.kind
        if kind == "state":
            continue
        item = _Item(i, r.conn, kind, [r])
        e = r.event
        if (isinstance(e, (Frame, Handshake)) and e.problems) or kind == "error" \
                or (isinstance(e, Handshake) and e.sender == "server" and (e.body or (e.accept is not None and not e.accept.ok))) \
                or (isinstance(e, Tcp) and e.note):
            item.height = 1.6
        items.append(item)

    # A "group" of one frame saves nothing: show it as a frame if the budget allows.
    shown = total - len(collapsed)
    for item in items:
        if item.kind == "group" and len(item.records) == 1 and (max_frames is None or shown < max_frames):
            item.kind, item.height = "frame", (1.6 if item.records[0].event.problems else 1.0)
            shown += 1
    items.sort(key=lambda it: it.key)
    top = 0.0
    for item in items:
        item.top = top
        top += item.height
    return items, shown, total


def _conn_filter(records: Sequence[Record], conn: int | Iterable[int] | None) -> list[Record]:
    recs = sorted(records, key=lambda r: r.t)
    if conn is None:
        return recs
    wanted = {conn} if isinstance(conn, int) else set(conn)
    return [r for r in recs if r.conn in wanted]


# -- the drawing context ----------------------------------------------------------

@dataclasses.dataclass
class _Ctx:
    ax: Axes
    lanes: dict[int, tuple[float, float]]   # conn -> (client x, server x)
    size: float                              # label font size
    text_kw: dict[str, Any]                  # user kwargs for every event text
    arrow_kw: dict[str, Any]                 # user arrowprops
    label_pt: float                          # room for a label between two lifelines

    def x(self, conn: int, sender: str) -> float:
        c, s = self.lanes[conn]
        return c if sender == "client" else s

    def other(self, sender: str) -> str:
        return "server" if sender == "client" else "client"

    def shift(self, dy_pt: float):
        return self.ax.transData + ScaledTranslation(0, dy_pt / 72, self.ax.figure.dpi_scale_trans)

    def arrow(self, item: _Item, sender: str, label: str, *, color: str, gid: str,
              style: str = "-|>", lw: float = 1.5, ls: Any = "-", detail: str | None = None,
              detail_color: str | None = None, weight: str = "normal"):
        """A horizontal arrow from ``sender`` to the other side, labelled above, detail below."""
        x0 = self.x(item.conn, sender)
        x1 = self.x(item.conn, self.other(sender))
        right = x1 > x0
        sign = 1 if right else -1
        tail, head = x0 + sign * _BAND / 2, x1 - sign * _BAND / 2
        y = item.y
        h = 1.01 * self.size
        props = dict(
            arrowstyle=style, color=color, lw=lw, linestyle=ls, shrinkA=0, shrinkB=0,
            patchA=None, relpos=(0.0 if right else 1.0, -_GAP_PT / h), mutation_scale=self.size * 1.3,
        )
        props.update(self.arrow_kw)
        kw = dict(
            xy=(head, y), xytext=(tail, y), textcoords=self.shift(_GAP_PT), xycoords="data",
            ha="left" if right else "right", va="bottom", color=color, fontsize=self.size,
            fontweight=weight, gid=gid, parse_math=False, arrowprops=props, annotation_clip=False, zorder=4,
        )
        kw.update(self.text_kw)
        text = f" {label}" if right else f"{label} "
        ann = self.ax.annotate(text, **kw)
        if detail:
            self.detail(item, x0 + sign * _BAND / 2, detail, right, detail_color or color)
        return ann

    def detail(self, item: _Item, x: float, text: str, left_aligned: bool, color: str) -> None:
        text = _cut(text, self.label_pt, self.size)
        self.ax.text(
            x, item.y, f" {text}" if left_aligned else f"{text} ", transform=self.shift(-_GAP_PT - 1),
            ha="left" if left_aligned else "right", va="top", color=color, fontsize=self.size,
            gid="detail", parse_math=False, zorder=4, clip_on=False,
        )

    def mark(self, item: _Item, sender: str, label: str, *, color: str, gid: str, marker: str,
             detail: str | None = None):
        """A marker on ``sender``'s lifeline, labelled above (detail below) towards the other side."""
        x = self.x(item.conn, sender)
        right = sender == "client"
        sign = 1 if right else -1
        self.ax.plot([x], [item.y], marker=marker, color=color, markersize=9, mew=2.2, zorder=6,
                     linestyle="none", gid=f"{gid}-marker")
        x_text = x + sign * (_BAND / 2 + 0.08)
        kw = dict(
            xy=(x_text, item.y), xycoords=self.shift(_GAP_PT), ha="left" if right else "right", va="bottom",
            color=color, fontsize=self.size, fontweight="bold", gid=gid, parse_math=False,
            annotation_clip=False, zorder=4,
        )
        kw.update(self.text_kw)
        ann = self.ax.annotate(_cut(label, self.label_pt, self.size), **kw)
        if detail:
            self.detail(item, x_text, detail, right, color)
        return ann


# -- timeline -----------------------------------------------------------------------

def timeline(
    records: Sequence[Record],
    *,
    ax: Axes | None = None,
    conn: int | Iterable[int] | None = None,
    max_frames: int | None = 60,
    title: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw a sequence diagram of the WebSocket connection(s) in ``records``.

    Each connection gets a lane with a client and a server lifeline; coloured
    bands along them show each endpoint's state. Every handshake, frame and
    TCP event is a row, in time order; the time since the first event is
    printed at the left of each row. With more than ``max_frames`` frames, runs
    of data frames are collapsed into one grouped arrow (handshakes, control and
    close frames, problems and errors are always shown).

    Args:
        records: the trace (records sorted by time, e.g. a ``Trace``).
        ax: Axes to draw into; a figure sized to the diagram is made if None.
        conn: draw only this connection (or these connections).
        max_frames: how many frames to draw one by one (None: all).
        title: title; a line saying how many frames are shown is added when thinning.
        **kwargs: passed to every event's ``ax.annotate`` (e.g. ``fontsize=12``);
            ``arrowprops=`` is merged into each arrow's properties.

    Returns:
        The Axes. Texts carry gids: ``"frame"``, ``"group"``, ``"handshake"``,
        ``"tcp"``, ``"error"``, ``"note"``, ``"lifeline"``; state bands are
        Rectangles with gid ``"state"``.
    """
    recs = _conn_filter(records, conn)
    arrow_kw = dict(kwargs.pop("arrowprops", None) or {})
    size = float(kwargs.pop("fontsize", kwargs.pop("size", 10)))
    conns = sorted({r.conn for r in recs})
    items, shown, total = _select(recs, max_frames)
    n_lanes = max(1, len(conns))

    # Lane geometry (x in inches when we make the figure).
    lane_w = min(4.4, max(2.4, (17.0 - 1.4) / n_lanes - _LANE_GAP))
    lanes = {c: (k * (lane_w + _LANE_GAP), k * (lane_w + _LANE_GAP) + lane_w) for k, c in enumerate(conns)}
    x_lo = -_LANE_GAP / 2
    x_hi = (n_lanes - 1) * (lane_w + _LANE_GAP) + lane_w + _LANE_GAP / 2
    rows = sum(it.height for it in items)
    y_end = rows + 0.6
    foot = rows > 24
    y_bottom = y_end + (_HEAD if foot else 0.15)

    if ax is None:
        import matplotlib.pyplot as plt

        height = min(_MAX_FIG_H, max(3.0, (y_bottom + _HEAD) * _ROW_IN + 1.5))
        fig = plt.figure(figsize=(x_hi - x_lo + 1.45, height), layout="constrained")
        ax = fig.add_subplot()
        pt_per_x = 72.0
    else:
        fig = ax.figure
        pos = ax.get_position()
        pt_per_x = 72.0 * pos.width * fig.get_figwidth() / (x_hi - x_lo)

    ctx = _Ctx(ax, lanes, size, kwargs, arrow_kw, label_pt=(lane_w - _BAND) * pt_per_x - 1.2 * size - 6)

    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_bottom, -_HEAD)  # time runs down
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0, labelsize=max(9.0, size - 1), labelcolor="#4d5656")

    if not recs:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center",
                fontsize=size + 2, color="#808b96", gid="empty")
        ax.set_title(title or "WebSocket connection", fontsize=size + 3)
        return ax

    t0 = recs[0].t
    single = len(conns) == 1

    # Lanes, lifelines and their heads.
    for k, c in enumerate(conns):
        xc, xs = lanes[c]
        if not single:
            ax.add_patch(Rectangle((xc - _LANE_GAP * 0.42, -_HEAD), lane_w + _LANE_GAP * 0.84, y_bottom + _HEAD,
                                   facecolor="#f4f6f7" if k % 2 == 0 else "#fbfcfc", edgecolor="none",
                                   zorder=0, gid="lane"))
        for side, x in (("client", xc), ("server", xs)):
            name = side if single else f"conn {c} {side}"
            ax.plot([x, x], [-_HEAD / 2, y_end], color="#99a3a4", lw=1.0, zorder=1, gid="lifeline-line")
            box = dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#566573", lw=1.2)
            ax.text(x, -_HEAD / 2 - 0.1, name, ha="center", va="center", fontsize=size + 1, fontweight="bold",
                    color="#1b2631", bbox=box, zorder=7, gid="lifeline", parse_math=False)
            if foot:
                ax.text(x, y_end + _HEAD / 2, name, ha="center", va="center", fontsize=size + 1,
                        fontweight="bold", color="#1b2631", bbox=box, zorder=7, gid="lifeline-foot",
                        parse_math=False)

    # State bands: from the row after the state change until the next change.
    keys = [it.key for it in items]
    tops = [it.top for it in items]

    def boundary(index: int) -> float:
        pos = bisect.bisect_right(keys, index)
        return tops[pos] if pos < len(items) else rows

    changes: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for i, r in enumerate(recs):
        if isinstance(r.event, State) and r.sender in ("client", "server"):
            changes.setdefault((r.conn, r.sender), []).append((boundary(i), r.state))
    states_seen: list[str] = []
    for (c, side), marks in changes.items():
        x = ctx.x(c, side)
        for (y0, state), nxt in zip(marks, marks[1:] + [(y_end, "")]):
            y1 = nxt[0]
            if y1 <= y0:
                continue
            ax.add_patch(Rectangle((x - _BAND / 2, y0), _BAND, y1 - y0, facecolor=STATE_COLORS.get(state, "#d5dbdb"),
                                   edgecolor="#7f8c8d", lw=0.6, zorder=2, gid="state"))
            if state not in states_seen:
                states_seen.append(state)

    # Events, one row each.
    families: set[str] = set()
    ticks: list[float] = []
    tick_labels: list[str] = []
    for item in items:
        r = item.records[0]
        ticks.append(item.y)
        tick_labels.append(_fmt_dt(r.t - t0))
        e = r.event
        if item.kind == "frame":
            fam = _frame_family(e)
            families.add(fam)
            label = _frame_label(e, ctx.label_pt, size)
            ctx.arrow(item, e.sender, label, color=COLORS[fam], gid="frame",
                      lw=1.8 if fam in ("close", "error") else 1.5,
                      detail=_problems_line(e.problems), weight="bold" if fam == "close" else "normal")
        elif item.kind == "group":
            _draw_group(ctx, item, families)
        elif item.kind == "handshake":
            families.add("handshake")
            _draw_handshake(ctx, item, e, families)
        elif item.kind == "tcp":
            families.add("tcp")
            _draw_tcp(ctx, item, e, families)
        elif item.kind == "error":
            families.add("error")
            ctx.mark(item, e.sender, f"decode error at byte {e.offset}", color=COLORS["error"], gid="error",
                     marker="X", detail=e.reason)
        elif item.kind == "note" and isinstance(e, Note):
            xc, xs = lanes[item.conn]
            ax.annotate(_cut(f"✎ {_clean(e.text)}", ctx.label_pt + 10, size), xy=((xc + xs) / 2, item.y),
                        ha="center", va="center", fontsize=size, fontstyle="italic", color=COLORS["note"],
                        gid="note", parse_math=False, zorder=4,
                        bbox=dict(boxstyle="round,pad=0.25", facecolor="#fef9e7", edgecolor="#d4ac0d", lw=0.8))

    ax.set_yticks(ticks, tick_labels)
    ax.set_ylabel("time since first event (ms)  ↓\none row per event, in time order (not to scale)",
                  fontsize=max(9.0, size - 1), color="#4d5656")

    # Title and legend.
    if title is None:
        if single:
            title = "WebSocket connection" + (f" {conns[0]}" if conn is not None else "")
        else:
            title = f"WebSocket: {len(conns)} connections"
    if shown < total:
        title += f"\nshowing {shown} of {total} frames (runs of data frames collapsed)"
    ax.set_title(title, fontsize=size + 3, loc="center", pad=6)

    # Legend: states on the first row, arrow kinds on the second.
    state_names = [s for s in STATES_ORDER if s in states_seen] + [s for s in states_seen if s not in STATES_ORDER]
    row1 = [Patch(facecolor=STATE_COLORS.get(s, "#d5dbdb"), edgecolor="#7f8c8d", label=s) for s in state_names]
    names = {"handshake": "handshake", "data": "data", "control": "ping / pong", "close": "close",
             "tcp": "TCP", "error": "problem"}
    row2 = [Line2D([], [], color=COLORS[fam], lw=2, ls="--" if fam == "tcp" else "-", label=names[fam])
            for fam in ("handshake", "data", "control", "close", "tcp", "error") if fam in families]
    rows_ = [row for row in (row1, row2) if row]
    if rows_:
        ncol = max(len(row) for row in rows_)
        blank = Patch(facecolor="none", edgecolor="none", label="")
        grid = [row + [blank] * (ncol - len(row)) for row in rows_]
        order = [grid[r][c] for c in range(ncol) for r in range(len(grid))]  # legends fill columns first
        ax.legend(handles=order, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False,
                  fontsize=max(9.0, size - 1), handlelength=1.6, columnspacing=1.2, borderaxespad=0.3)
    return ax


STATES_ORDER = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")


def _draw_handshake(ctx: _Ctx, item: _Item, h: Handshake, families: set[str]) -> None:
    problems = list(h.problems)
    if h.sender == "client":
        upgrade = h.header("Upgrade")
        label = f"{h.method or '?'} {h.path or '?'}  " + (f"Upgrade: {upgrade}" if upgrade else "(no Upgrade header)")
        bad = bool(problems) or not upgrade
    else:
        label = f"{h.status} {h.reason}" if h.status is not None else h.start_line
        bad = h.status != 101 or bool(problems) or (h.accept is not None and not h.accept.ok)
        if h.accept is not None and not h.accept.ok:
            problems.insert(0, "Sec-WebSocket-Accept does not match the key (RFC 6455 §4.2.2)")
    detail = _problems_line(problems)
    if detail is None and h.body:
        try:
            body = h.body.decode("utf-8")
        except UnicodeDecodeError:
            body = h.body.decode("latin-1")
        detail = f'body: "{_clean(body.strip())}"'
    if bad:
        families.add("error")
    color = COLORS["error"] if bad else COLORS["handshake"]
    ctx.arrow(item, h.sender, _cut(label, ctx.label_pt, ctx.size), color=color, gid="handshake", lw=2.0,
              weight="bold", detail=detail, detail_color=COLORS["error"] if problems else "#4d5656")


def _draw_tcp(ctx: _Ctx, item: _Item, e: Tcp, families: set[str]) -> None:
    note = e.note or None
    if e.what == "connect":
        ctx.arrow(item, "client", "TCP connect", color=COLORS["tcp"], gid="tcp", ls=(0, (4, 3)), lw=1.3,
                  detail=note)
    elif e.what == "eof":
        ctx.arrow(item, e.sender, "FIN", color=COLORS["tcp"], gid="tcp", ls=(0, (4, 3)), lw=1.3, detail=note,
                  weight="bold")
    elif e.what == "reset":
        families.add("error")
        ctx.arrow(item, e.sender, "RST (connection reset)", color=COLORS["error"], gid="tcp", ls=(0, (4, 3)),
                  lw=1.6, detail=note, weight="bold")
    else:
        ctx.mark(item, e.sender, f"{e.sender} closed its socket", color=COLORS["tcp"], gid="tcp", marker="x",
                 detail=note)


def _draw_group(ctx: _Ctx, item: _Item, families: set[str]) -> None:
    frames = [r.event for r in item.records]
    n = len(frames)
    ops = {f.opcode for f in frames}
    fam = "data" if ops <= DATA_OPCODES else ("control" if ops <= CONTROL_OPCODES else "data")
    families.add(fam)
    op = next(iter(ops)) if len(ops) == 1 else ("data" if ops <= DATA_OPCODES else "")
    senders = {f.sender for f in frames}
    n_cs = sum(f.sender == "client" for f in frames)
    payload = sum(f.length for f in frames)
    if senders == {"client"}:
        direction, style, sender = "client→server", "-|>", "client"
    elif senders == {"server"}:
        direction, style, sender = "server→client", "-|>", "server"
    else:
        direction, style, sender = "both ways", "<|-|>", "client"
    label = f"… {n} {op + ' ' if op else ''}frame{'s' if n != 1 else ''} {direction} ({_fmt_bytes(payload)}) …"
    span = item.records[-1].t - item.records[0].t
    if len(senders) > 1:
        detail = f"{n_cs} client→server + {n - n_cs} server→client, in {_fmt_span(span)}"
    else:
        detail = f"collapsed, sent in {_fmt_span(span)}"
    xc, xs = ctx.lanes[item.conn]
    ctx.ax.add_patch(Rectangle((xc + _BAND / 2, item.top + 0.08), xs - xc - _BAND, item.height - 0.16,
                               facecolor="#eaf0f8", edgecolor="#aeb6bf", lw=0.8, ls=(0, (2, 2)), zorder=1.5,
                               gid="group-bg"))
    ctx.arrow(item, sender, _cut(label, ctx.label_pt, ctx.size), color=COLORS[fam], gid="group", style=style,
              lw=2.4, ls=(0, (1.5, 1.5)), detail=detail, detail_color="#4d5656", weight="bold")


# -- sizes --------------------------------------------------------------------------

def _header_len(frame: Frame) -> int:
    if frame.wire and len(frame.wire) >= frame.length:
        return len(frame.wire) - frame.length
    extra = {7: 0, 16: 2, 64: 8}.get(frame.length_bits, 0)
    return 2 + extra + (4 if frame.masked else 0)


def sizes(
    records: Sequence[Record],
    *,
    ax: Axes | None = None,
    conn: int | Iterable[int] | None = None,
    **kwargs: Any,
) -> Axes:
    """Bar chart of the bytes each frame put on the wire: header vs payload.

    Frames from the client point up, frames from the server point down, in time
    order. The header is ``len(frame.wire) - frame.length`` (2 to 14 bytes);
    the payload is ``frame.length`` as sent (after compression, if any).

    Args:
        records: the trace.
        ax: Axes to draw into; a figure is made if None.
        conn: only this connection (or these connections).
        **kwargs: passed to both ``ax.bar`` calls (e.g. ``width=0.6``).
    """
    frames = [r.event for r in _conn_filter(records, conn) if r.kind == "frame"]
    n = len(frames)
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(min(12.0, max(6.5, 3.0 + 0.35 * n)), 3.8), layout="constrained")
        ax = fig.add_subplot()
    x = list(range(1, n + 1))
    sign = [1 if f.sender == "client" else -1 for f in frames]
    header = [_header_len(f) * s for f, s in zip(frames, sign)]
    payload = [f.length * s for f, s in zip(frames, sign)]
    dark = {"client": "#1f5fbf", "server": "#c25e00"}
    light = {"client": "#9dbbe8", "server": "#f4c08a"}
    hcol = [dark[f.sender] for f in frames]
    pcol = [light[f.sender] for f in frames]
    bar_kw: dict[str, Any] = dict(width=0.8, edgecolor="white", linewidth=0.5) if n <= 60 else dict(width=1.0, linewidth=0)
    bar_kw.update(kwargs)
    ax.bar(x, header, color=hcol, gid="header", **bar_kw)
    bars = ax.bar(x, payload, bottom=header, color=pcol, gid="payload", **bar_kw)
    if 0 < n <= 16:  # small traces: write each frame's total on its bar
        ax.bar_label(bars, labels=[f"{len(f.wire) or _header_len(f) + f.length} B" for f in frames], padding=2,
                     fontsize=9, color="#4d5656")
        ax.margins(y=0.28)
    ax.axhline(0, color="#566573", lw=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{abs(v):g}"))
    ax.set_ylabel("bytes on the wire", fontsize=10)
    ax.set_xlabel("frame (in time order)", fontsize=10)
    for y, va, side, text in ((0.99, "top", "client", "▲ sent by the client"), (0.01, "bottom", "server", "▼ sent by the server")):
        ax.text(0.01, y, text, transform=ax.transAxes, va=va, ha="left", fontsize=9, color=dark[side], gid="direction")
    if 0 < n <= 30:
        ax.set_xticks(x, ["CONT" if f.opcode == "CONTINUATION" else f.opcode for f in frames], rotation=60, fontsize=9)
    elif n:
        ax.set_xlim(0, n + 1)
    ax.tick_params(labelsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    def total(side: str, values: list[int]) -> int:
        return sum(abs(v) for f, v in zip(frames, values) if f.sender == side)

    handles = []
    for side, arrow in (("client", "client→server"), ("server", "server→client")):
        if any(f.sender == side for f in frames):
            handles.append(Patch(color=dark[side], label=f"{arrow} header ({_fmt_bytes(total(side, header))})"))
            handles.append(Patch(color=light[side], label=f"{arrow} payload ({_fmt_bytes(total(side, payload))})"))
    if handles:
        ax.legend(handles=handles, fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "no frames", transform=ax.transAxes, ha="center", va="center", color="#808b96")
    ax.set_title("bytes per frame: header vs payload", fontsize=11)
    return ax
