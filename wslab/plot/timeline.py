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
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import ScaledTranslation, Transform

from ..protocol import DecodeError, Frame, Handshake, close_code_name
from ..capture.records import STATES, Note, Record, State, Tcp

__all__ = ["timeline", "sizes", "COLORS", "STATE_COLORS", "FALLBACK_FONTS"]

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
STATES_ORDER = STATES

#: Fonts tried, in order, for characters the default font lacks (e.g. the Chinese
#: reply of the article's echo server), when they are installed.
FALLBACK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback", "Microsoft YaHei", "SimHei", "PingFang SC",
    "Hiragino Sans GB", "Arial Unicode MS", "Noto Sans Symbols2",
)


class _QuietFallbackWeights(logging.Filter):
    """Drop matplotlib's "Failed to find font weight normal for <fallback>" warnings.

    Some CJK fallbacks (WenQuanYi) register a single weight, so every label drawn
    with them logs that warning into the notebook's output; the text renders fine.
    Only those messages, and only for our fallback fonts, are dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Failed to find font weight" in message
                    and any(name in message for name in FALLBACK_FONTS))


_font_log = logging.getLogger("matplotlib.font_manager")
if not any(isinstance(f, _QuietFallbackWeights) for f in _font_log.filters):
    _font_log.addFilter(_QuietFallbackWeights())

DATA_OPCODES = frozenset({"TEXT", "BINARY", "CONTINUATION"})
CONTROL_OPCODES = frozenset({"PING", "PONG"})

# Geometry of timeline(). x data units are inches when timeline() makes the
# figure; y data units are rows.
_ROW_IN = 0.36          # height of one row, inches
_LANE_GAP = 1.5         # between one lane's server and the next lane's client
_BAND = 0.13            # width of a state band
_HEAD = 1.6             # rows above the first event, for the lifeline heads
_ARROW_AT = 0.64        # where the arrow sits inside its row (its label is above it)
_LINE = 0.46            # rows taken by one line of detail text below an arrow
_GAP_PT = 2.5           # between an arrow and its label, points
_MAX_FIG_H = 40.0       # inches
_MAX_CHARS = 400        # no text is longer than this before fitting
_DETAIL_LINES = 2       # detail text below an arrow wraps to at most this many lines
_GREY = "#4d5656"
_LABEL_MAX_PT = 200.0   # a row label is cut short (…) beyond this width
_LABEL_PAD_PT = 28.0    # between the last server lifeline and the row labels (a leader line)


# -- text helpers -------------------------------------------------------------------

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


def _fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """The font families for labels (the default, then installed fallbacks) and the characters they have."""
    from matplotlib import rcParams

    return _fonts_for(tuple(rcParams["font.family"]))


@functools.lru_cache(maxsize=8)
def _fonts_for(family: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[int]]:
    from matplotlib.font_manager import findfont, fontManager, get_font

    installed = {f.name for f in fontManager.ttflist}
    chain = family + tuple(name for name in FALLBACK_FONTS if name in installed and name not in family)
    chars: set[int] = set()
    for path in {findfont(FontProperties(family=[name])) for name in chain}:
        try:
            chars.update(get_font(path).get_charmap())
        except Exception:  # pragma: no cover - unreadable font file
            pass
    return chain, frozenset(chars or range(0x20, 0x7F))


def _clean(text: str) -> str:
    """Make payload text drawable on one line: no control characters, no missing glyphs."""
    chars = _fonts()[1]
    out = []
    for c in text[:_MAX_CHARS]:
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
    return "".join(out) + ("…" if len(text) > _MAX_CHARS else "")


def _width_pt(text: str, size: float) -> float:
    return _width_pt_for(text, size, _fonts()[0])


@functools.lru_cache(maxsize=8192)
def _width_pt_for(text: str, size: float, family: tuple[str, ...]) -> float:
    try:
        prop = FontProperties(family=list(family), size=size)
        w, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    except Exception:  # pragma: no cover - fall back to an estimate
        w = 0.62 * size * len(text)
    return w * 1.04  # Agg's hinting draws a little wider than the outlines


def _fit(make: Callable[[str], str], core: str, width_pt: float, size: float) -> tuple[str, int]:
    """``make(core)`` with ``core`` shortened (ending in …) to fit; also how many characters were kept."""
    if _width_pt(make(core), size) <= width_pt:
        return make(core), len(core)
    lo, hi = 0, len(core) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _width_pt(make(core[:mid].rstrip() + "…"), size) <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return _cut(make("…"), width_pt, size), 0
    return make(core[:lo].rstrip() + "…"), lo


def _cut(text: str, width_pt: float, size: float) -> str:
    """``text``, cut short (ending in …) if it is wider than ``width_pt``."""
    return _fit(lambda s: s, text[:_MAX_CHARS], width_pt, size)[0]


def _first_fitting(candidates: Sequence[str], width_pt: float, size: float) -> str:
    """The first candidate that fits, else the last one cut short."""
    for text in candidates:
        if _width_pt(text, size) <= width_pt:
            return text
    return _cut(candidates[-1], width_pt, size)


def _wrap(text: str, width_pt: float, size: float, max_lines: int = _DETAIL_LINES) -> list[str]:
    """Greedy word wrap by measured width; the last line is cut short if the text does not fit."""
    text = text[:_MAX_CHARS].replace("RFC 6455 §", "RFC\u00a06455\u00a0§")  # keep references whole
    words = text.split(" ")
    lines: list[str] = []
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and _width_pt(f"{line} {words[0]}", size) <= width_pt:
            line += " " + words.pop(0)
        if _width_pt(line, size) > width_pt:  # one word wider than the line
            cut = _cut(line, width_pt, size)
            rest = line[len(cut) - 1:]
            line = cut[:-1]
            words.insert(0, rest)
        lines.append(line)
    if words:
        lines.append(_cut(" ".join(words), width_pt, size))
    return lines


# -- labels ---------------------------------------------------------------------------

def _payload_preview(frame: Frame) -> tuple[str, bool]:
    """The payload as text (without quotes) and True, or as hex bytes and False."""
    text = frame.text
    if text is None and frame.opcode != "BINARY":
        try:
            text = frame.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None and all(c.isprintable() or c in "\n\t" for c in text[:_MAX_CHARS]):
        return _clean(text), True
    data = frame.payload[:32]
    return " ".join(f"{b:02x}" for b in data) + (" …" if len(frame.payload) > 32 else ""), False


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
        name = close_code_name(code)
        heads = [f"{head} {code} ({name})", f"{head} {code}"]
        if not frame.close_reason:
            return _first_fitting(heads, width_pt, size)
        reason = _clean(frame.close_reason)
        for h in heads:
            label, kept = _fit(lambda s, h=h: f'{h} "{s}"', reason, width_pt, size)
            if kept >= min(len(reason), 10):
                return label
        return label
    preview, is_text = _payload_preview(frame) if frame.payload or frame.text else ("", True)

    def make(tail: str) -> Callable[[str], str]:
        if is_text:
            return lambda s: f'{head} "{s}"{tail}'
        return lambda s: f"{head} {s}{tail}"

    if op in CONTROL_OPCODES:
        return head if not frame.payload else _fit(make(""), preview, width_pt, size)[0]
    flags = [_fmt_bytes(frame.length)] + (["masked"] if frame.masked else []) + (["deflate"] if frame.compressed else [])
    # On narrow lanes, drop the flags before cutting the payload to a stub.
    for tail in (f" ({', '.join(flags)})", f" ({flags[0]})", ""):
        label, kept = _fit(make(tail), preview, width_pt, size)
        if kept >= min(len(preview), 12):
            return label
    return label


def _problems_text(problems: Sequence[str]) -> str | None:
    if not problems:
        return None
    return "⚠ " + "; ".join(problems)


# -- which events become rows ------------------------------------------------------------

@dataclasses.dataclass
class _Item:
    """One row of the diagram: an event, or a group of collapsed frames."""

    key: int                      # index of its first record
    conn: int
    kind: str                     # handshake, frame, group, error, tcp, note
    records: list[Record]
    top: float = 0.0
    height: float = 1.0

    @property
    def y(self) -> float:
        """Where the arrow is drawn."""
        return self.top + _ARROW_AT


def _select(records: Sequence[Record], max_frames: int | None) -> tuple[list[_Item], int, int]:
    """Rows to draw (without positions), the number of frames drawn one by one, and all frames."""
    frame_idx = [i for i, r in enumerate(records) if r.kind == "frame"]
    total = len(frame_idx)
    collapsed: set[int] = set()
    if max_frames is not None and total > max_frames:
        must: set[int] = set()
        by_conn: dict[int, list[int]] = {}
        for i in frame_idx:
            by_conn.setdefault(records[i].conn, []).append(i)
            f = records[i].event
            if f.opcode == "CLOSE" or f.problems or (f.opcode not in DATA_OPCODES | CONTROL_OPCODES):
                must.add(i)
        for idx in by_conn.values():
            must.update((idx[0], idx[-1]))
        control = {i for i in frame_idx if records[i].event.opcode in CONTROL_OPCODES} - must
        if len(must) + len(control) <= max_frames:  # else pings and pongs are collapsed too
            must |= control
        rest = [i for i in frame_idx if i not in must]
        budget = max(0, max_frames - len(must))
        head, tail = budget - budget // 2, budget // 2  # the start and the end of the conversation
        keep = set(rest[:head]) | set(rest[len(rest) - tail:] if tail else ())
        collapsed = set(rest) - keep

    items: list[_Item] = []
    open_runs: dict[int, _Item] = {}
    for i, r in enumerate(records):
        if i in collapsed:
            run = open_runs.get(r.conn)
            if run is None:
                run = open_runs[r.conn] = _Item(i, r.conn, "group", [])
                items.append(run)
            run.records.append(r)
            continue
        open_runs.pop(r.conn, None)  # anything else on this connection ends a run
        if r.kind != "state":
            items.append(_Item(i, r.conn, r.kind, [r]))

    # A "group" of one frame saves no room: show it as a frame if the budget allows.
    shown = total - len(collapsed)
    for item in items:
        if item.kind == "group" and len(item.records) == 1 and (max_frames is None or shown < max_frames):
            item.kind = "frame"
            shown += 1
    items.sort(key=lambda it: it.key)
    return items, shown, total


def _row_labels(items: Sequence[_Item], records: Sequence[Record], labels: Sequence[str] | None) -> list[str]:
    """The label of each row: ``labels`` has one per event (record that is not a state change)."""
    if labels is None:
        return [""] * len(items)
    if isinstance(labels, str):
        raise TypeError("labels: expected a list of strings, one per event, got a single string")
    labels = [str(text) for text in labels]
    events = [r for r in records if r.kind != "state"]
    if len(labels) != len(events):
        raise ValueError(
            f"labels: got {len(labels)} labels for {len(events)} events; give one per event (every record whose "
            f"kind is not 'state', in time order, after conn=), with '' for events that need no label")
    by_record = {id(r): text for r, text in zip(events, labels)}
    out = []
    for item in items:
        texts = [by_record.get(id(r), "") for r in item.records]
        out.append(", ".join(dict.fromkeys(text for text in texts if text)))
    return out


def _conn_filter(records: Sequence[Record], conn: int | Iterable[int] | None) -> list[Record]:
    recs = sorted(records, key=lambda r: r.t)
    if conn is None:
        return recs
    wanted = {conn} if isinstance(conn, int) else set(conn)
    return [r for r in recs if r.conn in wanted]


# -- what each row shows ---------------------------------------------------------------------

@dataclasses.dataclass
class _Spec:
    """How to draw one row."""

    draw: str                     # "arrow", "mark" or "note"
    sender: str
    label: str
    color: str
    gid: str
    legend: tuple[str, ...] = ()  # legend entries this row needs
    style: str = "-|>"
    lw: float = 1.5
    ls: Any = "-"
    weight: str = "normal"
    marker: str = "x"
    detail: list[str] = dataclasses.field(default_factory=list)
    detail_color: str = _GREY
    note_lines: int = 1           # lines in a note's box


def _spec(item: _Item, width_pt: float, size: float) -> _Spec:
    """Label, colours and detail lines of a row, fitted to ``width_pt``."""
    r = item.records[0]
    e = r.event
    dashed = (0, (4, 3))
    detail: str | None = None
    if item.kind == "group":
        spec = _group_spec(item, width_pt, size)
        detail = spec.detail[0]
    elif isinstance(e, Frame):
        fam = _frame_family(e)
        spec = _Spec("arrow", e.sender, _frame_label(e, width_pt, size), COLORS[fam], "frame", (fam,),
                     lw=1.8 if fam in ("close", "error") else 1.5, weight="bold" if fam == "close" else "normal")
        detail = _problems_text(e.problems)
    elif isinstance(e, Handshake):
        spec, detail = _handshake_spec(e, width_pt, size)
    elif isinstance(e, Tcp):
        detail = e.note or None
        if e.what == "connect":
            spec = _Spec("arrow", "client", "TCP connect", COLORS["tcp"], "tcp", ("tcp",), ls=dashed, lw=1.3)
        elif e.what == "eof":
            spec = _Spec("arrow", e.sender, "FIN", COLORS["tcp"], "tcp", ("tcp",), ls=dashed, lw=1.3, weight="bold")
        elif e.what == "reset":
            spec = _Spec("arrow", e.sender, "RST (connection reset)", COLORS["error"], "tcp", ("tcp", "error"),
                         ls=dashed, lw=1.6, weight="bold")
        else:
            spec = _Spec("mark", e.sender, f"{e.sender} closed its socket", COLORS["tcp"], "tcp", ("tcp",),
                         marker="x", weight="bold")
    elif isinstance(e, DecodeError):
        spec = _Spec("mark", e.sender, f"decode error at byte {e.offset}", COLORS["error"], "error", ("error",),
                     marker="X", weight="bold")
        detail = e.reason
    elif isinstance(e, Note):
        # A note wraps onto up to three lines in its box; the row grows as for an arrow's detail.
        lines = _wrap(f"✎ {_clean(e.text)}", width_pt, size, max_lines=3)
        spec = _Spec("note", e.sender, "\n".join(lines), COLORS["note"], "note", note_lines=len(lines))
    else:  # pragma: no cover - unknown event types are shown by name
        spec = _Spec("note", "client", _cut(type(e).__name__, width_pt, size), COLORS["note"], "note")
    spec.detail = _wrap(_clean(detail), width_pt, size) if detail else []
    if detail and (detail.startswith("⚠") or isinstance(e, DecodeError) or (isinstance(e, Tcp) and e.what == "reset")):
        spec.detail_color = COLORS["error"]
    return spec


def _handshake_spec(h: Handshake, width_pt: float, size: float) -> tuple[_Spec, str | None]:
    problems = list(h.problems)
    if h.sender == "client":
        upgrade = h.header("Upgrade")
        line = f"{h.method or '?'} {h.path or '?'}"
        candidates = [f"{line}  Upgrade: {upgrade}", f"{line}  (Upgrade)", line] if upgrade else \
            [f"{line}  (no Upgrade header)", line]
        bad = bool(problems) or not upgrade
    else:
        line = f"{h.status} {h.reason}" if h.status is not None else h.start_line
        candidates = [line, str(h.status)]
        if h.accept is not None and not h.accept.ok:
            problems.insert(0, "Sec-WebSocket-Accept does not match the key (RFC 6455 §4.2.2)")
        bad = h.status != 101 or bool(problems)
    detail = _problems_text(problems)
    if detail is None and h.body:
        try:
            body = h.body.decode("utf-8")
        except UnicodeDecodeError:
            body = h.body.decode("latin-1")
        detail = f'body: "{body.strip()}"'
    spec = _Spec("arrow", h.sender, _first_fitting(candidates, width_pt, size),
                 COLORS["error"] if bad else COLORS["handshake"], "handshake",
                 ("handshake", "error") if bad else ("handshake",), lw=2.0, weight="bold")
    return spec, detail


def _group_spec(item: _Item, width_pt: float, size: float) -> _Spec:
    frames = [r.event for r in item.records]
    n = len(frames)
    ops = {f.opcode for f in frames}
    fam = "control" if ops <= CONTROL_OPCODES else "data"
    op = next(iter(ops)) + " " if len(ops) == 1 else ("data " if ops <= DATA_OPCODES else "")
    senders = {f.sender for f in frames}
    n_cs = sum(f.sender == "client" for f in frames)
    size_b = _fmt_bytes(sum(f.length for f in frames))
    if senders == {"client"}:
        direction, style, sender = "client→server", "-|>", "client"
    elif senders == {"server"}:
        direction, style, sender = "server→client", "-|>", "server"
    else:
        direction, style, sender = "both ways", "<|-|>", "client"
    plural = "s" if n != 1 else ""
    label = _first_fitting([f"… {n} {op}frame{plural} {direction} ({size_b}) …", f"… {n} {op}frame{plural} ({size_b}) …",
                            f"… {n} frame{plural} …"], width_pt, size)
    span = _fmt_dt(item.records[-1].t - item.records[0].t)[1:]
    if len(senders) > 1:
        detail = f"{n_cs} client→server + {n - n_cs} server→client, in {span}"
    else:
        detail = f"not drawn one by one; sent in {span}"
    return _Spec("arrow", sender, label, COLORS[fam], "group", (fam,), style=style, lw=2.4, ls=(0, (1.5, 1.5)),
                 weight="bold", detail=[detail])


# -- drawing ----------------------------------------------------------------------------------

@dataclasses.dataclass
class _Painter:
    ax: Axes
    lanes: dict[int, tuple[float, float]]   # conn -> (client x, server x)
    size: float                              # label font size
    text_kw: dict[str, Any]                  # the caller's kwargs, for every event's annotate
    arrow_kw: dict[str, Any]                 # the caller's arrowprops
    family: list[str]

    def x(self, conn: int, sender: str) -> float:
        c, s = self.lanes[conn]
        return c if sender == "client" else s

    def shift(self, dy_pt: float) -> Transform:
        """Data coordinates, moved up by ``dy_pt`` points on the page."""
        return self.ax.transData + ScaledTranslation(0, dy_pt / 72, self.ax.figure.dpi_scale_trans)

    def row(self, item: _Item, spec: _Spec) -> None:
        if spec.draw == "arrow":
            self.arrow(item, spec)
        elif spec.draw == "mark":
            self.mark(item, spec)
        else:
            xc, xs = self.lanes[item.conn]
            self.ax.annotate(spec.label, xy=((xc + xs) / 2, item.y), ha="center", va="center", fontsize=self.size,
                             fontstyle="italic", color=spec.color, fontfamily=self.family, gid=spec.gid,
                             parse_math=False, zorder=4,
                             bbox=dict(boxstyle="round,pad=0.25", facecolor="#fef9e7", edgecolor="#d4ac0d", lw=0.8))

    def arrow(self, item: _Item, spec: _Spec) -> None:
        """A horizontal arrow from the sender's lifeline to the other one, labelled above, detail below."""
        x0 = self.x(item.conn, spec.sender)
        x1 = self.x(item.conn, "server" if spec.sender == "client" else "client")
        right = x1 > x0
        sign = 1 if right else -1
        tail, head = x0 + sign * _BAND / 2, x1 - sign * _BAND / 2
        # The label's corner sits _GAP_PT above the arrow; relpos puts the arrow's tail back on the row.
        props = dict(arrowstyle=spec.style, color=spec.color, lw=spec.lw, linestyle=spec.ls, shrinkA=0, shrinkB=0,
                     patchA=None, relpos=(0.0 if right else 1.0, -_GAP_PT / (1.01 * self.size)),
                     mutation_scale=self.size * 1.3)
        props.update(self.arrow_kw)
        kw = dict(xy=(head, item.y), xycoords="data", xytext=(tail, item.y), textcoords=self.shift(_GAP_PT),
                  ha="left" if right else "right", va="bottom", color=spec.color, fontsize=self.size,
                  fontweight=spec.weight, fontfamily=self.family, gid=spec.gid, parse_math=False,
                  arrowprops=props, annotation_clip=False, zorder=4)
        kw.update(self.text_kw)
        self.ax.annotate(f" {spec.label}" if right else f"{spec.label} ", **kw)
        self.detail(item, spec, tail, right)

    def mark(self, item: _Item, spec: _Spec) -> None:
        """A marker on the sender's lifeline, labelled above (detail below) towards the other side."""
        x = self.x(item.conn, spec.sender)
        right = spec.sender == "client"
        sign = 1 if right else -1
        self.ax.plot([x], [item.y], marker=spec.marker, color=spec.color, markersize=9, mew=2.2, zorder=6,
                     linestyle="none", gid=f"{spec.gid}-marker")
        x_text = x + sign * (_BAND / 2 + 0.08)
        kw = dict(xy=(x_text, item.y), xycoords=self.shift(_GAP_PT), ha="left" if right else "right",
                  va="bottom", color=spec.color, fontsize=self.size, fontweight=spec.weight,
                  fontfamily=self.family, gid=spec.gid, parse_math=False, annotation_clip=False, zorder=4)
        kw.update(self.text_kw)
        self.ax.annotate(spec.label, **kw)
        self.detail(item, spec, x_text, right)

    def detail(self, item: _Item, spec: _Spec, x: float, left_aligned: bool) -> None:
        if not spec.detail:
            return
        pad = " " if left_aligned else ""
        text = "\n".join(f"{pad}{line}" if left_aligned else f"{line} " for line in spec.detail)
        self.ax.text(x, item.y, text, transform=self.shift(-_GAP_PT - 1), ha="left" if left_aligned else "right",
                     va="top", color=spec.detail_color, fontsize=self.size, fontfamily=self.family, gid="detail",
                     parse_math=False, zorder=4, clip_on=False, linespacing=1.15,
                     multialignment="left" if left_aligned else "right")

    def row_label(self, item: _Item, text: str, x_from: float, x: float, x_to: float) -> None:
        """``text`` at ``x``, on ``item``'s row, joined to its lane by a dotted leader line ``x_from`` → ``x_to``."""
        self.ax.plot([x_from, x_to], [item.y, item.y], color="#aab7b8", lw=0.9, ls=(0, (1, 2)), zorder=1,
                     gid="row-label-line", solid_capstyle="butt")
        self.ax.text(x, item.y, text, ha="left", va="center", fontsize=self.size, color="#1b2631",
                     fontweight="bold", fontfamily=self.family, gid="row-label", parse_math=False, zorder=5,
                     clip_on=False, bbox=dict(boxstyle="round,pad=0.25", facecolor="#f4f6f7", edgecolor="#aab7b8",
                                               lw=0.8))

    def group_background(self, item: _Item) -> None:
        xc, xs = self.lanes[item.conn]
        self.ax.add_patch(Rectangle((xc + _BAND / 2, item.top + 0.08), xs - xc - _BAND, item.height - 0.16,
                                    facecolor="#eaf0f8", edgecolor="#aeb6bf", lw=0.8, ls=(0, (2, 2)),
                                    zorder=1.5, gid="group-bg"))


# -- timeline ---------------------------------------------------------------------------------

def timeline(
    records: Sequence[Record],
    *,
    ax: Axes | None = None,
    conn: int | Iterable[int] | None = None,
    max_frames: int | None = 60,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw a sequence diagram of the WebSocket connection(s) in ``records``.

    Each connection gets a lane with a client and a server lifeline; coloured
    bands along them show each endpoint's state. Every handshake, frame and
    TCP event is a row, in time order; the time since the first event is
    printed at the left of each row. With more than ``max_frames`` frames, runs
    of data frames are collapsed into one grouped arrow (handshakes, close
    frames, pings and pongs, problems and errors stay).

    Args:
        records: the trace (e.g. a ``Trace``, or a list of ``Record``).
        ax: Axes to draw into; a figure sized to the diagram is made if None.
        conn: draw only this connection (or these connections).
        max_frames: how many frames to draw one by one (None: all).
        title: the title; a line saying how many frames are shown is added when thinning.
        labels: one text per event, in time order, drawn at the right of the diagram on
            that event's row (e.g. ``"step 1"``; ``""`` for none). An event is a record
            that is not a state change (``[r for r in trace if r.kind != "state"]``),
            after ``conn=`` has picked connections. A row of collapsed frames (see
            ``max_frames``) shows the distinct labels of its frames, joined by ", ".
            ValueError if the number of labels is not the number of events.
        **kwargs: passed to every event's ``ax.annotate`` (e.g. ``fontsize=12``);
            ``arrowprops=`` is merged into each arrow's properties.

    Returns:
        The Axes. Event texts carry gids: ``"frame"``, ``"group"``, ``"handshake"``,
        ``"tcp"``, ``"error"``, ``"note"`` (details below arrows: ``"detail"``),
        lifeline heads ``"lifeline"``, ``labels`` ``"row-label"``; state bands are
        Rectangles with gid ``"state"``.
    """
    recs = _conn_filter(records, conn)
    kwargs = dict(kwargs)
    arrow_kw = dict(kwargs.pop("arrowprops", None) or {})
    size = float(kwargs.pop("fontsize", kwargs.pop("size", 10)))
    conns = sorted({r.conn for r in recs})
    single = len(conns) == 1
    items, shown, total = _select(recs, max_frames)
    row_labels = _row_labels(items, recs, labels)

    # Lanes side by side; x is in inches when we make the figure.
    n_lanes = max(1, len(conns))
    lane_w = min(4.4, max(2.4, (17.0 - 1.4) / n_lanes - _LANE_GAP))
    step = lane_w + _LANE_GAP
    lanes = {c: (k * step, k * step + lane_w) for k, c in enumerate(conns)}
    x_lo, x_hi = -_LANE_GAP / 2, (n_lanes - 1) * step + lane_w + _LANE_GAP / 2
    # The labels' column, at the right of the last lane: its width in points.
    label_texts = [_cut(_clean(text), _LABEL_MAX_PT, size) for text in row_labels]
    col_pt = max((_width_pt(text, size) for text in label_texts if text), default=0.0)
    col_pt = col_pt + _LABEL_PAD_PT + 0.5 * size + 4 if col_pt else 0.0  # leader line, the box's padding
    x_last = max((xs for _xc, xs in lanes.values()), default=0.0) + _BAND / 2  # right of the last lifeline
    if ax is None:
        pt_per_x = 72.0
        x_hi = max(x_hi, x_last + col_pt / pt_per_x)
    else:
        pos = ax.get_position()
        width_pt = 72.0 * pos.width * ax.figure.get_figwidth()
        x_hi0 = x_hi
        for _ in range(8):  # the column takes col_pt points of the Axes' width: a fixed point
            pt_per_x = width_pt / (x_hi - x_lo)
            x_hi = max(x_hi0, x_last + col_pt / pt_per_x)
        pt_per_x = width_pt / (x_hi - x_lo)
    label_pt = (lane_w - _BAND) * pt_per_x - 1.3 * size - 6  # leave room for the arrow head

    # Labels first: a row is taller when it has detail lines below its arrow.
    specs = [_spec(item, label_pt, size) for item in items]
    top = 0.0
    for item, spec in zip(items, specs):
        item.top = top
        extra = len(spec.detail) or spec.note_lines - 1
        item.height = 1.0 + (0.2 + _LINE * extra if extra else 0.0)
        top += item.height
    rows = top
    y_end = rows + 0.6
    foot = rows > 24  # repeat the lifeline heads at the bottom of long diagrams
    y_bottom = y_end + (_HEAD if foot else 0.15)

    if ax is None:
        import matplotlib.pyplot as plt

        height = min(_MAX_FIG_H, max(3.0, (y_bottom + _HEAD) * _ROW_IN + 1.5))
        ax = plt.figure(figsize=(x_hi - x_lo + 1.45, height), layout="constrained").add_subplot()
    paint = _Painter(ax, lanes, size, kwargs, arrow_kw, list(_fonts()[0]))

    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_bottom, -_HEAD)  # time runs down
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0, labelsize=max(9.0, size - 1), labelcolor=_GREY)
    if title is None:
        if len(conns) > 1:
            title = f"WebSocket: {len(conns)} connections"
        else:
            title = "WebSocket connection" + (f" {conns[0]}" if conns and conn is not None else "")
    if shown < total:
        title += f"\nshowing {shown} of {total} frames (runs of data frames collapsed)"
    ax.set_title(title, fontsize=size + 3, pad=6)
    if not recs:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center",
                fontsize=size + 2, color="#808b96", gid="empty")
        return ax

    # Lanes, lifelines and their heads.
    box = dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#566573", lw=1.2)
    for k, c in enumerate(conns):
        xc, xs = lanes[c]
        if not single:
            ax.add_patch(Rectangle((xc - _LANE_GAP * 0.42, -_HEAD), lane_w + _LANE_GAP * 0.84, y_bottom + _HEAD,
                                   facecolor="#f4f6f7" if k % 2 == 0 else "#fbfcfc", edgecolor="none",
                                   zorder=0, gid="lane"))
        for side, x in (("client", xc), ("server", xs)):
            name = side if single else f"conn {c} {side}"
            ax.plot([x, x], [-_HEAD / 2, y_end], color="#99a3a4", lw=1.0, zorder=1, gid="lifeline-line")
            ax.text(x, -_HEAD / 2 - 0.1, name, ha="center", va="center", fontsize=size + 1, fontweight="bold",
                    color="#1b2631", bbox=box, zorder=7, gid="lifeline", parse_math=False)
            if foot:
                ax.text(x, y_end + _HEAD / 2, name, ha="center", va="center", fontsize=size + 1,
                        fontweight="bold", color="#1b2631", bbox=box, zorder=7, gid="lifeline-foot",
                        parse_math=False)

    # State bands: a change starts at the row boundary after the events before it.
    keys = [it.key for it in items]

    def boundary(index: int) -> float:
        pos = bisect.bisect_right(keys, index)
        return items[pos].top if pos < len(items) else rows

    changes: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for i, r in enumerate(recs):
        if isinstance(r.event, State) and r.sender in ("client", "server"):
            changes.setdefault((r.conn, r.sender), []).append((boundary(i), r.state))
    states_seen: set[str] = set()
    for (c, side), marks in changes.items():
        x = paint.x(c, side)
        for (y0, state), (y1, _next) in zip(marks, marks[1:] + [(y_end, "")]):
            if y1 > y0:
                ax.add_patch(Rectangle((x - _BAND / 2, y0), _BAND, y1 - y0,
                                       facecolor=STATE_COLORS.get(state, "#d5dbdb"), edgecolor="#7f8c8d", lw=0.6,
                                       zorder=2, gid="state"))
                states_seen.add(state)

    # The events, one row each, with the time at the left.
    t0 = recs[0].t
    families: set[str] = set()
    for item, spec in zip(items, specs):
        if item.kind == "group":
            paint.group_background(item)
        paint.row(item, spec)
        families.update(spec.legend)
    x_col = x_last + (_LABEL_PAD_PT + 0.25 * size) / pt_per_x
    for item, text in zip(items, label_texts):
        if text:
            x_from = paint.x(item.conn, "server") + _BAND / 2 + 3 / pt_per_x
            paint.row_label(item, text, x_from, x_col, x_col - (0.25 * size + 3) / pt_per_x)
    ax.set_yticks([it.y for it in items], [_fmt_dt(it.records[0].t - t0) for it in items])
    ax.set_ylabel("time since first event (ms), running down\none row per event, in time order (not to scale)",
                  fontsize=max(9.0, size - 1), color=_GREY)

    # Legend below: states on the first row, kinds of arrow on the second.
    state_names = [s for s in STATES_ORDER if s in states_seen] + sorted(states_seen - set(STATES_ORDER))
    row1 = [Patch(facecolor=STATE_COLORS.get(s, "#d5dbdb"), edgecolor="#7f8c8d", label=s) for s in state_names]
    names = {"handshake": "handshake", "data": "data", "control": "ping / pong", "close": "close",
             "tcp": "TCP", "error": "problem"}
    row2 = [Line2D([], [], color=COLORS[fam], lw=2, ls="--" if fam == "tcp" else "-", label=names[fam])
            for fam in names if fam in families]
    grid = [row for row in (row1, row2) if row]
    if grid:
        ncol = max(len(row) for row in grid)
        blank = Patch(facecolor="none", edgecolor="none", label="")
        grid = [row + [blank] * (ncol - len(row)) for row in grid]
        order = [grid[r][c] for c in range(ncol) for r in range(len(grid))]  # legends fill columns first
        ax.legend(handles=order, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False,
                  fontsize=max(9.0, size - 1), handlelength=1.6, columnspacing=1.2, borderaxespad=0.3)
    return ax


# -- sizes ------------------------------------------------------------------------------------

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
    bar_kw: dict[str, Any] = dict(width=0.8, edgecolor="white", linewidth=0.5) if n <= 60 else \
        dict(width=1.0, linewidth=0)
    bar_kw.update(kwargs)
    ax.bar(x, header, color=[dark[f.sender] for f in frames], gid="header", **bar_kw)
    bars = ax.bar(x, payload, bottom=header, color=[light[f.sender] for f in frames], gid="payload", **bar_kw)
    if 0 < n <= 16:  # a few frames: write each one's total on its bar
        ax.bar_label(bars, labels=[f"{len(f.wire) or _header_len(f) + f.length} B" for f in frames], padding=2,
                     fontsize=9, color=_GREY)
        ax.margins(y=0.28)
    ax.axhline(0, color="#566573", lw=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{abs(v):g}"))
    ax.set_ylabel("bytes on the wire", fontsize=10)
    ax.set_xlabel("frame (in time order)", fontsize=10)
    for y, va, side in ((0.99, "top", "client"), (0.01, "bottom", "server")):
        ax.text(0.01, y, f"{'▲' if side == 'client' else '▼'} sent by the {side}", transform=ax.transAxes, va=va,
                ha="left", fontsize=9, color=dark[side], gid="direction")
    if 0 < n <= 30:
        ax.set_xticks(x, ["CONT" if f.opcode == "CONTINUATION" else f.opcode for f in frames], rotation=60,
                      fontsize=9)
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
