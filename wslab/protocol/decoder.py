"""RFC 6455 wire decoder: bytes in, events out (sans-I/O).

Nothing here opens a socket, starts a thread or reads a clock. The tap feeds
recorded bytes in; tests feed bytes directly.

Events:

* :class:`Handshake` -- the HTTP Upgrade request (sent by the client) or the
  server's response (``101`` or a rejection with its body).
* :class:`Frame` -- one RFC 6455 §5.2 frame with every header field.
* :class:`DecodeError` -- bytes that could not be decoded, with the offset and
  the broken rule. Decoding of that direction stops there; the bytes are still
  relayed by the tap.

Decoders:

* :class:`StreamDecoder` -- one direction (``"client"`` or ``"server"``),
  fed bytes in arbitrary pieces.
* :class:`WireDecoder` -- one connection: both directions, sharing what the
  handshake negotiated (the key for Sec-WebSocket-Accept, permessage-deflate).
* :func:`decode` -- one-shot convenience for a complete byte string.

Encoders, for hand-crafting bytes (valid or not): :func:`build_frame`,
:func:`close_payload`.

The frame layout, RFC 6455 §5.2, which the code below reads literally::

      0                   1                   2                   3
      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
     +-+-+-+-+-------+-+-------------+-------------------------------+
     |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
     |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
     |N|V|V|V|       |S|             |   (if payload len==126/127)   |
     | |1|2|3|       |K|             |                               |
     +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
     |     Extended payload length continued, if payload len == 127  |
     + - - - - - - - - - - - - - - - +-------------------------------+
     |                               |Masking-key, if MASK set to 1  |
     +-------------------------------+-------------------------------+
     | Masking-key (continued)       |          Payload Data         |
     +-------------------------------- - - - - - - - - - - - - - - - +
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import hashlib
import html
import re
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from .enums import CloseCode, Opcode, Sender
from .problems import Problem
from .problems import ProblemCode as P

#: RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: RFC 6455 §11.8 opcode names, by value (the defined ones; see :class:`Opcode` for all 16).
OPCODES: dict[int, Opcode] = {op.bits: op for op in Opcode if not op.is_reserved}

#: RFC 6455 §7.4.1 close codes and their names.
CLOSE_CODES: dict[int, str] = {int(code): code.meaning for code in CloseCode}

#: Largest HTTP head (request or response, through the blank line) accepted.
MAX_HEAD = 64 * 1024

#: Largest frame payload (and decompressed payload) a decoder buffers.
MAX_FRAME = 64 * 1024 * 1024

#: RFC 7692 §7.2.2: the empty stored block removed from the end of each
#: compressed message and appended again before inflating it.
EMPTY_BLOCK = b"\x00\x00\xff\xff"


# ---------------------------------------------------------------------------
# Small helpers shared by the events' presentation and the decoders.
# ---------------------------------------------------------------------------


def opcode_name(value: int) -> Opcode:
    """``Opcode.TEXT`` for 0x1 ...; ``Opcode.RESERVED_0x3`` for reserved values (RFC 6455 §5.2)."""
    return Opcode.from_bits(value)


def close_code_name(code: int) -> str:
    """A close code's meaning (RFC 6455 §7.4), e.g. ``"normal closure"``."""
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if 3000 <= code <= 3999:
        return "registered (libraries, frameworks)"
    if 4000 <= code <= 4999:
        return "private use"
    return "unknown"


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3)."""
    if not data:
        return b""
    if len(mask) != 4:
        raise ValueError(f"masking key must be 4 bytes, got {len(mask)}")
    key = (bytes(mask) * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(data), "big")


def _as_bytes(data: Any) -> bytes:
    """``bytes(data)``, or ``b""`` when that is not possible (presentation only)."""
    if isinstance(data, bytes):
        return data
    try:
        return bytes(data)
    except Exception:
        return b""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _elide(text: str, limit: int = 60) -> str:
    """Cut the middle out of ``text`` so it is at most about ``limit`` chars."""
    if len(text) <= limit:
        return text
    cut = max(1, (limit - 1) // 3)
    return text[: 2 * cut] + "…" + text[-cut:]


def _hex(data: bytes, limit: int = 16) -> str:
    """Space-separated hex; the middle elided, with a count, past ``limit`` bytes."""
    if len(data) <= limit:
        return data.hex(" ")
    head, tail = max(1, limit * 2 // 3), max(1, limit // 3)
    hidden = len(data) - head - tail
    return f"{data[:head].hex(' ')} … ({hidden} more) … {data[-tail:].hex(' ')}"


def _ascii(data: bytes) -> str:
    """Printable ASCII as is, everything else as ``.`` (a hex dump's gutter)."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in data)


_PRINTABLE = re.compile(rb"[\x20-\x7e]*")


# ---------------------------------------------------------------------------
# Events.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AcceptCheck:
    """RFC 6455 §4.2.2 step 5.4: how Sec-WebSocket-Accept is derived.

    Attributes:
        key: the client's Sec-WebSocket-Key.
        guid: the fixed GUID from RFC 6455 §1.3.
        sha1: hex SHA-1 of ``key + guid``.
        expected: base64 of that SHA-1 digest.
        got: the server's Sec-WebSocket-Accept (None if absent).
        ok: whether ``got == expected``.
    """

    key: str
    guid: str
    sha1: str
    expected: str
    got: str | None
    ok: bool

    def explain(self) -> str:
        """Every step from the key to the accept value, one per line."""
        verdict = "matches" if self.ok else ("MISSING" if self.got is None else "does NOT match")
        return "\n".join(
            [
                f"Sec-WebSocket-Key      {self.key}",
                f"+ GUID (RFC 6455 §1.3) {self.guid}",
                f"= SHA-1 (hex)          {self.sha1}",
                f"→ base64 = expected    {self.expected}",
                f"Sec-WebSocket-Accept   {self.got if self.got is not None else '(absent)'}  {verdict}",
            ]
        )

    def __str__(self) -> str:
        return f"accept {'ok' if self.ok else 'mismatch'}: expected {self.expected!r}, got {self.got!r}"


@dataclasses.dataclass(frozen=True)
class Handshake:
    """One side of the opening handshake (RFC 6455 §4.1, §4.2.2).

    Attributes:
        sender: ``"client"`` for the request, ``"server"`` for the response.
        offset: stream offset of the first byte in this direction.
        raw: the exact bytes of the head (through the blank line) and body.
        start_line: ``GET /path HTTP/1.1`` or ``HTTP/1.1 101 Switching Protocols``.
        headers: header (name, value) pairs in wire order.
        method, path: request only.
        status, reason: response only.
        version: ``HTTP/1.1``.
        body: response body (rejections), else ``b""``.
        accept: response only, when the request's key is known.
        problems: RFC violations found in this handshake, each naming its section.
    """

    sender: Sender
    offset: int
    raw: bytes
    start_line: str
    headers: tuple[tuple[str, str], ...]
    version: str
    method: str | None = None
    path: str | None = None
    status: int | None = None
    reason: str | None = None
    body: bytes = b""
    accept: AcceptCheck | None = None
    problems: tuple[Problem, ...] = ()

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def __str__(self) -> str:
        parts = [str(self.sender), str(self.start_line)]
        if self.body:
            parts.append(f"body={_plural(len(_as_bytes(self.body)), 'byte')}")
        if self.accept is not None:
            parts.append("[accept ok]" if self.accept.ok else "[accept MISMATCH]")
        if self.problems:
            parts.append(f"[{_plural(len(self.problems), 'problem')}]")
        return " ".join(parts)

    def explain(self) -> str:
        """The head as sent, the body (elided), the accept derivation and the problems."""
        lines = [f"{self.sender} handshake @ offset {self.offset}"]
        lines.append(f"  {self.start_line}")
        for name, value in self.headers:
            lines.append(f"  {name}: {value}")
        body = _as_bytes(self.body)
        if body:
            try:
                shown = repr(_elide(body.decode("utf-8"), 200))
            except UnicodeDecodeError:
                shown = _hex(body, 32)
            lines.append(f"  body ({_plural(len(body), 'byte')}): {shown}")
        if self.accept is not None:
            lines.extend("  " + line for line in self.accept.explain().splitlines())
        for problem in self.problems:
            lines.append(f"  problem: {problem}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (
            '<pre style="font-family:monospace;font-size:12px;margin:0">'
            + html.escape(self.explain())
            + "</pre>"
        )


@dataclasses.dataclass(frozen=True)
class Field:
    """A header field's position inside :attr:`Frame.wire` (for annotated dumps).

    ``start``/``end`` are byte offsets into ``wire``; ``bits`` is e.g. ``"0"``
    for FIN or ``"4-7"`` for the opcode, within the byte at ``start``, or None
    for whole bytes.
    """

    name: str
    start: int
    end: int
    value: str
    bits: str | None = None


@dataclasses.dataclass(frozen=True)
class Frame:
    """One RFC 6455 §5.2 frame as it crossed the wire.

    Attributes:
        sender: who sent it.
        offset: stream offset of the frame's first byte in this direction.
        fin, rsv1, rsv2, rsv3: the header bits.
        opcode: an :class:`Opcode` (``"TEXT"`` ...; ``"RESERVED_0x3"`` for reserved values).
        opcode_value: the 4-bit value.
        masked: the MASK bit.
        mask: the 4-byte masking key, or None.
        length: payload length as sent.
        length_bits: 7, 16 or 64: which length encoding was used (§5.2).
        fields: positions of each header field in ``wire``.
        wire: the raw bytes of the whole frame.
        masked_payload: the payload bytes as sent (masked if ``masked``).
        payload: unmasked and, when compressed, decompressed payload.
        compressed: RSV1 set on a data message with permessage-deflate.
        text: the payload as text for text messages, if valid UTF-8.
        close_code, close_reason: for CLOSE frames with a body.
        problems: RFC violations found in this frame, each naming its section.
    """

    sender: Sender
    offset: int
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    opcode_value: int
    masked: bool
    mask: bytes | None
    length: int
    length_bits: int
    fields: tuple[Field, ...]
    wire: bytes
    masked_payload: bytes
    payload: bytes
    compressed: bool = False
    text: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    problems: tuple[Problem, ...] = ()

    def __str__(self) -> str:
        """One line, e.g. ``client TEXT fin masked len=12 'Hello Server'``."""
        flags = [
            name
            for name, on in (
                ("fin", self.fin),
                ("rsv1", self.rsv1),
                ("rsv2", self.rsv2),
                ("rsv3", self.rsv3),
                ("masked", self.masked),
            )
            if on
        ]
        parts = [str(self.sender), str(self.opcode), *flags, f"len={self.length}"]
        if self.compressed:
            parts.append(f"inflated={len(_as_bytes(self.payload))}")
        parts.append(self._data_repr())
        if self.problems:
            parts.append(f"[{_plural(len(self.problems), 'problem')}]")
        return " ".join(parts)

    def _data_repr(self) -> str:
        """The payload for humans: text, close code and reason, or elided hex."""
        payload = _as_bytes(self.payload)
        if self.opcode == "CLOSE":
            if self.close_code is not None:
                shown = f"{self.close_code} ({close_code_name(self.close_code)})"
                if self.close_reason:
                    shown += f" {_elide(str(self.close_reason))!r}"
                return shown
            return "(no status code)" if not payload else _hex(payload)
        if self.text is not None:
            return repr(_elide(str(self.text)))
        if not payload:
            return "''"
        if self.opcode in ("PING", "PONG") and _PRINTABLE.fullmatch(payload):
            return repr(_elide(payload.decode("ascii")))
        return _hex(payload)

    def explain(self, max_bytes: int = 64) -> str:
        """An annotated dump of :attr:`wire`, one header field per line.

        Like Wireshark's bytes pane: offset, bytes in hex, the bits a sub-byte
        field occupies, the field and its value, and what it means; then the
        payload as sent, unmasked and inflated, and the problems. Payloads over
        ``max_bytes`` are elided with a count.
        """
        rows = _frame_rows(self, max_bytes)
        width = max(4, len(f"{len(_as_bytes(self.wire)):x}"))
        lines = [f"{self}  @ offset {self.offset}"]
        lines.append(f"{'off':<{width}}  {'bytes':<23}  {'bits':<9}  {'field':<28}  meaning")
        for _key, off, hexes, bits, label, meaning in rows:
            where = f"{off:0{width}x}" if off is not None else ""
            lines.append(f"{where:<{width}}  {hexes:<23}  {bits:<9}  {label:<28}  {meaning}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The :meth:`explain` table in HTML, one colour per field (for Jupyter)."""
        esc = html.escape
        cell = "padding:1px 6px;white-space:pre;text-align:left;vertical-align:top"
        out = [
            '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">',
            f'<caption style="text-align:left;font-weight:bold;padding:2px 6px">{esc(str(self))}'
            f" @ offset {esc(str(self.offset))}</caption>",
            "<tr>"
            + "".join(
                f'<th style="{cell};border-bottom:1px solid #888">{name}</th>'
                for name in ("offset", "bytes", "bits", "field", "meaning")
            )
            + "</tr>",
        ]
        for key, off, hexes, bits, label, meaning in _frame_rows(self, 64):
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


@dataclasses.dataclass(frozen=True)
class DecodeError:
    """Bytes the decoder could not make sense of.

    Attributes:
        sender: direction.
        offset: stream offset where decoding failed.
        reason: what is wrong, naming the RFC rule (e.g. ``"... (RFC 6455 §5.2)"``).
        data: up to 64 bytes from ``offset`` on, for display.
    """

    sender: Sender
    offset: int
    reason: Problem
    data: bytes = b""

    def __str__(self) -> str:
        text = f"{self.sender} decode error at offset {self.offset}: {self.reason}"
        data = _as_bytes(self.data)
        if data:
            text += f" [{_hex(data, 16)}]"
        return text


Event = Handshake | Frame | DecodeError


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def check_accept(key: str, got: str | None) -> AcceptCheck:
    """Show every step of deriving Sec-WebSocket-Accept from ``key``."""
    sha1 = hashlib.sha1((key + GUID).encode("ascii"))
    expected = base64.b64encode(sha1.digest()).decode("ascii")
    return AcceptCheck(key, GUID, sha1.hexdigest(), expected, got, got == expected)


# ---------------------------------------------------------------------------
# Frame layout and annotated dumps.
# ---------------------------------------------------------------------------

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


def frame_layout(wire: bytes) -> tuple[tuple[Field, ...], int, int, int]:
    """Locate the §5.2 header fields in ``wire``.

    Returns ``(fields, header_length, payload_length, length_bits)``. Works on
    truncated frames too (fields past the end are simply missing or short).
    """
    wire = _as_bytes(wire)
    if not wire:
        return (), 0, 0, 7
    head1 = wire[0]
    op = head1 & 0b00001111
    fields = [
        Field("FIN", 0, 1, str(head1 >> 7 & 1), "0"),
        Field("RSV1", 0, 1, str(head1 >> 6 & 1), "1"),
        Field("RSV2", 0, 1, str(head1 >> 5 & 1), "2"),
        Field("RSV3", 0, 1, str(head1 >> 4 & 1), "3"),
        Field("opcode", 0, 1, f"0x{op:X} {opcode_name(op)}", "4-7"),
    ]
    if len(wire) < 2:
        return tuple(fields), 1, 0, 7
    head2 = wire[1]
    masked = head2 >> 7 & 1
    length = head2 & 0b01111111
    fields.append(Field("MASK", 1, 2, str(masked), "0"))
    fields.append(Field("payload length", 1, 2, str(length), "1-7"))
    pos, bits = 2, 7
    if length in (126, 127):
        bits, size = (16, 2) if length == 126 else (64, 8)
        extended = wire[2 : 2 + size]
        length = int.from_bytes(extended, "big")
        fields.append(Field("extended payload length", 2, 2 + size, str(length)))
        pos += size
    if masked:
        fields.append(Field("masking key", pos, pos + 4, wire[pos : pos + 4].hex(" ")))
        pos += 4
    fields.append(Field("payload", pos, pos + length, _plural(length, "byte")))
    return tuple(fields), pos, length, bits


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
        starts = starts[:keep_head] + [last]
    rows: list[_Row] = []
    for i, start in enumerate(starts):
        chunk = data[start : start + per_row]
        where = None if base is None else base + start
        text = _ascii(chunk) if gutter else ""
        if i == 0:
            rows.append((key, where, chunk.hex(" "), "", label, f"{meaning}  {text}".strip() if meaning else text))
        else:
            rows.append((key, where, chunk.hex(" "), "", "", text))
        if elided and i == len(starts) - 2:
            rows.append((key, None, "…", "", "", f"… {_plural(elided, 'byte')} not shown …"))
    return rows


def _frame_rows(frame: Frame, max_bytes: int) -> list[_Row]:
    """The rows of :meth:`Frame.explain` and :meth:`Frame._repr_html_`."""
    wire = _as_bytes(frame.wire)
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
    mask = _as_bytes(frame.mask)
    if frame.masked and len(mask) == 4:
        rows += _dump_rows("payload", payload_start, sent, "payload (masked)",
                           f"{_plural(len(sent), 'byte')} as sent", max_bytes, False)
        unmasked = apply_mask(sent, mask)
        rows += _dump_rows("unmasked", payload_start, unmasked, "payload (unmasked)", "", max_bytes, True)
    else:
        unmasked = sent
        rows += _dump_rows("payload", payload_start, sent, "payload", "", max_bytes, True)
    payload = _as_bytes(frame.payload)
    if frame.compressed:
        rows += _dump_rows("inflated", None, payload, f"inflated ({_plural(len(payload), 'byte')})",
                           "", max_bytes, True)
    if frame.text is not None:
        rows.append(("text", None, "", "", "text", repr(_elide(str(frame.text), 200))))
    if frame.close_code is not None:
        rows.append(("close", None, "", "", f"close code={frame.close_code}", close_code_name(frame.close_code)))
        if frame.close_reason:
            rows.append(("close", None, "", "", "close reason", repr(_elide(str(frame.close_reason), 200))))
    for problem in frame.problems:
        rows.append(("problem", None, "", "", "problem", str(problem)))
    return rows


# ---------------------------------------------------------------------------
# Handshake parsing and validation (RFC 9112 syntax, RFC 6455 §4 rules).
# ---------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) (\S+) (HTTP/\d+\.\d+)")
_STATUS_LINE = re.compile(r"(HTTP/\d+\.\d+) (\d{3})(?: ([^\r\n]*))?")
_HEADER_LINE = re.compile(rf"({_TOKEN}):[ \t]*([^\r\n]*?)[ \t]*")
#: A byte that cannot be part of a start line (before its CRLF).
_NOT_START_LINE = re.compile(rb"[^\x20-\x7e\r]")
_HTTP_VERSION = re.compile(r"HTTP/(\d+)\.(\d+)")
_METHOD_START = re.compile(rb"[A-Z]{3,16} ")


def _values(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]


def _tokens(headers: tuple[tuple[str, str], ...], name: str) -> set[str]:
    """Comma-separated tokens of every ``name`` header, lowercased."""
    return {token.strip().lower() for value in _values(headers, name) for token in value.split(",")}


def _version_at_least_11(version: str) -> bool:
    match = _HTTP_VERSION.fullmatch(version)
    return match is not None and (int(match[1]), int(match[2])) >= (1, 1)


def _upgrade_problems(headers: tuple[tuple[str, str], ...], section: str) -> list[Problem]:
    problems: list[Problem] = []
    upgrade = _values(headers, "Upgrade")
    if not upgrade:
        problems.append(Problem(P.MISSING_UPGRADE, f"missing Upgrade header", f"RFC 6455 {section}"))
    elif "websocket" not in _tokens(headers, "Upgrade"):
        problems.append(Problem(P.UPGRADE_NOT_WEBSOCKET, f"Upgrade header {', '.join(upgrade)!r} does not contain websocket", f"RFC 6455 {section}"))
    connection = _values(headers, "Connection")
    if not connection:
        problems.append(Problem(P.MISSING_CONNECTION, "missing Connection header", f"RFC 6455 {section}"))
    elif "upgrade" not in _tokens(headers, "Connection"):
        problems.append(Problem(P.CONNECTION_NOT_UPGRADE, f"Connection header {', '.join(connection)!r} does not contain Upgrade", f"RFC 6455 {section}"))
    return problems


def _request_problems(method: str, version: str, headers: tuple[tuple[str, str], ...]) -> list[Problem]:
    """RFC 6455 §4.2.1: what the server must find in the client's request."""
    if not _values(headers, "Upgrade") and not any(k.lower().startswith("sec-websocket-") for k, _ in headers):
        return []  # plain HTTP (a browser fetching the chat page), not a WebSocket handshake
    problems: list[Problem] = []
    if method != "GET":
        problems.append(Problem(P.METHOD_NOT_GET, f"request method is {method}, must be GET", "RFC 6455 §4.2.1"))
    if not _version_at_least_11(version):
        problems.append(Problem(P.HTTP_VERSION_TOO_OLD, f"{version} request, must be HTTP/1.1 or later", "RFC 6455 §4.2.1"))
    if not _values(headers, "Host"):
        problems.append(Problem(P.MISSING_HOST, "missing Host header", "RFC 6455 §4.2.1"))
    problems += _upgrade_problems(headers, "§4.2.1")
    keys = _values(headers, "Sec-WebSocket-Key")
    if not keys:
        problems.append(Problem(P.MISSING_KEY, "missing Sec-WebSocket-Key header", "RFC 6455 §4.2.1"))
    else:
        try:
            ok = len(base64.b64decode(keys[0].encode("ascii"), validate=True)) == 16
        except (ValueError, binascii.Error, UnicodeEncodeError):
            ok = False
        if not ok:
            problems.append(Problem(P.BAD_KEY, f"Sec-WebSocket-Key {keys[0]!r} is not base64 of 16 bytes", "RFC 6455 §4.2.1"))
        if len(keys) > 1:
            problems.append(Problem(P.DUPLICATE_KEY, "more than one Sec-WebSocket-Key header", "RFC 6455 §11.3.1"))
    versions = _values(headers, "Sec-WebSocket-Version")
    if not versions:
        problems.append(Problem(P.MISSING_VERSION, "missing Sec-WebSocket-Version header", "RFC 6455 §4.2.1"))
    elif versions[0].strip() != "13":
        problems.append(Problem(P.UNSUPPORTED_VERSION, f"Sec-WebSocket-Version is {versions[0]!r}, must be 13", "RFC 6455 §4.2.1"))
    return problems


def _not_offered(request: tuple[tuple[str, str], ...], response: tuple[tuple[str, str], ...]) -> list[Problem]:
    """RFC 6455 §4.1: the response may only pick extensions and a subprotocol the client offered."""
    def names(headers: tuple[tuple[str, str], ...]) -> list[str]:
        return [item.split(";")[0].strip().lower()
                for value in _values(headers, "Sec-WebSocket-Extensions") for item in value.split(",")
                if item.strip()]

    problems: list[Problem] = []
    offered = set(names(request))
    for name in names(response):
        if name not in offered:
            problems.append(Problem(P.EXTENSION_NOT_OFFERED, f"extension {name!r} was not offered in the request", "RFC 6455 §4.1"))
    protocols = {p.strip() for value in _values(request, "Sec-WebSocket-Protocol") for p in value.split(",")}
    for chosen in _values(response, "Sec-WebSocket-Protocol"):
        if chosen.strip() not in protocols:
            problems.append(Problem(P.SUBPROTOCOL_NOT_OFFERED, f"subprotocol {chosen!r} was not offered in the request", "RFC 6455 §4.1"))
    return problems


@dataclasses.dataclass(frozen=True)
class DeflateParams:
    """permessage-deflate settings of ONE sender's compressor (RFC 7692 §7.1).

    ``window_bits`` is the LZ77 window (8-15) that sender may use;
    ``no_context_takeover`` means it resets its compressor for every message.
    """

    window_bits: int = 15
    no_context_takeover: bool = False


def _parse_deflate(value: str) -> tuple[dict[str, DeflateParams] | None, list[Problem]]:
    """Read the permessage-deflate offer in a Sec-WebSocket-Extensions value."""
    problems: list[Problem] = []
    for extension in value.split(","):
        parts = [part.strip() for part in extension.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        options: dict[str, dict[str, Any]] = {"client": {}, "server": {}}
        for part in parts[1:]:
            if not part:
                continue
            name, equals, raw = part.partition("=")
            name, raw = name.strip().lower(), raw.strip().strip('"')
            side, _, param = name.partition("_")
            if side not in options or param not in ("no_context_takeover", "max_window_bits"):
                problems.append(Problem(P.DEFLATE_UNKNOWN_PARAMETER, f"unknown permessage-deflate parameter {name!r}", "RFC 7692 §7.1"))
            elif param == "no_context_takeover":
                if equals:
                    problems.append(Problem(P.DEFLATE_BAD_PARAMETER, f"{name} takes no value, got {raw!r}", "RFC 7692 §7.1.1"))
                options[side]["no_context_takeover"] = True
            elif raw.isdigit() and 8 <= int(raw) <= 15:
                options[side]["window_bits"] = int(raw)
            else:
                problems.append(Problem(P.DEFLATE_BAD_PARAMETER, f"{name}={raw!r} in a response must be 8-15", "RFC 7692 §7.1.2"))
        return {side: DeflateParams(**opts) for side, opts in options.items()}, problems
    return None, problems


def deflate_params(extensions: str) -> dict[Sender, DeflateParams] | None:
    """What a 101 response's Sec-WebSocket-Extensions value agrees for permessage-deflate.

    Returns ``{"client": ..., "server": ...}``, each the settings of that
    sender's compressor (``server_*`` parameters govern the server's frames,
    ``client_*`` the client's), or None if permessage-deflate wasn't accepted.
    """
    params, _ = _parse_deflate(extensions)
    return params  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Decoders.
# ---------------------------------------------------------------------------


def _close_code_problem(code: int) -> Problem | None:
    """Why ``code`` may not appear in a close frame (RFC 6455 §7.4), or None."""
    if code in (1004,):
        why, rule = "reserved", "RFC 6455 §7.4.1"
    elif code in (1005, 1006, 1015):
        why, rule = "must not be sent in a close frame", "RFC 6455 §7.4.1"
    elif code in CLOSE_CODES or 3000 <= code <= 4999:
        return None
    elif code < 1000:
        why, rule = "0-999 are not used", "RFC 6455 §7.4.2"
    elif code < 3000:
        why, rule = "reserved for future revisions of the protocol", "RFC 6455 §7.4.2"
    else:
        why, rule = "out of range", "RFC 6455 §7.4.2"
    return Problem(P.INVALID_CLOSE_CODE, f"invalid close code {code}: {why}", rule)


#: Marks a text message whose UTF-8 decoder isn't needed yet.
_FRESH_TEXT = object()


class StreamDecoder:
    """Decode one direction of a connection, from bytes fed in any pieces.

    ``sender`` is who sent the bytes. With ``http=True`` the stream starts with
    an HTTP head: a request from the client, a response from the server. After
    ``101 Switching Protocols`` (or the request) come frames; after any other
    status the response body (by Content-Length, else until EOF) and nothing
    more. With ``http=False`` the stream is frames from the first byte.

    ``deflate`` is this sender's permessage-deflate settings, if negotiated; a
    server-direction decoder sets it itself from a 101 response when not given.
    ``key`` is the request's Sec-WebSocket-Key, to check the server's accept;
    :attr:`request`, if set, is the whole request, to check that the response
    picks only extensions and a subprotocol the client offered.

    In a fragmented text message each frame's ``text`` holds the characters
    completed by that frame (a UTF-8 sequence may straddle two frames); in a
    compressed message each frame's ``payload`` is what inflating the message
    up to and including that frame yielded.

    :meth:`feed` and :meth:`eof` never raise. After a :class:`DecodeError` the
    direction stops decoding; bytes it ignores from then on (and after a
    rejection's body) are counted in :attr:`undecoded`.

    Attributes:
        offset: stream offset of the first byte not yet decoded.
        received: bytes fed so far.
        undecoded: bytes ignored because decoding stopped.
        state: ``"head"``, ``"body"``, ``"frames"``, ``"done"`` (rejection
            read), ``"error"`` or ``"eof"``.
        negotiated: permessage-deflate agreed in the 101 response, per sender.
    """

    def __init__(
        self,
        sender: Sender,
        *,
        http: bool = True,
        deflate: DeflateParams | None = None,
        key: str | None = None,
        max_head: int = MAX_HEAD,
        max_frame: int | None = MAX_FRAME,
    ) -> None:
        self.sender = Sender(sender)
        self.key = key
        self.request: Handshake | None = None
        self.max_head = max_head
        self.max_frame = max_frame
        self.state = "head" if http else "frames"
        self.offset = 0
        self.received = 0
        self.undecoded = 0
        self.negotiated: dict[Sender, DeflateParams] | None = None
        self._deflate = deflate
        self._inflater: Any = None
        self._buf = bytearray()
        self._pos = 0  # start of undecoded bytes in _buf
        self._need = 0  # frames: don't look again until this many bytes are available
        self._scan = 0  # head: bytes already searched for the blank line
        self._start_checked = False
        self._pending: dict[str, Any] | None = None  # response waiting for its body
        self._body_length: int | None = None
        self._message: int | None = None  # opcode of the open data message
        self._compressed = False
        self._inflate_failed = False
        self._utf8: Any = None
        self._closed = False

    # -- configuration -------------------------------------------------------
    @property
    def deflate(self) -> DeflateParams | None:
        """This sender's permessage-deflate settings (None: not negotiated)."""
        return self._deflate

    @deflate.setter
    def deflate(self, params: DeflateParams | None) -> None:
        self._deflate = params
        self._inflater = None

    # -- public API ------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Decode ``data``, the next bytes of the stream; return complete events."""
        data = _as_bytes(data)
        self.received += len(data)
        if self.state not in ("head", "body", "frames"):
            self.undecoded += len(data)
            return []
        self._buf += data
        return self._run(eof=False)

    def eof(self) -> list[Event]:
        """The stream ended: finish a body read until EOF, report anything truncated."""
        if self.state not in ("head", "body", "frames"):
            return []
        return self._run(eof=True)

    # -- machinery ---------------------------------------------------------------
    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _consume(self, n: int) -> bytes:
        data = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        self.offset += n
        return data

    def _fail(self, reason: Problem) -> DecodeError:
        error = DecodeError(self.sender, self.offset, reason, bytes(self._buf[self._pos : self._pos + 64]))
        self._stop("error")
        return error

    def _stop(self, state: str) -> None:
        self.undecoded += self._avail()
        self._buf.clear()
        self._pos = 0
        self.state = state

    def _run(self, eof: bool) -> list[Event]:
        events: list[Event] = []
        try:
            while True:
                if self.state == "head":
                    progressed = self._step_head(events)
                elif self.state == "body":
                    progressed = self._step_body(events, eof)
                elif self.state == "frames":
                    progressed = self._step_frame(events)
                else:
                    break
                if not progressed:
                    break
            if eof and self.state in ("head", "frames"):
                if self._avail():
                    events.append(self._fail(self._truncated()))
                else:
                    self.state = "eof"
        except Exception as exc:  # safety net: a decoder bug must not stop the tap
            events.append(self._fail(Problem(P.DECODER_CRASHED, f"internal decoder error: {exc!r}")))
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return events

    def _truncated(self) -> Problem:
        avail = self._avail()
        if self.state == "head":
            return Problem(P.TRUNCATED_HEAD, f"truncated HTTP head: {_plural(avail, 'byte')} without the blank "
                           "line that ends it", "RFC 9112 §2.1")
        header_length, total = self._measure()
        if total is None:
            need = header_length - avail
            return Problem(P.TRUNCATED_FRAME, f"truncated frame: needs at least {_plural(need, 'more byte')} "
                           "to complete the header", "RFC 6455 §5.2")
        return Problem(P.TRUNCATED_FRAME,
                       f"truncated frame: needs {_plural(total - avail, 'more byte')} (got {avail} of {total})")

    def _measure(self) -> tuple[int, int | None]:
        """(header length known so far, whole frame length or None if unknown yet)."""
        buf, pos, avail = self._buf, self._pos, self._avail()
        if avail < 2:
            return 2, None
        head2 = buf[pos + 1]
        length = head2 & 0b01111111
        extended = 2 if length == 126 else 8 if length == 127 else 0
        header_length = 2 + extended + (4 if head2 & 0b10000000 else 0)
        if avail < header_length:
            return header_length, None
        if extended == 2:
            (length,) = struct.unpack_from("!H", buf, pos + 2)
        elif extended == 8:
            (length,) = struct.unpack_from("!Q", buf, pos + 2)
        return header_length, header_length + length

    # -- HTTP ----------------------------------------------------------------------
    def _start_error(self, line: bytes) -> Problem | None:
        """Why ``line`` isn't a request line (client) or status line (server), or None."""
        text = line.decode("latin-1")
        printable = _NOT_START_LINE.search(line) is None
        if self.sender == "client":
            if printable and _REQUEST_LINE.fullmatch(text):
                return None
            return Problem(P.MALFORMED_REQUEST_LINE, f"malformed HTTP request line {_elide(text)!r}", "RFC 9112 §3")
        if printable and _STATUS_LINE.fullmatch(text):
            return None
        return Problem(P.MALFORMED_STATUS_LINE, f"malformed HTTP status line {_elide(text)!r}", "RFC 9112 §4")

    def _step_head(self, events: list[Event]) -> bool:
        buf, pos = self._buf, self._pos
        avail = self._avail()
        end = buf.find(b"\r\n\r\n", pos + max(0, self._scan - 3))
        if end < 0:
            if not self._start_checked:
                line_end = buf.find(b"\r\n", pos + max(0, self._scan - 1))
                if line_end >= 0:
                    self._start_checked = True
                    reason = self._start_error(bytes(buf[pos:line_end]))
                    if reason:
                        events.append(self._fail(reason))
                        return False
                else:
                    bad = _NOT_START_LINE.search(buf, pos + self._scan)
                    if bad is not None:
                        line = bytes(buf[pos : max(bad.end(), pos + 40)]).partition(b"\r\n")[0]
                        events.append(self._fail(self._start_error(line) or Problem(
                            P.MALFORMED_START_LINE, "malformed HTTP start line", "RFC 9112 §2.1")))
                        return False
            self._scan = avail
            if avail > self.max_head:
                events.append(self._fail(self._head_too_large()))
            return False
        head = bytes(buf[pos : end + 4])
        if len(head) > self.max_head:
            events.append(self._fail(self._head_too_large()))
            return False
        parsed = self._parse_head(head)
        if isinstance(parsed, Problem):
            events.append(self._fail(parsed))
            return False
        parsed["offset"] = self.offset
        self._consume(len(head))
        self._scan = 0
        self._start_checked = False
        if self.sender == "client":
            problems = _request_problems(parsed["method"], parsed["version"], parsed["headers"])
            events.append(Handshake(raw=head, problems=tuple(problems), **parsed))
            self.state = "frames"
            return True
        status = parsed["status"]
        if status == 101:
            events.append(self._switching(parsed, head))
            self.state = "frames"
            return True
        if 100 <= status < 200:  # interim response (e.g. 100 Continue): another head follows
            events.append(Handshake(raw=head, **parsed))
            return True
        return self._rejection(parsed, head, events)

    def _head_too_large(self) -> Problem:
        return Problem(P.HEAD_TOO_LARGE,
                       f"HTTP head too large: no blank line within {self.max_head} bytes (decoder limit)")

    def _parse_head(self, head: bytes) -> dict[str, Any] | Problem:
        lines = head[:-4].decode("latin-1").split("\r\n")
        reason = self._start_error(lines[0].encode("latin-1"))
        if reason:
            return reason
        headers = []
        for line in lines[1:]:
            match = _HEADER_LINE.fullmatch(line)
            if match is None:
                return Problem(P.MALFORMED_HEADER_LINE, f"malformed HTTP header line {_elide(line)!r}", "RFC 9112 §5")
            headers.append((match[1], match[2]))
        fields: dict[str, Any] = {"sender": self.sender, "start_line": lines[0], "headers": tuple(headers)}
        if self.sender == "client":
            match = _REQUEST_LINE.fullmatch(lines[0])
            assert match is not None
            fields.update(method=match[1], path=match[2], version=match[3])
        else:
            match = _STATUS_LINE.fullmatch(lines[0])
            assert match is not None
            fields.update(version=match[1], status=int(match[2]), reason=match[3] or "")
        return fields

    def _switching(self, fields: dict[str, Any], head: bytes) -> Handshake:
        """A 101 response: check it (RFC 6455 §4.1) and pick up permessage-deflate."""
        headers = fields["headers"]
        problems: list[Problem] = []
        if not _version_at_least_11(fields["version"]):
            problems.append(Problem(P.HTTP_VERSION_TOO_OLD, f"{fields['version']} response, must be HTTP/1.1 or later", "RFC 6455 §4.1"))
        problems += _upgrade_problems(headers, "§4.1")
        got = next(iter(_values(headers, "Sec-WebSocket-Accept")), None)
        accept = None
        if self.key is not None:
            try:
                accept = check_accept(self.key, got)
            except UnicodeEncodeError:
                problems.append(Problem(P.KEY_NOT_ASCII, "Sec-WebSocket-Key is not ASCII: cannot check Sec-WebSocket-Accept", "RFC 6455 §4.1"))
        if got is None:
            problems.append(Problem(P.MISSING_ACCEPT, "missing Sec-WebSocket-Accept header", "RFC 6455 §4.1"))
        elif accept is not None and not accept.ok:
            problems.append(Problem(P.ACCEPT_MISMATCH, f"Sec-WebSocket-Accept {got!r} does not match the key: "
                                    f"expected {accept.expected!r}", "RFC 6455 §4.1"))
        extensions = ", ".join(_values(headers, "Sec-WebSocket-Extensions"))
        if self.request is not None:
            problems += _not_offered(self.request.headers, headers)
        if extensions:
            negotiated, deflate_problems = _parse_deflate(extensions)
            problems += deflate_problems
            if negotiated is not None:
                self.negotiated = negotiated  # type: ignore[assignment]
                if self._deflate is None:
                    self.deflate = negotiated["server"]
        return Handshake(raw=head, accept=accept, problems=tuple(problems), **fields)

    def _rejection(self, fields: dict[str, Any], head: bytes, events: list[Event]) -> bool:
        """Any final status but 101: read the body, then stop (RFC 6455 §4.1, §4.4)."""
        headers = fields["headers"]
        problems: list[Problem] = []
        # §4.4 asks for the supported versions only when the client's version was refused.
        asked = _values(self.request.headers, "Sec-WebSocket-Version") if self.request is not None else ["?"]
        if fields["status"] == 426 and asked and asked[0].strip() != "13" and not _values(headers, "Sec-WebSocket-Version"):
            problems.append(Problem(P.VERSIONS_NOT_LISTED, "426 response without Sec-WebSocket-Version listing "
                                    "the supported versions", "RFC 6455 §4.4"))
        length: int | None = None
        if fields["status"] in (204, 304):
            length = 0
        elif not _values(headers, "Transfer-Encoding"):
            lengths = _values(headers, "Content-Length")
            if lengths:
                if lengths[0].strip().isdigit():
                    length = int(lengths[0].strip())
                else:
                    problems.append(Problem(P.BAD_CONTENT_LENGTH, f"invalid Content-Length {lengths[0]!r}, "
                                            "reading the body until EOF", "RFC 9112 §6.3"))
        self._pending = {"fields": fields, "head": head, "problems": problems}
        self._body_length = length
        if length is not None and self.max_frame is not None and length > self.max_frame:
            problems.append(Problem(P.BODY_TOO_LARGE, f"body of {length} bytes not read: over max_frame={self.max_frame} (decoder limit)"))
            self._body_length = 0
        if self._body_length == 0:
            events.append(self._finish_body(b""))
            self._stop("done")
            return False
        self.state = "body"
        return True

    def _finish_body(self, body: bytes, *extra: Problem) -> Handshake:
        pending = self._pending or {}
        self._pending = None
        problems = tuple(pending.get("problems", ())) + extra
        return Handshake(raw=pending.get("head", b"") + body, body=body, problems=problems,
                         **pending.get("fields", {}))

    def _step_body(self, events: list[Event], eof: bool) -> bool:
        avail = self._avail()
        length = self._body_length
        if length is not None and avail >= length:
            events.append(self._finish_body(self._consume(length)))
            self._stop("done")
        elif length is not None and eof:
            events.append(self._finish_body(self._consume(avail),
                                            Problem(P.TRUNCATED_BODY, f"truncated body: got {avail} of "
                                                    f"Content-Length {length} bytes", "RFC 9112 §6.3")))
            self._stop("done")
        elif length is None and self.max_frame is not None and avail > self.max_frame:
            events.append(self._finish_body(self._consume(self.max_frame),
                                            Problem(P.BODY_TOO_LARGE,
                                                    f"body cut at max_frame={self.max_frame} bytes (decoder limit)")))
            self._stop("done")
        elif length is None and eof:
            events.append(self._finish_body(self._consume(avail)))
            self._stop("done")
        return False

    # -- frames --------------------------------------------------------------------
    def _step_frame(self, events: list[Event]) -> bool:
        if self._avail() < max(self._need, 2):
            return False
        header_length, total = self._measure()
        if total is None:
            self._need = header_length
            return False
        length = total - header_length
        if self.max_frame is not None and length > self.max_frame:
            if header_length >= 10 and length >> 63:
                reason = Problem(P.LENGTH_MSB_SET, f"64-bit payload length {length} has its most significant "
                                 "bit set", "RFC 6455 §5.2")
            else:
                reason = Problem(P.FRAME_TOO_LARGE, f"frame too large: payload length {length} exceeds "
                                 f"max_frame={self.max_frame} (decoder limit)")
            events.append(self._fail(reason))
            return False
        if self._avail() < total:
            self._need = total
            return False
        offset = self.offset
        wire = self._consume(total)
        self._need = 0
        events.append(self._make_frame(wire, offset))
        return True

    def _make_frame(self, wire: bytes, offset: int) -> Frame:
        head1, head2 = struct.unpack_from("!BB", wire)
        fin = True if head1 & 0b10000000 else False
        rsv1 = True if head1 & 0b01000000 else False
        rsv2 = True if head1 & 0b00100000 else False
        rsv3 = True if head1 & 0b00010000 else False
        opcode = head1 & 0b00001111
        masked = True if head2 & 0b10000000 else False
        fields, header_length, length, length_bits = frame_layout(wire)
        mask = wire[header_length - 4 : header_length] if masked else None
        masked_payload = wire[header_length:]
        payload = apply_mask(masked_payload, mask) if mask else masked_payload

        problems: list[Problem] = []
        if self.sender is Sender.CLIENT and not masked:
            problems.append(Problem(P.UNMASKED_CLIENT_FRAME, "client frame not masked", "RFC 6455 §5.1"))
        if self.sender is Sender.SERVER and masked:
            problems.append(Problem(P.MASKED_SERVER_FRAME, "server frame masked", "RFC 6455 §5.1"))
        if rsv1:
            if self._deflate is None:
                problems.append(Problem(P.RESERVED_BIT, "RSV1 set without a negotiated extension", "RFC 6455 §5.2"))
            elif opcode not in (0x1, 0x2):
                problems.append(Problem(P.RSV1_NOT_FIRST_DATA_FRAME, f"RSV1 set on a {opcode_name(opcode)} frame: "
                                        "permessage-deflate marks only the first frame of a data message",
                                        "RFC 7692 §6"))
        if rsv2:
            problems.append(Problem(P.RESERVED_BIT, "RSV2 set without a negotiated extension", "RFC 6455 §5.2"))
        if rsv3:
            problems.append(Problem(P.RESERVED_BIT, "RSV3 set without a negotiated extension", "RFC 6455 §5.2"))
        if opcode not in OPCODES:
            problems.append(Problem(P.RESERVED_OPCODE, f"reserved opcode 0x{opcode:X}", "RFC 6455 §5.2"))
        if opcode >= 0x8:
            if length > 125:
                problems.append(Problem(P.CONTROL_FRAME_TOO_LONG, f"control frame payload of {length} bytes exceeds 125", "RFC 6455 §5.5"))
            if not fin:
                problems.append(Problem(P.FRAGMENTED_CONTROL_FRAME, "fragmented control frame", "RFC 6455 §5.5"))
        if length_bits == 64 and length >> 63:
            problems.append(Problem(P.LENGTH_MSB_SET, "64-bit payload length with the most significant bit set", "RFC 6455 §5.2"))

        close_code: int | None = None
        close_reason: str | None = None
        if opcode == 0x8:
            if len(payload) == 1:
                problems.append(Problem(P.CLOSE_PAYLOAD_ONE_BYTE, "close frame payload of 1 byte: a close code takes 2", "RFC 6455 §5.5.1"))
            elif len(payload) >= 2:
                (close_code,) = struct.unpack_from("!H", payload)
                problem = _close_code_problem(close_code)
                if problem:
                    problems.append(problem)
                try:
                    close_reason = payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    close_reason = payload[2:].decode("utf-8", "replace")
                    problems.append(Problem(P.CLOSE_REASON_NOT_UTF8, "close reason is not valid UTF-8", "RFC 6455 §5.5.1"))

        compressed = False
        text: str | None = None
        if opcode in (0x0, 0x1, 0x2):
            if self._closed:
                problems.append(Problem(P.DATA_AFTER_CLOSE, "data frame after a close frame", "RFC 6455 §5.5.1"))
            if opcode == 0x0 and self._message is None:
                problems.append(Problem(P.ORPHAN_CONTINUATION, "continuation frame with no message started", "RFC 6455 §5.4"))
            else:
                if opcode != 0x0:
                    if self._message is not None:
                        problems.append(Problem(P.INTERLEAVED_MESSAGE, "new data frame while a fragmented message is open", "RFC 6455 §5.4"))
                    self._start_message(opcode, rsv1)
                payload, compressed, text = self._message_frame(payload, fin, problems)
        if opcode == 0x8:
            self._closed = True

        return Frame(
            sender=self.sender,
            offset=offset,
            fin=fin,
            rsv1=rsv1,
            rsv2=rsv2,
            rsv3=rsv3,
            opcode=opcode_name(opcode),
            opcode_value=opcode,
            masked=masked,
            mask=mask,
            length=length,
            length_bits=length_bits,
            fields=fields,
            wire=wire,
            masked_payload=masked_payload,
            payload=payload,
            compressed=compressed,
            text=text,
            close_code=close_code,
            close_reason=close_reason,
            problems=tuple(problems),
        )

    def _start_message(self, opcode: int, rsv1: bool) -> None:
        self._message = opcode
        self._compressed = rsv1 and self._deflate is not None
        self._inflate_failed = False
        self._utf8 = _FRESH_TEXT if opcode == 0x1 else None
        if self._compressed and (self._inflater is None or self._deflate.no_context_takeover):  # type: ignore[union-attr]
            self._inflater = zlib.decompressobj(wbits=-self._deflate.window_bits)  # type: ignore[union-attr]

    def _message_frame(self, payload: bytes, fin: bool, problems: list[Problem]) -> tuple[bytes, bool, str | None]:
        """Inflate (RFC 7692 §7.2.2) and UTF-8-check one frame of the open message."""
        compressed = self._compressed
        if compressed and not self._inflate_failed:
            if self._inflater is None:
                bits = self._deflate.window_bits if self._deflate is not None else 15
                self._inflater = zlib.decompressobj(wbits=-bits)
            try:
                inflated = self._inflater.decompress(payload + (EMPTY_BLOCK if fin else b""), self.max_frame or 0)
            except zlib.error as exc:
                problems.append(Problem(P.INFLATE_FAILED, f"decompression failed: {exc}", "RFC 7692 §7.2.2"))
                self._inflate_failed = True
                self._inflater = None
            else:
                if self._inflater.unconsumed_tail:
                    problems.append(Problem(P.INFLATED_TOO_LARGE, f"decompressed payload exceeds max_frame={self.max_frame} bytes (decoder limit)"))
                    self._inflate_failed = True
                    self._inflater = None
                payload = inflated
        text = None
        if self._utf8 is not None and not self._inflate_failed:
            try:
                if self._utf8 is _FRESH_TEXT and fin:  # a one-frame message: no need to go incremental
                    text = payload.decode("utf-8")
                else:  # fragments may split a UTF-8 sequence: decode what's complete so far
                    if self._utf8 is _FRESH_TEXT:
                        self._utf8 = codecs.getincrementaldecoder("utf-8")()
                    text = self._utf8.decode(payload, final=fin)
            except UnicodeDecodeError:
                problems.append(Problem(P.INVALID_UTF8, "invalid UTF-8 in a text message", "RFC 6455 §8.1"))
                self._utf8 = None
        if fin:
            self._message = None
            self._utf8 = None
            if compressed and self._deflate is not None and self._deflate.no_context_takeover:
                self._inflater = None
        return payload, compressed, text


class WireDecoder:
    """Decode one connection, both directions, as the bytes are relayed.

    It owns a :class:`StreamDecoder` per direction (:attr:`client`,
    :attr:`server`), gives the request's Sec-WebSocket-Key to the server
    direction so the 101's ``accept`` is checked, and, when the 101 agrees on
    permessage-deflate, configures the client direction too (the server
    direction configures itself before decoding the frames that follow).

    ``deflate`` (``{"client": DeflateParams(...), "server": ...}``) presets
    compression, e.g. with ``http=False`` for a stream captured mid-connection.
    """

    def __init__(
        self,
        *,
        http: bool = True,
        deflate: Mapping[str, DeflateParams] | None = None,
        max_head: int = MAX_HEAD,
        max_frame: int | None = MAX_FRAME,
    ) -> None:
        deflate = deflate or {}
        self.client = StreamDecoder(Sender.CLIENT, http=http, deflate=deflate.get("client"),
                                    max_head=max_head, max_frame=max_frame)
        self.server = StreamDecoder(Sender.SERVER, http=http, deflate=deflate.get("server"),
                                    max_head=max_head, max_frame=max_frame)
        self.key: str | None = None

    def decoder(self, sender: Sender) -> StreamDecoder:
        """The decoder of bytes sent by ``sender``."""
        return self.client if sender == "client" else self.server

    def receive(self, sender: Sender, data: bytes) -> list[Event]:
        """Decode the next ``data`` sent by ``sender``."""
        events = self.decoder(sender).feed(data)
        self._observe(events)
        return events

    def eof(self, sender: Sender) -> list[Event]:
        """``sender`` finished sending (TCP FIN)."""
        events = self.decoder(sender).eof()
        self._observe(events)
        return events

    def _observe(self, events: list[Event]) -> None:
        for event in events:
            if not isinstance(event, Handshake):
                continue
            if event.sender == "client" and event.method is not None:
                self.key = event.header("Sec-WebSocket-Key")
                self.server.key = self.key
                self.server.request = event
            elif event.sender == "server" and event.status == 101:
                negotiated = self.server.negotiated
                if negotiated is not None and self.client.deflate is None:
                    self.client.deflate = negotiated["client"]


def decode(data: bytes, sender: Sender | str = Sender.CLIENT, *, deflate: DeflateParams | None = None,
           max_frame: int | None = MAX_FRAME) -> list[Event]:
    """Decode a complete byte string sent by ``sender``, in one go.

    The stream is read as HTTP first if it starts like a request (``GET ``...)
    for the client or a response (``HTTP/``) for the server, else as frames.
    The end of ``data`` is the end of the stream: a partial frame there is a
    :class:`DecodeError` ``"truncated frame: needs N more bytes ..."``.
    """
    data = _as_bytes(data)
    sender = Sender(sender)
    if sender is Sender.CLIENT:
        http = _METHOD_START.match(data) is not None
    else:
        http = data.startswith(b"HTTP/")
    decoder = StreamDecoder(sender, http=http, deflate=deflate, max_frame=max_frame)
    return decoder.feed(data) + decoder.eof()


# ---------------------------------------------------------------------------
# Encoders for hand-crafted bytes.
# ---------------------------------------------------------------------------

def opcode_value(opcode: str | int) -> int:
    """The 4-bit opcode for a name (``"TEXT"``, ``"CONT"``, ``"RESERVED_0x3"``, ``"0x3"``) or an int 0-15."""
    if isinstance(opcode, int):
        if not 0 <= opcode <= 0xF:
            raise ValueError(f"opcode must be 0-15, got {opcode}")
        return opcode
    try:
        return Opcode(opcode).bits
    except ValueError:
        pass
    match = re.fullmatch(r"0X([0-9A-F])", opcode.upper())
    if match:
        return int(match[1], 16)
    raise ValueError(f"unknown opcode {opcode!r}")


def build_frame(
    opcode: str | int,
    payload: bytes | str = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
    length_bits: int | None = None,
) -> bytes:
    """Encode one frame exactly as asked, valid or not (RFC 6455 §5.2).

    ``opcode`` is a name (``"TEXT"``, ``"RESERVED_0x3"``) or any 4-bit int.
    ``payload`` (str is UTF-8 encoded) is masked with ``mask`` if given, which
    also sets the MASK bit. ``length`` overrides the payload length written in
    the header (to lie about it); ``length_bits`` forces the 7-, 16- or 64-bit
    encoding (default: the shortest that fits).
    """
    value = opcode_value(opcode)
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    if length is None:
        length = len(data)
    if length_bits is None:
        length_bits = 7 if length < 126 else 16 if length < 65536 else 64
    head1 = (
        (0b10000000 if fin else 0)
        | (0b01000000 if rsv1 else 0)
        | (0b00100000 if rsv2 else 0)
        | (0b00010000 if rsv3 else 0)
        | value
    )
    head2 = 0b10000000 if mask is not None else 0
    if length_bits == 7:
        if not 0 <= length <= 127:
            raise ValueError(f"a 7-bit length holds 0-127, got {length}")
        header = struct.pack("!BB", head1, head2 | length)
    elif length_bits == 16:
        if not 0 <= length <= 0xFFFF:
            raise ValueError(f"a 16-bit length holds 0-65535, got {length}")
        header = struct.pack("!BBH", head1, head2 | 126, length)
    elif length_bits == 64:
        if not 0 <= length <= 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"a 64-bit length holds 0-2**64-1, got {length}")
        header = struct.pack("!BBQ", head1, head2 | 127, length)
    else:
        raise ValueError(f"length_bits must be 7, 16 or 64, got {length_bits}")
    if mask is not None:
        mask = bytes(mask)
        if len(mask) != 4:
            raise ValueError(f"masking key must be 4 bytes, got {len(mask)}")
        return header + mask + apply_mask(data, mask)
    return header + data


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: 2-byte code, then the UTF-8 reason (RFC 6455 §5.5.1).

    Any 16-bit ``code`` is accepted, including ones not allowed on the wire.
    """
    return struct.pack("!H", code) + reason.encode("utf-8")
