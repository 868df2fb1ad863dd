"""Notebook 05's picture: latency against bytes per update, one column of dots per method."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..compare.results import Comparison

#: One colour per method.
COLORS = {"short polling": "#c25e00", "long polling": "#7d3c98", "websocket": "#1f5fbf"}


def plot_comparison(result: Comparison, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Latency against bytes per update, one column of dots per method.

    Each dot is one update's latency (log scale); the thick bar is the median,
    the thin one the 95th percentile. The x position is the method's bytes on
    the wire per update, both directions (log scale). Down and to the left is
    better. Each method is labelled in the right margin, with its one-off bytes
    (the WebSocket's handshakes), which the x position leaves out. Call it again
    with the same ``ax`` to add another comparison to the picture; the title then
    says how many updates each run had.

    Args:
        result: a :class:`Comparison`.
        ax: Axes to draw into; a figure is made if None.
        **kwargs: passed to the scatter of the dots (e.g. ``s=10``).

    Returns:
        The Axes. Artists carry gids: ``"latency"`` (dots), ``"median"``,
        ``"p95"`` (bars), ``"method"`` (labels).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8.5, 4.8), layout="constrained")
        ax = fig.add_subplot()
    # What earlier calls drew on this Axes (a second comparison adds to the picture).
    state: dict[str, Any] | None = getattr(ax, "_wslab_comparison", None)
    first = state is None
    if state is None:
        state = {"rtt": result.rtt, "labels": [], "runs": []}
        setattr(ax, "_wslab_comparison", state)  # noqa: B010 -- an attribute matplotlib does not declare
    state["runs"].append(result)
    tag = "" if result.rtt == state["rtt"] else f", rtt {result.rtt * 1000:g} ms"
    _log_axes(ax)
    dot_kw: dict[str, Any] = dict(s=14, alpha=0.45, linewidths=0, zorder=3)
    dot_kw.update(kwargs)
    for r in result:
        colour = COLORS.get(r.method, "#4d5656")
        x = r.bytes_per_update
        # Spread the dots sideways a little, deterministically, so they do not hide each other.
        xs = [x * 1.09 ** (((i * 7) % 11) / 5 - 1) for i in range(len(r.latencies))]
        ys = [max(t, 1e-5) * 1000 for t in r.latencies]
        ax.scatter(xs, ys, color=colour, gid="latency", **dot_kw)
        for value, lw, gid in ((r.median, 3.0, "median"), (r.p95, 1.4, "p95")):
            ax.plot([x / 1.2, x * 1.2], [value * 1000] * 2, color=colour, lw=lw, solid_capstyle="butt",
                    zorder=4, gid=gid)
        once = f" + {r.setup} B once" if r.setup else ""
        label = ax.annotate(
            f"{result.label(r)}{tag}\nmedian {_ms(r.median)}, p95 {_ms(r.p95)}\n{x:.0f} B per update{once}",
            xy=(x * 1.2, r.median * 1000), xycoords="data", xytext=(1.03, 0.5), textcoords="axes fraction",
            va="center", ha="left", fontsize=9, color=colour, gid="method", annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color=colour, lw=0.7, alpha=0.5, shrinkA=0, shrinkB=0,
                            relpos=(0.0, 0.5)))
        state["labels"].append((label, r.median * 1000))
    ax.set_title(f"{_where(state['runs'])}\n"
                 "thick bar: median, thin bar: 95th percentile; down and left is better", fontsize=10.5)
    if first:
        if ax.xaxis.get_tick_params().get("labelbottom", True):  # not the upper Axes of a shared x axis
            ax.set_xlabel("bytes on the wire per update (both directions, log scale)", fontsize=10)
        ax.set_ylabel("latency: produced → received (ms, log scale)", fontsize=10)
        ax.grid(True, which="major", color="#e5e8e8", lw=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=9)
    _fit_limits(ax)
    _place_labels(ax, state["labels"])
    return ax


def _where(runs: Sequence[Comparison]) -> str:
    """The title's first line: the network, and how many updates each run on the Axes had."""
    first = runs[0]
    where = "loopback (127.0.0.1)" if not first.rtt else f"127.0.0.1 + {first.rtt * 1000:g} ms round trip"
    others = [(run, r) for run in runs[1:] for r in run if run.updates != first.updates]
    if not others:
        return f"{where}: each dot is one of {first.updates} updates"
    counts = "".join(f"; {run.updates} for {run.label(r)}" for run, r in others)
    return f"{where}: each dot is one update ({first.updates} per method{counts})"


def _log_axes(ax) -> None:
    """Log scales with plain tick labels (0.1, 1, 10 ...: quicker to read, and to draw than 10^x)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # set_xscale() resets the tickers, so only when needed (a second call, an Axes sharing an axis).
    if ax.get_xscale() != "log":
        ax.set_xscale("log")
    if ax.get_yscale() != "log":
        ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"


def _fit_limits(ax) -> None:
    """x: the data with a margin; y: whole decades; over every Axes sharing the axis."""
    def points(axes, column: int) -> list[float]:
        return [float(p[column]) for a in axes for c in a.collections for p in c.get_offsets()]

    xs = points(ax.get_shared_x_axes().get_siblings(ax), 0)
    ys = points(ax.get_shared_y_axes().get_siblings(ax), 1)
    if not xs:
        return
    ax.set_xlim(min(xs) / 10 ** 0.3, max(xs) * 10 ** 0.3)
    ax.set_ylim(10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)) + 0.05))


_LABEL_PT = 42  # height of a three-line label at fontsize 9, with a gap


def _place_labels(ax, labels: list) -> None:
    """Stack the labels in the right margin, each as near its median's height as room allows."""
    lo, hi = (math.log10(v) for v in ax.get_ylim())
    height_pt = ax.get_position().height * ax.figure.get_figheight() * 72
    step = min(_LABEL_PT / height_pt, 1 / max(1, len(labels)))
    wanted = sorted(((math.log10(y) - lo) / (hi - lo), i) for i, (_, y) in enumerate(labels))
    wanted.reverse()  # top first
    placed: list[float] = []
    for k, (frac, _) in enumerate(wanted):
        top = 1 - step / 2 if k == 0 else placed[-1] - step
        placed.append(min(frac, top))
    for k in range(len(placed) - 1, -1, -1):  # then push up from the bottom
        floor = step / 2 if k == len(placed) - 1 else placed[k + 1] + step
        placed[k] = max(placed[k], floor)
    for (_, i), frac in zip(wanted, placed, strict=False):
        labels[i][0].xyann = (1.03, frac)


__all__ = ["COLORS", "plot_comparison"]
