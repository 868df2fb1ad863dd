"""RFC 6455 §5: where a frame's fields are, the rules a frame must keep, and a message's payload.

:func:`frame_layout` locates the §5.2 header fields; :func:`frame_problems`
checks one frame against the §5 rules it can be checked against alone;
:class:`MessageAssembler` follows a data message across its frames, inflating
it (RFC 7692) and checking its UTF-8 (§8.1).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import struct
import zlib
from typing import Any

from .deflate import EMPTY_BLOCK, DeflateParams
from .enums import CLOSE_CODES, OPCODES, Sender, opcode_name
from .problems import Problem
from .problems import ProblemCode as P


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


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3)."""
    if not data:
        return b""
    if len(mask) != 4:
        raise ValueError(f"masking key must be 4 bytes, got {len(mask)}")
    key = (bytes(mask) * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(data), "big")


#: :func:`apply_mask`, in C when websockets has its speedups (the readable one above is the reference).
fast_mask: Any = apply_mask
with contextlib.suppress(ImportError):  # websockets without its C extension: the Python one
    from websockets.speedups import apply_mask as fast_mask


def frame_size(buf: bytes | bytearray, pos: int, avail: int) -> tuple[int, int | None]:
    """For the frame starting at ``buf[pos]``, ``avail`` bytes of it at hand: (its header length as far
    as known, its whole length or None while the header is incomplete), RFC 6455 §5.2."""
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


def frame_layout(wire: bytes) -> tuple[tuple[Field, ...], int, int, int]:
    """Locate the §5.2 header fields in ``wire``.

    Returns ``(fields, header_length, payload_length, length_bits)``. Works on
    truncated frames too (fields past the end are simply missing or short).
    """
    wire = bytes(wire) if not isinstance(wire, bytes) else wire
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
    fields.append(Field("payload", pos, pos + length, f"{length} byte{'' if length == 1 else 's'}"))
    return tuple(fields), pos, length, bits


def close_code_problem(code: int) -> Problem | None:
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



def frame_problems(sender: Sender, *, fin: bool, rsv: tuple[bool, bool, bool], opcode: int, masked: bool,
                   length: int, length_bits: int, deflate: DeflateParams | None) -> list[Problem]:
    """The §5 rules one frame breaks, seen alone (RFC 6455 §5.1, §5.2, §5.5; RFC 7692 §6)."""
    rsv1, rsv2, rsv3 = rsv
    problems: list[Problem] = []
    if sender is Sender.CLIENT and not masked:
        problems.append(Problem(P.UNMASKED_CLIENT_FRAME, "client frame not masked", "RFC 6455 §5.1"))
    if sender is Sender.SERVER and masked:
        problems.append(Problem(P.MASKED_SERVER_FRAME, "server frame masked", "RFC 6455 §5.1"))
    if rsv1:
        if deflate is None:
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
            problems.append(Problem(P.CONTROL_FRAME_TOO_LONG, f"control frame payload of {length} bytes exceeds 125",
                                    "RFC 6455 §5.5"))
        if not fin:
            problems.append(Problem(P.FRAGMENTED_CONTROL_FRAME, "fragmented control frame", "RFC 6455 §5.5"))
    if length_bits == 64 and length >> 63:
        problems.append(Problem(P.LENGTH_MSB_SET, "64-bit payload length with the most significant bit set",
                                "RFC 6455 §5.2"))
    return problems


def close_body(payload: bytes, problems: list[Problem]) -> tuple[int | None, str | None]:
    """A Close frame's (code, reason), noting what is wrong with them in ``problems`` (RFC 6455 §5.5.1)."""
    if len(payload) == 1:
        problems.append(Problem(P.CLOSE_PAYLOAD_ONE_BYTE, "close frame payload of 1 byte: a close code takes 2",
                                "RFC 6455 §5.5.1"))
    if len(payload) < 2:
        return None, None
    (code,) = struct.unpack_from("!H", payload)
    problem = close_code_problem(code)
    if problem:
        problems.append(problem)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        reason = payload[2:].decode("utf-8", "replace")
        problems.append(Problem(P.CLOSE_REASON_NOT_UTF8, "close reason is not valid UTF-8", "RFC 6455 §5.5.1"))
    return code, reason


#: Marks a text message whose UTF-8 decoder isn't needed yet.
_FRESH_TEXT = object()


class MessageAssembler:
    """One sender's data messages across their frames: fragmentation (§5.4), inflating (RFC 7692 §7.2.2)
    and UTF-8 (§8.1).

    In a fragmented text message each frame's text is the characters completed
    by that frame (a UTF-8 sequence may straddle two frames); in a compressed
    message each frame's payload is what inflating the message up to and
    including that frame yielded.
    """

    def __init__(self, deflate: DeflateParams | None, max_frame: int | None) -> None:
        self.deflate = deflate
        self.max_frame = max_frame
        self.message: int | None = None  # opcode of the open data message
        self.closed = False  # a Close frame was sent: no more data (§5.5.1)
        self._compressed = False
        self._inflate_failed = False
        self._inflater: Any = None
        self._utf8: Any = None

    def reset_inflater(self) -> None:
        """The settings changed: the next compressed message starts a fresh inflater."""
        self._inflater = None

    def data_frame(self, opcode: int, fin: bool, rsv1: bool, payload: bytes,
                   problems: list[Problem]) -> tuple[bytes, bool, str | None]:
        """A data frame: (its payload, inflated; whether compressed; its text), noting problems."""
        if self.closed:
            problems.append(Problem(P.DATA_AFTER_CLOSE, "data frame after a close frame", "RFC 6455 §5.5.1"))
        if opcode == 0x0 and self.message is None:
            problems.append(Problem(P.ORPHAN_CONTINUATION, "continuation frame with no message started",
                                    "RFC 6455 §5.4"))
            return payload, False, None
        if opcode != 0x0:
            if self.message is not None:
                problems.append(Problem(P.INTERLEAVED_MESSAGE, "new data frame while a fragmented message is open",
                                        "RFC 6455 §5.4"))
            self._start(opcode, rsv1)
        return self._frame(payload, fin, problems)

    def _start(self, opcode: int, rsv1: bool) -> None:
        self.message = opcode
        self._compressed = rsv1 and self.deflate is not None
        self._inflate_failed = False
        self._utf8 = _FRESH_TEXT if opcode == 0x1 else None
        if self._compressed and self.deflate is not None and (
                self._inflater is None or self.deflate.no_context_takeover):
            self._inflater = zlib.decompressobj(wbits=-self.deflate.window_bits)

    def _frame(self, payload: bytes, fin: bool, problems: list[Problem]) -> tuple[bytes, bool, str | None]:
        compressed = self._compressed
        if compressed and not self._inflate_failed:
            payload = self._inflate(payload, fin, problems)
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
            self.message = None
            self._utf8 = None
            if compressed and self.deflate is not None and self.deflate.no_context_takeover:
                self._inflater = None
        return payload, compressed, text

    def _inflate(self, payload: bytes, fin: bool, problems: list[Problem]) -> bytes:
        """RFC 7692 §7.2.2: append the empty block to the message's end and inflate."""
        if self._inflater is None:
            bits = self.deflate.window_bits if self.deflate is not None else 15
            self._inflater = zlib.decompressobj(wbits=-bits)
        try:
            inflated = self._inflater.decompress(payload + (EMPTY_BLOCK if fin else b""), self.max_frame or 0)
        except zlib.error as exc:
            problems.append(Problem(P.INFLATE_FAILED, f"decompression failed: {exc}", "RFC 7692 §7.2.2"))
            self._inflate_failed = True
            self._inflater = None
            return payload
        if self._inflater.unconsumed_tail:
            problems.append(Problem(P.INFLATED_TOO_LARGE,
                                    f"decompressed payload exceeds max_frame={self.max_frame} bytes (decoder limit)"))
            self._inflate_failed = True
            self._inflater = None
        return inflated


__all__ = [
    "Field",
    "MessageAssembler",
    "apply_mask",
    "close_body",
    "close_code_problem",
    "fast_mask",
    "frame_layout",
    "frame_problems",
    "frame_size",
]
