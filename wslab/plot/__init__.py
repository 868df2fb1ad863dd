"""Pictures of a trace: they read data, never change it (``f(records, *, ax=None, **kwargs) -> Axes``)."""

from .alt import alt_text, described
from .timeline import COLORS, FALLBACK_FONTS, STATE_COLORS, panels, sizes, timeline

__all__ = ["COLORS", "FALLBACK_FONTS", "STATE_COLORS", "alt_text", "described", "panels", "sizes", "timeline"]
