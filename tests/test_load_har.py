"""wslab.load_har: browsers' HAR exports as traces.

The sample files are written here from the shapes the browsers document in
their source: Chrome's DevTools (front_end/models/har/Log.ts: each WebSocket
entry has ``_resourceType: "websocket"`` and ``_webSocketMessages`` of
``{type: "send" | "receive", time: <Unix seconds>, opcode, data}``, binary
data in base64, errors as ``type: "error"``), and Firefox's DevTools
(devtools/client/netmonitor/src/har/har-builder.js: HAR 1.1, the handshake's
request and response, and no WebSocket messages at all). Playwright's own HAR
recorder writes Chrome's shape with times in milliseconds; a real Chromium's
HAR, recorded that way, is checked against the lab's trace of the same
connections.
"""

import base64
import json

import pytest

from wslab import Lab, load, load_har
from wslab.capture.notes import MESSAGE_LEVEL
from wslab.decode import accept_key

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="
STARTED = "2024-05-01T10:00:00.000Z"
T0 = 1714557600.0  # STARTED as Unix seconds
BINARY = bytes([0, 1, 2, 250, 255]) * 30


def headers(**named):
    return [{"name": name.replace("_", "-"), "value": value} for name, value in named.items()]


def chrome_entry(url="ws://127.0.0.1:8765/chat?room=1", started=STARTED, messages=None, status=101, extensions=None):
    """A WebSocket entry as Chrome's DevTools export it ("Save all as HAR with content")."""
    request_headers = headers(Accept_Encoding="gzip, deflate, br", Cache_Control="no-cache", Connection="Upgrade",
                              Host="127.0.0.1:8765", Origin="http://127.0.0.1:8765", Pragma="no-cache",
                              Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits",
                              Sec_WebSocket_Key=KEY, Sec_WebSocket_Version="13", Upgrade="websocket",
                              User_Agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36")
    response_headers = headers(Upgrade="websocket", Connection="Upgrade", Sec_WebSocket_Accept=accept_key(KEY))
    if extensions:
        response_headers += headers(Sec_WebSocket_Extensions=extensions)
    if status != 101:
        response_headers = headers(Content_Type="text/plain", Content_Length="9")
    return {
        "_initiator": {"type": "script"}, "_priority": "Low", "_resourceType": "websocket", "cache": {},
        "connection": "1234", "pageref": "page_1",
        "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "headers": request_headers,
                    "queryString": [], "cookies": [], "headersSize": 512, "bodySize": 0},
        "response": {"status": status, "statusText": "Switching Protocols" if status == 101 else "Forbidden",
                     "httpVersion": "HTTP/1.1", "headers": response_headers, "cookies": [],
                     "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "", "headersSize": 129,
                     "bodySize": 0, "_transferSize": 300, "_error": None},
        "serverIPAddress": "127.0.0.1", "startedDateTime": started, "time": 2500.0,
        "timings": {"blocked": 1.2, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 2.3, "receive": 0,
                    "_blocked_queueing": 1.0},
        "_webSocketMessages": messages if messages is not None else [
            {"type": "send", "time": T0 + 0.010, "opcode": 1, "data": "Hello Server"},
            {"type": "receive", "time": T0 + 0.012, "opcode": 1, "data": "Hello Client"},
            {"type": "send", "time": T0 + 0.020, "opcode": 2, "data": base64.b64encode(BINARY).decode()},
            {"type": "receive", "time": T0 + 0.021, "opcode": 2, "data": base64.b64encode(BINARY).decode()},
            {"type": "receive", "time": T0 + 0.030, "opcode": 1, "data": "服务器收到消息: 你好"},
        ],
    }


def chrome_har(*entries):
    page = {"startedDateTime": STARTED, "id": "page_1", "title": "http://127.0.0.1:8765/",
            "pageTimings": {"onContentLoad": 40.1, "onLoad": 41.7}}
    document = {"_resourceType": "document", "request": {"method": "GET", "url": "http://127.0.0.1:8765/",
                                                         "httpVersion": "HTTP/1.1", "headers": []},
                "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": []},
                "startedDateTime": STARTED, "time": 3.0, "timings": {}}
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [page],
                    "entries": [document, *entries]}}


def firefox_har():
    """A Firefox DevTools export with a WebSocket connection: the handshake, no messages."""
    entry = {
        "startedDateTime": "2024-05-01T12:00:00.000+02:00",  # Firefox writes local time with its offset
        "request": {"bodySize": 0, "method": "GET", "url": "ws://localhost:8765/", "httpVersion": "HTTP/1.1",
                    "headers": headers(Host="localhost:8765", User_Agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
                                       "Gecko/20100101 Firefox/128.0", Sec_WebSocket_Version="13",
                                       Origin="http://localhost:8765", Sec_WebSocket_Extensions="permessage-deflate",
                                       Sec_WebSocket_Key=KEY, Connection="keep-alive, Upgrade", Pragma="no-cache",
                                       Cache_Control="no-cache", Upgrade="websocket"),
                    "cookies": [], "queryString": [], "headersSize": 493},
        "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                     "headers": headers(Upgrade="websocket", Connection="Upgrade",
                                        Sec_WebSocket_Accept=accept_key(KEY)),
                     "cookies": [], "content": {"mimeType": "", "size": 0}, "redirectURL": "", "headersSize": 129,
                     "bodySize": 129},
        "cache": {}, "timings": {"blocked": 0, "dns": 0, "connect": 0, "ssl": 0, "send": 0, "wait": 1, "receive": 0},
        "time": 1, "_securityState": "insecure", "serverIPAddress": "127.0.0.1", "connection": "8765",
        "pageref": "page_1",
    }
    return {"log": {"version": "1.1", "creator": {"name": "Firefox", "version": "128.0"},
                    "browser": {"name": "Firefox", "version": "128.0"},
                    "pages": [{"startedDateTime": "2024-05-01T12:00:00.000+02:00", "id": "page_1",
                               "title": "http://localhost:8765/", "pageTimings": {"onContentLoad": -1, "onLoad": -1}}],
                    "entries": [entry]}}


def save(tmp_path, har, name="export.har"):
    path = tmp_path / name
    path.write_text(json.dumps(har), encoding="utf-8")
    return path


def test_chromes_export_has_the_handshake_and_every_message(tmp_path):
    trace = load_har(save(tmp_path, chrome_har(chrome_entry())))
    assert trace.connections == [1] and trace.started == T0
    request, response = trace.handshakes
    assert (request.method, request.path, request.version) == ("GET", "/chat?room=1", "HTTP/1.1")
    assert request.header("Sec-WebSocket-Key") == KEY and request.header("Origin") == "http://127.0.0.1:8765"
    assert response.status == 101 and response.accept.ok and not request.problems and not response.problems
    assert [(f.sender, f.opcode, f.payload, f.masked, f.fin) for f in trace.frames] == [
        ("client", "TEXT", b"Hello Server", False, True), ("server", "TEXT", b"Hello Client", False, True),
        ("client", "BINARY", BINARY, False, True), ("server", "BINARY", BINARY, False, True),
        ("server", "TEXT", "服务器收到消息: 你好".encode(), False, True)]
    assert [round(f.t, 6) for f in trace.frames] == [0.010, 0.012, 0.020, 0.021, 0.030]
    assert round(response.t * 1000, 3) == 3.5  # blocked + wait, as Chrome's timings say
    assert trace.messages() == ["Hello Server", "Hello Client", BINARY, BINARY, "服务器收到消息: 你好"]
    assert [(r.sender, r.state) for r in trace.filter("state")] == [("server", "OPEN"), ("client", "OPEN")]
    # Rebuilt unmasked on purpose, which the trace says rather than flagging every client frame.
    assert not trace.errors
    [note] = trace.filter("note")
    assert note.text.startswith(MESSAGE_LEVEL) and note.t == 0.0
    for words in ("masks", "control frames", "fragmentation", "close codes", "unmasked"):
        assert words in note.text
    explained = trace.frames[2].explain()
    assert "opcode=0x2" in explained and "MASK=0" in explained and "(16-bit)" in explained
    [finding] = trace.diagnose()
    assert finding.severity == "info" and "not in a HAR" in finding.text
    ax = trace.plot()
    try:
        assert [t.get_text() for t in ax.texts if "Hello Server" in t.get_text()]
    finally:
        import matplotlib.pyplot as plt

        plt.close(ax.figure)


def test_a_har_trace_saves_loads_and_exports_a_pcap(tmp_path):
    from wslab import load_pcap

    trace = load_har(save(tmp_path, chrome_har(chrome_entry())))
    trace.save(tmp_path / "har.json")
    assert load(tmp_path / "har.json") == trace
    trace.to_pcap(tmp_path / "har.pcap")
    assert [(f.sender, f.payload) for f in load_pcap(tmp_path / "har.pcap").frames] == [
        (f.sender, f.payload) for f in trace.frames]


def test_negotiated_permessage_deflate_is_no_problem(tmp_path):
    entry = chrome_entry(extensions="permessage-deflate; client_max_window_bits=15")
    trace = load_har(save(tmp_path, chrome_har(entry)))
    # The browser logs messages after inflating them; rebuilt uncompressed frames are valid with the extension on.
    assert trace.messages()[0] == "Hello Server" and not trace.errors
    assert not any(f.compressed for f in trace.frames)


def test_firefoxs_export_has_the_handshake_only_and_says_so(tmp_path):
    trace = load_har(save(tmp_path, firefox_har()))
    assert trace.started == T0  # Firefox's 12:00 at +02:00 is Chrome's 10:00Z
    request, response = trace.handshakes
    assert request.path == "/" and response.status == 101 and response.accept.ok
    assert not trace.frames
    texts = [r.text for r in trace.filter("note")]
    assert texts[0].startswith(MESSAGE_LEVEL)
    assert texts[1].startswith("HAR: no messages") and "Firefox's DevTools don't export WebSocket messages" in texts[1]
    assert "not in a HAR" in trace.diagnose().text


def test_several_connections_errors_rejections_and_millisecond_times(tmp_path):
    later = "2024-05-01T10:00:05.000Z"
    errors = [{"type": "send", "time": (T0 + 5.1) * 1000, "opcode": 1, "data": "ms"},  # Playwright: milliseconds
              {"type": "error", "time": (T0 + 5.2) * 1000, "opcode": -1, "data": "net::ERR_CONNECTION_RESET"}]
    refused = chrome_entry(url="ws://127.0.0.1:8765/private", started="2024-05-01T10:00:02.000Z", status=403,
                           messages=[])
    http_url = chrome_entry(url="http://127.0.0.1:8765/plain", started=later, messages=errors)  # 101 + http://
    del http_url["_resourceType"]
    trace = load_har(save(tmp_path, chrome_har(chrome_entry(), http_url, refused)))
    assert trace.connections == [1, 2, 3]
    assert [r.path for r in trace.handshakes if r.sender == "client"] == ["/chat?room=1", "/private", "/plain"]
    [frame] = trace.filter("frame", conn=3)
    assert frame.payload == b"ms" and frame.t == pytest.approx(5.1)
    assert any(r.text == "HAR: the browser reported 'error' (opcode -1): net::ERR_CONNECTION_RESET"
               for r in trace.filter("note", conn=3))
    assert "handshake rejected: 403 Forbidden" in trace.diagnose().about(2).text


@pytest.mark.parametrize("content, words", [
    ("not json", "not a HAR file"),
    (json.dumps({"wslab_trace": 1}), "not a HAR file"),
    (json.dumps({"log": {"entries": [{"request": {"url": "http://example.test/"}, "response": {"status": 200}}]}}),
     "no WebSocket connection in this HAR (1 entries"),
])
def test_a_file_that_is_not_a_har_with_websockets_is_a_clear_error(tmp_path, content, words):
    path = tmp_path / "x.har"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"x\.har") as info:
        load_har(path)
    assert words in str(info.value)


# ---------------------------------------------------------------------------
# A real browser's HAR: Chromium, recorded by Playwright, against a lab.
# ---------------------------------------------------------------------------


def test_chromiums_har_has_the_messages_the_lab_saw(sync_playwright_api, chromium_path, tmp_path):
    har_path = tmp_path / "chromium.har"
    with Lab("chat") as lab:
        with sync_playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
            try:
                context = browser.new_context(record_har_path=str(har_path))
                page = context.new_page()
                page.goto(lab.http_url)  # the chat page opens its own WebSocket ...
                sync_playwright_api.expect(page.locator("#status")).to_contain_text("connected to ws://")
                # ... and a second one sends a text and a binary message; the chat server broadcasts
                # each to both, and this one closes with 4000 once it has both back.
                closed = page.evaluate("""url => new Promise(resolve => {
                    const ws = new WebSocket(url);
                    ws.binaryType = 'arraybuffer';
                    ws.onopen = () => { ws.send('Hello Server'); ws.send(new Uint8Array([0, 1, 2, 250, 255])); };
                    let n = 0;
                    ws.onmessage = () => { if (++n === 2) ws.close(4000, 'done'); };
                    ws.onclose = event => resolve(event.code);
                })""", lab.url)
                assert closed == 4000
                context.close()  # writes the HAR
            finally:
                browser.close()
        lab_trace = lab.trace
    trace = load_har(har_path)
    assert json.loads(har_path.read_text())["log"]["creator"]["name"] == "Playwright"
    assert len(trace.connections) == 2  # the page's document entry is no WebSocket
    data = sorted((f.sender, f.opcode, f.payload) for f in trace.frames)
    wire = sorted((f.sender, f.opcode, f.payload) for f in lab_trace.frames if f.opcode in ("TEXT", "BINARY"))
    assert data == wire and len(data) == 6  # two sent, each received on both connections
    assert sorted(h.header("Sec-WebSocket-Key") for h in trace.handshakes if h.sender == "client") == sorted(
        h.header("Sec-WebSocket-Key") for h in lab_trace.handshakes if h.sender == "client" and h.header("Upgrade"))
    # The lab saw what the HAR can't have: the masks and the closing handshake with its code.
    assert all(f.masked for f in lab_trace.frames if f.sender == "client")
    closes = {(f.sender, f.close_code) for f in lab_trace.frames if f.opcode == "CLOSE"}
    assert {("client", 4000), ("server", 4000)} <= closes  # (the page's own socket goes away with 1001)
    assert not trace.filter(opcode="CLOSE") and not trace.errors
