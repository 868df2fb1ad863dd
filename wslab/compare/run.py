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

Every method takes the same path on 127.0.0.1: client → a recording tap (the
one a :class:`~wslab.Lab` puts in front of its server, which counts the real
bytes on the wire in each direction from its chunks and adds a one-way delay,
half of ``rtt``, to model a network instead of loopback) → server. Latency is the time from
"the server produced update i" to "the client has parsed update i", on one
monotonic clock. The HTTP server is a minimal HTTP/1.1 keep-alive server on
``asyncio.start_server`` (standard library only).

The results are plain dataclasses; :func:`plot_comparison` draws them.
"""


from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

import websockets.asyncio.client

from .._runtime.faults import Faults
from .._runtime.loop import LoopThread
from .._runtime.recorder import Recorder
from .._runtime.tap import Tap
from ..lab import Lab
from .http import Feed, HttpClient, UpdateServer, _seq, _sleep_until, update_text
from .results import METHODS, Comparison, MethodResult

#: Seconds between setting up a run and the first update.
LEAD = 0.1


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


def _sent(recorder: Recorder, sender: str) -> int:
    """Bytes the tap read from ``sender``: TCP payload, as on the wire."""
    return sum(len(chunk.data) for chunk in recorder.snapshot()[1] if chunk.sender == sender)


def _run_http(method: str, updates: int, interval: float, poll_interval: float, rtt: float,
              server_loop: LoopThread, client_loop: LoopThread) -> MethodResult:
    feed = Feed(updates, interval)
    server = UpdateServer(feed)
    port = server_loop.run(server.start())
    # The same recording tap a Lab puts in front of its server: it counts the bytes and adds the delay.
    recorder = Recorder(time.monotonic)
    tap = Tap(("127.0.0.1", port), recorder, Faults(latency={"client": rtt / 2, "server": rtt / 2}))
    tap_port = server_loop.run(tap.start())
    start = time.monotonic() + LEAD + rtt
    producing = asyncio.run_coroutine_threadsafe(feed.run(start), server_loop.loop)
    try:

        async def client_side() -> dict[str, Any]:
            client = await HttpClient.open("127.0.0.1", tap_port)
            try:
                return await _poll(client, updates, start, poll_interval if method == "short polling" else None)
            finally:
                await client.close()

        log = client_loop.run(client_side(), timeout=_timeout(updates, interval, rtt))
        producing.result(5)
    finally:
        producing.cancel()
        server_loop.run(tap.stop())
        server_loop.run(server.stop())
    return MethodResult(method, _latencies(feed.produced, log["received"], method), log["requests"], log["empty"],
                        _sent(recorder, "client"), _sent(recorder, "server"), 0, log["example"])


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
        if rtt:
            lab.delay(rtt / 2)  # the lab's tap holds each chunk half a round trip, as for HTTP

        async def client_side() -> dict[int, float]:
            received: dict[int, float] = {}
            async with websockets.asyncio.client.connect(
                    lab.url, proxy=None, ping_interval=None, compression=None, close_timeout=2 + rtt) as ws:
                while len(received) < updates:
                    message = await ws.recv()
                    received[_seq(str(message))] = time.monotonic()
            return received

        received = client_loop.run(client_side(), timeout=_timeout(updates, interval, rtt))
    trace = lab.trace  # stopped: settled, every byte of both closing handshakes in
    # The tap counted everything; the lab's decoder says which bytes were the stream's frames.
    data = [f for f in trace.frames if f.opcode == "TEXT"]
    up = sum(len(f.wire) for f in data if f.sender == "client")
    down = sum(len(f.wire) for f in data if f.sender == "server")
    setup = sum(len(c.data) for c in trace.chunks) - up - down
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


__all__ = ["LEAD", "run_comparison"]
