"""The API a student meets first: validated filters, explanations that show themselves, recv that gives up
with a reason, and diagnoses that don't cry wolf (issue #9 item 5)."""

from __future__ import annotations

import asyncio
import time

import pytest
from test_plot import close, frame, request, response
from timeouts import FACTOR

from wslab import Lab
from wslab.capture.trace import Record, Tcp, Trace
from wslab.diagnose import diagnose
from wslab.protocol import Handshake
from wslab.protocol.problems import Problem
from wslab.protocol.render import Explanation


def article() -> Trace:
    return Trace([Record(0.000, 1, Tcp("client", "connect")), Record(0.001, 1, request()),
                  Record(0.002, 1, response()), Record(0.003, 1, frame("client", "TEXT", b"Hello Server")),
                  Record(0.004, 1, frame("server", "TEXT", b"Hello Client")),
                  Record(0.005, 1, close("client")), Record(0.006, 1, close("server")),
                  Record(0.007, 1, Tcp("server", "eof")), Record(0.008, 1, Tcp("client", "eof"))])


# -- filter --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("criteria", "count"), [
    ({"sender": "C"}, 5), ({"sender": "Client"}, 5), ({"sender": "s"}, 4), ({"opcode": "text"}, 2),
    ({"opcode": "Text"}, 2), ({"opcode": 1}, 2), ({"opcode": "cont"}, 0), ({"kind": "FRAME"}, 4), ({"conn": 1}, 9),
])
def test_filter_accepts_unambiguous_spellings(criteria, count):
    assert len(article().filter(**criteria)) == count


@pytest.mark.parametrize(("criteria", "message"), [
    ({"kind": "frames"}, "unknown kind 'frames' (did you mean 'frame'?); kinds: handshake, frame, error, tcp"),
    ({"sender": "cleint"}, "unknown sender 'cleint' (did you mean 'client'?); senders: client, server"),
    ({"sender": "browser"}, "unknown sender 'browser'; senders: client, server"),
    ({"opcode": "txt"}, "unknown opcode 'txt' (did you mean 'TEXT'?); opcodes: CONTINUATION, TEXT, BINARY"),
    ({"conn": 5}, "no connection 5 in this trace; connections: 1"),
])
def test_filter_rejects_typos_naming_the_valid_values(criteria, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        article().filter(**criteria)


@pytest.mark.parametrize("criteria", [{"conn": "1"}, {"opcode": 1.0}, {"sender": 1}])
def test_filter_rejects_wrong_types(criteria):
    with pytest.raises(TypeError, match=r"; (connections|opcodes|senders): "):
        article().filter(**criteria)


def test_messages_validates_its_sender():
    assert article().messages("S") == ["Hello Client"]
    with pytest.raises(ValueError, match="senders: client, server"):
        article().messages("srever")


# -- explain -------------------------------------------------------------------------------------

def test_explain_is_a_string_that_shows_itself_bare():
    hello = article().frames[0]
    text = hello.explain()
    assert isinstance(text, str) and isinstance(text, Explanation)
    assert str(text) == text and "\n" in text and "MASK" in text
    assert repr(text) == str(text)  # bare in a cell or the REPL: the text, not one line of \n escapes
    assert text._repr_html_().startswith("<") and "MASK" in text._repr_html_()
    assert text.splitlines()[0] == str(text).splitlines()[0]  # string use keeps working
    for explained in (request().explain(), response().explain(), response().accept.explain()):
        assert isinstance(explained, Explanation) and repr(explained) == str(explained)
        assert explained._repr_html_().startswith("<pre")


# -- recv with a default timeout -----------------------------------------------------------------

def test_lab_clients_recv_gives_up_saying_why():
    with Lab("echo") as lab:
        with lab.connect_sync(recv_timeout=0.2 * FACTOR) as ws:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match=r"nothing arrived within .* s — is the server supposed to "
                                                   r"answer\? pass timeout=None to wait forever"):
                ws.recv()
            assert time.monotonic() - started < 5 * FACTOR
            ws.send("hi")
            assert ws.recv(timeout=None) == "服务器收到消息: hi"
            with pytest.raises(TimeoutError) as raised:
                ws.recv(timeout=0.05)  # the caller's own timeout: websockets' own error
            assert "nothing arrived" not in str(raised.value)

        async def client() -> str:
            async with lab.connect(recv_timeout=0.2 * FACTOR) as ws:
                with pytest.raises(TimeoutError, match="nothing arrived within"):
                    await ws.recv()
                await ws.send("yo")
                return await ws.recv()

        assert asyncio.run(client()) == "服务器收到消息: yo"


def test_lab_clients_default_recv_timeout_is_ten_seconds():
    from wslab._runtime.clients import RECV_TIMEOUT

    assert RECV_TIMEOUT == 10.0


# -- diagnose ------------------------------------------------------------------------------------

def plain_get(path: str) -> Handshake:
    headers = (("Host", "127.0.0.1:8765"), ("Accept", "image/avif,image/webp,*/*"))
    start = f"GET {path} HTTP/1.1"
    raw = "\r\n".join([start] + [f"{k}: {v}" for k, v in headers]).encode() + b"\r\n\r\n"
    return Handshake(sender="client", offset=0, raw=raw, start_line=start, headers=headers, version="HTTP/1.1",
                     method="GET", path=path)


def test_diagnose_tells_a_favicon_request_from_a_rejected_handshake():
    trace = Trace([Record(0.0, 1, Tcp("client", "connect")), Record(0.001, 1, plain_get("/favicon.ico")),
                   Record(0.002, 1, response(426, "Upgrade Required", b"Failed to open a WebSocket connection")),
                   Record(0.003, 1, Tcp("server", "eof"))])
    [finding] = diagnose(trace)
    assert finding.severity == "info"
    assert "plain HTTP request (GET /favicon.ico — a browser asking for the page's icon)" in finding.text
    assert "not a WebSocket connection, so not a failed one" in finding.text
    assert "rejected" not in finding.text


def test_diagnose_still_reports_a_rejected_handshake():
    trace = Trace([Record(0.001, 1, request("/nope")), Record(0.002, 1, response(404, "Not Found"))])
    [finding] = diagnose(trace)
    assert finding.severity == "error" and finding.text.startswith("handshake rejected: 404 Not Found")


def test_diagnose_live_favicon():
    with Lab("echo") as lab, lab.raw() as raw:
        raw.send(b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n")
        raw.read_response()
    [finding] = lab.trace.diagnose()
    assert finding.severity == "info" and "favicon.ico" in finding.text and "not a failed one" in finding.text


def test_diagnose_does_not_blame_a_client_whose_frames_decoded_cleanly():
    records = [*article()[:4], Record(0.004, 1, close("server", 1002, "protocol error")),
               Record(0.005, 1, close("client", 1002)), Record(0.006, 1, Tcp("server", "eof")),
               Record(0.007, 1, Tcp("client", "eof"))]
    [finding] = diagnose(Trace(records))
    assert finding.severity == "warning"
    assert "every frame the client sent before it decoded cleanly here" in finding.text
    assert "the server's verdict disagrees with wslab's decoder" in finding.text
    assert "because" not in finding.text


def test_diagnose_still_blames_a_client_frame_with_a_problem():
    bad = frame("client", "TEXT", b"hi", problems=(Problem.from_text("client frame not masked (RFC 6455 §5.1)"),))
    records = [*article()[:3], Record(0.003, 1, bad), Record(0.004, 1, close("server", 1002, "incorrect masking")),
               Record(0.005, 1, Tcp("server", "eof"))]
    [finding] = diagnose(Trace(records))
    assert finding.severity == "error" and "because" in finding.text


# -- Mermaid with a plain-text twin (review row 9) ---------------------------------------------------

def test_mermaid_is_still_a_string_and_shows_a_text_version_too():
    mermaid = article().to_mermaid()
    assert isinstance(mermaid, str) and mermaid.startswith("sequenceDiagram")
    assert "```mermaid\n" + mermaid  # string use keeps working
    text = mermaid.text
    assert text.splitlines()[:3] == ["client → server: TCP connect", "client → server: GET / HTTP/1.1",
                                     "server → client: HTTP/1.1 101 Switching Protocols"]
    assert "client → server: CLOSE 1000 (normal closure)" in text
    assert repr(mermaid) == text
    markdown = mermaid._repr_markdown_()
    assert markdown.startswith("```mermaid\nsequenceDiagram") and "<details><summary>The same, as text" in markdown
    assert "client → server: TCP connect" in markdown
