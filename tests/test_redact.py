"""Secrets never leave the trace: cookies, credentials and tokens are hidden in every view.

Through JupyterHub or jupyter-server-proxy the browser's login cookies ride on
the chat page's handshake; a saved trace or pcap must not hand them out.
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from timeouts import scaled

from wslab import Lab, load
from wslab.capture.redact import HeadRedactor, mark

SECRETS = {
    "cookie_hub": "HUBc00kieV4lue",
    "cookie_xsrf": "XSRFc00kieV4lue",
    "bearer": "BEARERt0kenV4lue",
    "proxy": "UFJPWFlwYXNzd29yZA==",
    "token": "QUERYt0kenV4lue",
    "xsrf_q": "QUERYxsrfV4lue",
    "set_cookie": "SETc00kieV4lue",
}

REQUEST = (
    f"GET /chat?room=42&token={SECRETS['token']}&_xsrf={SECRETS['xsrf_q']} HTTP/1.1\r\n"
    "Host: 127.0.0.1:8000\r\n"
    f"Cookie: jupyterhub-user-alice={SECRETS['cookie_hub']}; _xsrf={SECRETS['cookie_xsrf']}\r\n"
    f"Authorization: Bearer {SECRETS['bearer']}\r\n"
    f"Proxy-Authorization: Basic {SECRETS['proxy']}\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode() + b"\x81\x8c\x00\x00\x00\x00Hello Server"

RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Set-Cookie: session={SECRETS['set_cookie']}; Path=/; HttpOnly\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
).encode() + b"\x81\x0cHello Client"


def assert_no_secret(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert not leaked, f"{where} leaks {leaked}"


def redact(data: bytes, sender: str, sizes: list[int]) -> bytes:
    redactor, out, pos = HeadRedactor(sender), [], 0
    for size in sizes:
        out.append(redactor.feed(data[pos:pos + size]))
        pos += size
    out.append(redactor.feed(data[pos:]))
    return b"".join(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), max_size=40))
def test_any_chunking_hides_the_same_bytes_and_keeps_the_length(sizes):
    for data, sender in ((REQUEST, "client"), (RESPONSE, "server")):
        whole = redact(data, sender, [])
        assert redact(data, sender, sizes) == whole
        assert len(whole) == len(data)
        assert_no_secret(whole, sender)
        # Only secret bytes change, and only to "*": offsets and frames stay true.
        assert all(a == b or b == ord("*") for a, b in zip(data, whole, strict=False))


def test_names_schemes_and_frames_stay_visible():
    text = mark(redact(REQUEST, "client", []).decode("latin-1"))
    assert "GET /chat?room=42&token=<redacted: 15 bytes>&_xsrf=<redacted: 14 bytes> HTTP/1.1" in text
    assert "Cookie: jupyterhub-user-alice=<redacted: 14 bytes>; _xsrf=<redacted: 15 bytes>\r\n" in text
    assert "Authorization: Bearer <redacted: 16 bytes>\r\n" in text
    assert "Proxy-Authorization: Basic <redacted: 20 bytes>\r\n" in text
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in text
    assert text.endswith("Hello Server")
    response = mark(redact(RESPONSE, "server", []).decode("latin-1"))
    assert "Set-Cookie: session=<redacted: 14 bytes>; Path=/; HttpOnly" in response
    assert response.endswith("Hello Client")


def test_frames_after_the_upgrade_pass_untouched():
    # A frame payload that looks like a header is content, not a head: it is never changed.
    tail = b"\x81\x13Cookie: a=notsecret"
    assert redact(RESPONSE + tail, "server", []).endswith(tail)


def test_a_second_request_on_a_kept_alive_connection_is_redacted_too():
    page = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=first\r\n\r\n"
    favicon = b"GET /favicon.ico?token=second HTTP/1.1\r\nHost: h\r\nCookie: a=third\r\n\r\n"
    out = redact(page + favicon, "client", [])
    assert b"first" not in out and b"second" not in out and b"third" not in out


def test_garbage_is_bounded_and_never_raises():
    redactor = HeadRedactor("client")
    junk = bytes(range(256)) * 64
    for _ in range(100):
        assert len(redactor.feed(junk)) == len(junk)
    assert redactor.done  # past MAX_HEADS it stops reading: not a head it can redact


def lab_with_secrets(**options):
    received = {}

    def process_response(connection, request, response):
        received.update(request.headers.raw_items())
        response.headers["Set-Cookie"] = f"session={SECRETS['set_cookie']}; Path=/; HttpOnly"
        return response

    lab = Lab("echo", seed=1, process_response=process_response, **options).start()
    headers = {
        "Cookie": f"jupyterhub-user-alice={SECRETS['cookie_hub']}; _xsrf={SECRETS['cookie_xsrf']}",
        "Authorization": f"Bearer {SECRETS['bearer']}",
        "Proxy-Authorization": f"Basic {SECRETS['proxy']}",
    }
    try:
        with lab.connect_sync(f"/chat?room=42&token={SECRETS['token']}&_xsrf={SECRETS['xsrf_q']}",
                              additional_headers=headers) as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=scaled(5)) == "Hello Client"
        lab.settle()
    finally:
        lab.stop()
    return lab.trace, received


def test_no_view_of_the_trace_holds_a_secret(tmp_path):
    trace, received = lab_with_secrets()
    # The server still got the real values: the tap hides them from the record only.
    assert SECRETS["cookie_hub"] in received["Cookie"] and SECRETS["bearer"] in received["Authorization"]

    request, response = trace.handshakes
    assert request.header("Cookie") == ("jupyterhub-user-alice=<redacted: 14 bytes>; "
                                        "_xsrf=<redacted: 15 bytes>")
    assert request.header("Authorization") == "Bearer <redacted: 16 bytes>"
    assert request.path == "/chat?room=42&token=<redacted: 15 bytes>&_xsrf=<redacted: 14 bytes>"
    assert response.header("Set-Cookie") == "session=<redacted: 14 bytes>; Path=/; HttpOnly"
    assert response.accept.ok  # the handshake still decodes and checks out
    assert [f.text for f in trace.frames if f.opcode == "TEXT"] == ["Hello Server", "Hello Client"]
    notes = [r.text for r in trace.filter("note")]
    assert sum("hid the values of cookies" in n for n in notes) == 2  # one per side

    trace.save(tmp_path / "t.json")
    trace.to_pcap(tmp_path / "t.pcap")
    views = {
        "saved JSON": (tmp_path / "t.json").read_bytes(),
        "pcap": (tmp_path / "t.pcap").read_bytes(),
        "table": str(trace),
        "HTML table": trace._repr_html_(),
        "records": json.dumps(trace.to_records()),
        "mermaid": trace.to_mermaid(),
        "handshake explain": request.explain() + response.explain(),
        "chunks": b"".join(c.data for c in trace.chunks),
        "reprs": repr(list(trace)),
        "diagnosis": str(trace.diagnose()),
    }
    for where, text in views.items():
        assert_no_secret(text, where)
    # The wire copy keeps the length: stream offsets of the frames are still right.
    first = trace.frames[0]
    client_stream = b"".join(c.data for c in trace.chunks if c.sender == "client")
    assert client_stream[first.offset:first.offset + len(first.wire)] == first.wire
    assert load(tmp_path / "t.json") == trace


def test_redact_false_keeps_them_for_a_student_studying_cookies():
    trace, _ = lab_with_secrets(redact=False)
    request = trace.handshakes[0]
    assert SECRETS["cookie_hub"] in request.header("Cookie")
    assert SECRETS["token"] in request.path
    assert not [r for r in trace.filter("note") if "hid the values" in r.text]
