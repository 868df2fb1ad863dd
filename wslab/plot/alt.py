"""Alt text for the package's figures: a plain description a screen reader (or a projector-less reader) can use.

Every figure wslab draws carries its description: :func:`alt_text` reads it back. Jupyter's inline
backend has no way to attach alt text to the PNG it shows (JupyterLab and nbconvert's HTML export write
``<img>`` without it), so :func:`described` wraps a figure in an output that does: the PNG as an
``<img alt="...">`` with the description under it (a ``<details>`` to unfold), and the description as
its plain-text form. ``python -m wslab demo --png`` writes it into the PNG's ``Description`` field.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..capture.records import Record, describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_ATTR = "_wslab_alt"
_WORDS = {"client": "client → server", "server": "server → client"}
#: Events listed one by one in a description; the rest are counted.
MAX_EVENTS = 24


def set_alt(ax: Axes, text: str) -> None:
    """Attach ``text`` to ``ax`` as its alt text."""
    setattr(ax, _ATTR, text)


def alt_text(figure_or_ax: Figure | Axes) -> str:
    """The alt text of a wslab figure (its Axes' descriptions, one paragraph each), or ``""``."""
    axes = getattr(figure_or_ax, "axes", None)
    if not isinstance(axes, list):
        axes = [figure_or_ax]
    return "\n\n".join(text for ax in axes if (text := getattr(ax, _ATTR, "")))


def describe_timeline(records: Sequence[Record], conns: Sequence[int], shown: Sequence[Record], title: str,
                      *, proportional: bool = False) -> str:
    """A sequence diagram in words: what it shows, then its events in order (``shown``: one per row)."""
    lanes = (f"{len(conns)} connections, each a client lifeline and a server lifeline" if len(conns) > 1
             else "a client lifeline and a server lifeline")
    timing = ("gaps between events drawn to scale" if proportional else "one row per event, not to scale")
    head = f"Sequence diagram: {title.splitlines()[0] if title else 'WebSocket'}. {lanes}; time runs down, {timing}."
    events = []
    for r in shown[:MAX_EVENTS]:
        who = f"connection {r.conn}, " if len(conns) > 1 else ""
        arrow = _WORDS.get(r.sender, str(r.sender))
        events.append(f"{who}{arrow}: {describe(r)}")
    more = f"; and {len(shown) - MAX_EVENTS} more events" if len(shown) > MAX_EVENTS else ""
    return f"{head} Events in order: " + "; ".join(events) + more + "." if events else head


class Described:
    """A figure with its alt text, for a notebook cell: ``described(ax)`` as the cell's last line.

    In Jupyter it shows the PNG as ``<img alt=…>`` and the description in a ``<details>`` under it; its
    plain-text form (a terminal, nbval) is the description.
    """

    def __init__(self, figure: Figure, alt: str) -> None:
        self.figure, self.alt = figure, alt
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=figure.dpi, bbox_inches="tight", metadata={"Description": alt})
        self.png = buffer.getvalue()

    def __repr__(self) -> str:
        return self.alt

    def _repr_png_(self) -> tuple[bytes, dict[str, Any]]:
        return self.png, {"alt": self.alt}

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode()
        alt = html.escape(self.alt)
        return (f'<figure style="margin:0"><img src="data:image/png;base64,{data}" alt="{alt}" '
                f'style="max-width:100%"/><details><summary>Text description</summary><p>{alt}</p></details>'
                "</figure>")


def described(figure_or_ax: Figure | Axes, alt: str | None = None) -> Described:
    """``figure_or_ax``'s figure with its alt text (:func:`alt_text`, or ``alt``), ready to display.

    The figure is closed in pyplot (when pyplot made it), so the inline backend doesn't show it twice.
    """
    from matplotlib.figure import Figure

    figure = figure_or_ax if isinstance(figure_or_ax, Figure) else figure_or_ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    out = Described(figure, alt if alt is not None else alt_text(figure_or_ax))
    import matplotlib.pyplot as plt

    number = getattr(figure, "number", None)
    if number is not None and plt.fignum_exists(number) and plt.figure(number) is figure:
        plt.close(figure)
    return out


__all__ = ["Described", "alt_text", "describe_timeline", "described", "set_alt"]
