"""Bytes per frame on the wire: header against payload (notebook 02 and 05)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..capture.records import Record
from ..protocol import Frame
from .alt import set_alt
from .rows import conn_filter
from .style import FIG_DPI, FONTSIZE, GREY
from .text import fmt_bytes


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
    frames = [r.event for r in conn_filter(records, conn) if r.kind == "frame"]
    n = len(frames)
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(min(13.0, max(7.5, 4.0 + 0.4 * n)), 4.4), dpi=FIG_DPI, layout="constrained")
        ax = fig.add_subplot()
    x = list(range(1, n + 1))
    sign = [1 if f.sender == "client" else -1 for f in frames]
    header = [_header_len(f) * s for f, s in zip(frames, sign, strict=False)]
    payload = [f.length * s for f, s in zip(frames, sign, strict=False)]
    # Okabe-Ito: blue for the client, vermillion for the server; headers dark, payloads light (and hatched).
    dark = {"client": "#0072B2", "server": "#D55E00"}
    light = {"client": "#9ECAE9", "server": "#F4B183"}
    bar_kw: dict[str, Any] = dict(width=0.8, edgecolor="white", linewidth=0.5) if n <= 60 else \
        dict(width=1.0, linewidth=0)
    bar_kw.update(kwargs)
    ax.bar(x, header, color=[dark[f.sender] for f in frames], gid="header", **bar_kw)
    bars = ax.bar(x, payload, bottom=header, color=[light[f.sender] for f in frames], gid="payload", **bar_kw)
    if 0 < n <= 16:  # a few frames: write each one's total on its bar
        ax.bar_label(bars, labels=[f"{len(f.wire) or _header_len(f) + f.length} B" for f in frames], padding=2,
                     fontsize=FONTSIZE - 2, color=GREY)
        ax.margins(y=0.28)
    ax.axhline(0, color="#566573", lw=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{abs(v):g}"))
    ax.set_ylabel("bytes on the wire", fontsize=FONTSIZE)
    ax.set_xlabel("frame (in time order)", fontsize=FONTSIZE)
    for y, va, side in ((0.99, "top", "client"), (0.01, "bottom", "server")):
        ax.text(0.01, y, f"{'▲' if side == 'client' else '▼'} sent by the {side}", transform=ax.transAxes, va=va,
                ha="left", fontsize=FONTSIZE - 1, color=dark[side], gid="direction")
    if 0 < n <= 30:
        ax.set_xticks(x, ["CONT" if f.opcode == "CONTINUATION" else f.opcode for f in frames], rotation=60,
                      fontsize=FONTSIZE - 2)
    elif n:
        ax.set_xlim(0, n + 1)
    ax.tick_params(labelsize=FONTSIZE - 2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    def total(side: str, values: list[int]) -> int:
        return sum(abs(v) for f, v in zip(frames, values, strict=False) if f.sender == side)

    handles = []
    for side, arrow in (("client", "client→server"), ("server", "server→client")):
        if any(f.sender == side for f in frames):
            handles.append(Patch(color=dark[side], label=f"{arrow} header ({fmt_bytes(total(side, header))})"))
            handles.append(Patch(color=light[side], label=f"{arrow} payload ({fmt_bytes(total(side, payload))})"))
    if handles:
        ax.legend(handles=handles, fontsize=FONTSIZE - 2, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "no frames", transform=ax.transAxes, ha="center", va="center", color="#808b96")
    ax.set_title("bytes per frame: header vs payload", fontsize=FONTSIZE + 1)
    counts = {side: sum(f.sender == side for f in frames) for side in ("client", "server")}
    set_alt(ax, f"Bar chart: bytes on the wire per frame, in time order, {counts['client']} frames sent by the "
            f"client (up) and {counts['server']} by the server (down); each bar splits into header and payload. "
            f"Client: {fmt_bytes(total('client', header))} of headers, {fmt_bytes(total('client', payload))} of "
            f"payload; server: {fmt_bytes(total('server', header))} of headers, "
            f"{fmt_bytes(total('server', payload))} of payload.")
    return ax


__all__ = ["sizes"]
