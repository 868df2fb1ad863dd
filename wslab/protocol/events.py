"""What the decoder reports: small, frozen records (wsproto's and h11's events).

* :class:`Handshake` -- the HTTP Upgrade request (sent by the client) or the
  server's response (``101`` or a rejection with its body).
* :class:`Frame` -- one RFC 6455 §5.2 frame with every header field.
* :class:`DecodeError` -- bytes that could not be decoded, with the offset and
  the broken rule.

Each prints itself robustly (:mod:`~wslab.protocol.render`), whatever its bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import render
from .enums import Opcode, Sender
from .frames import Field, fast_mask
from .frames import frame_layout as _frame_layout
from .problems import Problem


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

    def explain(self) -> render.Explanation:
        """Every step from the key to the accept value, one per line (a ``str``; bare in a cell it shows as text)."""
        return render.Explanation(render.accept_explain(self))

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
        return render.handshake_line(self)

    def explain(self) -> render.Explanation:
        """The head as sent, the body (elided), the accept derivation and the problems (a ``str``; bare in a cell
        it shows as text)."""
        return render.Explanation(render.handshake_explain(self))

    def _repr_html_(self) -> str:
        return render.pre(self.explain())


@dataclasses.dataclass(frozen=True, slots=True)
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

    def __getattr__(self, name: str) -> Any:
        # The decoder leaves what ``wire`` already holds to be worked out on first use (a trace
        # keeps many frames and reads few of them this closely; each byte kept once is memory
        # saved, each field not set is time saved): the header bits; ``fields``, the header
        # layout; ``masked_payload`` and ``mask``, the payload and key as sent; ``payload`` when
        # nothing was inflated (unmasked again); ``text`` of a one-frame text message; the
        # defaults. Equality, repr, save and explain() see the same values as if they had
        # been given. (Called only for a field left unset. Only flags and small numbers are then
        # stored: bytes, text and the layout are worked out again each time, so that reading a
        # trace, saving it or comparing it does not bring back the memory left out.)
        if name not in _LAZY:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        wire = self.wire
        start = len(wire) - self.length
        value: Any
        if name in _BITS:
            value = bool(wire[_BITS[name][0]] & _BITS[name][1])
        elif name == "opcode_value":
            value = wire[0] & 0x0F
        elif name == "length_bits":
            value = {126: 16, 127: 64}.get(wire[1] & 0x7F, 7)
        elif name in _DEFAULTS:
            value = _DEFAULTS[name]
        elif name == "text":
            value = self.payload.decode("utf-8") if self.opcode == "TEXT" and self.fin else None
        elif name == "fields":
            value = _frame_layout(wire)[0]
        elif name == "masked_payload":
            value = wire[start:]
        elif name == "mask":
            value = wire[start - 4 : start] if self.masked else None
        elif name == "payload":
            value = fast_mask(wire[start:], wire[start - 4 : start]) if self.masked and self.length else wire[start:]
        else:
            raise AssertionError(name)
        if name in _KEPT:
            object.__setattr__(self, name, value)
        return value

    @classmethod
    def _lazy(cls, values: dict[str, Any]) -> Frame:
        """A frame built without dataclass checks, the fields :meth:`__getattr__` can work out
        possibly left out (the decoder's fast path)."""
        frame = object.__new__(cls)
        setter = object.__setattr__
        for name, value in values.items():
            setter(frame, name, value)
        return frame

    def __str__(self) -> str:
        """One line, e.g. ``client TEXT fin masked len=12 'Hello Server'``."""
        return render.frame_line(self)

    def explain(self, max_bytes: int = 64) -> render.Explanation:
        """An annotated dump of :attr:`wire`, one header field per line.

        Like Wireshark's bytes pane: offset, bytes in hex, the bits a sub-byte
        field occupies, the field and its value, and what it means; then the
        payload as sent, unmasked and inflated, and the problems. Payloads over
        ``max_bytes`` are elided with a count. The result is a ``str`` (``print()`` it); left bare in a
        cell it shows as the same text, or as the coloured table in Jupyter.
        """
        return render.Explanation(render.frame_explain(self, max_bytes), render.frame_html(self))

    def _repr_html_(self) -> str:
        """The :meth:`explain` table in HTML, one colour per field (for Jupyter)."""
        return render.frame_html(self)


#: The header bits a :class:`Frame` reads in ``wire`` (byte, bit), RFC 6455 §5.2.
_BITS = {"fin": (0, 0x80), "rsv1": (0, 0x40), "rsv2": (0, 0x20), "rsv3": (0, 0x10), "masked": (1, 0x80)}
#: Fields left at their default unless given.
_DEFAULTS: dict[str, Any] = {"compressed": False, "close_code": None, "close_reason": None, "problems": ()}
#: The fields a :class:`Frame` may leave to be worked out from its ``wire`` (see ``Frame.__getattr__``): all
#: but ``sender``, ``offset``, ``opcode``, ``length`` and ``wire``. ``text`` left unset is the payload
#: decoded for a one-frame text message, else None.
_LAZY = frozenset({*_BITS, *_DEFAULTS, "opcode_value", "length_bits", "fields", "masked_payload", "mask", "payload",
                   "text"})
#: Lazy fields stored once worked out (they cost nothing more: shared flags, small numbers, None).
_KEPT = frozenset({*_BITS, *_DEFAULTS, "opcode_value", "length_bits"})


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
        return render.error_line(self)


Event = Handshake | Frame | DecodeError

__all__ = ["AcceptCheck", "DecodeError", "Event", "Field", "Frame", "Handshake"]
