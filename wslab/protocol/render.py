"""How protocol events read: one renderer for their one-liners, explanations and HTML tables.

Robust to bad data, as websockets' ``Frame.__str__`` is: every event prints,
in a terminal and in Jupyter, even when its bytes are wrong. The trace's table,
the Mermaid export and the timeline's labels build on the same pieces
(:func:`payload_text`, :func:`close_text`, :func:`flags`, :func:`summary`).
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from .enums import close_code_name, opcode_name
from .frames import apply_mask, frame_layout

if TYPE_CHECKING:
    from .events import AcceptCheck, DecodeError, Frame, Handshake

def as_bytes(data: Any) -> bytes:
    """``bytes(data)``, or ``b""`` when that is not possible (presentation only)."""
    if isinstance(data, bytes):
        return data
    try:
        return bytes(data)
    except Exception:
        return b""


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def elide(text: str, limit: int = 60) -> str:
    """Cut the middle out of ``text`` so it is at most about ``limit`` chars."""
    if len(text) <= limit:
        return text
    cut = max(1, (limit - 1) // 3)
    return text[: 2 * cut] + "…" + text[-cut:]


def hex_elided(data: bytes, limit: int = 16) -> str:
    """Space-separated hex; the middle elided, with a count, past ``limit`` bytes."""
    if len(data) <= limit:
        return data.hex(" ")
    head, tail = max(1, limit * 2 // 3), max(1, limit // 3)
    hidden = len(data) - head - tail
    return f"{data[:head].hex(' ')} … ({hidden} more) … {data[-tail:].hex(' ')}"


def ascii_gutter(data: bytes) -> str:
    """Printable ASCII as is, everything else as ``.`` (a hex dump's gutter)."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in data)


_PRINTABLE = re.compile(rb"[\x20-\x7e]*")




def preview(data: bytes | str | None, limit: int = 24) -> str:
    """A short, printable preview of a payload (the trace's table)."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        raw = data
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            shown = raw[:limit // 2].hex(" ")
            return shown + (" …" if len(raw) > limit // 2 else "")
    text = repr(data[:limit])
    return text[:-1] + "…'" if len(data) > limit else text


def close_text(code: int | None, reason: str | None, *, none: str = "(no status)", quote: bool = True) -> str:
    """``1000 (normal closure) 'bye'``: a Close frame's code, its meaning and its reason."""
    if code is None:
        return none
    text = f"{code} ({close_code_name(code)})"
    if reason:
        text += f" {reason!r}" if quote else f" {reason}"
    return text


def flags(frame: Frame) -> list[str]:
    """``["12 B", "masked", "deflate"]``: the length as sent and the flags worth a word."""
    return [f"{frame.length} B"] + (["masked"] if frame.masked else []) + (["deflate"] if frame.compressed else [])


def summary(frame: Frame) -> str:
    """One line for tables and diagrams: ``TEXT 'Hello Server'  [12 B, masked]``."""
    parts = [str(frame.opcode)]
    if not frame.fin:
        parts.append("fin=0")
    if frame.opcode == "CLOSE":
        parts.append(close_text(frame.close_code, frame.close_reason))
    elif frame.payload:
        parts.append(preview(frame.text if frame.text is not None else frame.payload))
    text = " ".join(parts) + f"  [{', '.join(flags(frame))}]"
    if frame.problems:
        text += "  ⚠ " + "; ".join(frame.problems)
    return text


def frame_line(frame: Frame) -> str:
    """``client TEXT fin masked len=12 'Hello Server'``: :meth:`Frame.__str__`."""
    on = [name for name, value in (("fin", frame.fin), ("rsv1", frame.rsv1), ("rsv2", frame.rsv2),
                                   ("rsv3", frame.rsv3), ("masked", frame.masked)) if value]
    parts = [str(frame.sender), str(frame.opcode), *on, f"len={frame.length}"]
    if frame.compressed:
        parts.append(f"inflated={len(as_bytes(frame.payload))}")
    parts.append(_data_repr(frame))
    if frame.problems:
        parts.append(f"[{plural(len(frame.problems), 'problem')}]")
    return " ".join(parts)


def _data_repr(frame: Frame) -> str:
    """The payload for humans: text, close code and reason, or elided hex."""
    payload = as_bytes(frame.payload)
    if frame.opcode == "CLOSE":
        if frame.close_code is not None:
            return close_text(frame.close_code, frame.close_reason and elide(str(frame.close_reason)))
        return "(no status code)" if not payload else hex_elided(payload)
    if frame.text is not None:
        return repr(elide(str(frame.text)))
    if not payload:
        return "''"
    if frame.opcode in ("PING", "PONG") and _PRINTABLE.fullmatch(payload):
        return repr(elide(payload.decode("ascii")))
    return hex_elided(payload)


def frame_explain(frame: Frame, max_bytes: int = 64) -> str:
    """:meth:`Frame.explain`: an annotated dump of the wire bytes, one header field per line."""
    rows = _frame_rows(frame, max_bytes)
    width = max(4, len(f"{len(as_bytes(frame.wire)):x}"))
    lines = [f"{frame_line(frame)}  @ offset {frame.offset}"]
    lines.append(f"{'off':<{width}}  {'bytes':<23}  {'bits':<9}  {'field':<28}  meaning")
    for _key, off, hexes, bits, label, meaning in rows:
        where = f"{off:0{width}x}" if off is not None else ""
        lines.append(f"{where:<{width}}  {hexes:<23}  {bits:<9}  {label:<28}  {meaning}".rstrip())
    return "\n".join(lines)


def frame_html(frame: Frame) -> str:
    """The :func:`frame_explain` table in HTML, one colour per field (for Jupyter)."""
    esc = html.escape
    cell = "padding:1px 6px;white-space:pre;text-align:left;vertical-align:top"
    out = [
        '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">',
        f'<caption style="text-align:left;font-weight:bold;padding:2px 6px">{esc(frame_line(frame))}'
        f" @ offset {esc(str(frame.offset))}</caption>",
        "<tr>"
        + "".join(
            f'<th style="{cell};border-bottom:1px solid #888">{name}</th>'
            for name in ("offset", "bytes", "bits", "field", "meaning")
        )
        + "</tr>",
    ]
    for key, off, hexes, bits, label, meaning in _frame_rows(frame, 64):
        background = _COLOURS.get(key, "#ffffff")
        colour = "#b00020" if key == "problem" else "#000000"
        cells = [f"{off:04x}" if off is not None else "", hexes, bits, label, meaning]
        out.append(
            f'<tr style="background:{background};color:{colour}">'
            + "".join(f'<td style="{cell}">{esc(text)}</td>' for text in cells)
            + "</tr>"
        )
    out.append("</table>")
    return "".join(out)


def handshake_line(handshake: Handshake) -> str:
    """:meth:`Handshake.__str__`: ``server HTTP/1.1 101 Switching Protocols [accept ok]``."""
    parts = [str(handshake.sender), str(handshake.start_line)]
    if handshake.body:
        parts.append(f"body={plural(len(as_bytes(handshake.body)), 'byte')}")
    if handshake.accept is not None:
        parts.append("[accept ok]" if handshake.accept.ok else "[accept MISMATCH]")
    if handshake.problems:
        parts.append(f"[{plural(len(handshake.problems), 'problem')}]")
    return " ".join(parts)


def handshake_explain(handshake: Handshake) -> str:
    """:meth:`Handshake.explain`: the head as sent, the body (elided), the accept derivation, the problems."""
    lines = [f"{handshake.sender} handshake @ offset {handshake.offset}", f"  {handshake.start_line}"]
    for name, value in handshake.headers:
        lines.append(f"  {name}: {value}")
    body = as_bytes(handshake.body)
    if body:
        try:
            shown = repr(elide(body.decode("utf-8"), 200))
        except UnicodeDecodeError:
            shown = hex_elided(body, 32)
        lines.append(f"  body ({plural(len(body), 'byte')}): {shown}")
    if handshake.accept is not None:
        lines.extend("  " + line for line in accept_explain(handshake.accept).splitlines())
    for problem in handshake.problems:
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)


def accept_explain(check: AcceptCheck) -> str:
    """:meth:`AcceptCheck.explain`: every step from the key to the accept value, one per line."""
    verdict = "matches" if check.ok else ("MISSING" if check.got is None else "does NOT match")
    return "\n".join([
        f"Sec-WebSocket-Key      {check.key}",
        f"+ GUID (RFC 6455 §1.3) {check.guid}",
        f"= SHA-1 (hex)          {check.sha1}",
        f"→ base64 = expected    {check.expected}",
        f"Sec-WebSocket-Accept   {check.got if check.got is not None else '(absent)'}  {verdict}",
    ])


def error_line(error: DecodeError) -> str:
    """:meth:`DecodeError.__str__`."""
    text = f"{error.sender} decode error at offset {error.offset}: {error.reason}"
    data = as_bytes(error.data)
    if data:
        text += f" [{hex_elided(data, 16)}]"
    return text


class Explanation(str):
    """An ``explain()`` text: a ``str`` (``print()`` it, search it, compare it) that shows itself as text when
    left bare in a cell (its repr is the text, not one line of ``\\n`` escapes) and as HTML in Jupyter."""

    _html: str | None

    def __new__(cls, text: str, html: str | None = None) -> Explanation:
        self = super().__new__(cls, text)
        self._html = html
        return self

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        return self._html if self._html is not None else pre(self)


def pre(text: str) -> str:
    """``text`` as preformatted HTML."""
    return '<pre style="font-family:monospace;font-size:12px;margin:0">' + html.escape(text) + "</pre>"


# -- the rows of an annotated frame -------------------------------------------------------

_COLOURS = {
    "FIN": "#fde2e2",
    "RSV1": "#fff1c1",
    "RSV2": "#fff1c1",
    "RSV3": "#fff1c1",
    "opcode": "#d9f2d9",
    "MASK": "#dbe9ff",
    "payload length": "#e8dcff",
    "extended payload length": "#e8dcff",
    "masking key": "#ffe0f0",
    "payload": "#eeeeee",
    "unmasked": "#f7f7f7",
    "inflated": "#e6f7f7",
    "text": "#ffffff",
    "close": "#ffffff",
    "problem": "#fff0f0",
}


_Row = tuple[str, "int | None", str, str, str, str]


def _bit_pattern(byte: int, bits: str) -> tuple[str, int]:
    """``("1... ....", 1)`` for FIN in 0x81: the field's bits shown, the rest dotted."""
    first, _, last = bits.partition("-")
    a, b = int(first), int(last or first)
    chars = [str(byte >> (7 - i) & 1) if a <= i <= b else "." for i in range(8)]
    value = byte >> (7 - b) & ((1 << (b - a + 1)) - 1)
    return "".join(chars[:4]) + " " + "".join(chars[4:]), value


def _bits_meaning(frame: Frame, name: str, value: int) -> tuple[str, str]:
    if name == "FIN":
        return f"FIN={value}", "final fragment" if value else "more fragments follow"
    if name in ("RSV1", "RSV2", "RSV3"):
        if not value:
            return f"{name}={value}", ""
        if name == "RSV1" and frame.compressed:
            return f"{name}={value}", "compressed message (permessage-deflate, RFC 7692)"
        return f"{name}={value}", "reserved: must be 0 unless an extension defines it"
    if name == "opcode":
        kind = "control frame" if value >= 0x8 else "data frame"
        return f"opcode=0x{value:X}", f"{opcode_name(value)} ({kind})"
    if name == "MASK":
        return f"MASK={value}", "payload masked with the key below" if value else "payload not masked"
    if name == "payload length":
        if value == 126:
            return f"payload len={value}", "(16-bit length follows)"
        if value == 127:
            return f"payload len={value}", "(64-bit length follows)"
        return f"payload len={value}", "(7-bit)"
    return f"{name}={value}", ""


def _dump_rows(key: str, base: int | None, data: bytes, label: str, meaning: str,
               max_bytes: int, gutter: bool) -> list[_Row]:
    """Hex-dump rows of 8 bytes; the middle elided past ``max_bytes``."""
    if not data:
        return [(key, base, "", "", label, meaning or "0 bytes")]
    per_row = 8
    starts = list(range(0, len(data), per_row))
    elided = 0
    if len(data) > max(max_bytes, per_row * 2):
        keep_head = max(1, max_bytes // per_row - 1)
        last = starts[-1]
        elided = last - starts[keep_head]
        starts = [*starts[:keep_head], last]
    rows: list[_Row] = []
    for i, start in enumerate(starts):
        chunk = data[start : start + per_row]
        where = None if base is None else base + start
        text = ascii_gutter(chunk) if gutter else ""
        if i == 0:
            rows.append((key, where, chunk.hex(" "), "", label, f"{meaning}  {text}".strip() if meaning else text))
        else:
            rows.append((key, where, chunk.hex(" "), "", "", text))
        if elided and i == len(starts) - 2:
            rows.append((key, None, "…", "", "", f"… {plural(elided, 'byte')} not shown …"))
    return rows


def _frame_rows(frame: Frame, max_bytes: int) -> list[_Row]:
    """The rows of :meth:`Frame.explain` and :meth:`Frame._repr_html_`."""
    wire = as_bytes(frame.wire)
    fields = tuple(frame.fields) or frame_layout(wire)[0]
    rows: list[_Row] = []
    seen: set[int] = set()
    payload_start = len(wire)
    for field in fields:
        if field.name == "payload":
            payload_start = field.start
            continue
        if field.bits is not None:
            first = field.start not in seen
            seen.add(field.start)
            if field.start < len(wire):
                byte = wire[field.start]
                try:
                    pattern, value = _bit_pattern(byte, field.bits)
                except ValueError:
                    pattern, value = "", byte
                label, meaning = _bits_meaning(frame, field.name, value)
                hexes = f"{byte:02x}" if first else ""
            else:
                pattern, hexes, label, meaning = "", "", f"{field.name}={field.value}", "(missing)"
            rows.append((field.name, field.start if first else None, hexes, pattern, label, meaning))
            continue
        chunk = wire[field.start : field.end]
        if field.name == "extended payload length":
            label = f"extended payload len={int.from_bytes(chunk, 'big')}"
            meaning = f"({len(chunk) * 8}-bit)"
        elif field.name == "masking key":
            label, meaning = f"masking key={chunk.hex(' ')}", "XOR key: payload[i] ^= key[i % 4]"
        else:
            label, meaning = f"{field.name}={field.value}", ""
        rows.append((field.name, field.start, chunk.hex(" "), "", label, meaning))

    sent = wire[payload_start:]
    mask = as_bytes(frame.mask)
    if frame.masked and len(mask) == 4:
        rows += _dump_rows("payload", payload_start, sent, "payload (masked)",
                           f"{plural(len(sent), 'byte')} as sent", max_bytes, False)
        unmasked = apply_mask(sent, mask)
        rows += _dump_rows("unmasked", payload_start, unmasked, "payload (unmasked)", "", max_bytes, True)
    else:
        unmasked = sent
        rows += _dump_rows("payload", payload_start, sent, "payload", "", max_bytes, True)
    payload = as_bytes(frame.payload)
    if frame.compressed:
        rows += _dump_rows("inflated", None, payload, f"inflated ({plural(len(payload), 'byte')})",
                           "", max_bytes, True)
    if frame.text is not None:
        rows.append(("text", None, "", "", "text", repr(elide(str(frame.text), 200))))
    if frame.close_code is not None:
        rows.append(("close", None, "", "", f"close code={frame.close_code}", close_code_name(frame.close_code)))
        if frame.close_reason:
            rows.append(("close", None, "", "", "close reason", repr(elide(str(frame.close_reason), 200))))
    for problem in frame.problems:
        rows.append(("problem", None, "", "", "problem", str(problem)))
    return rows
