"""What a comparison measured: one :class:`MethodResult` per method, in a :class:`Comparison`."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterator

#: The three ways of delivering the stream, in the order they are measured.
METHODS = ("short polling", "long polling", "websocket")


@dataclasses.dataclass(frozen=True)
class MethodResult:
    """What one method cost and how fast it was.

    Attributes:
        method: ``"short polling"``, ``"long polling"`` or ``"websocket"``.
        latencies: seconds from "server produced update i" to "client has it", by i.
        requests: HTTP requests made (0 for the WebSocket).
        empty: HTTP answers that carried no update.
        up, down: bytes client→server and server→client while the updates flowed
            (TCP payload, counted from the tap's chunks).
        setup: one-off bytes around the stream: the WebSocket opening handshake and
            closing handshake (0 for HTTP, which reuses one keep-alive connection).
        example: one exchange that carried exactly one update, as it crossed the
            wire: (client bytes, server bytes); for the WebSocket (b"", the frame).
    """

    method: str
    latencies: tuple[float, ...]
    requests: int
    empty: int
    up: int
    down: int
    setup: int
    example: tuple[bytes, bytes]

    @property
    def updates(self) -> int:
        return len(self.latencies)

    @property
    def median(self) -> float:
        """Median latency, seconds."""
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        """95th percentile latency, seconds (inclusive method: within the data)."""
        if len(self.latencies) < 2:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=20, method="inclusive")[18]

    @property
    def up_per_update(self) -> float:
        return self.up / self.updates

    @property
    def down_per_update(self) -> float:
        return self.down / self.updates

    @property
    def bytes_per_update(self) -> float:
        """Bytes on the wire per update, both directions, without the one-off setup."""
        return (self.up + self.down) / self.updates

    def __repr__(self) -> str:
        return (f"<MethodResult {self.method}: median {self.median * 1000:.3f} ms, p95 {self.p95 * 1000:.3f} ms, "
                f"{self.bytes_per_update:.1f} B/update>")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The results of :func:`run_comparison`, one :class:`MethodResult` per method.

    ``comparison["websocket"]`` picks one; iterating gives them in order;
    ``print(comparison)`` shows a table.
    """

    updates: int
    interval: float
    poll_interval: float
    rtt: float
    results: tuple[MethodResult, ...]

    def __getitem__(self, method: str) -> MethodResult:
        for result in self.results:
            if result.method == method:
                return result
        raise KeyError(f"{method!r} was not measured; measured: {', '.join(r.method for r in self.results)}")

    def __iter__(self) -> Iterator[MethodResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def label(self, result: MethodResult) -> str:
        """The method's name, with the poll interval for short polling."""
        if result.method == "short polling":
            return f"short polling every {self.poll_interval * 1000:g} ms"
        return result.method

    def table(self) -> str:
        """A plain-text table: latency (ms) and bytes per update."""
        header = ("method", "median", "p95", "requests", "empty", "C→S B/upd", "S→C B/upd", "total B/upd",
                  "one-off B")
        rows = [(self.label(r), f"{r.median * 1000:.3f} ms", f"{r.p95 * 1000:.3f} ms", str(r.requests),
                 str(r.empty), f"{r.up_per_update:.1f}", f"{r.down_per_update:.1f}", f"{r.bytes_per_update:.1f}",
                 str(r.setup)) for r in self.results]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
                 for row in [header, *rows]]
        lines.insert(1, "-" * len(lines[0]))
        title = (f"{self.updates} updates, one every {self.interval * 1000:g} ms; "
                 f"added round-trip time {self.rtt * 1000:g} ms (0 = loopback only)")
        return title + "\n" + "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<Comparison: {self.updates} updates every {self.interval * 1000:g} ms, "
                f"rtt {self.rtt * 1000:g} ms: {', '.join(self.label(r) for r in self.results)}>")


__all__ = ["METHODS", "Comparison", "MethodResult"]
