"""The lab end to end: a real server, the tap, real clients, the trace."""

import asyncio
import json
import re
import socket
import threading
import time

import pytest
import websockets
from timeouts import eventually, scaled
from websockets.exceptions import ConnectionClosed

from wslab import Lab, load


def lifecycle(lab):
    """The article's client: send Hello Server, read the answer, close."""
    with lab.connect_sync() as ws:
        ws.send("Hello Server")
        reply = ws.recv()
    return reply, lab.trace


def test_article_lifecycle_is_recorded_frame_by_frame():
    with Lab("echo", seed=1) as lab:
        reply, trace = lifecycle(lab)
    assert reply == "Hello Client"
    request, response = trace.handshakes
    assert request.sender == "client" and request.method == "GET"
    assert response.status == 101 and response.accept.ok
    frames = [(f.sender, f.opcode, f.text, f.close_code) for f in trace.frames]
    assert frames == [
        ("client", "TEXT", "Hello Server", None),
        ("server", "TEXT", "Hello Client", None),
        ("client", "CLOSE", None, 1000),
        ("server", "CLOSE", None, 1000),
    ]
    # RFC 6455 §5.1: client frames are masked, server frames are not.
    assert all(f.masked == (f.sender == "client") for f in trace.frames)
    # RFC 6455 §7.1.1: the server closes the TCP connection first.
    eofs = [r.sender for r in trace.filter("tcp") if r.what == "eof"]
    assert eofs == ["server", "client"]
    states = [(r.sender, r.state) for r in trace.filter("state")]
    for side in ("client", "server"):
        assert [s for who, s in states if who == side] == ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]
    assert [r.t for r in trace] == sorted(r.t for r in trace)
    assert trace.messages() == ["Hello Server", "Hello Client"]


def test_frame_records_carry_the_promised_fields():
    with Lab("echo", seed=1) as lab:
        _, trace = lifecycle(lab)
    f = trace.frames[0]
    for name in ("t", "conn", "sender", "opcode", "fin", "rsv1", "masked", "mask", "length", "payload",
                 "text", "close_code", "close_reason", "wire"):
        getattr(f, name)
    assert f.conn == 1 and f.t > 0 and f.fin and not f.rsv1
    assert f.payload == b"Hello Server" and f.length == 12 and len(f.mask) == 4
    assert f.wire[0] == 0x81 and len(f.wire) == 2 + 4 + 12


def test_async_context_manager_and_async_client():
    async def main():
        async with Lab("echo") as lab:
            async with lab.connect() as ws:
                await ws.send("ping me")
                reply = await ws.recv()
            return reply, lab.trace

    reply, trace = asyncio.run(main())
    assert reply == "服务器收到消息: ping me"
    assert [f.opcode for f in trace.frames] == ["TEXT", "TEXT", "CLOSE", "CLOSE"]


def test_lab_answers_while_the_caller_blocks_and_sync_handlers_work():
    def shout(ws):  # a synchronous websockets handler runs in the threaded server
        for message in ws:
            ws.send(message.upper())

    lab = Lab(shout).start()
    try:
        with lab.connect_sync() as ws:
            ws.send("quiet")
            time.sleep(0.2)  # the lab's loop is not the caller's: nothing waits on us
            assert ws.recv(timeout=scaled(2)) == "QUIET"
    finally:
        lab.stop()
    assert [f.text for f in lab.trace.frames if f.opcode == "TEXT"] == ["quiet", "QUIET"]


def test_stop_closes_connections_with_1001_port_and_thread():
    before = {t.name for t in threading.enumerate()}
    lab = Lab("silent").start()
    port = lab.port
    ws = lab.connect_sync()
    lab.stop()
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=scaled(3))
    assert info.value.rcvd.code == 1001  # RFC 6455 §7.4.1: going away
    ws.close()
    lab.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=scaled(1))
    eventually(lambda: not [t.name for t in threading.enumerate() if t.name.startswith("wslab")
                            and t.name not in before], what="the lab's threads ending")
    assert any(f.opcode == "CLOSE" and f.close_code == 1001 for f in lab.trace.frames)


def test_many_labs_started_and_stopped_leak_no_threads():
    baseline = threading.active_count()
    for _ in range(5):
        with Lab("echo") as lab:
            _ = lab.url
    assert threading.active_count() <= baseline


def test_seed_makes_keys_and_masks_reproducible():
    def client_bytes(seed):
        with Lab("echo", seed=seed) as lab:
            _, trace = lifecycle(lab)
        # Everything the client sent but the Host header, which names the lab's free port.
        return [re.sub(rb"Host: [^\r]*", b"Host: -", c.data) for c in trace.chunks if c.sender == "client"]

    assert client_bytes(7) == client_bytes(7)
    assert client_bytes(7) != client_bytes(8)


def test_seed_is_scoped_to_the_labs_clients():
    def run():
        """A seeded lab's own client, then a plain websockets client with its frames, in the same lab."""
        with Lab("echo", seed=3) as lab:
            with lab.connect_sync() as ws:
                ws.send("Hello Server")
                ws.recv()
                with websockets.sync.client.connect(lab.url, proxy=None) as other:
                    other.send("Hello Server")
                    other.recv()
                    key = other.request.headers["Sec-WebSocket-Key"]
            trace = lab.trace
        seeded, plain = (next(f.mask for f in trace.frames if f.conn == c and f.sender == "client") for c in (1, 2))
        return trace.handshakes[0].header("Sec-WebSocket-Key"), seeded, key, plain

    first, second = run(), run()
    assert first[:2] == second[:2]  # the lab's own client: the same key and mask every time
    assert first[2] != second[2] and first[3] != second[3]  # anyone else's stay random


def test_deflate_frames_are_decompressed():
    with Lab("echo", compression="deflate") as lab:
        with lab.connect_sync() as ws:
            for _ in range(2):  # the second message exercises context takeover
                ws.send("Hello Server " * 20)
                ws.recv()
        trace = lab.trace
    text = [f for f in trace.frames if f.opcode == "TEXT"]
    assert all(f.rsv1 and f.compressed for f in text)
    assert text[0].payload == ("Hello Server " * 20).encode()
    assert text[2].length < text[0].length < 260  # the second copy compresses better
    assert "permessage-deflate" in trace.handshakes[1].header("Sec-WebSocket-Extensions")


def test_target_taps_an_existing_server():
    with Lab("echo") as upstream, Lab(target=upstream.url) as lab:
        reply, trace = lifecycle(lab)
    assert reply == "Hello Client"
    assert [f.text for f in trace.frames if f.opcode == "TEXT"] == ["Hello Server", "Hello Client"]


def test_chat_broadcasts_to_every_client_on_its_own_lane():
    with Lab("chat") as lab:
        with lab.connect_sync() as alice, lab.connect_sync() as bob:
            alice.send("hi all")  # websockets runs bob's handler (joining the room) before it reads more
            assert bob.recv(timeout=scaled(2)) == "hi all"
            assert alice.recv(timeout=scaled(2)) == "hi all"
        trace = lab.trace
    assert trace.connections == [1, 2]
    assert {f.conn for f in trace.frames if f.text == "hi all" and f.sender == "server"} == {1, 2}


def test_trace_saves_loads_and_tabulates(tmp_path):
    with Lab("echo", seed=1) as lab:
        _, trace = lifecycle(lab)
    path = tmp_path / "trace.json"
    trace.save(path)
    again = load(path)
    assert again == trace
    assert again.frames[0].payload == b"Hello Server"
    json.dumps(trace.to_records())
    assert trace.to_records()[0]["kind"] == "tcp"
    table = trace.table()
    assert "Hello Server" in table and "101 Switching Protocols" in table
    assert "<table" in trace._repr_html_() and "Hello Client" in trace._repr_html_()
    mermaid = trace.to_mermaid()
    assert mermaid.startswith("sequenceDiagram") and "Hello Server" in mermaid and "101" in mermaid


def test_pcap_has_every_chunk_as_a_tcp_segment(tmp_path):
    import struct

    with Lab("echo", seed=1) as lab:
        _, trace = lifecycle(lab)
    path = tmp_path / "trace.pcap"
    trace.to_pcap(path, server_port=lab.port)
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    first_packet_seconds = struct.unpack("<I", data[24:28])[0]
    assert abs(first_packet_seconds - time.time()) < 3600  # real dates, not 1970
    # Each direction's TCP payloads, in order, are exactly the bytes the tap read from that side.
    carried = {lab.port: b"", "client": b""}
    offset = 24
    while offset < len(data):
        _, _, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        packet = data[offset + 16:offset + 16 + length]
        source_port = struct.unpack("!H", packet[34:36])[0]
        carried[lab.port if source_port == lab.port else "client"] += packet[14 + 20 + 20:]
        offset += 16 + length
    assert carried["client"] == b"".join(c.data for c in trace.chunks if c.sender == "client")
    assert carried[lab.port] == b"".join(c.data for c in trace.chunks if c.sender == "server")


def test_garbage_is_relayed_recorded_and_the_lab_keeps_serving():
    with Lab("echo") as lab:
        with socket.create_connection(("127.0.0.1", lab.port)) as raw:
            raw.sendall(b"\x00\xffnot http at all\r\n\r\n")
            raw.settimeout(3)
            answer = raw.recv(1024)
        reply, trace = lifecycle(lab)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")  # websockets refused it: the bytes got through
    assert trace.filter(conn=1).errors, "the bad request should be explained in the trace"
    assert reply == "Hello Client"


def test_rerunning_a_notebook_cell_stops_the_lab_it_made_before():
    import IPython  # installed with ipykernel: a test dependency, never skipped
    shell = IPython.core.interactiveshell.InteractiveShell.instance()
    try:
        shell.run_cell("from wslab import Lab\nlabs = [Lab('echo').start() for _ in range(2)]", store_history=True)
        first = shell.user_ns["labs"]
        assert all(lab.running for lab in first)  # two labs from one run both live
        shell.run_cell("from wslab import Lab\nlabs = [Lab('echo').start() for _ in range(2)]", store_history=True)
        assert not any(lab.running for lab in first)
        assert all(lab.running for lab in shell.user_ns["labs"])
    finally:
        for lab in shell.user_ns.get("labs", []):
            lab.stop()
        IPython.core.interactiveshell.InteractiveShell.clear_instance()


def test_labs_left_running_are_stopped_at_interpreter_exit():
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import atexit
        # Registered before wslab's own exit hook, so it runs after it (atexit is last-in, first-out).
        atexit.register(lambda: print("after exit:", lab.running, ws.close_code))
        import wslab
        lab = wslab.Lab("echo").start()
        ws = lab.connect_sync()
        ws.send("Hello Server"); ws.recv()
        # and nothing else: the lab and the client are left open
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=scaled(30))
    assert result.returncode == 0, result.stderr
    assert "after exit: False 1001" in result.stdout, result.stdout + result.stderr
    assert "Task was destroyed" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_refused_handshake_is_red_in_the_html_table():
    from websockets.exceptions import InvalidStatus

    with Lab("echo", origins=["https://school.example"]) as lab:
        with pytest.raises(InvalidStatus):
            lab.connect_sync(origin="https://evil.example")
        trace = lab.trace
    rows = trace._repr_html_().split("<tr")
    refused = [row for row in rows if "403 Forbidden" in row]
    accepted_request = [row for row in rows if "GET / HTTP/1.1" in row]
    assert refused and "#fce8e6" in refused[0]
    assert accepted_request and "#fce8e6" not in accepted_request[0]
