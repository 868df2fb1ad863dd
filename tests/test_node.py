"""The article's Node.js server and client (the npm package ``ws``) against the lab.

``ws`` is installed once per session with npm into a temporary folder, and the
scripts in ``tests/node/`` find it through ``NODE_PATH``.
"""

import subprocess
from pathlib import Path

import pytest

from wslab import Lab

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="session")
def ws_node_modules(tmp_path_factory, node_path, npm_path, missing_tool) -> Path:
    """A ``node_modules`` folder with the npm package ``ws`` in it (installed once per session)."""
    prefix = tmp_path_factory.mktemp("npm-ws")
    try:
        done = subprocess.run([npm_path, "install", "ws", "--no-audit", "--no-fund", "--prefix", str(prefix)],
                              capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        done = None
    modules = prefix / "node_modules"
    if done is None or done.returncode != 0 or not (modules / "ws" / "package.json").is_file():
        missing_tool("the npm package ws", f"`npm install ws` failed: {done.stderr[-2000:] if done else 'timed out'}")
    return modules


@pytest.fixture
def node_env(ws_node_modules) -> dict[str, str]:
    return {"NODE_PATH": str(ws_node_modules)}


def test_lab_taps_the_articles_node_server(spawn, node_path, node_env):
    server = spawn([node_path, str(NODE_DIR / "server.js"), "0"], env=node_env)
    try:
        port = int(server.wait_for_line(r"listening on port (\d+)")[1])
        with Lab(target=f"ws://127.0.0.1:{port}/") as lab:
            with lab.connect_sync() as ws:
                ws.send("Hello Server")
                assert ws.recv(timeout=5) == "Hello Client"
                ws.send("你好")
                assert ws.recv(timeout=5) == "Hello Client"  # the article's server answers every message so
            trace = lab.trace
        # The Node server logged what it received, and saw the client's normal closure.
        server.wait_for_line(r"^received: Hello Server$")
        server.wait_for_line(r"^received: 你好$")
        server.wait_for_line(r"^client disconnected: 1000 $")
    finally:
        server.kill()

    request, response = trace.handshakes
    assert request.method == "GET" and response.status == 101 and response.accept.ok
    # ws (no compression offered by the lab's client) answers with just the four required lines.
    assert response.header("Sec-WebSocket-Extensions") is None
    frames = [(f.sender, f.opcode, f.text, f.masked, f.close_code) for f in trace.frames]
    assert frames == [
        ("client", "TEXT", "Hello Server", True, None),
        ("server", "TEXT", "Hello Client", False, None),  # RFC 6455 §5.1: a server never masks
        ("client", "TEXT", "你好", True, None),
        ("server", "TEXT", "Hello Client", False, None),
        ("client", "CLOSE", None, True, 1000),
        ("server", "CLOSE", None, False, 1000),  # ws echoes the client's code (RFC 6455 §5.5.1)
    ]
    assert not trace.errors
    # RFC 6455 §7.1.1: the server (here ws) closes the TCP connection first.
    assert [r.sender for r in trace.filter("tcp") if r.what == "eof"] == ["server", "client"]


def test_the_articles_node_chat_server_answers_like_article_chat(spawn, node_path, node_env):
    # The article's chat server answers the sender only, and a binary message as text (Buffer + string):
    # the lab's "article-chat" handler puts the same frames on the wire.
    server = spawn([node_path, str(NODE_DIR / "server.js"), "--chat", "0"], env=node_env)
    wire = {}
    try:
        port = int(server.wait_for_line(r"listening on port (\d+)")[1])
        for name, options in (("node", dict(target=f"ws://127.0.0.1:{port}/")), ("python", dict(handler="article-chat"))):
            with Lab(**options) as lab:
                with lab.connect_sync() as ws, lab.connect_sync() as other:
                    ws.send("你好")
                    assert ws.recv(timeout=5) == "服务器收到消息: 你好"
                    ws.send(b"\xe4\xbd\xa0")
                    assert ws.recv(timeout=5) == "服务器收到消息: 你"
                    with pytest.raises(TimeoutError):
                        other.recv(timeout=0.2)  # no broadcast
                wire[name] = [(f.sender, f.opcode, f.payload) for f in lab.trace.frames
                              if f.sender == "server" and f.opcode != "CLOSE"]
    finally:
        server.kill()
    assert wire["node"] == wire["python"] == [("server", "TEXT", "服务器收到消息: 你好".encode()),
                                              ("server", "TEXT", "服务器收到消息: 你".encode())]


def test_articles_node_client_talks_to_the_lab(spawn, node_path, node_env):
    with Lab("hello") as lab:
        client = spawn([node_path, str(NODE_DIR / "client.js"), lab.url], env=node_env)
        try:
            assert client.wait(timeout=10) == 0, client.output
        finally:
            client.kill()
        trace = lab.trace

    # ws.close() with no arguments sends a Close frame with an empty body, so
    # neither side has a status code: ws reports 1005 "no status received".
    assert client.lines == ["connected", "received: Hello Client", "closed: code 1005 reason ''"]

    request, response = trace.handshakes
    assert response.status == 101 and response.accept.ok
    # ws's own request: no User-Agent, and permessage-deflate offered by default
    # (perMessageDeflate: true); the lab's server (compression=None) declines it.
    assert request.header("Sec-WebSocket-Extensions") == "permessage-deflate; client_max_window_bits"
    assert request.header("Sec-WebSocket-Version") == "13"
    assert request.header("User-Agent") is None
    assert [name for name, _ in request.headers] == [
        "Sec-WebSocket-Version", "Sec-WebSocket-Key", "Connection", "Upgrade", "Sec-WebSocket-Extensions", "Host"]
    assert response.header("Sec-WebSocket-Extensions") is None

    frames = [(f.sender, f.opcode, f.text, f.close_code, f.length) for f in trace.frames]
    assert frames == [
        ("client", "TEXT", "Hello Server", None, 12),
        ("server", "TEXT", "Hello Client", None, 12),
        ("client", "CLOSE", None, None, 0),  # an empty Close frame: no status code
        ("server", "CLOSE", None, None, 0),  # websockets echoes it empty
    ]
    # RFC 6455 §5.1: every frame from the Node client is masked, none from the server.
    assert all(f.masked for f in trace.frames if f.sender == "client")
    assert not any(f.masked for f in trace.frames if f.sender == "server")
    assert not trace.errors
