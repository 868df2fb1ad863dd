"""A real browser (Debian's Chromium, driven by Playwright) on the article's chat page.

Playwright never downloads a browser here: it launches /usr/bin/chromium.
Set WSLAB_SCREENSHOT=/some/file.png to keep a screenshot of the chat page.
"""

import os
import re
import socket
import sys
import time

import pytest
from conftest import launched_chromium

from wslab import Lab


@pytest.fixture(scope="module")
def browser(sync_playwright_api, chromium_path):
    with launched_chromium(sync_playwright_api, chromium_path) as browser:
        yield browser


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def expect(sync_playwright_api):
    return sync_playwright_api.expect


def open_chat(context, expect, url):
    """A new page on the chat page, once its WebSocket is open."""
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#status")).to_contain_text("connected to ws://")
    return page


def say(page, text):
    page.fill("#input", text)
    page.press("#input", "Enter")


def wait_for_record(lab, predicate, timeout=10.0):
    """Block until the lab has recorded a record matching ``predicate`` (woken by each new record)."""
    deadline = time.monotonic() + timeout
    with lab.recorder.changed:
        while not any(predicate(r) for r in lab.recorder.records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"nothing matching the condition was recorded in {timeout} s:\n{lab.trace}")
            lab.recorder.changed.wait(remaining)


def save_screenshot(page, tmp_path):
    path = tmp_path / "chat.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("WSLAB_SCREENSHOT"):
        page.screenshot(path=os.environ["WSLAB_SCREENSHOT"], full_page=True)


def test_two_browser_pages_chat_through_the_lab(context, expect, tmp_path):
    with Lab("chat") as lab:
        alice = open_chat(context, expect, lab.local_http_url)
        bob = open_chat(context, expect, lab.local_http_url)  # both sockets are open (onopen ran)

        say(alice, "Grüße from Alice")
        for page in (alice, bob):  # the chat server broadcasts to everyone, the sender included
            expect(page.locator("#messages li")).to_have_text(["Grüße from Alice"])
        say(bob, "Hi Alice, Bob here")
        for page in (alice, bob):
            expect(page.locator("#messages li")).to_have_text(["Grüße from Alice", "Hi Alice, Bob here"])
        save_screenshot(bob, tmp_path)

        alice_conn = next(f.conn for f in lab.recorder.records
                          if f.kind == "frame" and f.sender == "client" and f.opcode == "TEXT")
        alice.close()
        wait_for_record(lab, lambda r: r.kind == "frame" and r.conn == alice_conn and r.opcode == "CLOSE"
                        and r.sender == "server")
        # Bob's page is still connected after Alice left.
        expect(bob.locator("#status")).to_have_class("open")
        trace = lab.trace

    ws_conns = sorted({r.conn for r in trace.handshakes if r.status == 101})
    assert len(ws_conns) == 2 and alice_conn in ws_conns
    bob_conn = next(c for c in ws_conns if c != alice_conn)

    # Chromium's own handshake request, with the Origin of the page it came from.
    request = next(r for r in trace.handshakes if r.conn == alice_conn and r.sender == "client")
    assert request.header("Origin") == lab.local_http_url.rstrip("/")
    assert "Chrome/" in request.header("User-Agent")
    assert "permessage-deflate" in request.header("Sec-WebSocket-Extensions")  # offered, declined by the lab

    texts = [(f.conn, f.sender, f.text) for f in trace.frames if f.opcode == "TEXT"]
    assert texts[0] == (alice_conn, "client", "Grüße from Alice")
    assert sorted(texts[1:3]) == sorted([(alice_conn, "server", "Grüße from Alice"),
                                         (bob_conn, "server", "Grüße from Alice")])
    assert texts[3] == (bob_conn, "client", "Hi Alice, Bob here")
    assert sorted(texts[4:]) == sorted([(alice_conn, "server", "Hi Alice, Bob here"),
                                        (bob_conn, "server", "Hi Alice, Bob here")])

    # Closing the page: Chromium starts the closing handshake itself with 1001
    # "going away" (RFC 6455 §7.4.1; the HTML standard says a document being
    # unloaded closes its sockets with 1001) and no reason text (observed with
    # Chromium 156), and websockets echoes the code.
    closes = [(f.sender, f.close_code, f.close_reason) for f in trace.frames
              if f.conn == alice_conn and f.opcode == "CLOSE"]
    assert closes == [("client", 1001, ""), ("server", 1001, "")]
    assert not [f for f in trace.frames if f.conn == bob_conn and f.opcode == "CLOSE"]

    # RFC 6455 §5.1: every frame the browser sent is masked, none of the server's.
    client_frames = [f for f in trace.frames if f.sender == "client"]
    assert len(client_frames) == 3 and all(f.masked and len(f.mask) == 4 for f in client_frames)
    assert not any(f.masked for f in trace.frames if f.sender == "server")
    assert not trace.filter(conn=alice_conn).errors and not trace.filter(conn=bob_conn).errors


def test_fetching_the_chat_page_is_not_reported_as_a_broken_handshake(context, expect):
    """The lab serves the chat page itself; that plain HTTP GET is no failed WebSocket handshake.

    A regression test: the decoder once held every request on the lab's port to
    RFC 6455 §4.2.1, so the browser's ``GET /`` for the page (answered 200 by the
    lab's own ``serve_page`` hook) landed in ``trace.errors`` with four
    "missing Upgrade / Sec-WebSocket-Key / ..." problems.
    """
    with Lab("chat") as lab:
        open_chat(context, expect, lab.local_http_url)
        trace = lab.trace
    page_conns = {r.conn for r in trace.handshakes if r.sender == "server" and r.status == 200}
    assert page_conns, "the browser fetched the page from the lab"
    page_requests = [r for r in trace.handshakes if r.conn in page_conns and r.sender == "client"]
    assert [(r.method, r.path) for r in page_requests] == [("GET", "/")]
    assert [(r.conn, r.problems) for r in page_requests] == [(r.conn, ()) for r in page_requests]


def test_the_page_builds_its_socket_url_from_its_own_location(context, expect):
    """``ws(s)://`` + the page's own folder: direct, under a proxy's path, over http and https."""
    with Lab("chat") as lab:
        page = open_chat(context, expect, lab.local_http_url + "?from=test#top")
        expect(page.locator("#status")).to_have_text(f"connected to ws://127.0.0.1:{lab.port}/")
        cases = {
            "http://127.0.0.1:8765/": "ws://127.0.0.1:8765/",
            "http://127.0.0.1:8765/chat.html": "ws://127.0.0.1:8765/",
            "http://127.0.0.1:8888/user/alice/proxy/8765/": "ws://127.0.0.1:8888/user/alice/proxy/8765/",
            "http://127.0.0.1:8888/user/alice/proxy/8765/chat.html?token=x":
                "ws://127.0.0.1:8888/user/alice/proxy/8765/",
            "https://hub.example/user/alice/proxy/8765/?token=x#top": "wss://hub.example/user/alice/proxy/8765/",
            "https://hub.example:8443/jupyter/user/bob/proxy/8765/":
                "wss://hub.example:8443/jupyter/user/bob/proxy/8765/",
        }
        assert page.evaluate("pages => pages.map(socketUrl)", list(cases)) == list(cases.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_standalone_server_prints_the_browsers_frames(spawn, context, expect):
    port = free_port()
    server = spawn([sys.executable, "-m", "wslab", "serve", "--handler", "chat", "--port", str(port)])
    try:
        url = server.wait_for_line(r"^chat page: (http://\S+)", timeout=15)[1]
        assert url == f"http://127.0.0.1:{port}/"

        alice = open_chat(context, expect, url)
        bob = open_chat(context, expect, url)
        # Both WebSocket handshakes are printed live (lines: "<t> ms  #<conn>  <arrow>  <what>").
        for _ in range(2):
            server.wait_for_line(r"#\d+  ←  HTTP/1\.1 101 Switching Protocols  \(accept ✓\)")

        say(alice, "hello standalone")
        expect(bob.locator("#messages")).to_contain_text("hello standalone")
        say(bob, "loud and clear")
        expect(alice.locator("#messages")).to_contain_text("loud and clear")
        expect(alice.locator("#messages li")).to_have_count(2)

        # The frames were printed as they crossed the wire: the browser's, masked ...
        server.wait_for_line(r"→  TEXT 'hello standalone'  \[16 B, masked\]$")
        # ... and the broadcast back to both pages, unmasked.
        lines = [server.wait_for_line(r"#(\d+)  ←  TEXT 'hello standalone'  \[16 B\]$")[1]
                 for _ in range(2)]
        assert len(set(lines)) == 2
        server.wait_for_line(r"→  TEXT 'loud and clear'  \[14 B, masked\]$")

        # Ctrl-C: the server stops cleanly, closing both pages' connections with 1001.
        assert server.interrupt(timeout=15) == 0, server.output
        assert "stopping (open connections get 1001 going away)" in server.lines
        closes = [line for line in server.lines if re.search(r"←  CLOSE 1001 \(going away\)", line)]
        assert len(closes) == 2, server.output
        for page in (alice, bob):
            expect(page.locator("#status")).to_have_text("closed: code 1001")
        assert "Traceback" not in server.output
    finally:
        server.kill()
