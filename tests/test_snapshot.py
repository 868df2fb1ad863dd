"""``lab.trace`` is a snapshot taken at once, whatever the traffic; waiting is explicit (settle/asettle)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from timeouts import TIMEOUT

from wslab import Lab


async def ticker(ws) -> None:
    """A push handler: a frame every 10 ms until the client goes (notebook 05's pattern)."""
    n = 0
    while True:
        await ws.send(f"tick {n}")
        n += 1
        await asyncio.sleep(0.01)


def test_trace_under_traffic_returns_at_once_with_records_up_to_now():
    """Counted, not timed: the trace is read while ticks keep coming, and holds every tick received so far."""
    with Lab(ticker) as lab, lab.connect_sync() as ws:
        received = [ws.recv(timeout=TIMEOUT) for _ in range(5)]
        trace = lab.trace  # the ticker is still sending
        texts = [f.text for f in trace.frames if f.sender == "server"]
        assert texts[:5] == received  # every tick the client has, the trace has
        more = [ws.recv(timeout=TIMEOUT) for _ in range(5)]  # and the traffic went on meanwhile
        assert more[0] not in texts[:5]
        later = lab.trace
        assert len(later.frames) > len(trace.frames) >= 5


def test_trace_inside_async_client_does_not_change_the_exchange():
    """Reading the trace inside ``async with lab.connect()`` never blocks the loop the client runs on."""
    async def scenario() -> tuple:
        async with Lab("silent") as lab:
            async with lab.connect() as ws:
                conn = await asyncio.to_thread(lab.conn_of, ws)
                await asyncio.to_thread(lab.disconnect, conn, 4000)
                lab.trace  # noqa: B018 -- at once: the client can answer the server's Close
                await ws.wait_closed()
                code = ws.close_code
            trace = lab.trace
        return code, trace

    code, trace = asyncio.run(scenario())
    assert code == 4000
    closes = [(f.sender, f.close_code) for f in trace.frames if f.opcode == "CLOSE"]
    assert closes == [("server", 4000), ("client", 4000)]  # the client echoed the server's code


def test_lab_clients_settle_when_they_close():
    """After a lab client's ``with`` block, the trace already holds both FINs (no settle needed)."""
    with Lab("echo") as lab:
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            ws.recv(timeout=TIMEOUT)
        tcp = [(r.what, r.sender) for r in lab.trace.filter("tcp")]
        assert ("eof", "server") in tcp and ("eof", "client") in tcp


def test_settle_waits_for_a_bare_socket_and_refuses_to_block_a_running_loop():
    import socket

    with Lab("echo") as lab:
        sock = socket.create_connection(("127.0.0.1", lab.port), timeout=TIMEOUT)
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.recv(65536)
        sock.close()
        lab.settle(timeout=TIMEOUT)
        assert any(r.what == "eof" and r.sender == "client" for r in lab.trace.filter("tcp"))

        async def inside_a_loop() -> None:
            with pytest.raises(RuntimeError, match=r"await lab\.asettle"):
                lab.settle()
            await lab.asettle(timeout=TIMEOUT)

        asyncio.run(inside_a_loop())


def test_recorder_snapshot_is_consistent_across_threads():
    """Chunks and their frames are appended together: a snapshot never has a chunk without its frames."""
    with Lab(ticker) as lab:
        stop = threading.Event()
        bad = []

        def reader() -> None:
            while not stop.is_set():
                trace = lab.trace
                sent = sum(len(c.data) for c in trace.chunks if c.sender == "server")
                decoded = sum(len(f.wire) for f in trace.frames if f.sender == "server")
                handshake = sum(len(h.raw) for h in trace.handshakes if h.sender == "server")
                if sent != decoded + handshake:
                    bad.append((sent, decoded, handshake))

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            with lab.connect_sync() as ws:
                for _ in range(20):
                    ws.recv(timeout=TIMEOUT)
        finally:
            stop.set()
            thread.join()
    assert bad == []
