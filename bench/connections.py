"""Benchmark: connections through one lab, sequential and concurrent, and their memory.

Prints, as medians of several runs in one process:

* sequential connections per second: the article's client (connect, "Hello
  Server", "Hello Client", close) through the tap, one after the other;
* concurrent connections per second: batches of asyncio clients at once;
* memory per open connection: client, tap and server together (one process),
  measured with tracemalloc while the connections are held open;
* trace memory per connection: what the lab keeps for each lifecycle.

No assertions: the leak tests in tests/test_robustness.py check counts.
Run: .venv/bin/python bench/connections.py
"""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import time
import tracemalloc

from wslab import Lab

RUNS = 5
SEQUENTIAL = 200
CONCURRENT = 200
HELD = 100


def article_client(lab: Lab) -> None:
    with lab.connect_sync() as ws:
        ws.send("Hello Server")
        ws.recv(timeout=5)


def sequential(lab: Lab) -> float:
    started = time.perf_counter()
    for _ in range(SEQUENTIAL):
        article_client(lab)
    rate = SEQUENTIAL / (time.perf_counter() - started)
    lab.settle()
    lab.clear()
    return rate


async def crowd(lab: Lab, n: int) -> None:
    async def one() -> None:
        async with lab.connect(open_timeout=30) as ws:
            await ws.send("Hello Server")
            await ws.recv()

    await asyncio.gather(*(one() for _ in range(n)))


def concurrent(lab: Lab) -> float:
    started = time.perf_counter()
    asyncio.run(crowd(lab, CONCURRENT))
    rate = CONCURRENT / (time.perf_counter() - started)
    lab.settle()
    lab.clear()
    return rate


def held_open(lab: Lab) -> float:
    """Bytes per connection held open (client + tap + server), by tracemalloc."""
    async def hold() -> int:
        before = tracemalloc.get_traced_memory()[0]
        clients = [await lab.connect() for _ in range(HELD)]
        for ws in clients:
            await ws.send("Hello Server")
            await ws.recv()
        await asyncio.sleep(0.05)
        during = tracemalloc.get_traced_memory()[0]
        for ws in clients:
            await ws.close()
        return during - before

    lab.clear()
    gc.collect()
    tracemalloc.start()
    try:
        grown = asyncio.run(hold())
    finally:
        tracemalloc.stop()
    lab.settle()
    lab.clear()
    return grown / HELD


def trace_cost(lab: Lab) -> float:
    """Bytes the trace keeps per article lifecycle (records and chunks)."""
    lab.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            article_client(lab)
        lab.settle()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    lab.clear()
    return kept / 50


def main() -> None:
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    with Lab("echo") as lab:
        article_client(lab)  # warm-up
        seq = statistics.median(sequential(lab) for _ in range(RUNS))
        conc = statistics.median(concurrent(lab) for _ in range(RUNS))
        held = statistics.median(held_open(lab) for _ in range(RUNS))
        kept = statistics.median(trace_cost(lab) for _ in range(RUNS))
    print(f"medians of {RUNS} runs")
    print(f"sequential connections/s      {seq:8.0f}   ({SEQUENTIAL} article lifecycles one after the other)")
    print(f"concurrent connections/s      {conc:8.0f}   ({CONCURRENT} asyncio clients at once)")
    print(f"memory per open connection    {held / 1024:8.1f} KiB (client + tap + server, tracemalloc, {HELD} held)")
    print(f"trace memory per connection   {kept / 1024:8.1f} KiB (records and chunks of one lifecycle)")


if __name__ == "__main__":
    main()
