"""Benchmark: wslab's pure-Python decoder against websockets' own frame parser.

wslab decodes every byte a lab sees, with field positions and checks, so it is
slower than websockets' parser; this prints how much, as medians of several
runs in one process, so the ratio is comparable across machines.
Run: .venv/bin/python bench/decode.py
"""

from __future__ import annotations

import statistics
import time

from websockets.frames import Frame as WSFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from wslab.decode import StreamDecoder, build_frame

SIZES = {"small (12 B)": 12, "medium (1 KiB)": 1024, "large (64 KiB)": 65536}


def wire_for(size: int, count: int) -> bytes:
    return b"".join(build_frame("BINARY", bytes(size), mask=b"\x01\x02\x03\x04") for _ in range(count))


def time_wslab(data: bytes) -> float:
    started = time.perf_counter()
    decoder = StreamDecoder("client", http=False)
    for i in range(0, len(data), 65536):
        decoder.feed(data[i:i + 65536])
    return time.perf_counter() - started


def time_websockets(data: bytes, count: int) -> float:
    started = time.perf_counter()
    reader = StreamReader()
    reader.feed_data(data)
    for _ in range(count):
        parser = WSFrame.parse(reader.read_exact, mask=True, max_size=None)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            frame = done.value
            assert frame.opcode is Opcode.BINARY
    return time.perf_counter() - started


def main() -> None:
    print(f"{'frames':16} {'wslab MB/s':>11} {'websockets MB/s':>16} {'ratio':>7}   (medians of 5 runs)")
    for name, size in SIZES.items():
        count = max(20, 4_000_000 // (size + 14))
        data = wire_for(size, count)
        ours = statistics.median(time_wslab(data) for _ in range(5))
        theirs = statistics.median(time_websockets(data, count) for _ in range(5))
        mb = len(data) / 1e6
        print(f"{name:16} {mb / ours:11.1f} {mb / theirs:16.1f} {ours / theirs:6.1f}x")


if __name__ == "__main__":
    main()
