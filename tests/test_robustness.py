"""Robustness: the decoder and the tap survive anything, and a lab leaks nothing.

Leak checks compare counts before and after (threads, file descriptors from
/proc/self/fd, memory: tracemalloc growth between two equal rounds, RSS under
a generous bound), after a warm-up round; they never time anything. Speed is
measured in bench/connections.py.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import socket
import threading
import time
import tracemalloc

import pytest
from helpers import serves
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeouts import scaled

from wslab import Lab, build_frame
from wslab._runtime.raw import SAMPLE_KEY, RawClient
from wslab.protocol import DecodeError, Frame, Handshake, WireDecoder

REQUEST = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + SAMPLE_KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def quiesce(lab: Lab, timeout: float = 15.0) -> None:
    """Wait until every connection through the lab has ended, then forget the trace."""
    lab.settle(timeout=scaled(timeout))
    open_ = lab._on_loop(lambda: [c.conn for c in lab.tap.active()])
    assert not open_, f"connections still open: {open_}"
    lab.clear()
    gc.collect()


def settled(measure, baseline: int, timeout: float = 5.0) -> int:
    """``measure()`` once it is back to ``baseline`` or ``timeout`` passed (closed clients' threads
    and sockets take a moment to go). Polls a count: it has no event to wait on."""
    deadline = time.monotonic() + scaled(timeout)
    while measure() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return measure()


@pytest.fixture(scope="module")
def lab():
    with Lab("echo", open_timeout=scaled(15), close_timeout=0.5, max_size=4096) as lab:
        yield lab


# ---------------------------------------------------------------------------
# The decoder: any bytes, in any pieces, from both sides.
# ---------------------------------------------------------------------------

garbage = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([REQUEST, RESPONSE, b"\r\n\r\n", b"HTTP/1.1 426 No\r\nContent-Length: 5\r\n\r\n",
                     build_frame("TEXT", "Hello", mask=b"abcd"), build_frame("CLOSE", b"\x03\xe8"),
                     build_frame("PING", b"x" * 126), build_frame(0x3, b"", fin=False),
                     build_frame("BINARY", b"", length=2**63 + 1, length_bits=64)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["client", "server"]), garbage), max_size=16), st.booleans())
def test_wire_decoder_never_raises_on_any_interleaving(pieces, opened):
    decoder = WireDecoder()
    if opened:
        pieces = [("client", REQUEST), ("server", RESPONSE), *pieces]
    events = []
    for sender, data in pieces:
        events += decoder.receive(sender, data)
    events += decoder.eof("client") + decoder.eof("server")
    assert all(isinstance(e, (Handshake, Frame, DecodeError)) for e in events)
    # Errors are about the bytes, never the decoder's own safety net catching a bug.
    assert not [e.reason for e in events if isinstance(e, DecodeError) and "internal decoder error" in e.reason]
    for sender in ("client", "server"):
        offsets = [e.offset for e in events if e.sender == sender]
        assert offsets == sorted(offsets)
        stream = decoder.decoder(sender)
        assert stream.offset + stream.undecoded <= stream.received
        assert [e for e in events if e.sender == sender and isinstance(e, DecodeError)][1:] == []  # stops at one


# ---------------------------------------------------------------------------
# The tap: any bytes from a client, and the lab keeps serving.
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(garbage, min_size=1, max_size=6), handshake=st.booleans(),
       ending=st.sampled_from(["close", "reset", "eof"]))
def test_fuzz_through_the_tap(lab, chunks, handshake, ending):
    with RawClient(lab, timeout=scaled(1)) as raw:
        if handshake:
            assert raw.handshake().status == 101
        for chunk in chunks:
            try:
                raw.send(chunk)
            except OSError:  # the server already hung up on us: fine
                break
        if ending == "eof":
            raw.send_eof()
            raw.wait_closed(1)
        raw.close(reset=ending == "reset")
    serves(lab)
    trace = lab.trace.filter(conn=raw.conn)
    assert not [r.reason for r in trace.filter("error") if "decoder crashed" in r.reason
                or "internal decoder error" in r.reason]
    assert trace.diagnose()  # every connection gets an explanation, whatever it sent


def test_garbage_while_normal_clients_keep_working(lab):
    quiesce(lab)
    threads_before, fds_before = threading.active_count(), open_fds()
    replies: list[str] = []
    failures: list[BaseException] = []

    def hostile(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            try:
                with RawClient(lab, timeout=scaled(1)) as raw:
                    if rng.random() < 0.5:
                        raw.handshake()
                    raw.send(rng.randbytes(rng.randrange(1, 300)))
                    if rng.random() < 0.3:
                        raw.recv(timeout=scaled(0.05))
                    raw.close(reset=rng.random() < 0.5)
            except (OSError, TimeoutError):
                pass  # the lab may hang up on garbage: that is its right

    def normal() -> None:
        try:
            for _ in range(20):
                with lab.connect_sync() as ws:
                    ws.send("Hello Server")
                    replies.append(ws.recv(timeout=scaled(2)))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [threading.Thread(target=hostile, args=(seed,)) for seed in range(4)]
    workers += [threading.Thread(target=normal) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not failures
    assert replies == ["Hello Client"] * 80
    serves(lab)
    quiesce(lab)
    assert settled(threading.active_count, threads_before) <= threads_before
    assert settled(open_fds, fds_before) <= fds_before


def test_stop_returns_whatever_the_clients_do():
    before = threading.active_count()
    lab = Lab("echo", close_timeout=0.3).start()
    port = lab.port
    stalled = lab.raw()
    stalled.send(b"GET / HTTP/1.1\r\n")  # half a request (open_timeout is websockets' 10 s)
    silent = lab.raw()
    silent.handshake()  # will never answer the server's 1001
    failed = lab.raw()
    failed.handshake()
    failed.send_frame("TEXT", "x", mask=None)  # the server fails it; this client never closes its side
    pending_cut = lab.raw()
    pending_cut.handshake()
    lab.cut(pending_cut, after=1000)
    held = lab.connect_sync()
    lab.pause("client")  # every client → server byte from now on is held
    held.send("held by the lab")
    started = time.monotonic()
    stopper = threading.Thread(target=lab.stop)
    stopper.start()
    # A hang detector, not a speed target (bench/ measures speed): websockets' own
    # open_timeout is 10 s, so a stop that waited on these clients would still be running.
    stopper.join(30)
    took = time.monotonic() - started
    for client in (stalled, silent, failed, pending_cut, held):
        client.close()
    assert not stopper.is_alive(), "lab.stop() hung on an awkward client"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=scaled(1))
    assert settled(threading.active_count, before) <= before
    ended = lab.trace.diagnose()
    print(f"\nstop took {took:.2f} s\n{ended}")
    assert len(ended) >= 5 and all(f.conn in lab.trace.connections for f in ended)


# ---------------------------------------------------------------------------
# Leaks: many connections, then the same counts as before.
# ---------------------------------------------------------------------------


def assert_no_growth(round_of, warm_up: int, measured: int, traced: int, label: str) -> None:
    """Run ``round_of(n)`` rounds; afterwards threads, fds and memory must be back where they were."""
    round_of(warm_up)  # warm-up: caches, free lists, the allocator's arenas
    threads, fds, memory = threading.active_count(), open_fds(), rss()
    round_of(measured)
    rss_growth = rss() - memory
    assert settled(threading.active_count, threads) <= threads
    assert settled(open_fds, fds) <= fds
    assert rss_growth < 32 * 2**20  # generous: the allocator keeps what it got

    tracemalloc.start()
    try:
        round_of(traced)
        first = tracemalloc.get_traced_memory()[0]
        round_of(traced)
        traced_growth = tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()
    assert traced_growth < traced * 1024  # under 1 KiB per connection
    print(f"\n{label}: threads {threads} → {threading.active_count()}, fds {fds} → {open_fds()}, "
          f"RSS +{rss_growth / 2**20:.1f} MiB, traced growth over {traced} more: {traced_growth / 1024:.1f} KiB")


def test_1000_sequential_connections_leak_nothing(lab):
    def round_of(n: int) -> None:
        for i in range(n):
            serves(lab)
            if i % 100 == 99:
                lab.clear()  # the trace is the lab's data, not a leak: keep it small
        quiesce(lab)

    assert_no_growth(round_of, warm_up=100, measured=1000, traced=100, label="1000 sequential")


def test_200_concurrent_connections_leak_nothing(lab):
    async def crowd(n: int) -> list[str]:
        async def one() -> str:
            async with lab.connect(open_timeout=30) as ws:
                await ws.send("Hello Server")
                return await ws.recv()

        return await asyncio.gather(*(one() for _ in range(n)))

    def round_of(n: int) -> None:
        assert asyncio.run(crowd(n)) == ["Hello Client"] * n
        quiesce(lab)

    assert_no_growth(round_of, warm_up=200, measured=200, traced=200, label="200 concurrent")
