"""WebSocket push against HTTP polling, measured on this machine.

The article says WebSocket gives "low latency, real-time two-way communication"
compared with ordinary HTTP. :func:`run_comparison` measures it: a server
produces the same stream of small updates (``update 000``, ``update 001`` ...,
one every ``interval`` seconds) and a client receives them by

* **short polling** -- ``GET /updates?since=N`` every ``poll_interval`` seconds;
  the server answers at once with whatever it has (maybe nothing);
* **long polling** -- ``GET /updates?since=N&wait=1``; the server holds the
  request until it has an update, and the client asks again at once;
* **a WebSocket** -- the server sends each update as a TEXT frame when it
  produces it (RFC 6455 §5.6), through a :class:`~wslab.Lab`.

Every method takes the same path on 127.0.0.1: client → :class:`Relay` (which
counts the real bytes on the wire in each direction and can add a one-way delay,
half of ``rtt``, to model a network instead of loopback) → the lab's recording
tap (:class:`~wslab.tap.Tap`) → server. Latency is the time from
"the server produced update i" to "the client has parsed update i", on one
monotonic clock. The HTTP server is a minimal HTTP/1.1 keep-alive server on
``asyncio.start_server`` (standard library only).

The results are plain dataclasses; :func:`plot_comparison` draws them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import websockets.asyncio.client
from websockets.http11 import USER_AGENT

from ..lab import Lab, LoopThread
from .._runtime.tap import Recorder, Tap

__all__ = [
    "METHODS", "Comparison", "Feed", "HttpClient", "MethodResult", "Relay", "UpdateServer",
    "parse_request", "plot_comparison", "response_bytes", "run_comparison", "update_text",
]

#: The three ways of delivering the stream, in the order they are measured.
METHODS = ("short polling", "long polling", "websocket")

#: How long the server holds a long-poll request with nothing to send (seconds).
LONG_POLL_TIMEOUT = 30.0

#: Seconds between setting up a run and the first update.
LEAD = 0.1


def update_text(seq: int) -> str:
    """The payload of update ``seq``: ``"update 007"`` (10 bytes for seq < 1000)."""
    return f"update {seq:03d}"


def _seq(text: str) -> int:
    return int(text.split()[1])


async def _sleep_until(when: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``when``."""
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# -- the stream of updates -----------------------------------------------------------

class Feed:
    """The updates a server produces: update ``i`` at ``start + i * interval``.

    ``produced[i]`` is the ``time.monotonic()`` at which update ``i`` existed.
    Use it on one event loop (the server's).
    """

    def __init__(self, updates: int, interval: float) -> None:
        self.updates = updates
        self.interval = interval
        self.messages: list[str] = []
        self.produced: list[float] = []
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def run(self, start: float) -> None:
        """Produce every update on schedule."""
        for i in range(self.updates):
            await _sleep_until(start + i * self.interval)
            async with self.changed:
                self.produced.append(time.monotonic())
                self.messages.append(update_text(i))
                self.changed.notify_all()

    async def since(self, since: int, wait: float = 0.0) -> list[str]:
        """Updates from number ``since`` on; with ``wait``, wait up to that long for one."""
        if wait > 0 and len(self.messages) <= since:
            async with self.changed:
                try:
                    await asyncio.wait_for(self.changed.wait_for(lambda: len(self.messages) > since), wait)
                except asyncio.TimeoutError:
                    pass
        return self.messages[since:]


# -- a minimal HTTP/1.1 server -------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Request:
    """An HTTP request head: ``method``, ``target``, ``version`` and lower-cased ``headers``."""

    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection open unless ``Connection: close`` (RFC 9112 §9.3)."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


def parse_request(head: bytes) -> Request:
    """Parse a request head (through the blank line); raises ValueError if it is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x request line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line!r}")
        headers[name.strip().lower()] = value.strip()
    return Request(parts[0], parts[1], parts[2], headers)


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def response_bytes(status: int, body: bytes, *, date: str | None = None, close: bool = False) -> bytes:
    """A complete HTTP/1.1 response: status line, the headers a plain server sends, the body.

    ``Date`` is required from origin servers with a clock (RFC 9110 §6.6.1); its
    value always has 29 characters, so response sizes do not depend on it.
    """
    headers = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Date: {date or email.utils.formatdate(usegmt=True)}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
    ]
    if close:
        headers.append("Connection: close")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


class UpdateServer:
    """A minimal HTTP/1.1 server (keep-alive) for a :class:`Feed`.

    ``GET /updates?since=N`` answers at once with updates N, N+1 ... (one per
    line, maybe none); add ``&wait=1`` to hold the request until there is one
    (long polling, at most :data:`LONG_POLL_TIMEOUT` seconds).
    """

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.server: asyncio.AbstractServer | None = None
        self.requests = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def respond(self, request: Request) -> tuple[int, bytes]:
        """(status, body) for one request."""
        url = urlsplit(request.target)
        if url.path != "/updates":
            return 404, b"try GET /updates?since=0\n"
        if request.method != "GET":
            return 405, b"only GET\n"
        query = parse_qs(url.query)
        try:
            since = int(query.get("since", ["0"])[0])
        except ValueError:
            return 400, b"since must be an integer\n"
        wait = LONG_POLL_TIMEOUT if query.get("wait", ["0"])[0] not in ("", "0") else 0.0
        # Build the body in the same step as the wake-up: no update can slip in between.
        messages = await self.feed.since(since, wait)
        return 200, "".join(m + "\n" for m in messages).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                try:
                    request = parse_request(head)
                except ValueError as exc:
                    writer.write(response_bytes(400, f"{exc}\n".encode(), close=True))
                    await writer.drain()
                    return
                length = int(request.headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)  # no route takes a body; drop it
                self.requests += 1
                status, body = await self.respond(request)
                writer.write(response_bytes(status, body, close=not request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


class HttpClient:
    """A minimal HTTP/1.1 client on one keep-alive connection.

    It sends the same ``User-Agent`` as the ``websockets`` client, and nothing a
    browser would add (cookies, ``Accept-Language``, ``Referer`` ...).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> HttpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    def request_bytes(self, target: str) -> bytes:
        return (f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Accept: text/plain\r\n\r\n").encode("latin-1")

    async def get(self, target: str) -> tuple[int, bytes, bytes, bytes]:
        """Send ``GET target``; returns (status, body, request bytes, response bytes)."""
        request = self.request_bytes(target)
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, body, request, head + body

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


# -- the byte-counting relay ---------------------------------------------------------

class Relay:
    """A transparent TCP relay that counts the bytes each way and can delay them.

    Each chunk is forwarded ``delay`` seconds after it was read, and chunks
    keep their order while others are in flight (a network's propagation delay,
    not a slow link). ``bytes["client"]`` counts client→server bytes,
    ``bytes["server"]`` server→client; ``reads`` counts chunks each way.
    """

    def __init__(self, upstream: tuple[str, int], delay: float = 0.0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.bytes = {"client": 0, "server": 0}
        self.reads = {"client": 0, "server": 0}
        self.server: asyncio.AbstractServer | None = None
        self.tasks: set[asyncio.Task] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._accept, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)
        if self.server is not None:
            await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.tasks.add(task)
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(self._pump("client", reader, upstream_writer),
                                 self._pump("server", upstream_reader, writer))
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
            self.tasks.discard(task)

    async def _pump(self, sender: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await _sleep_until(due)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        delivery = asyncio.create_task(deliver())
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if data:
                    self.bytes[sender] += len(data)
                    self.reads[sender] += 1
                queue.put_nowait((time.monotonic() + self.delay, data))
                if not data:
                    break
            await delivery
        except (ConnectionError, OSError):
            pass
        finally:
            delivery.cancel()


# -- results -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MethodResult:
    """What one method cost and how fast it was.

    Attributes:
        method: ``"short polling"``, ``"long polling"`` or ``"websocket"``.
        latencies: seconds from "server produced update i" to "client has it", by i.
        requests: HTTP requests made (0 for the WebSocket).
        empty: HTTP answers that carried no update.
        up, down: bytes client→server and server→client while the updates flowed
            (TCP payload, counted by the relay).
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


# -- one run per method --------------------------------------------------------------

def _timeout(updates: int, interval: float, rtt: float) -> float:
    """Generous seconds for one method's run: even a round trip per update fits."""
    return 30 + LEAD + 2 * rtt + updates * (interval + 2 * rtt)


def _latencies(produced: Sequence[float], received: dict[int, float], method: str) -> tuple[float, ...]:
    missing = [i for i in range(len(produced)) if i not in received]
    if missing:
        raise RuntimeError(f"{method}: updates {missing[:5]} never arrived")
    return tuple(received[i] - produced[i] for i in range(len(produced)))


async def _poll(client: HttpClient, updates: int, start: float, poll_interval: float | None) -> dict[str, Any]:
    """Short polling (``poll_interval``) or long polling (None) until all updates arrived."""
    received: dict[int, float] = {}
    requests = empty = 0
    example: tuple[bytes, bytes] | None = None
    tick = 0
    while len(received) < updates:
        if poll_interval is not None:
            # Like setInterval(): a poll every poll_interval, half an interval after the
            # updates' own schedule; a poll that would be late is skipped.
            first = start + poll_interval / 2
            tick = max(tick, math.ceil((time.monotonic() - first) / poll_interval))
            await _sleep_until(first + tick * poll_interval)
            tick += 1
            target = f"/updates?since={len(received)}"
        else:
            target = f"/updates?since={len(received)}&wait=1"
        status, body, request, response = await client.get(target)
        now = time.monotonic()
        if status != 200:
            raise RuntimeError(f"GET {target} answered {status}: {body!r}")
        lines = body.decode().splitlines()
        requests += 1
        empty += not lines
        for line in lines:
            received.setdefault(_seq(line), now)
        if example is None and len(lines) == 1:
            example = (request, response)
    return dict(received=received, requests=requests, empty=empty, example=example or (b"", b""))


def _run_http(method: str, updates: int, interval: float, poll_interval: float, rtt: float,
              server_loop: LoopThread, client_loop: LoopThread) -> MethodResult:
    feed = Feed(updates, interval)
    server = UpdateServer(feed)
    port = server_loop.run(server.start())
    # The same recording tap a Lab puts in front of its server, so both paths have the same hops.
    tap = Tap(("127.0.0.1", port), Recorder(time.monotonic))
    tap_port = server_loop.run(tap.start())
    relay = Relay(("127.0.0.1", tap_port), delay=rtt / 2)
    relay_port = server_loop.run(relay.start())
    start = time.monotonic() + LEAD + rtt
    producing = asyncio.run_coroutine_threadsafe(feed.run(start), server_loop.loop)
    try:

        async def client_side() -> dict[str, Any]:
            client = await HttpClient.open("127.0.0.1", relay_port)
            try:
                return await _poll(client, updates, start, poll_interval if method == "short polling" else None)
            finally:
                await client.close()

        log = client_loop.run(client_side(), timeout=_timeout(updates, interval, rtt))
        producing.result(5)
    finally:
        producing.cancel()
        server_loop.run(relay.stop())
        server_loop.run(tap.stop())
        server_loop.run(server.stop())
    return MethodResult(method, _latencies(feed.produced, log["received"], method), log["requests"], log["empty"],
                        relay.bytes["client"], relay.bytes["server"], 0, log["example"])


def _run_websocket(updates: int, interval: float, rtt: float, client_loop: LoopThread) -> MethodResult:
    produced: list[float] = []
    start = time.monotonic() + LEAD + 2 * rtt  # the handshake takes a round trip

    async def push(ws) -> None:
        for i in range(updates):
            await _sleep_until(start + i * interval)
            produced.append(time.monotonic())
            await ws.send(update_text(i))
        await ws.wait_closed()

    with Lab(push, page=False) as lab:
        # On the lab's own loop: relay, tap and server share one thread, as they do for HTTP.
        server_loop: LoopThread = lab.loop_thread  # type: ignore[assignment]
        relay = Relay(("127.0.0.1", lab.port), delay=rtt / 2)
        relay_port = server_loop.run(relay.start())
        try:
            async def client_side() -> dict[int, float]:
                received: dict[int, float] = {}
                async with websockets.asyncio.client.connect(
                        f"ws://127.0.0.1:{relay_port}/", proxy=None, ping_interval=None, compression=None,
                        close_timeout=2 + rtt) as ws:
                    while len(received) < updates:
                        message = await ws.recv()
                        received[_seq(message)] = time.monotonic()
                return received

            received = client_loop.run(client_side(), timeout=_timeout(updates, interval, rtt))
            trace = lab.trace
        finally:
            server_loop.run(relay.stop())
    # The relay counted everything; the lab's decoder says which bytes were the stream's frames.
    data = [f for f in trace.frames if f.opcode == "TEXT"]
    up = sum(len(f.wire) for f in data if f.sender == "client")
    down = sum(len(f.wire) for f in data if f.sender == "server")
    setup = relay.bytes["client"] + relay.bytes["server"] - up - down
    example = (b"", data[0].wire if data else b"")
    return MethodResult("websocket", _latencies(produced, received, "websocket"), 0, 0, up, down, setup, example)


def run_comparison(updates: int = 50, interval: float = 0.02, poll_interval: float = 0.1, *, rtt: float = 0.0,
                   methods: Sequence[str] = METHODS) -> Comparison:
    """Deliver ``updates`` updates, one every ``interval`` s, by each method; measure each.

    Args:
        updates: how many updates the server produces (at most 1000).
        interval: seconds between updates.
        poll_interval: seconds between short polls.
        rtt: round-trip time to add (half each way) in the relay, to model a network.
        methods: which of :data:`METHODS` to run, in that order.

    Returns:
        A :class:`Comparison`. It takes about ``updates * interval`` seconds per method.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {METHODS}")
    if not 1 <= updates <= 1000:
        raise ValueError("updates must be between 1 and 1000")
    server_loop = LoopThread("wslab-compare-server")
    client_loop = LoopThread("wslab-compare-client")
    try:
        results = []
        for method in methods:
            if method == "websocket":
                results.append(_run_websocket(updates, interval, rtt, client_loop))
            else:
                results.append(_run_http(method, updates, interval, poll_interval, rtt, server_loop, client_loop))
    finally:
        client_loop.stop()
        server_loop.stop()
    return Comparison(updates, interval, poll_interval, rtt, tuple(results))


# -- the picture ---------------------------------------------------------------------

#: One colour per method.
COLORS = {"short polling": "#c25e00", "long polling": "#7d3c98", "websocket": "#1f5fbf"}
MARKERS = ["o", "s", "D", "^", "v"]


def plot_comparison(result: Comparison, *, ax=None, **kwargs):
    """Latency against bytes per update, one column of dots per method.

    Each dot is one update's latency (log scale); the thick bar is the median,
    the thin one the 95th percentile. The x position is the method's bytes on
    the wire per update, both directions (log scale). Down and to the left is
    better. Each method is labelled in the right margin, with its one-off bytes
    (the WebSocket's handshakes), which the x position leaves out. Call it again
    with the same ``ax`` to add another comparison to the picture; the title then
    says how many updates each run had.

    Args:
        result: a :class:`Comparison`.
        ax: Axes to draw into; a figure is made if None.
        **kwargs: passed to the scatter of the dots (e.g. ``s=10``).

    Returns:
        The Axes. Artists carry gids: ``"latency"`` (dots), ``"median"``,
        ``"p95"`` (bars), ``"method"`` (labels).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8.5, 4.8), layout="constrained")
        ax = fig.add_subplot()
    state = getattr(ax, "_wslab_comparison", None)
    first = state is None
    if first:
        state = ax._wslab_comparison = {"rtt": result.rtt, "labels": [], "runs": []}
    state["runs"].append(result)
    tag = "" if result.rtt == state["rtt"] else f", rtt {result.rtt * 1000:g} ms"
    _log_axes(ax)
    dot_kw = dict(s=14, alpha=0.45, linewidths=0, zorder=3)
    dot_kw.update(kwargs)
    for r in result:
        colour = COLORS.get(r.method, "#4d5656")
        x = r.bytes_per_update
        # Spread the dots sideways a little, deterministically, so they do not hide each other.
        xs = [x * 1.09 ** (((i * 7) % 11) / 5 - 1) for i in range(len(r.latencies))]
        ys = [max(t, 1e-5) * 1000 for t in r.latencies]
        ax.scatter(xs, ys, color=colour, gid="latency", **dot_kw)
        for value, lw, gid in ((r.median, 3.0, "median"), (r.p95, 1.4, "p95")):
            ax.plot([x / 1.2, x * 1.2], [value * 1000] * 2, color=colour, lw=lw, solid_capstyle="butt",
                    zorder=4, gid=gid)
        once = f" + {r.setup} B once" if r.setup else ""
        label = ax.annotate(
            f"{result.label(r)}{tag}\nmedian {_ms(r.median)}, p95 {_ms(r.p95)}\n{x:.0f} B per update{once}",
            xy=(x * 1.2, r.median * 1000), xycoords="data", xytext=(1.03, 0.5), textcoords="axes fraction",
            va="center", ha="left", fontsize=9, color=colour, gid="method", annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color=colour, lw=0.7, alpha=0.5, shrinkA=0, shrinkB=0,
                            relpos=(0.0, 0.5)))
        state["labels"].append((label, r.median * 1000))
    ax.set_title(f"{_where(state['runs'])}\n"
                 "thick bar: median, thin bar: 95th percentile; down and left is better", fontsize=10.5)
    if first:
        if ax.xaxis.get_tick_params().get("labelbottom", True):  # not the upper Axes of a shared x axis
            ax.set_xlabel("bytes on the wire per update (both directions, log scale)", fontsize=10)
        ax.set_ylabel("latency: produced → received (ms, log scale)", fontsize=10)
        ax.grid(True, which="major", color="#e5e8e8", lw=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=9)
    _fit_limits(ax)
    _place_labels(ax, state["labels"])
    return ax


def _where(runs: Sequence[Comparison]) -> str:
    """The title's first line: the network, and how many updates each run on the Axes had."""
    first = runs[0]
    where = "loopback (127.0.0.1)" if not first.rtt else f"127.0.0.1 + {first.rtt * 1000:g} ms round trip"
    others = [(run, r) for run in runs[1:] for r in run if run.updates != first.updates]
    if not others:
        return f"{where}: each dot is one of {first.updates} updates"
    counts = "".join(f"; {run.updates} for {run.label(r)}" for run, r in others)
    return f"{where}: each dot is one update ({first.updates} per method{counts})"


def _log_axes(ax) -> None:
    """Log scales with plain tick labels (0.1, 1, 10 ...: quicker to read, and to draw than 10^x)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # set_xscale() resets the tickers, so only when needed (a second call, an Axes sharing an axis).
    if ax.get_xscale() != "log":
        ax.set_xscale("log")
    if ax.get_yscale() != "log":
        ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"


def _fit_limits(ax) -> None:
    """x: the data with a margin; y: whole decades; over every Axes sharing the axis."""
    def points(axes, column: int) -> list[float]:
        return [float(p[column]) for a in axes for c in a.collections for p in c.get_offsets()]

    xs = points(ax.get_shared_x_axes().get_siblings(ax), 0)
    ys = points(ax.get_shared_y_axes().get_siblings(ax), 1)
    if not xs:
        return
    ax.set_xlim(min(xs) / 10 ** 0.3, max(xs) * 10 ** 0.3)
    ax.set_ylim(10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)) + 0.05))


_LABEL_PT = 42  # height of a three-line label at fontsize 9, with a gap


def _place_labels(ax, labels: list) -> None:
    """Stack the labels in the right margin, each as near its median's height as room allows."""
    lo, hi = (math.log10(v) for v in ax.get_ylim())
    height_pt = ax.get_position().height * ax.figure.get_figheight() * 72
    step = min(_LABEL_PT / height_pt, 1 / max(1, len(labels)))
    wanted = sorted(((math.log10(y) - lo) / (hi - lo), i) for i, (_, y) in enumerate(labels))
    wanted.reverse()  # top first
    placed: list[float] = []
    for k, (frac, _) in enumerate(wanted):
        top = 1 - step / 2 if k == 0 else placed[-1] - step
        placed.append(min(frac, top))
    for k in range(len(placed) - 1, -1, -1):  # then push up from the bottom
        floor = step / 2 if k == len(placed) - 1 else placed[k + 1] + step
        placed[k] = max(placed[k], floor)
    for (_, i), frac in zip(wanted, placed):
        labels[i][0].xyann = (1.03, frac)
