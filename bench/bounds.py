"""Benchmark: what issue #11 bounds and speeds up, in one run (figures, never assertions).

* echo round trip through the tap vs straight to the lab's server (median µs, ratio);
* memory per kept small frame (tracemalloc, bytes per frame record, chunk included);
* one large message (8 MiB, max_size raised): time and tracemalloc peak;
* chat broadcast deliveries/s with N clients, through the tap and straight to the server;
* lab start -> stop (median);
* a 100k-frame trace: snapshot, save(), table() and plot() times.

The decoder vs websockets' parser is bench/decode.py. The machine is shared: compare
figures of one run with each other (ratios), not across runs.
Run: .venv/bin/python bench/bounds.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time
import tracemalloc

import websockets

from wslab import Lab, Trace


def rtt(url: str, n: int = 2000) -> float:
    """Median µs of n echo round trips on one connection to ``url``."""
    async def run() -> float:
        times = []
        async with websockets.connect(url) as ws:
            for _ in range(n):
                t = time.perf_counter()
                await ws.send("Hello Server")
                await ws.recv()
                times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    return asyncio.run(run())


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
    with Lab("echo", max_records=10_000) as lab:
        tapped = rtt(lab.url)
        direct = rtt(f"ws://127.0.0.1:{lab.server_port}/")
    print(f"echo round trip: {tapped:.0f} µs through the tap, {direct:.0f} µs direct: {tapped / direct:.2f}x")
    print(f"memory per kept small frame: {bytes_per_frame():.0f} B (tracemalloc, chunk and records included)")
    took, peak = large_message()
    print(f"one 8 MiB message echoed through the tap: {took:.2f} s, tracemalloc peak {peak:.0f} MiB")
    for clients in (10, 50):
        with Lab("chat", max_records=20_000) as lab:
            tapped_rate = chat(lab.url, clients)
            direct_rate = chat(f"ws://127.0.0.1:{lab.server_port}/", clients)
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
