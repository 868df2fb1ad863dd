"""Checks for frames (notebook 02): masks, headers, a text frame's bytes, overhead, whole messages."""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..protocol import Frame, build_frame, decode_bytes
from ._support import (
    ExerciseError,
    _call,
    _expect,
    _hint,
    _ok,
    _short,
)


# -- 02 messages ------------------------------------------------------------------
@_hint("byte i of the result is data[i] ^ mask[i % 4] (RFC 6455 §5.3)")
def check_unmask(fn: Callable) -> None:
    """``fn(mask, data)`` unmasks (or masks) data with a 4-byte key (RFC 6455 §5.3)."""
    cases = [(bytes.fromhex("37fa213d"), bytes.fromhex("7f9f4d5158")), (b"\x00\x00\x00\x00", b"same"),
             (bytes.fromhex("a1b2c3d4"), bytes(range(10)))]
    for mask, data in cases:
        expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        _expect("unmask", f"mask {mask.hex(' ')} and data {data.hex(' ')}", _call("unmask", fn, mask, data, expected=expected), expected,
                "byte i of the result is data[i] ^ mask[i % 4]")
    return _ok("unmask turns 7f 9f 4d 51 58 with key 37 fa 21 3d into b'Hello' (RFC 6455 §5.7)")



@_hint("FIN is bit 0b10000000 of byte 0, the opcode its low 4 bits; MASK is the top bit of byte 1, the "
       "length its low 7 bits (RFC 6455 §5.2)")
def check_parse_header(fn: Callable) -> None:
    """``fn(two_bytes)`` returns dict(fin=, opcode=, masked=, length=) from a frame's first two bytes."""
    cases = [bytes([0x81, 0x05]), bytes([0x01, 0x83]), bytes([0x88, 0x82]), bytes([0x82, 0x7E]), bytes([0x89, 0x00])]
    for head in cases:
        expected = {"fin": bool(head[0] & 0b10000000), "opcode": head[0] & 0b00001111,
                    "masked": bool(head[1] & 0b10000000), "length": head[1] & 0b01111111}
        got = _call("parse_header", fn, head, expected=expected)
        if isinstance(got, dict):
            got = {k: (bool(v) if k in ("fin", "masked") else v) for k, v in got.items()}
        _expect("parse_header", f"bytes {head.hex(' ')}", got, expected,
                "FIN is bit 0b10000000 of byte 0, the opcode its low 4 bits; MASK is the top bit of byte 1")
    return _ok("parse_header reads FIN, opcode, MASK and the 7-bit length like RFC 6455 §5.2")



@_hint("byte 0 is FIN | opcode 0x1; byte 1 is MASK (0x80) | length, lengths over 125 use 126 + a 16-bit "
       "length; then the mask, then the masked payload (RFC 6455 §5.2, §5.3)")
def check_text_frame(fn: Callable) -> None:
    """``fn(text, mask)`` builds a masked client TEXT frame; wslab's decoder must read it back.

    The cases include non-ASCII text, whose length in bytes (what §5.2 counts) is not its length in
    characters, and all three length forms (7-bit, 16-bit and 64-bit).
    """
    cases = [("Hello Server", bytes.fromhex("37fa213d")), ("x" * 200, bytes(4)), ("", bytes.fromhex("01020304")),
             ("服务器收到消息", bytes.fromhex("37fa213d")), ("é" * 100, bytes.fromhex("0a0b0c0d")),
             ("x" * 70_000, bytes.fromhex("01020304"))]
    for text, mask in cases:
        expected = build_frame("TEXT", text.encode(), mask=mask)
        wire = _call("text_frame", fn, text, mask, expected=expected)
        if wire != expected:
            given = bytes(wire) if isinstance(wire, (bytes, bytearray)) else None
            frames = [f for f in decode_bytes(given, "client") if isinstance(f, Frame)] if given else []
            what = str(frames[0]) if frames else "nothing wslab can decode"
            problems = "".join(f"\n    - {p}" for p in (frames[0].problems if frames else ()))
            shown = f"{given[:16].hex(' ')}{' …' if len(given) > 16 else ''}" if given is not None else repr(wire)
            hint = "byte 1 is MASK (0x80) | length; lengths over 125 use 126 + a 16-bit length, over 65535 127 + a " \
                   "64-bit length (§5.2)"
            counted = _length_field(given) if given is not None else None
            size = len(text.encode())
            if counted is not None and counted == len(text) != size:
                hint = (f"your length field says {counted}, the number of characters; §5.2's payload length counts "
                        f"bytes, and {_short(text)} is {size} bytes in UTF-8: use len(text.encode('utf-8'))")
            raise ExerciseError(f"text_frame: for {_short(text)} with mask {mask.hex(' ')}\n"
                                f"  expected: {expected[:16].hex(' ')}{' …' if len(expected) > 16 else ''}\n"
                                f"  you gave: {shown}\n"
                                f"  wslab reads yours as: {what}{problems}\n"
                                f"  hint: {hint}")
    return _ok("text_frame builds frames byte-for-byte like RFC 6455 §5.2, including the 16-bit length")


def _length_field(wire: bytes) -> int | None:
    """The payload length a frame's header claims (§5.2), or None if the header is cut short."""
    if len(wire) < 2:
        return None
    short = wire[1] & 0b0111_1111
    if short == 126:
        return struct.unpack("!H", wire[2:4])[0] if len(wire) >= 4 else None
    if short == 127:
        return struct.unpack("!Q", wire[2:10])[0] if len(wire) >= 10 else None
    return short


# -- 05 websocket vs http -------------------------------------------------------------
@_hint("2 bytes, +2 if length > 125, +8 instead if length > 65535, +4 if masked (RFC 6455 §5.2)")
def check_frame_overhead(fn: Callable) -> None:
    """``fn(length, masked)`` returns the header size in bytes of a frame with that payload length."""
    for length in (0, 125, 126, 65535, 65536):
        for masked in (False, True):
            expected = len(build_frame("BINARY", bytes(length), mask=b"\0\0\0\0" if masked else None)) - length
            _expect("frame_overhead", f"length={length}, masked={masked}", _call("frame_overhead", fn, length, masked, expected=expected),
                    expected, "2 bytes, +2 if length > 125, +8 instead if length > 65535, +4 if masked (§5.2)")
    return _ok("frame_overhead: 2 to 14 bytes, against hundreds for an HTTP request")



def _header_of(data: bytes) -> dict:
    """What :func:`check_frame_header` expects: the header fields of the frame at the start of ``data``."""
    first, second = data[0], data[1]
    length, offset = second & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(data[2:10], "big"), 10
    masked = bool(second & 0x80)
    mask = data[offset:offset + 4] if masked else None
    return {"fin": bool(first & 0x80), "opcode": first & 0x0F, "masked": masked, "length": length, "mask": mask,
            "offset": offset + (4 if masked else 0)}



_KEY = bytes.fromhex("37fa213d")


#: Frames for :func:`check_frame_header`, each with what it shows.
HEADER_CASES = (
    ("the client's 'Hello Server' (7-bit length, masked)", build_frame("TEXT", "Hello Server", mask=_KEY)),
    ("a server's 300-byte TEXT (16-bit length, not masked)", build_frame("TEXT", "x" * 300)),
    ("a client's 70 000-byte BINARY (64-bit length, masked)", build_frame("BINARY", bytes(70_000), mask=_KEY)),
    ("a first fragment with FIN=0", build_frame("TEXT", "Hel", fin=False, mask=_KEY)),
    ("a server's empty Close", build_frame("CLOSE")),
    ("a client's Ping of 125 bytes", build_frame("PING", bytes(125), mask=bytes.fromhex("a1b2c3d4"))),
)



@_hint("after the 2 fixed bytes: 126 means a 2-byte length follows, 127 an 8-byte one (big-endian); then the "
       "4-byte mask if MASK is 1; the payload starts right after (RFC 6455 §5.2)")
def check_frame_header(fn: Callable) -> None:
    """``fn(data)`` reads the whole header of the frame at the start of ``data`` (RFC 6455 §5.2)."""
    for case, data in HEADER_CASES:
        expected = _header_of(data)
        got = _call("parse_header", fn, data, expected=expected)
        if isinstance(got, dict):
            got = {k: (bool(v) if k in ("fin", "masked") else bytes(v) if isinstance(v, (bytearray, memoryview))
                       else v) for k, v in got.items()}
        _expect("parse_header", f"{case}: {data[:14].hex(' ')}…", got, expected)
    return _ok("parse_header reads all three length forms, the mask and where the payload starts (RFC 6455 §5.2)")



def _message_cases() -> tuple:
    key2 = bytes.fromhex("a1b2c3d4")
    text = "服务器收到消息".encode()
    return (
        ("one masked frame", build_frame("TEXT", "Hello Server", mask=_KEY), "Hello Server"),
        ("three fragments, a PING between the first two (§5.4, §5.5)",
         build_frame("TEXT", "Hel", fin=False, mask=_KEY) + build_frame("PING", "?", mask=key2)
         + build_frame("CONTINUATION", "lo ", fin=False, mask=key2)
         + build_frame("CONTINUATION", "Server", mask=_KEY), "Hello Server"),
        ("a 300-byte message (16-bit length)", build_frame("TEXT", "é" * 150, mask=key2), "é" * 150),
        ("Chinese text cut in the middle of a character by the fragments",
         build_frame("TEXT", text[:4], fin=False, mask=_KEY) + build_frame("CONTINUATION", text[4:], mask=key2),
         "服务器收到消息"),
        ("a PING first, then the message", build_frame("PING", b"", mask=key2)
         + build_frame("TEXT", "hi", mask=_KEY), "hi"),
    )



@_hint("walk the frames with parse_header: unmask each payload, skip control frames (opcode 8 and above), "
       "join the fragments' bytes until FIN=1, and only then decode UTF-8 (RFC 6455 §5.4, §5.6)")
def check_read_message(fn: Callable) -> None:
    """``fn(data)`` returns the first text message carried by the client frames in ``data``."""
    for case, data, expected in _message_cases():
        _expect("read_message", case, _call("read_message", fn, data, expected=expected), expected)
    return _ok("read_message unmasks, skips control frames and joins fragments before decoding (RFC 6455 §5.4)")
