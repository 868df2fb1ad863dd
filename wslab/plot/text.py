"""Text that fits: fonts with the glyphs a payload needs, measured widths, cutting and wrapping."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Sequence

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

from .style import DETAIL_LINES, MAX_CHARS

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

def fmt_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} KB"
    return f"{n / 1_000_000:.1f} MB"


def fmt_dt(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 10:
        return f"+{ms:.2f} ms"
    if ms < 10_000:
        return f"+{ms:.1f} ms"
    return f"+{ms / 1000:.2f} s"


def fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """The font families for labels (the default, then installed fallbacks) and the characters they have."""
    from matplotlib import rcParams

    return fonts_for(tuple(rcParams["font.family"]))


@functools.lru_cache(maxsize=8)
def fonts_for(family: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[int]]:
    from matplotlib.font_manager import findfont, fontManager, get_font

    installed = {f.name for f in fontManager.ttflist}
    chain = family + tuple(name for name in FALLBACK_FONTS if name in installed and name not in family)
    chars: set[int] = set()
    for path in {findfont(FontProperties(family=[name])) for name in chain}:
        with contextlib.suppress(Exception):  # an unreadable font file: its characters don't count
            chars.update(get_font(path).get_charmap())
    return chain, frozenset(chars or range(0x20, 0x7F))


def clean(text: str) -> str:
    """Make payload text drawable on one line: no control characters, no missing glyphs."""
    chars = fonts()[1]
    out = []
    for c in text[:MAX_CHARS]:
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
    return "".join(out) + ("…" if len(text) > MAX_CHARS else "")


def text_width(text: str, size: float) -> float:
    return text_width_for(text, size, fonts()[0])


@functools.lru_cache(maxsize=8192)
def text_width_for(text: str, size: float, family: tuple[str, ...]) -> float:
    try:
        prop = FontProperties(family=list(family), size=size)
        w, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    except Exception:  # pragma: no cover - fall back to an estimate
        w = 0.62 * size * len(text)
    return w * 1.04  # Agg's hinting draws a little wider than the outlines


def fit(make: Callable[[str], str], core: str, width_pt: float, size: float) -> tuple[str, int]:
    """``make(core)`` with ``core`` shortened (ending in …) to fit; also how many characters were kept."""
    if text_width(make(core), size) <= width_pt:
        return make(core), len(core)
    lo, hi = 0, len(core) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(make(core[:mid].rstrip() + "…"), size) <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return cut(make("…"), width_pt, size), 0
    return make(core[:lo].rstrip() + "…"), lo


def cut(text: str, width_pt: float, size: float) -> str:
    """``text``, cut short (ending in …) if it is wider than ``width_pt``."""
    return fit(lambda s: s, text[:MAX_CHARS], width_pt, size)[0]


def first_fitting(candidates: Sequence[str], width_pt: float, size: float) -> str:
    """The first candidate that fits, else the last one cut short."""
    for text in candidates:
        if text_width(text, size) <= width_pt:
            return text
    return cut(candidates[-1], width_pt, size)


def wrap(text: str, width_pt: float, size: float, max_lines: int = DETAIL_LINES) -> list[str]:
    """Greedy word wrap by measured width; the last line is cut short if the text does not fit."""
    text = text[:MAX_CHARS].replace("RFC 6455 §", "RFC\u00a06455\u00a0§")  # keep references whole
    words = text.split(" ")
    lines: list[str] = []
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and text_width(f"{line} {words[0]}", size) <= width_pt:
            line += " " + words.pop(0)
        if text_width(line, size) > width_pt:  # one word wider than the line
            piece = cut(line, width_pt, size)
            rest = line[len(piece) - 1:]
            line = piece[:-1]
            words.insert(0, rest)
        lines.append(line)
    if words:
        lines.append(cut(" ".join(words), width_pt, size))
    return lines


__all__ = ["FALLBACK_FONTS", "clean", "cut", "first_fitting", "fit", "fmt_bytes", "fmt_dt", "fonts", "text_width",
           "wrap"]
