"""TLS records, as a network observer sees them (RFC 8446 §5.1), sans I/O.

All that crosses the wire of a ``wss://`` connection is a stream of records::

    content type (1 byte) | legacy version (2 bytes, 0x0303) | length (2 bytes) | fragment

After the handshake every record says ``application_data`` (23) whatever it
carries (RFC 8446 §5.2): the Upgrade request, the frames, the Close -- only the
lengths show. :func:`tls_records` splits bytes into records and names their types.
"""

from __future__ import annotations

import dataclasses
import struct

#: RFC 8446 §B.1 ContentType.
CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}


@dataclasses.dataclass(frozen=True)
class TlsRecord:
    """One TLS record: where it starts in the stream, its content type and its fragment's length.

    Attributes:
        offset: the record's first byte in the stream of one sender.
        content_type: 20-23 (see :data:`CONTENT_TYPES`).
        version: the legacy record version, e.g. ``0x0303``.
        length: the fragment's length (the encrypted bytes, for application data).
    """

    offset: int
    content_type: int
    version: int
    length: int

    @property
    def name(self) -> str:
        return CONTENT_TYPES.get(self.content_type, f"unknown ({self.content_type})")

    def __str__(self) -> str:
        return f"{self.name} [{self.length} B]"


def tls_records(data: bytes) -> list[TlsRecord]:
    """The whole TLS records at the start of ``data`` (one sender's stream); a cut-off last one is left out.

    Raises ValueError at bytes that cannot start a record (not TLS, or not from a record boundary).
    """
    records, offset = [], 0
    while offset + 5 <= len(data):
        content_type, version, length = struct.unpack_from("!BHH", data, offset)
        if content_type not in CONTENT_TYPES or version >> 8 != 3:
            head = data[offset:offset + 5].hex(" ")
            raise ValueError(f"byte {offset} does not start a TLS record (RFC 8446 §5.1): {head}")
        if offset + 5 + length > len(data):
            break
        records.append(TlsRecord(offset, content_type, version, length))
        offset += 5 + length
    return records


__all__ = ["CONTENT_TYPES", "TlsRecord", "tls_records"]
