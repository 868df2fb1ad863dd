"""Faults and bad input: each is answered as RFC 6455 and websockets prescribe,
explained in the trace, and the same lab then serves a normal client.

Timeouts are fractions of a second so the whole file runs in seconds.
"""

from __future__ import annotations

import time

import pytest
from helpers import serves
from timeouts import TIMEOUT, scaled
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from wslab import Lab, build_frame, close_payload, load
from wslab._runtime.raw import SAMPLE_KEY
from wslab.handlers import reply_to

OPEN_TIMEOUT = scaled(0.4)
CLOSE_TIMEOUT = scaled(0.3)
MAX_SIZE = 1024


def tap_has_read(lab: Lab, raw, n: int) -> None:
    """Wait until the tap has read ``n`` bytes of frames from this raw client (after its request)."""
    def enough() -> bool:
        got = sum(len(c.data) for c in lab.recorder.chunks if c.conn == raw.conn and c.sender == "client")
        return got >= len(raw.request()) + n

    with lab.recorder.changed:
        assert lab.recorder.changed.wait_for(enough, TIMEOUT), f"the tap did not read {n} bytes"


def findings(lab: Lab, conn: int):
    found = lab.trace.diagnose().about(conn)
    assert found, f"no finding about connection {conn}"
    return found


@pytest.fixture(scope="module")
def lab():
    with Lab("echo", open_timeout=OPEN_TIMEOUT, close_timeout=CLOSE_TIMEOUT, max_size=MAX_SIZE) as lab:
        yield lab


@pytest.fixture(autouse=True)
def no_faults_left(request):
    yield
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").clear_faults()


# ---------------------------------------------------------------------------
# 1. The raw client.
# ---------------------------------------------------------------------------


def test_raw_client_speaks_correct_websocket_by_default(lab):
    with lab.raw() as raw:
        response = raw.handshake()
        assert response.status == 101 and response.accept.ok
        assert response.accept.expected == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example
        sent = raw.send_frame("TEXT", "Hello Server")
        assert sent[1] & 0x80  # masked, as RFC 6455 §5.1 requires of clients
        assert raw.read_frame().text == "Hello Client"
        raw.send_close(1000, "done")
        assert raw.read_close() == (1000, "done")
        assert raw.wait_closed()
    trace = lab.trace.filter(conn=raw.conn)
    assert trace.handshakes[0].header("Sec-WebSocket-Key") == SAMPLE_KEY
    assert not trace.errors
    assert [f.opcode for f in trace.frames] == ["TEXT", "TEXT", "CLOSE", "CLOSE"]
    (finding,) = findings(lab, raw.conn)
    assert finding.severity == "info" and finding.text.startswith("closed normally")
    serves(lab)


def test_raw_client_reads_bytes_and_never_hangs(lab):
    with lab.raw(timeout=scaled(0.2)) as raw:
        with pytest.raises(TimeoutError):
            raw.recv()  # nothing sent, nothing comes back
        raw.send(raw.request())
        head = raw.recv(timeout=scaled(2))
        assert head.startswith(b"HTTP/1.1 101 ")
        assert raw.read_response().status == 101  # the same bytes, decoded
        assert raw.read_frames(timeout=scaled(0.1)) == []  # a quiet server: an empty list, no exception
    serves(lab)


def test_raw_client_knows_its_connection(lab):
    with lab.raw() as raw:
        assert lab.conn_of(raw) == raw.conn
        raw.handshake()
    with lab.connect_sync() as ws:
        assert lab.conn_of(ws) == raw.conn + 1


# ---------------------------------------------------------------------------
# 2. Handshake faults.
# ---------------------------------------------------------------------------

HANDSHAKES = {
    "not GET": (dict(method="POST"), 405, "request method is POST, must be GET", "RFC 6455 §4.2.1"),
    "missing Upgrade": (dict(omit=["Upgrade"]), 426, "missing Upgrade header", "RFC 6455 §4.2.1"),
    "missing Connection": (dict(omit=["Connection"]), 426, "missing Connection header", "RFC 6455 §4.2.1"),
    "missing key": (dict(omit=["Sec-WebSocket-Key"]), 400, "missing Sec-WebSocket-Key", "RFC 6455 §4.2.1"),
    "malformed key": (dict(headers={"Sec-WebSocket-Key": "not-a-key"}), 400, "is not base64 of 16 bytes",
                      "RFC 6455 §4.2.1"),
    "version 8": (dict(headers={"Sec-WebSocket-Version": "8"}), 426, "Sec-WebSocket-Version 8 is not 13",
                  "RFC 6455 §4.4"),
    "HTTP/1.0": (dict(version="HTTP/1.0"), 505, "HTTP/1.0 request, must be HTTP/1.1", "RFC 6455 §4.2.1"),
    "headers too large": (dict(headers={"X-Padding": "x" * 9000}), 431, "head is too large", "RFC 6585 §5"),
}


@pytest.mark.parametrize("case", HANDSHAKES)
def test_bad_handshake_is_rejected_with_the_right_status(lab, case):
    options, status, why, rule = HANDSHAKES[case]
    with lab.raw() as raw:
        response = raw.handshake(**options)
        assert response.status == status
        assert raw.wait_closed()  # websockets closes TCP after a rejection
    if status == 426 and case == "version 8":
        assert response.header("Sec-WebSocket-Version") == "13"  # RFC 6455 §4.4: the versions it speaks
    if status == 426:
        assert response.header("Upgrade") == "websocket"  # RFC 9110 §15.5.22: a 426 MUST send Upgrade
    recorded = [r for r in lab.trace.filter(conn=raw.conn).handshakes if r.sender == "server"]
    assert [r.status for r in recorded] == [status]
    (finding,) = findings(lab, raw.conn)
    assert finding.severity == "error"
    assert finding.text.startswith(f"handshake rejected: {status} ")
    assert why in finding.text and finding.rule == rule
    serves(lab)


def test_half_request_stalls_until_open_timeout(lab):
    started = time.monotonic()  # before the connection: the server's open_timeout starts after this
    with lab.raw(timeout=scaled(3)) as raw:
        raw.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: the head never ends
        assert raw.recv() == b""  # the server hangs up without an answer
        waited = time.monotonic() - started
    assert waited >= OPEN_TIMEOUT  # it waited for the rest of the request first
    trace = lab.trace.filter(conn=raw.conn)
    assert not trace.handshakes
    (finding,) = findings(lab, raw.conn)
    assert "never finished it" in finding.text and "open_timeout" in finding.text
    serves(lab)


def test_bytes_that_are_not_http_get_no_answer(lab):
    with lab.raw() as raw:
        raw.send(bytes.fromhex("16030100a5010000a10303") + bytes(32))  # a TLS ClientHello: wss:// to a ws:// port
        assert raw.recv() == b""
    (finding,) = findings(lab, raw.conn)
    assert "not an HTTP request" in finding.text and "without answering" in finding.text
    assert finding.rule == "RFC 9112 §3"
    serves(lab)


def test_refused_origin_gets_403():
    with Lab("echo", origins=["https://good.example", None]) as lab:  # None: clients sending no Origin
        with lab.raw() as raw:
            assert raw.handshake(headers={"Origin": "https://good.example"}).status == 101
        with lab.raw() as raw:
            assert raw.handshake(headers={"Origin": "https://evil.example"}).status == 403
        (finding,) = findings(lab, raw.conn)
        assert "handshake rejected: 403 Forbidden" in finding.text
        assert "'https://evil.example'" in finding.text and finding.rule == "RFC 6455 §4.2.2"
        serves(lab)


def test_refused_path_gets_404():
    def only_root(connection, request):
        if request.path != "/":
            return connection.respond(404, "Not Found\n")
        return None

    with Lab("echo", process_request=only_root) as lab:
        with lab.raw() as raw:
            assert raw.handshake("/nope").status == 404
        (finding,) = findings(lab, raw.conn)
        assert "handshake rejected: 404 Not Found" in finding.text and "'/nope'" in finding.text
        serves(lab)


# ---------------------------------------------------------------------------
# 3. Frame and message faults.
# ---------------------------------------------------------------------------

FRAMES = {
    "unmasked": (lambda raw: raw.send_frame("TEXT", "Hello", mask=None),
                 (1002, "incorrect masking"), "client frame not masked", "unmasked", "RFC 6455 §5.1"),
    "reserved bit": (lambda raw: raw.send_frame("TEXT", "Hello", rsv2=True),
                     (1002, "reserved bits must be 0"), "RSV2 set", "RSV2", "RFC 6455 §5.2"),
    "reserved opcode": (lambda raw: raw.send_frame(0x3, "Hello"),
                        (1002, "invalid opcode"), "reserved opcode 0x3", "reserved opcode 0x3", "RFC 6455 §5.2"),
    "control frame over 125 bytes": (lambda raw: raw.send_frame("PING", bytes(126)),
                                     (1002, "control frame too long"), "exceeds 125", "at most 125",
                                     "RFC 6455 §5.5"),
    "fragmented control frame": (lambda raw: raw.send_frame("PING", b"ping", fin=False),
                                 (1002, "fragmented control frame"), "fragmented control frame", "FIN=0",
                                 "RFC 6455 §5.5"),
    "invalid close code": (lambda raw: raw.send_frame("CLOSE", close_payload(1005)),
                           (1002, "invalid status code"), "invalid close code 1005", "code 1005",
                           "RFC 6455 §7.4.1"),
    "invalid UTF-8": (lambda raw: raw.send_frame("TEXT", b"caf\xc3"),
                      (1007, "unexpected end of data at position 3"), "invalid UTF-8", "not valid UTF-8",
                      "RFC 6455 §8.1"),
    "message over max_size": (lambda raw: raw.send_frame("BINARY", bytes(MAX_SIZE + 1)),
                              (1009, f"frame with {MAX_SIZE + 1} bytes exceeds limit of {MAX_SIZE} bytes"),
                              None, "over the server's max_size", ""),
    "oversize length": (lambda raw: raw.send_frame("BINARY", b"", length=2**63 + 1, length_bits=64),
                        (1009, f"frame with {2**63 + 1} bytes exceeds limit of {MAX_SIZE} bytes"),
                        "most significant bit", "most significant bit", "RFC 6455 §5.2"),
}


@pytest.mark.parametrize("case", FRAMES)
def test_bad_frame_ends_the_connection_with_the_prescribed_code(lab, case):
    send, close, problem, explained, rule = FRAMES[case]
    with lab.raw() as raw:
        raw.handshake()
        send(raw)
        assert raw.read_close() == close
        assert raw.wait_closed()  # the server fails the connection: Close, then TCP closed (RFC 6455 §7.1.7)
    trace = lab.trace.filter(conn=raw.conn)
    if problem is not None:
        flagged = [p for r in trace.errors for p in (r.problems if r.kind != "error" else (r.reason,))]
        assert any(problem in p for p in flagged), flagged
    (finding,) = findings(lab, raw.conn)
    assert finding.severity == "error"
    assert finding.text.startswith(f"the server closed with {close[0]} ") or "Close frame carries" in finding.text
    assert explained in finding.text and finding.rule == rule
    serves(lab)


def test_data_after_close_is_flagged_and_ignored(lab):
    with lab.raw() as raw:
        raw.handshake()
        raw.send_close(1000)  # Close first ...
        raw.send_frame("TEXT", "too late")  # ... then data: RFC 6455 §5.5.1 forbids it
        assert raw.read_close() == (1000, "")  # the server answers the Close and ignores the rest
        assert raw.read_frames(timeout=scaled(0.3)) == []
    late = [f for f in lab.trace.filter(conn=raw.conn).frames if f.opcode == "TEXT"]
    assert late and "data frame after a close frame (RFC 6455 §5.5.1)" in late[0].problems
    found = findings(lab, raw.conn)
    assert any(f.severity == "warning" and "after its own Close frame" in f.text and f.rule == "RFC 6455 §5.5.1"
               for f in found)
    serves(lab)


# ---------------------------------------------------------------------------
# 4. Connection faults injected by the tap.
# ---------------------------------------------------------------------------


def test_latency_and_jitter_delay_each_direction_in_order(lab):
    lab.delay(0.05, direction="client")
    lab.delay(0.02, jitter=0.02, direction="server")
    with lab.connect_sync() as ws:
        for i in range(5):
            ws.send(f"m{i}")
        assert [ws.recv(timeout=scaled(3)) for _ in range(5)] == [reply_to(f"m{i}") for i in range(5)]  # order kept
        conn = lab.conn_of(ws)
    lab.delay(0)
    trace = lab.trace.filter(conn=conn)
    asked = [f.t for f in trace.frames if f.sender == "client" and f.opcode == "TEXT"]
    answered = [f.t for f in trace.frames if f.sender == "server" and f.opcode == "TEXT"]
    # The tap records when it reads: each answer comes at least the client → server latency later.
    assert all(b - a >= 0.05 for a, b in zip(asked, answered, strict=False))
    notes = [r.text for r in trace.filter("note")]
    assert any("client → server: latency 50 ms" in n for n in notes)
    assert any("server → client: latency 20 ms + up to 20 ms jitter" in n for n in notes)
    (finding,) = findings(lab, conn)
    assert finding.text.startswith("closed normally")
    serves(lab)


def test_pause_holds_one_direction_until_resume(lab):
    with lab.connect_sync() as ws:
        lab.pause("client")
        ws.send("Hello Server")
        with pytest.raises(TimeoutError):
            ws.recv(timeout=scaled(0.3))  # the server never got it
        lab.resume("client")
        assert ws.recv(timeout=scaled(2)) == "Hello Client"  # nothing was lost
        conn = lab.conn_of(ws)
    notes = [r.text for r in lab.trace.filter("note", conn=conn)]
    assert notes == ["fault: client → server: paused (the lab holds every byte)",
                     "fault: client → server: resumed (the lab delivers what it held)"]
    serves(lab)


def test_cut_now_gives_1006_and_is_explained(lab):
    ws = lab.connect_sync()
    conn = lab.cut(ws)
    with pytest.raises(ConnectionClosedError):
        ws.recv(timeout=scaled(2))
    assert ws.close_code == 1006  # no Close frame: abnormal closure (RFC 6455 §7.1.5)
    ws.close()
    trace = lab.trace.filter(conn=conn)
    assert not [f for f in trace.frames if f.opcode == "CLOSE"]
    assert [r.note for r in trace.filter("tcp") if r.what == "reset"] == ["fault: the lab cut the TCP connection"]
    (finding,) = findings(lab, conn)
    assert finding.text.startswith("1006 abnormal closure: no Close frame was seen; TCP was cut by the lab")
    assert "fault injected at" in finding.text and finding.rule == "RFC 6455 §7.1.5"
    serves(lab)


def test_cut_mid_message_both_sides_see_1006():
    codes = []

    async def echo_and_tell(ws):
        try:
            async for message in ws:
                await ws.send(reply_to(message))
        finally:
            codes.append(ws.close_code)

    with Lab(echo_and_tell) as lab:
        ws = lab.connect_sync()
        conn = lab.cut(ws, after=10)  # the next frame is 6 + 12 bytes: cut inside its payload
        ws.send("Hello Server")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=scaled(2))
        assert ws.close_code == 1006
        ws.close()
        lab.settle()
        assert codes == [1006]  # the server saw half a frame and a reset
        trace = lab.trace.filter(conn=conn)
        assert sum(len(c.data) for c in trace.chunks if c.sender == "client" and c.t > trace.handshakes[-1].t) == 10
        (finding,) = findings(lab, conn)
        assert "cut by the lab" in finding.text
        assert "landed in the middle of a client frame (truncated frame: needs 8 more bytes (got 10 of 18))" \
            in finding.text
        serves(lab)


def test_handler_that_raises_closes_with_1011():
    async def fragile(ws):
        async for message in ws:
            if message == "crash":
                raise RuntimeError("boom")
            await ws.send(reply_to(message))

    with Lab(fragile) as lab:
        with lab.connect_sync() as ws:
            conn = lab.conn_of(ws)
            ws.send("crash")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=scaled(2))
        assert info.value.rcvd.code == 1011  # RFC 6455 §7.4.1: internal error
        notes = [r.text for r in lab.trace.filter("note", conn=conn)]
        assert notes == ["handler raised RuntimeError: boom"]
        (finding,) = findings(lab, conn)
        assert "closed with 1011 (internal error) because its handler raised an exception: RuntimeError: boom" \
            in finding.text
        serves(lab)


def test_server_that_stops_says_1001_and_the_lab_restarts():
    lab = Lab("echo", close_timeout=CLOSE_TIMEOUT).start()
    try:
        port = lab.port
        ws = lab.connect_sync()
        conn = lab.conn_of(ws)
        lab.stop()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=scaled(2))
        assert info.value.rcvd.code == 1001  # going away
        ws.close()
        (finding,) = findings(lab, conn)
        assert "the server is going away (1001)" in finding.text and "the lab was stopped" in finding.text
        lab.start()
        assert lab.port == port  # same URL after a restart
        serves(lab)
        assert max(lab.trace.connections) == conn + 1  # numbering continues
    finally:
        lab.stop()


def test_peer_that_never_answers_the_close_meets_close_timeout(lab):
    with lab.raw(timeout=scaled(3)) as raw:
        raw.handshake()
        lab.disconnect(raw, 1000, "bye")
        assert raw.read_close() == (1000, "bye")
        # ... and this client never answers: the server waits close_timeout, then drops TCP.
        assert raw.wait_closed()
    trace = lab.trace.filter(conn=raw.conn)
    (close,) = [f for f in trace.frames if f.opcode == "CLOSE"]
    dropped = [r for r in trace.filter("tcp") if r.sender == "server" and r.what in ("eof", "reset")]
    assert dropped[0].t - close.t >= CLOSE_TIMEOUT * 0.8
    (finding,) = findings(lab, raw.conn)
    assert "close timeout: the server sent Close" in finding.text and "the client never answered" in finding.text
    assert "the lab asked the server to close" in finding.text
    serves(lab)


def test_close_answer_held_by_the_lab_makes_the_client_time_out(lab):
    ws = lab.connect_sync(close_timeout=CLOSE_TIMEOUT)
    conn = lab.conn_of(ws)
    lab.pause("server")
    ws.close()  # the server answers, but the lab holds the answer
    assert ws.close_code == 1006
    lab.resume("server")
    (finding,) = findings(lab, conn)
    assert "close timeout" in finding.text and "the lab held its Close (server → client paused)" in finding.text
    serves(lab)


def test_keepalive_ping_without_pong_closes_with_1011():
    with Lab("echo", ping_interval=0.2, ping_timeout=0.2, close_timeout=CLOSE_TIMEOUT) as lab:
        lab.drop("client", "PONG")
        ws = lab.connect_sync()
        conn = lab.conn_of(ws)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=scaled(3))
        ws.close()
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "keepalive ping timeout")
        trace = lab.trace.filter(conn=conn)
        pongs = [f for f in trace.frames if f.opcode == "PONG"]
        assert pongs  # the client did answer ...
        notes = [r.text for r in trace.filter("note")]
        assert "fault: the lab dropped this PONG frame (client → server)" in notes  # ... the lab dropped it
        (finding,) = findings(lab, conn)
        assert finding.text.startswith("1011 keepalive ping timeout: the server's PING at")
        assert "the lab dropped its PONG" in finding.text and finding.rule == "RFC 6455 §5.5.2"
        lab.drop("client")  # stop dropping: keepalive works again
        with lab.connect_sync() as ws:
            again = lab.conn_of(ws)
            def pongs() -> int:
                return sum(r.conn == again and r.kind == "frame" and r.opcode == "PONG" for r in lab.recorder.records)

            with lab.recorder.changed:  # two keepalive rounds, answered (counted, not timed)
                assert lab.recorder.changed.wait_for(lambda: pongs() >= 2, TIMEOUT)
            # Both PONGs reached the server: it did not close (a later round may be late on a loaded machine).
            closes = [f for f in lab.trace.filter("frame", conn=again, opcode="CLOSE") if f.t < max(
                f.t for f in lab.trace.filter("frame", conn=again, opcode="PONG"))]
            assert closes == []


def test_drop_removes_whole_frames_even_split_across_reads(lab):
    lab.drop("client", "PING")
    with lab.raw() as raw:
        raw.handshake()
        raw.send_frame("PING", b"one")  # dropped whole
        split = build_frame("PING", b"are you there?", mask=b"abcd")
        raw.send(split[:5])
        tap_has_read(lab, raw, len(build_frame("PING", b"one", mask=b"abcd")) + 5)  # read alone, and held
        raw.send(split[5:] + build_frame("TEXT", "Hello Server", mask=b"abcd"))
        frames = raw.read_frames(timeout=scaled(0.5))
    # The server saw neither PING (no PONG came back) and still read the TEXT after them.
    assert [(f.opcode, f.text) for f in frames] == [("TEXT", "Hello Client")]
    trace = lab.trace.filter(conn=raw.conn)
    assert [f.opcode for f in trace.frames if f.sender == "client"][:3] == ["PING", "PING", "TEXT"]
    dropped = [r.text for r in trace.filter("note") if "dropped" in r.text]
    assert dropped == ["fault: the lab dropped this PING frame (client → server)"] * 2
    serves(lab)


def test_client_that_vanishes_is_a_1006(lab):
    with lab.raw() as raw:
        raw.handshake()
        raw.close(reset=True)
    lab.settle()
    (finding,) = findings(lab, raw.conn)
    assert finding.text.startswith("1006 abnormal closure: the client reset TCP")
    assert "as if it vanished" in finding.text
    serves(lab)


# ---------------------------------------------------------------------------
# The explanations themselves.
# ---------------------------------------------------------------------------


def test_findings_print_as_text_and_html_and_survive_save_and_load(lab, tmp_path):
    with lab.raw() as raw:
        raw.handshake()
        raw.send_frame("TEXT", "Hello", mask=None)
        raw.read_close()
    trace = lab.trace.filter(conn=raw.conn)
    found = trace.diagnose()
    text = str(found)
    assert text.startswith(f"✗ connection {raw.conn} at ") and "RFC 6455 §5.1 requires clients to mask" in text
    assert repr(found) == text
    html = found._repr_html_()
    assert html.startswith("<table>") and "unmasked TEXT frame" in html and "#fce8e6" in html
    path = tmp_path / "trace.json"
    trace.save(path)
    assert load(path).diagnose() == found  # a saved trace explains itself the same way
    assert lab.diagnose().about(raw.conn) == found


def test_a_drop_switched_on_mid_frame_loses_nothing(lab):
    ping = build_frame("PING", b"are you there?", mask=b"\x01\x02\x03\x04")

    with lab.raw() as raw:
        raw.handshake()
        raw.send(ping[:5])  # half a PING is already on its way when the drop is switched on
        tap_has_read(lab, raw, 5)
        lab.drop("client", "PING")
        raw.send(ping[5:8])  # more of it, still not the whole frame
        tap_has_read(lab, raw, 8)
        raw.send(ping[8:] + build_frame("TEXT", b"Hello Server", mask=b"\x01\x02\x03\x04"))
        frames = raw.read_frames(2, timeout=scaled(3))
    # The PING was partly relayed, so it went through whole (the server answered it), and
    # the frame after it was not held back or cut.
    assert [(f.opcode, f.payload) for f in frames] == [("PONG", b"are you there?"), ("TEXT", b"Hello Client")]
    serves(lab)


def test_pause_and_resume_wake_the_relay_across_a_restart():
    """A paused direction waits on an event (no polling); a restarted lab, on a new loop, still wakes it."""
    lab = Lab("echo").start()
    try:
        for _ in range(2):
            lab.pause("server")
            with lab.raw() as raw:
                raw.send(raw.request())
                tap_has_read(lab, raw, 0)
                with pytest.raises(TimeoutError):
                    raw.read_response(timeout=scaled(0.2))  # held by the lab
                lab.resume("server")
                assert raw.read_response(timeout=TIMEOUT).status == 101
            lab.stop()
            lab.start()
    finally:
        lab.stop()
