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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import ScaledTranslation, Transform

from ..capture.records import Record, State
from .alt import describe_timeline, set_alt
from .rows import Item, Spec, conn_filter, row_labels, select
from .rows import spec as row_spec
from .sizes import sizes
from .style import (
    BAND,
    COLORS,
    FIG_DPI,
    FONTSIZE,
    GAP_PT,
    HEAD,
    LABEL_MAX_PT,
    LABEL_PAD_PT,
    LANE_GAP,
    LINE,
    MAX_FIG_H,
    ROW_IN,
    STATE_COLORS,
    STATE_TEXT,
    STATES_ORDER,
)
from .text import FALLBACK_FONTS, clean, cut, fmt_dt, fonts, text_width

__all__ = ["COLORS", "FALLBACK_FONTS", "STATE_COLORS", "panels", "sizes", "timeline"]

#: A white outline around event texts: readable where they cross another client's lifeline or a state band.
HALO = [patheffects.withStroke(linewidth=3, foreground="white")]


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

    def row(self, item: Item, spec: Spec) -> None:
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

    def arrow(self, item: Item, spec: Spec) -> None:
        """A horizontal arrow from the sender's lifeline to the other one, labelled above, detail below."""
        x0 = self.x(item.conn, spec.sender)
        x1 = self.x(item.conn, "server" if spec.sender == "client" else "client")
        right = x1 > x0
        sign = 1 if right else -1
        tail, head = x0 + sign * BAND / 2, x1 - sign * BAND / 2
        # The label's corner sits GAP_PT above the arrow; relpos puts the arrow's tail back on the row.
        props: dict[str, Any] = dict(arrowstyle=spec.style, color=spec.color, lw=spec.lw, linestyle=spec.ls,
                                     shrinkA=0, shrinkB=0,
                     patchA=None, relpos=(0.0 if right else 1.0, -GAP_PT / (1.01 * self.size)),
                     mutation_scale=self.size * 1.3)
        props.update(self.arrow_kw)
        kw: dict[str, Any] = dict(xy=(head, item.y), xycoords="data", xytext=(tail, item.y),
                                  textcoords=self.shift(GAP_PT),
                  ha="left" if right else "right", va="bottom", color=spec.color, fontsize=self.size,
                  fontweight=spec.weight, fontfamily=self.family, gid=spec.gid, parse_math=False,
                  arrowprops=props, annotation_clip=False, zorder=4, path_effects=HALO)
        kw.update(self.text_kw)
        self.ax.annotate(f" {spec.label}" if right else f"{spec.label} ", **kw)
        self.detail(item, spec, tail, right)

    def mark(self, item: Item, spec: Spec) -> None:
        """A marker on the sender's lifeline, labelled above (detail below) towards the other side."""
        x = self.x(item.conn, spec.sender)
        right = spec.sender == "client"
        sign = 1 if right else -1
        self.ax.plot([x], [item.y], marker=spec.marker, color=spec.color, markersize=9, mew=2.2, zorder=6,
                     linestyle="none", gid=f"{spec.gid}-marker")
        x_text = x + sign * (BAND / 2 + 0.08)
        kw: dict[str, Any] = dict(xy=(x_text, item.y), xycoords=self.shift(GAP_PT), ha="left" if right else "right",
                  va="bottom", color=spec.color, fontsize=self.size, fontweight=spec.weight,
                  fontfamily=self.family, gid=spec.gid, parse_math=False, annotation_clip=False, zorder=4,
                  path_effects=HALO)
        kw.update(self.text_kw)
        self.ax.annotate(spec.label, **kw)
        self.detail(item, spec, x_text, right)

    def detail(self, item: Item, spec: Spec, x: float, left_aligned: bool) -> None:
        if not spec.detail:
            return
        pad = " " if left_aligned else ""
        text = "\n".join(f"{pad}{line}" if left_aligned else f"{line} " for line in spec.detail)
        self.ax.text(x, item.y, text, transform=self.shift(-GAP_PT - 1), ha="left" if left_aligned else "right",
                     va="top", color=spec.detail_color, fontsize=self.size, fontfamily=self.family, gid="detail",
                     parse_math=False, zorder=4, clip_on=False, linespacing=1.15, path_effects=HALO,
                     multialignment="left" if left_aligned else "right")

    def row_label(self, item: Item, text: str, x_from: float, x: float, x_to: float) -> None:
        """``text`` at ``x``, on ``item``'s row, joined to its lane by a dotted leader line ``x_from`` → ``x_to``."""
        self.ax.plot([x_from, x_to], [item.y, item.y], color="#aab7b8", lw=0.9, ls=(0, (1, 2)), zorder=1,
                     gid="row-label-line", solid_capstyle="butt")
        self.ax.text(x, item.y, text, ha="left", va="center", fontsize=self.size, color="#1b2631",
                     fontweight="bold", fontfamily=self.family, gid="row-label", parse_math=False, zorder=5,
                     clip_on=False, bbox=dict(boxstyle="round,pad=0.25", facecolor="#f4f6f7", edgecolor="#aab7b8",
                                               lw=0.8))

    def group_background(self, item: Item) -> None:
        xc, xs = self.lanes[item.conn]
        self.ax.add_patch(Rectangle((xc + BAND / 2, item.top + 0.08), xs - xc - BAND, item.height - 0.16,
                                    facecolor="#eaf0f8", edgecolor="#aeb6bf", lw=0.8, ls=(0, (2, 2)),
                                    zorder=1.5, gid="group-bg"))


def timeline(
    records: Sequence[Record],
    *,
    ax: Axes | None = None,
    conn: int | Iterable[int] | None = None,
    max_frames: int | None = 60,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    time: str = "rows",
    server: str = "shared",
    names: Mapping[int, str] | None = None,
    rows: float | None = None,
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
        time: ``"rows"`` (one row per event, evenly spaced: every exchange readable) or
            ``"proportional"`` (the gaps between events drawn to scale on top of the rows, and
            long gaps labelled with their duration: a close timeout looks as long as it is).
        server: ``"shared"``: the connections' clients side by side and ONE server lifeline at the
            right (a lab has one server; its state bands, one per connection, stand side by side
            on it); ``"per-connection"``: a lane per connection with its own client and server.
        names: a name for each connection's client, e.g. ``{1: "alice", 2: "bob"}``, written in its
            lifeline head (default ``client N``).
        rows: draw at least this many rows high (blank below the events): panels side by side with the
            same ``rows`` share one vertical scale, their first rows level (see :func:`panels`).
        **kwargs: passed to every event's ``ax.annotate`` (e.g. ``fontsize=12``);
            ``arrowprops=`` is merged into each arrow's properties.

    Returns:
        The Axes. Event texts carry gids: ``"frame"``, ``"group"``, ``"handshake"``,
        ``"tcp"``, ``"error"``, ``"note"`` (details below arrows: ``"detail"``),
        lifeline heads ``"lifeline"``, ``labels`` ``"row-label"``; state bands are
        Rectangles with gid ``"state"``, their names texts with gid ``"state-name"``; long gaps
        (``time="proportional"``) texts with gid ``"gap"``. The figure's alt text, a plain
        description of the diagram, is :func:`wslab.plot.alt_text(ax) <wslab.plot.alt.alt_text>`.
    """
    if time not in ("rows", "proportional"):
        raise ValueError(f"unknown time {time!r}; time: rows, proportional")
    if server not in ("shared", "per-connection"):
        raise ValueError(f"unknown server {server!r}; server: shared, per-connection")
    recs = conn_filter(records, conn)
    kwargs = dict(kwargs)
    arrow_kw = dict(kwargs.pop("arrowprops", None) or {})
    size = float(kwargs.pop("fontsize", kwargs.pop("size", FONTSIZE)))
    lay = _layout(recs, max_frames, labels, size, ax, proportional=time == "proportional",
                  shared=server == "shared")
    if rows is not None and rows > lay.y_bottom:
        lay.y_bottom = rows
    if ax is None:
        import matplotlib.pyplot as plt

        height = min(MAX_FIG_H, max(3.0, (lay.y_bottom + HEAD) * ROW_IN + 1.7))
        ax = plt.figure(figsize=(lay.x_hi - lay.x_lo + 1.6, height), dpi=FIG_DPI, layout="constrained").add_subplot()
    paint = _Painter(ax, lay.lanes, size, kwargs, arrow_kw, list(fonts()[0]))
    _draw_frame(ax, lay, size, title, single_conn=conn is not None)
    if not recs:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center",
                fontsize=size + 2, color="#808b96", gid="empty")
        set_alt(ax, "An empty sequence diagram: the trace has no events.")
        return ax
    _draw_lifelines(ax, lay, size, names or {})
    states_seen = _draw_states(ax, lay, paint, recs)
    families = _draw_rows(ax, lay, paint, size, t0=recs[0].t, proportional=time == "proportional")
    _draw_legend(ax, states_seen, families, size)
    set_alt(ax, describe_timeline(recs, lay.conns, [it.records[0] for it in lay.items], ax.get_title(),
                                  proportional=time == "proportional"))
    return ax


@dataclasses.dataclass
class _Layout:
    """Where everything goes, computed before anything is drawn (testable without drawing).

    x is in inches when the figure is ours; y is in rows, time running down.
    """

    conns: list[int]
    items: list[Item]
    specs: list[Spec]
    label_texts: list[str]
    shown: int
    total: int
    lanes: dict[int, tuple[float, float]]  # conn -> (client x, server x)
    lane_w: float
    x_lo: float
    x_hi: float
    x_last: float  # right of the last lifeline
    pt_per_x: float
    rows: float  # total height of the rows
    y_end: float
    y_bottom: float
    foot: bool  # repeat the lifeline heads at the bottom of long diagrams
    server_x: float | None = None  # the one server lifeline, when the connections share it

    @property
    def pt_per_y(self) -> float:
        """Points per row (exact when the figure is ours)."""
        return ROW_IN * 72.0


def _layout(recs: Sequence[Record], max_frames: int | None, labels: Sequence[str] | None, size: float,
            ax: Axes | None, *, proportional: bool = False, shared: bool = True) -> _Layout:
    """The rows, the lanes side by side, the labels' column, and each row's height."""
    conns = sorted({r.conn for r in recs})
    items, shown, total = select(recs, max_frames)
    n_lanes = max(1, len(conns))
    lane_w = min(5.2, max(2.8, (19.0 - 1.4) / n_lanes - LANE_GAP))
    step = lane_w + LANE_GAP
    lanes = {c: (k * step, k * step + lane_w) for k, c in enumerate(conns)}
    x_lo, x_hi = -LANE_GAP / 2, (n_lanes - 1) * step + lane_w + LANE_GAP / 2
    server_x = None
    if shared and n_lanes > 1:
        # Clients side by side, one server at the right; each connection's server band is one column of it.
        client_step = 1.5
        lane_w = min(5.2, max(3.4, 19.0 - 1.4 - (n_lanes - 1) * client_step - LANE_GAP))
        server_x = (n_lanes - 1) * client_step + lane_w + (n_lanes - 1) * BAND / 2
        lanes = {c: (k * client_step, server_x + (k - (n_lanes - 1) / 2) * BAND) for k, c in enumerate(conns)}
        x_hi = server_x + n_lanes * BAND / 2 + LANE_GAP / 2
    # The labels' column, at the right of the last lane: its width in points.
    label_texts = [cut(clean(text), LABEL_MAX_PT, size) for text in row_labels(items, recs, labels)]
    col_pt = max((text_width(text, size) for text in label_texts if text), default=0.0)
    col_pt = col_pt + LABEL_PAD_PT + 0.5 * size + 4 if col_pt else 0.0  # leader line, the box's padding
    x_last = max((xs for _xc, xs in lanes.values()), default=0.0) + BAND / 2
    if ax is None:
        pt_per_x = 72.0
        x_hi = max(x_hi, x_last + col_pt / pt_per_x)
    else:
        pos = ax.get_position()
        figure = ax.get_figure(root=True)
        assert figure is not None
        width_pt = 72.0 * pos.width * figure.get_figwidth()
        x_hi0 = x_hi
        for _ in range(8):  # the column takes col_pt points of the Axes' width: a fixed point
            pt_per_x = width_pt / (x_hi - x_lo)
            x_hi = max(x_hi0, x_last + col_pt / pt_per_x)
        pt_per_x = width_pt / (x_hi - x_lo)
    label_pt = (lane_w - BAND) * pt_per_x - 1.3 * size - 6  # leave room for the arrow head
    # Labels first: a row is taller when it has detail lines below its arrow.
    specs = [row_spec(item, label_pt, size) for item in items]
    top = 0.0
    starts = [item.records[0].t for item in items]
    span = (starts[-1] - starts[0]) if starts else 0.0
    # Proportional time: on top of its row, each event moves down by its gap to the one before, to scale; the
    # whole trace's time gets about as many rows as it has events (at least 6), so a long wait stands out.
    per_second = max(6.0, 0.8 * len(items)) / span if proportional and span > 0 else 0.0
    for k, (item, spec) in enumerate(zip(items, specs, strict=True)):
        if k:
            item.gap = per_second * (starts[k] - starts[k - 1])
            top += item.gap
        item.top = top
        extra = len(spec.detail) or spec.note_lines - 1
        item.height = 1.0 + (0.2 + LINE * extra if extra else 0.0)
        top += item.height
    foot = top > 24
    y_end = top + 0.6
    return _Layout(conns, items, specs, label_texts, shown, total, lanes, lane_w, x_lo, x_hi, x_last, pt_per_x,
                   top, y_end, y_end + (HEAD if foot else 0.15), foot, server_x)


def _draw_frame(ax: Axes, lay: _Layout, size: float, title: str | None, *, single_conn: bool) -> None:
    """Limits, no spines, the time axis' style and the title."""
    ax.set_xlim(lay.x_lo, lay.x_hi)
    ax.set_ylim(lay.y_bottom, -HEAD)  # time runs down
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0, labelsize=size, labelcolor="#1b2631")
    conns = lay.conns
    if title is None:
        if len(conns) > 1:
            title = f"WebSocket: {len(conns)} connections"
        else:
            title = "WebSocket connection" + (f" {conns[0]}" if conns and single_conn else "")
    if lay.shown < lay.total:
        title += f"\nshowing {lay.shown} of {lay.total} frames (runs of data frames collapsed)"
    ax.set_title(title, fontsize=size + 3, pad=6)


def _draw_lifelines(ax: Axes, lay: _Layout, size: float, names: Mapping[int, str]) -> None:
    """Lanes, lifelines and their heads (and feet, on long diagrams)."""
    single = len(lay.conns) == 1
    box = dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#566573", lw=1.2)
    if lay.server_x is not None:
        heads = [(names.get(c, f"client {c}"), xc) for c, (xc, _xs) in lay.lanes.items()] + [("server", lay.server_x)]
        for name, x in heads:
            ax.plot([x, x], [-HEAD / 2, lay.y_end], color="#99a3a4", lw=1.0, zorder=1, gid="lifeline-line")
            for y, gid in [(-HEAD / 2 - 0.1, "lifeline")] + ([(lay.y_end + HEAD / 2, "lifeline-foot")] if lay.foot
                                                            else []):
                ax.text(x, y, name, ha="center", va="center", fontsize=size + 1, fontweight="bold",
                        color="#1b2631", bbox=box, zorder=7, gid=gid, parse_math=False)
        return
    for k, c in enumerate(lay.conns):
        xc, xs = lay.lanes[c]
        if not single:
            ax.add_patch(Rectangle((xc - LANE_GAP * 0.42, -HEAD), lay.lane_w + LANE_GAP * 0.84, lay.y_bottom + HEAD,
                                   facecolor="#f4f6f7" if k % 2 == 0 else "#fbfcfc", edgecolor="none",
                                   zorder=0, gid="lane"))
        for side, x in (("client", xc), ("server", xs)):
            name = (names.get(c, side) if side == "client" else side) if single else (
                f"{names[c]} ({side})" if c in names and side == "client" else f"conn {c} {side}")
            ax.plot([x, x], [-HEAD / 2, lay.y_end], color="#99a3a4", lw=1.0, zorder=1, gid="lifeline-line")
            ax.text(x, -HEAD / 2 - 0.1, name, ha="center", va="center", fontsize=size + 1, fontweight="bold",
                    color="#1b2631", bbox=box, zorder=7, gid="lifeline", parse_math=False)
            if lay.foot:
                ax.text(x, lay.y_end + HEAD / 2, name, ha="center", va="center", fontsize=size + 1,
                        fontweight="bold", color="#1b2631", bbox=box, zorder=7, gid="lifeline-foot",
                        parse_math=False)


def _draw_states(ax: Axes, lay: _Layout, paint: _Painter, recs: Sequence[Record]) -> set[str]:
    """State bands along the lifelines: a change starts at the row boundary after the events before it."""
    items = lay.items
    keys = [it.key for it in items]

    def boundary(index: int) -> float:
        pos = bisect.bisect_right(keys, index)
        return items[pos].top if pos < len(items) else lay.rows

    changes: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for i, r in enumerate(recs):
        if isinstance(r.event, State) and r.event.sender in ("client", "server"):
            changes.setdefault((r.conn, r.event.sender), []).append((boundary(i), r.event.state))
    states_seen: set[str] = set()
    for (c, side), marks in changes.items():
        x = paint.x(c, side)
        for (y0, state), (y1, _next) in zip(marks, [*marks[1:], (lay.y_end, "")], strict=True):
            if y1 > y0:
                ax.add_patch(Rectangle((x - BAND / 2, y0), BAND, y1 - y0,
                                       facecolor=STATE_COLORS.get(state, "#d5dbdb"), edgecolor="#555555", lw=0.6,
                                       zorder=2, gid="state"))
                states_seen.add(state)
                name_pt = max(9.0, paint.size - 3)
                if text_width(state, name_pt) + 6 <= (y1 - y0) * lay.pt_per_y:  # written in when it fits
                    ax.text(x, (y0 + y1) / 2, state, rotation=90, ha="center", va="center", fontsize=name_pt,
                            color=STATE_TEXT.get(state, "#000000"), fontweight="bold", gid="state-name",
                            zorder=3, clip_on=True, parse_math=False)
    return states_seen


def _draw_rows(ax: Axes, lay: _Layout, paint: _Painter, size: float, *, t0: float,
               proportional: bool = False) -> set[str]:
    """The events, one row each, the labels' column, and the time at the left; the families drawn."""
    families: set[str] = set()
    for k, (item, spec) in enumerate(zip(lay.items, lay.specs, strict=True)):
        if item.kind == "group":
            paint.group_background(item)
        paint.row(item, spec)
        families.update(spec.legend)
        if proportional and k and item.gap >= 1.5:  # a long wait: say how long, across the gap
            before = lay.items[k - 1]
            dt = item.records[0].t - before.records[0].t
            xc, xs = lay.lanes[item.conn]
            ax.text((xc + xs) / 2, item.top - item.gap / 2, f"⋮  {fmt_dt(dt).lstrip('+')} later  ⋮", ha="center",
                    va="center", fontsize=size, fontstyle="italic", color="#333333", gid="gap", zorder=4,
                    parse_math=False, bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="none"))
    pt_per_x = lay.pt_per_x
    x_col = lay.x_last + (LABEL_PAD_PT + 0.25 * size) / pt_per_x
    for item, text in zip(lay.items, lay.label_texts, strict=True):
        if text:
            x_from = paint.x(item.conn, "server") + BAND / 2 + 3 / pt_per_x
            paint.row_label(item, text, x_from, x_col, x_col - (0.25 * size + 3) / pt_per_x)
    ax.set_yticks([it.y for it in lay.items], [fmt_dt(it.records[0].t - t0) for it in lay.items])
    ax.set_ylabel("time: ms since the first event, running down\n" + (
        "gaps between events to scale" if proportional else "one row per event (not to scale)"),
        fontsize=size, color="#1b2631")
    return families


def _draw_legend(ax: Axes, states_seen: set[str], families: set[str], size: float) -> None:
    """The legend below: states on the first row, kinds of arrow on the second."""
    state_names = [s for s in STATES_ORDER if s in states_seen] + sorted(states_seen - set(STATES_ORDER))
    row1 = [Patch(facecolor=STATE_COLORS.get(s, "#d5dbdb"), edgecolor="#7f8c8d", label=s) for s in state_names]
    names = {"handshake": "handshake", "data": "data", "control": "ping / pong", "close": "close",
             "tcp": "TCP", "error": "problem"}
    row2 = [Line2D([], [], color=COLORS[fam], lw=2, ls="--" if fam == "tcp" else "-", label=names[fam])
            for fam in names if fam in families]
    grid: list[list[Any]] = [row for row in (row1, row2) if row]
    if grid:
        ncol = max(len(row) for row in grid)
        blank = Patch(facecolor="none", edgecolor="none", label="")
        grid = [row + [blank] * (ncol - len(row)) for row in grid]
        order = [grid[r][c] for c in range(ncol) for r in range(len(grid))]  # legends fill columns first
        ax.legend(handles=order, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False,
                  fontsize=size, handlelength=1.6, columnspacing=1.2, borderaxespad=0.3)


def panels(*traces: Sequence[Record], titles: Sequence[str | None] | None = None, width: float = 7.5,
           time: str | Sequence[str] = "rows", **kwargs: Any) -> list[Axes]:
    """Timelines side by side on one vertical scale, their first rows level: for comparing connections.

    Each of ``traces`` (a trace, or its records) gets a panel ``width`` inches wide; ``titles`` are their
    titles; ``time`` is one :func:`timeline` ``time`` for all, or one per panel (e.g. ``["rows",
    "proportional"]``); other ``kwargs`` go to every :func:`timeline`. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    n = len(traces)
    names = list(titles) if titles is not None else [None] * n
    times = [time] * n if isinstance(time, str) else list(time)
    if len(names) != n or len(times) != n:
        raise ValueError(f"{n} traces: give as many titles and times")
    size = float(kwargs.get("fontsize", FONTSIZE))
    depth = max(_layout(list(t), kwargs.get("max_frames", 60), None, size, None, proportional=tm == "proportional",
                        shared=kwargs.get("server", "shared") == "shared").y_bottom for t, tm in zip(traces, times,
                                                                                                   strict=True))
    height = min(MAX_FIG_H, max(3.0, (depth + HEAD) * ROW_IN + 1.9))
    fig = plt.figure(figsize=(width * n, height), dpi=FIG_DPI, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    return [timeline(list(t), ax=ax, title=title, time=tm, rows=depth, **kwargs)
            for t, ax, title, tm in zip(traces, axes, names, times, strict=True)]
