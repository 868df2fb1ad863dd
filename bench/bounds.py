"""Benchmark: what issue #11 bounds and speeds up, in one run (figures, never assertions).

* echo round trip through the tap vs straight to the lab's server: two connections open at once,
  blocks of 40 round trips in a shuffled order, the median of the blocks' ratios (the machine's
  noise hits both alike); the same for a bare relay that records nothing (the floor of any tap);
* memory per kept small frame (tracemalloc, bytes per frame record, chunk included);
* one large message (8 MiB, max_size raised): time and tracemalloc peak;
* chat broadcast deliveries/s with 10, 50 and 200 clients, through the tap and straight to the server
  (the clients in a child process: they must not share the lab's interpreter);
* a million echoed messages through one lab: time and RSS after (the trace is bounded);
* a class: 50 chat clients (a child process) talking through ``Lab("chat")`` for 60 s, the lab's
  RSS at each quarter (flat once the trace is full: what a 90-minute class extrapolates from);
* lab start -> stop (median);
* a 100k-frame trace: snapshot, save(), table() and plot() times.

The decoder vs websockets' parser is bench/decode.py. The machine is shared: compare
figures of one run with each other (ratios), not across runs.
Run: .venv/bin/python bench/bounds.py
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import tracemalloc

import websockets

from wslab import Lab, Trace


def rtt_ratio(tapped_url: str, direct_url: str, blocks: int = 60, per: int = 40) -> tuple[float, float, float]:
    """(median ratio of block medians, tap µs, direct µs): both connections open, blocks interleaved."""
    async def run() -> tuple[float, float, float]:
        async with websockets.connect(tapped_url) as tapped, websockets.connect(direct_url) as direct:
            ratios, tap_times, direct_times = [], [], []
            for _ in range(blocks):
                medians = {}
                order = [("tap", tapped), ("direct", direct)]
                random.shuffle(order)
                for name, ws in order:
                    times = []
                    for _ in range(per):
                        t = time.perf_counter()
                        await ws.send("Hello Server")
                        await ws.recv()
                        times.append(time.perf_counter() - t)
                    medians[name] = statistics.median(times)
                ratios.append(medians["tap"] / medians["direct"])
                tap_times.append(medians["tap"])
                direct_times.append(medians["direct"])
            return (statistics.median(ratios), statistics.median(tap_times) * 1e6,
                    statistics.median(direct_times) * 1e6)

    return asyncio.run(run())


class _Relay(asyncio.Protocol):
    """A bare relay, recording nothing: the floor any tap pays (two more hops per round trip)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.peer: asyncio.Transport | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        back = _Back(self.transport)
        self.peer, _ = await loop.create_connection(lambda: back, *self.upstream)
        for data in self.early:
            self.peer.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.write(data)

    def connection_lost(self, exc) -> None:
        if self.peer is not None:
            self.peer.close()


class _Back(asyncio.Protocol):
    def __init__(self, front: asyncio.Transport) -> None:
        self.front = front

    def data_received(self, data: bytes) -> None:
        self.front.write(data)

    def connection_lost(self, exc) -> None:
        self.front.close()


def bare_relay_port(lab: Lab) -> int:
    """Start a bare relay to ``lab``'s server on the lab's own loop; its port."""
    async def start() -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Relay(("127.0.0.1", lab.server_port)), "127.0.0.1", 0)
        return server.sockets[0].getsockname()[1]

    assert lab.loop_thread is not None
    return lab.loop_thread.run(start())


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def million(n: int = 1_000_000) -> tuple[float, float, int]:
    """(seconds, RSS MiB after, records kept) for n echoed messages through one lab, default bounds."""
    async def run(url: str) -> None:
        async with websockets.connect(url) as ws:
            for _ in range(n):
                await ws.send("Hello Server")
                await ws.recv()

    with Lab("echo") as lab:
        t = time.perf_counter()
        asyncio.run(run(lab.url))
        took = time.perf_counter() - t
        kept = len(lab.trace)
    return took, current_rss_mib(), kept


def _class_clients(url: str, clients: int, seconds: float, result) -> None:
    """In a child process: ``clients`` chat clients, each saying something every 100 ms for ``seconds``."""
    async def run() -> int:
        conns = [await websockets.connect(url, max_queue=None) for _ in range(clients)]
        delivered = 0
        stop = time.perf_counter() + seconds

        async def talk(ws) -> None:
            i = 0
            while time.perf_counter() < stop:
                await ws.send(f"message {i}")
                i += 1
                await asyncio.sleep(0.1)

        async def listen(ws) -> None:
            nonlocal delivered
            while True:
                await ws.recv()
                delivered += 1

        listeners = [asyncio.create_task(listen(ws)) for ws in conns]
        await asyncio.gather(*[talk(ws) for ws in conns])
        await asyncio.sleep(1)
        for task in listeners:
            task.cancel()
        for ws in conns:
            await ws.close()
        return delivered

    result.put(asyncio.run(run()))


def a_class(clients: int = 50, seconds: float = 60.0) -> tuple[int, list[tuple[float, float]]]:
    """A class through ``Lab("chat")`` (the clients in a child process, so that this process is the lab's
    alone): (deliveries, [(elapsed s, this process's RSS MiB) at each quarter])."""
    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    samples = []
    with Lab("chat") as lab:
        child = context.Process(target=_class_clients, args=(lab.url, clients, seconds, result))
        start = time.perf_counter()
        child.start()
        for _ in range(4):
            time.sleep(seconds / 4)
            samples.append((time.perf_counter() - start, current_rss_mib()))
        delivered = result.get(timeout=seconds + 120)
        child.join()
    return delivered, samples


def bytes_per_frame(n: int = 5000) -> float:
    with Lab("echo") as lab:
        with lab.connect_sync() as ws:
            ws.send("warm up")
            ws.recv()
        lab.clear()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        with lab.connect_sync() as ws:
            for _ in range(n):
                ws.send("Hello Server")
                ws.recv()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        frames = len(lab.trace.frames)
    return grown / frames


def large_message(size: int = 8 * 2**20) -> tuple[float, float]:
    tracemalloc.start()
    with Lab("echo", max_size=None) as lab, lab.connect_sync(max_size=None) as ws:
        t = time.perf_counter()
        ws.send(b"x" * size)
        ws.recv()
        took = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return took, peak / 2**20


def chat(url: str, clients: int = 50, messages: int = 100) -> float:
    """Deliveries per second: one client sends ``messages``, each broadcast to all ``clients``."""
    async def run() -> float:
        conns = [await websockets.connect(url, max_queue=None) for _ in range(clients)]
        try:
            async def drain(ws) -> None:
                for _ in range(messages):
                    await ws.recv()

            t = time.perf_counter()
            readers = [asyncio.create_task(drain(ws)) for ws in conns]
            for i in range(messages):
                await conns[0].send(f"m{i}")
            await asyncio.gather(*readers)
            return clients * messages / (time.perf_counter() - t)
        finally:
            for ws in conns:
                await ws.close()

    return asyncio.run(run())


def _chat_child(url: str, clients: int, messages: int, result) -> None:
    result.put(chat(url, clients, messages))


def chat_elsewhere(url: str, clients: int, messages: int = 100) -> float:
    """:func:`chat` run in a child process, so that the clients do not share the lab's interpreter (and GIL)."""
    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    child = context.Process(target=_chat_child, args=(url, clients, messages, result))
    child.start()
    rate = result.get(timeout=600)
    child.join()
    return rate


def start_stop(n: int = 20) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        Lab("echo").start().stop()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def big_trace(frames: int = 100_000) -> Trace:
    with Lab("echo", max_records=None, max_bytes=None, conn_records=None, conn_bytes=None) as lab:
        with lab.connect_sync() as ws:
            for i in range(frames // 2):
                ws.send(f"m{i}")
                ws.recv()
        return lab.trace


def main() -> None:
    print(f"(shared, loaded machine: load average {os.getloadavg()[0]:.1f}; compare figures within this run)")
    # First, while the process is small: memory figures are this process's resident size (RSS).
    before = current_rss_mib()
    delivered, samples = a_class()
    print(f"a class: 50 chat clients (another process), one message each every 100 ms for 60 s, {delivered:,} "
          f"deliveries; the lab's process RSS {before:.0f} MiB before, then " + ", ".join(
              f"{r:.0f} MiB at {t:.0f} s" for t, r in samples))
    before = current_rss_mib()
    took, rss, kept = million()
    print(f"1,000,000 echoed messages through one lab (default bounds): {took:.0f} s, "
          f"RSS {before:.0f} -> {rss:.0f} MiB, {kept:,} records kept")
    with Lab("echo", max_records=10_000) as lab:
        direct_url = f"ws://127.0.0.1:{lab.server_port}/"
        ratio, tapped, direct = rtt_ratio(lab.url, direct_url)
        floor, relayed, direct_again = rtt_ratio(f"ws://127.0.0.1:{bare_relay_port(lab)}/", direct_url)
    print(f"echo round trip: {tapped:.0f} µs through the tap, {direct:.0f} µs direct: {ratio:.2f}x; "
          f"through a bare relay recording nothing (the floor): {relayed:.0f} µs vs {direct_again:.0f} µs: "
          f"{floor:.2f}x (medians of 60 interleaved blocks' ratios)")
    print(f"memory per kept small frame: {bytes_per_frame():.0f} B (tracemalloc, chunk and records included)")
    took, peak = large_message()
    print(f"one 8 MiB message echoed through the tap: {took:.2f} s, tracemalloc peak {peak:.0f} MiB")
    for clients in (10, 50, 200):
        with Lab("chat", max_records=20_000) as lab:
            tapped_rate = chat_elsewhere(lab.url, clients)
            direct_rate = chat_elsewhere(f"ws://127.0.0.1:{lab.server_port}/", clients)
        print(f"chat, {clients} clients: {tapped_rate:,.0f} deliveries/s through the tap, {direct_rate:,.0f} direct "
              f"({tapped_rate / direct_rate:.2f}x)")
    print(f"lab start -> stop: {start_stop():.1f} ms (median of 20)")
    trace = big_trace()
    frames = len(trace.frames)
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        trace.save(os.path.join(folder, "t.json"))
        saved = time.perf_counter() - t
    t = time.perf_counter()
    trace.table()
    tabled = time.perf_counter() - t
    import matplotlib

    matplotlib.use("Agg")
    t = time.perf_counter()
    trace.plot()
    plotted = time.perf_counter() - t
    print(f"{frames} frames: save() {saved:.1f} s, table() {tabled:.2f} s, plot() {plotted:.2f} s")


if __name__ == "__main__":
    main()
