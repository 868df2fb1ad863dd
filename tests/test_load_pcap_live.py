"""wslab.load_pcap on live captures of real peers, checked against tshark's own dissection of the same file.

Each test starts ``dumpcap -i lo`` with a filter on the port of a server it starts on 127.0.0.1, lets two real peers
talk, and loads the pcapng with ``load_pcap``. Every WebSocket frame that
tshark dissects in the file must be in the trace, in the same order and TCP
stream, with the same FIN, opcode, mask and masking key, payload length,
payload (after inflating permessage-deflate, as tshark shows it) and close
code and reason -- and no other frames. Each test also checks the trace
against what the peers themselves sent.

The peers: Node.js ``ws`` client and server; Chromium (Playwright) and a
lab's tapped websockets server (where the lab's own trace of the same bytes
is a third witness); websockets client and server with permessage-deflate;
aiohttp client and server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import require_executable
from test_node import NODE_DIR, ws_node_modules  # noqa: F401 (a fixture: npm install ws)

from wslab import Lab, load_pcap

DEADLINE = 15.0  # seconds to wait for dumpcap, or for packets to reach its file


@pytest.fixture(scope="session")
def dumpcap_path() -> str:
    return require_executable("dumpcap")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveCapture:
    """``dumpcap`` writing a pcapng of one TCP port on loopback, started and stopped without sleeping blindly."""

    def __init__(self, spawn, dumpcap: str, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.process = spawn([dumpcap, "-i", "lo", "-f", f"tcp port {port}", "-w", str(path)])
        self.process.wait_for_line(r"^Capturing on ", timeout=DEADLINE)
        # dumpcap prints that line before it opens the interface; the file's interface block is written after.
        self._until(self._has_interface, "dumpcap to write the interface block")

    def _has_interface(self) -> bool:
        import dpkt

        try:
            with open(self.path, "rb") as f:
                dpkt.pcapng.Reader(f)
            return True
        except (OSError, ValueError, dpkt.Error):
            return False

    def _until(self, ready, what: str):
        deadline = time.monotonic() + DEADLINE
        while True:
            result = ready()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"waited {DEADLINE} s for {what}; dumpcap said:\n{self.process.output}")
            time.sleep(0.05)  # polling a file that dumpcap flushes about once a second

    def stop(self, websockets: int):
        """Wait until ``websockets`` WebSocket connections have ended in the file, stop dumpcap, load the file."""
        def ended():
            trace = load_pcap(self.path)
            opened = {r.conn for r in trace.handshakes if r.sender == "client"}
            closed = {r.conn for r in trace.filter("state") if r.state == "CLOSED"}
            return len(opened) == websockets and opened <= closed and trace
        self._until(ended, f"{websockets} WebSocket connection(s) to end in the capture")
        assert self.process.interrupt(timeout=DEADLINE) == 0, self.process.output
        dropped = self.process.wait_for_line(r"Packets received/dropped on interface .*: (\d+)/(\d+)")
        assert int(dropped[2]) == 0, self.process.output
        return load_pcap(self.path)


@pytest.fixture
def capture(spawn, dumpcap_path, tmp_path):
    """``capture(port)`` starts a :class:`LiveCapture` into a file in ``tmp_path``."""
    def start(port: int) -> LiveCapture:
        return LiveCapture(spawn, dumpcap_path, tmp_path / f"live-{port}.pcapng", port)
    return start


# ---------------------------------------------------------------------------
# tshark's view of the file, and the trace's, as comparable tuples.
# ---------------------------------------------------------------------------


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def tshark_frames(tshark: str, path: Path, port: int) -> list[tuple]:
    """(stream, sender, fin, opcode, masked, key, length, payload, close code, close reason) per frame tshark finds.

    The payload is what tshark shows: text, ping and pong payloads, binary data (handed on to its data
    dissector), inflated when compressed; None for Close frames (code and reason instead) and for frames
    it shows no payload for.
    """
    done = subprocess.run([tshark, "-r", str(path), "-d", f"tcp.port=={port},http", "-Y", "websocket", "-T", "json",
                           "--no-duplicate-keys"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frames = []
    for packet in json.loads(done.stdout):
        layers = packet["_source"]["layers"]
        sender = "server" if int(layers["tcp"]["tcp.srcport"]) == port else "client"
        data = as_list(layers.get("data"))
        for ws in as_list(layers.get("websocket")):
            opcode = int(ws["websocket.opcode"])
            length = int(ws["websocket.payload_length"])
            length = int(ws.get("websocket.payload_length_ext_16") or ws.get("websocket.payload_length_ext_64")
                         or length) if length >= 126 else length
            masked = ws["websocket.mask"] == "1"
            body = ws.get("websocket.payload") or {}
            payload = code = reason = None
            if opcode == 8:
                close = body.get("websocket.payload.close") if isinstance(body, dict) else None
                if close:
                    code = int(close["websocket.payload.close.status_code"])
                    reason = close.get("websocket.payload.close.reason", "")
            elif isinstance(body, dict) and "websocket.payload.text" in body:
                payload = body["websocket.payload.text"].encode()
            elif isinstance(body, dict) and ("websocket.payload.ping" in body or "websocket.payload.pong" in body):
                payload = hex_bytes(body.get("websocket.payload.ping") or body["websocket.payload.pong"])
            elif opcode == 2 and length:
                payload = hex_bytes(data.pop(0)["data.data"])
            elif length == 0:
                payload = b""
            frames.append((int(layers["tcp"]["tcp.stream"]), sender, ws["websocket.fin"] == "1", opcode, masked,
                           hex_bytes(ws["websocket.masking_key"]) if masked else None, length, payload, code, reason))
    return frames


def trace_frames(trace, *, payloads=lambda frame: True) -> list[tuple]:
    """The same tuples from the trace (connection n is tshark's tcp.stream n - 1); ``payloads`` picks whose to show."""
    return [(f.conn - 1, f.sender, f.fin, f.opcode_value, f.masked, f.mask, f.length,
             None if f.opcode == "CLOSE" or not payloads(f) else f.payload, f.close_code,
             f.close_reason if f.close_code is not None else None) for f in trace.frames]


def assert_same_as_tshark(trace, tshark: str, path: Path, port: int, **kwargs) -> list[tuple]:
    theirs = tshark_frames(tshark, path, port)
    ours = trace_frames(trace, **kwargs)
    assert ours == theirs
    assert not trace.errors
    return ours


def ended_cleanly(trace, conn: int) -> bool:
    return [(r.sender, r.what) for r in trace.filter("tcp", conn=conn)][-2:] in (
        [("server", "eof"), ("client", "eof")], [("client", "eof"), ("server", "eof")])


# ---------------------------------------------------------------------------
# The peers.
# ---------------------------------------------------------------------------


def echo(ws) -> None:
    """A websockets handler that sends every message back, whatever code the client closes with."""
    from websockets.exceptions import ConnectionClosed

    try:
        for message in ws:
            ws.send(message)
    except ConnectionClosed:
        pass


def test_node_ws_client_and_server(spawn, capture, node_path, ws_node_modules, tshark_path):  # noqa: F811
    env = {"NODE_PATH": str(ws_node_modules)}
    port = free_port()
    server = spawn([node_path, str(NODE_DIR / "server.js"), str(port)], env=env)
    server.wait_for_line(rf"listening on port {port}$")
    live = capture(port)
    for _ in range(2):  # two connections: the article's client, twice
        client = spawn([node_path, str(NODE_DIR / "client.js"), f"ws://127.0.0.1:{port}/"], env=env)
        assert client.wait(timeout=DEADLINE) == 0, client.output
        assert client.lines == ["connected", "received: Hello Client", "closed: code 1005 reason ''"]
    trace = live.stop(websockets=2)
    frames = assert_same_as_tshark(trace, tshark_path, live.path, port)
    assert [(f[0], f[1], f[3], f[7]) for f in frames] == [
        (stream, sender, opcode, payload) for stream in (0, 1) for sender, opcode, payload in
        [("client", 1, b"Hello Server"), ("server", 1, b"Hello Client"), ("client", 8, None), ("server", 8, None)]]
    # ws.close() with no code: empty Close frames both ways, which both ends report as 1005.
    assert [(f.close_code, f.length) for f in trace.frames if f.opcode == "CLOSE"] == [(None, 0)] * 4
    request = trace.handshakes[0]
    assert request.header("Sec-WebSocket-Extensions") == "permessage-deflate; client_max_window_bits"
    assert trace.handshakes[1].header("Sec-WebSocket-Extensions") is None  # ws's server declines it by default
    assert all(ended_cleanly(trace, conn) for conn in (1, 2))
    assert [f.severity for f in trace.diagnose()] == ["warning", "warning"]  # closed with no status code (1005)


def test_chromium_and_a_labs_server(sync_playwright_api, chromium_path, capture, tshark_path):
    expect = sync_playwright_api.expect
    with Lab("chat") as lab:
        live = capture(lab.port)
        with sync_playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
            try:
                pages = []
                for _ in range(2):
                    page = browser.new_page()
                    page.goto(lab.http_url)
                    expect(page.locator("#status")).to_contain_text("connected to ws://")
                    pages.append(page)
                for page, text in zip(pages, ["Grüße from Alice", "Hi Alice, Bob here"], strict=False):
                    page.fill("#input", text)
                    page.press("#input", "Enter")
                    for other in pages:
                        expect(other.locator("#messages")).to_contain_text(text)
                for page in pages:
                    page.close()  # Chromium closes the page's WebSocket with 1001
            finally:
                browser.close()
        trace = live.stop(websockets=2)
        lab_trace = lab.trace
    frames = assert_same_as_tshark(trace, tshark_path, live.path, lab.port)
    texts = [f[7].decode() for f in frames if f[3] == 1 and f[1] == "client"]
    assert texts == ["Grüße from Alice", "Hi Alice, Bob here"]
    # The lab's tap relayed the very bytes dumpcap captured: its trace has the same WebSocket handshakes and
    # frames, masks and all, connection by connection. (The page's plain HTTP requests, which the lab decodes
    # as refused handshakes, are notes in a capture.)
    def websockets(t):
        upgraded = {r.conn for r in t.handshakes if r.status == 101}
        return Counter(tuple(r.event for r in t.records if r.conn == conn and r.kind in ("handshake", "frame"))
                       for conn in upgraded)
    assert websockets(trace) == websockets(lab_trace) and sum(websockets(trace).values()) == 2
    assert "Chrome/" in trace.handshakes.filter(sender="client")[0].header("User-Agent")
    # The page itself came over plain HTTP on the same port: said, not decoded.
    page_notes = [r.text for r in trace.filter("note")]
    assert any("plain HTTP ('GET / HTTP/1.1')" in text for text in page_notes)
    assert all("plain HTTP ('GET /" in text or "carried no data" in text for text in page_notes)  # (preconnects)
    closes = [(f.sender, f.close_code) for f in trace.frames if f.opcode == "CLOSE"]
    assert closes.count(("client", 1001)) == 2 and closes.count(("server", 1001)) == 2


def test_websockets_with_permessage_deflate(capture, tshark_path):
    from websockets.sync.client import connect
    from websockets.sync.server import serve

    text = "compress me, " * 40
    binary = bytes(range(256)) * 8
    with serve(echo, "127.0.0.1", 0) as server:  # compression="deflate" is websockets' default, both sides
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        live = capture(port)
        with connect(f"ws://127.0.0.1:{port}/deflate?x=1") as ws:
            ws.send(text)
            assert ws.recv(timeout=5) == text
            ws.send(binary)
            assert ws.recv(timeout=5) == binary
            ws.send(["one message ", "in three ", "fragments"])  # compressed, then fragmented
            assert ws.recv(timeout=5) == "one message in three fragments"
            assert ws.ping(b"still there?").wait(5)
            ws.close(4000, "bye now")
        trace = live.stop(websockets=1)
        server.shutdown()
    thread.join(DEADLINE)
    # tshark 4.0 inflates each compressed frame on its own, so it can't show the parts of a fragmented
    # compressed message (it shows the last one's raw bytes as text): for those frames compare the headers,
    # and the whole message below, with what was sent.
    parts = [f.compressed and not (f.fin and f.opcode != "CONTINUATION") for f in trace.frames]
    assert sum(parts) == 4  # websockets ends a fragmented message with an (almost) empty last frame
    theirs = tshark_frames(tshark_path, live.path, port)
    ours = trace_frames(trace)
    assert len(theirs) == len(ours) and not trace.errors
    hide = [(t, o) if not part else ((*t[:7], None, *t[8:]), (*o[:7], None, *o[8:]))
            for t, o, part in zip(theirs, ours, parts, strict=False)]
    assert [o for _, o in hide] == [t for t, _ in hide]
    _request, response = trace.handshakes
    assert "permessage-deflate" in response.header("Sec-WebSocket-Extensions")
    assert trace.messages() == [text, text, binary, binary, "one message in three fragments",
                                "one message in three fragments"]
    compressed = [f for f in trace.frames if f.opcode in ("TEXT", "BINARY") and f.fin]
    assert all(f.rsv1 and f.compressed for f in compressed)
    assert [(f.length, len(f.payload)) for f in compressed[:4]] == [(20, 520), (20, 520), (289, 2048), (289, 2048)]
    assert [(f.opcode, f.fin) for f in trace.frames if f.sender == "client"][2:6] == [
        ("TEXT", False), ("CONTINUATION", False), ("CONTINUATION", False), ("CONTINUATION", True)]
    assert [(f.close_code, f.close_reason) for f in trace.frames if f.opcode == "CLOSE"] == [(4000, "bye now")] * 2
    assert ended_cleanly(trace, 1)


def test_aiohttp_client_and_server(capture, tshark_path):
    from conftest import require_module

    aiohttp = require_module("aiohttp")
    from aiohttp import web

    big = bytes(range(256)) * 300  # 76,800 bytes: the 64-bit length field, over several TCP segments
    port = free_port()
    live: list[LiveCapture] = []

    async def handler(request):
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "close please":
                await ws.close(code=4001, message=b"server says bye")
            elif message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data.upper())
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/aio", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: live.append(capture(port)))
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(f"http://127.0.0.1:{port}/aio", compress=0, autoping=False) as ws:
                await ws.send_str("hello aiohttp")
                assert (await ws.receive(timeout=5)).data == "HELLO AIOHTTP"
                await ws.send_bytes(big)
                assert (await ws.receive(timeout=5)).data == big[::-1]
                await ws.ping(b"ping from aiohttp")
                assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.PONG
                await ws.send_str("close please")
                closing = await ws.receive(timeout=5)
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4001
        finally:
            await runner.cleanup()

    asyncio.run(main())
    trace = live[0].stop(websockets=1)
    frames = assert_same_as_tshark(trace, tshark_path, live[0].path, port)
    assert [(sender, opcode, length) for _, sender, _, opcode, _, _, length, *_ in frames] == [
        ("client", 1, 13), ("server", 1, 13), ("client", 2, len(big)), ("server", 2, len(big)),
        ("client", 9, 17), ("server", 10, 17), ("client", 1, 12), ("server", 8, 17), ("client", 8, 2)]
    assert trace.frames[2].length_bits == 64
    # The server started the closing handshake: diagnose says who closed, with which code.
    assert "the server closed with 4001 (private use) 'server says bye'" in trace.diagnose().text
    assert ended_cleanly(trace, 1)
