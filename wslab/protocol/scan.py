"""Frame boundaries without decoding: where each frame starts and which opcode it carries.

The tap relays a connection's data frames and records their bytes on its hot path, and
decodes them a little later (in batches, or when the trace is read). It must still see at
once a frame that changes the connection's course, a Close (RFC 6455 §5.5.1) or an opcode
it does not know, so it walks each chunk's frame headers (§5.2): a few integer operations
per frame, whatever the payload.
"""

from __future__ import annotations

from .frames import frame_size

#: Opcodes a scan lets go by undecoded: data frames, pings and pongs (RFC 6455 §5.2, §5.5.2-3).
QUIET_OPCODES = frozenset({0x0, 0x1, 0x2, 0x9, 0xA})


class FrameScanner:
    """Follows one direction's frames from a frame boundary on, header by header."""

    __slots__ = ("_head", "_skip", "frames")

    def __init__(self) -> None:
        self._skip = 0  # bytes of the current frame still to come
        self._head = b""  # the start of a header split across chunks
        #: Frame headers seen so far.
        self.frames = 0

    def feed(self, data: bytes) -> bool:
        """Scan the next bytes of the stream. False: a frame starting in them is a Close or has an
        opcode outside :data:`QUIET_OPCODES` (decode now); the scanner is then out of step and is
        not to be fed again."""
        if self._head:
            data = self._head + data
            self._head = b""
        n = len(data)
        i = self._skip
        while i < n:
            if n - i < 2:  # a frame is looked at once its first two bytes (opcode, length) are here
                break
            if data[i] & 0x0F not in QUIET_OPCODES:
                return False
            _, size = frame_size(data, i, n - i)
            if size is None:
                break
            self.frames += 1
            i += size
        else:
            self._skip = i - n
            return True
        self._head = data[i:]  # a header cut short: wait for the rest
        self._skip = 0
        return True


__all__ = ["QUIET_OPCODES", "FrameScanner"]
