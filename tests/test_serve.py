"""``python -m wslab serve`` holds for a class: run as a subprocess, checked by counts and outcomes.

Origins, the message-rate limit, a slow reader, a terminal that falls behind, --save, Ctrl-C.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from conftest import Process
from timeouts import scaled
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import wslab


def start(*options: str, env: dict[str, str] | None = None) -> tuple[Process, int]:
    server = Process([sys.executable, "-m", "wslab", "serve", "--port", "0", *options],
                     env=env or {"JUPYTERHUB_SERVICE_PREFIX": "", "WSLAB_BROWSER_URL": ""})
    match = server.wait_for_line(r"^wslab \w+ server: ws://[\d.]+:(\d+)/", timeout=scaled(20))
    server.wait_for_line(r"^origins allowed", timeout=scaled(10))
    return server, int(match[1])


@pytest.fixture
def serve():
    started: list[Process] = []

    def run(*options: str, env: dict[str, str] | None = None) -> tuple[Process, int]:
        server, port = start(*options, env=env)
        started.append(server)
        return server, port

    yield run
    for server in started:
        server.kill()


def say(port: int, text: str, **kwargs) -> str:
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5), **kwargs) as ws:
        ws.send(text)
        return ws.recv(timeout=scaled(5))


def test_origin_is_checked_by_default(serve):
    server, port = serve()
    assert say(port, "no origin") == "no origin"  # Python clients send no Origin
    assert say(port, "page", origin=f"http://127.0.0.1:{port}") == "page"
    assert say(port, "page", origin=f"http://localhost:{port}") == "page"
    with pytest.raises(InvalidStatus) as refused:
        say(port, "evil", origin="https://evil.example")
    assert refused.value.response.status_code == 403
    assert server.interrupt(timeout=scaled(10)) == 0


def status_of(port: int, headers: str) -> bytes:
    """The status line the server answers a handshake with these extra ``headers`` (raw, as a proxy sends them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     + headers.encode() + b"\r\n")
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_behind_a_hub_the_hubs_origin_gets_in_and_other_sites_do_not(serve):
    # jupyter-server-proxy passes the browser's Host and Origin on (tests/test_server_proxy.py checks it):
    # the page, on the hub's origin, asks for the hub's host; a page from another site cannot.
    _, port = serve(env={"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "WSLAB_BROWSER_URL": ""})
    hub = "Host: hub.example:8000\r\n"
    assert status_of(port, hub + "Origin: http://hub.example:8000\r\n") == b"HTTP/1.1 101 Switching Protocols"
    assert status_of(port, hub + "Origin: https://evil.example\r\n") == b"HTTP/1.1 403 Forbidden"
    forwarded = f"Host: 127.0.0.1:{port}\r\nX-Forwarded-Host: hub.example\r\n"
    assert status_of(port, forwarded + "Origin: https://hub.example\r\n") == b"HTTP/1.1 101 Switching Protocols"
    assert status_of(port, forwarded + "Origin: https://evil.example\r\n") == b"HTTP/1.1 403 Forbidden"


def test_allow_origin_widens_it(serve):
    _, port = serve("--allow-origin", "https://course.example")
    assert say(port, "ok", origin="https://course.example") == "ok"
    with pytest.raises(InvalidStatus):
        say(port, "evil", origin="https://evil.example")


def test_a_client_that_sends_too_fast_is_closed_with_a_reason(serve):
    _, port = serve("--rate", "10")
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5)) as ws, \
            pytest.raises(ConnectionClosed) as closed:
        for i in range(500):
            ws.send(f"spam {i}")
        while True:
            ws.recv(timeout=scaled(10))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "too many messages" in closed.value.rcvd.reason
    assert say(port, "still here") == "still here"


def test_a_reader_that_never_reads_is_closed_and_the_others_go_on(serve):
    _, port = serve("--rate", "0", "--write-limit", "65536")
    slow = socket.create_connection(("127.0.0.1", port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert slow.recv(12) == b"HTTP/1.1 101"  # then it never reads again
    big = "x" * 8192
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5), max_size=None) as ws:
        for _ in range(1500):  # 12 MB broadcast to the slow reader too
            ws.send(big)
            assert ws.recv(timeout=scaled(10)) == big
    # The server closed it (1008): what it sent before, then its Close, then the end of TCP. Now read
    # at full speed (a 4 KiB receive buffer clamps the window: megabytes would take minutes).
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_WINDOW_CLAMP, 4 << 20)
    slow.settimeout(scaled(20))
    received = bytearray()
    how = "EOF"
    try:
        while more := slow.recv(1 << 20):
            received += more
    except OSError as exc:
        how = repr(exc)
    slow.close()
    assert how == "EOF" or "reset" in how.lower(), (how, len(received))
    # Cut off well before the 12 MB broadcast (its Close 1008 waits behind the unread bytes, and goes
    # with them when the server gives up on it after close_timeout).
    assert len(received) < 1400 * 8196
    assert say(port, "after") == "after"


def test_a_terminal_that_falls_behind_drops_lines_not_the_chat(tmp_path):
    # stdout is a pipe nobody reads until the end: the printer must drop lines, never block the lab.
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "wslab", "serve", "--port", "0", "--rate", "0",
                             "--save", str(tmp_path / "all.jsonl")],
                            stdout=write, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(write)
    try:
        first = b""
        while b"server: ws://" not in first or b"\n" not in first.split(b"server: ws://", 1)[1]:
            first += os.read(read, 1)
        port = int(first.split(b"server: ws://", 1)[1].split(b"/", 1)[0].rsplit(b":", 1)[1])
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5)) as ws:
            for i in range(3000):  # ~12,000 lines: far more than a 64 KiB pipe holds
                ws.send(f"line {i}")
                assert ws.recv(timeout=scaled(10)) == f"line {i}"
        proc.send_signal(2)
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read, 65536), b"")),
                                  daemon=True)
        reader.start()
        assert proc.wait(scaled(10)) == 0
        reader.join(scaled(10))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(read)
    out = b"".join(chunks).decode()
    assert "lines skipped (the terminal was behind)" in out
    saved = wslab.load(tmp_path / "all.jsonl")
    texts = [r.event.text for r in saved.frames if r.event.opcode == "TEXT" and r.sender == "client"]
    assert len(texts) == 3000


def test_ctrl_c_stops_it_with_a_client_that_never_closes(serve):
    server, port = serve()
    hung = socket.create_connection(("127.0.0.1", port))  # never sends a byte
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5)) as ws:
        ws.send("hi")
        ws.recv(timeout=scaled(5))
        assert server.interrupt(timeout=scaled(5)) == 0
    hung.close()
