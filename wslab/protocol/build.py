"""Bytes by hand, valid or not: frames (RFC 6455 §5.2), close payloads (§5.5.1), the accept key (§4.2.2)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct

from .enums import Opcode
from .events import AcceptCheck
from .frames import apply_mask

#: RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def check_accept(key: str, got: str | None) -> AcceptCheck:
    """Show every step of deriving Sec-WebSocket-Accept from ``key``."""
    sha1 = hashlib.sha1((key + GUID).encode("ascii"))
    expected = base64.b64encode(sha1.digest()).decode("ascii")
    return AcceptCheck(key, GUID, sha1.hexdigest(), expected, got, got == expected)


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


__all__ = ["GUID", "accept_key", "build_frame", "check_accept", "close_payload", "opcode_value"]
