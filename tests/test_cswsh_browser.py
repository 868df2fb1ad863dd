"""Cross-site WebSocket hijacking in a real browser (Debian's Chromium, driven by Playwright).

A page on another origin (another port of 127.0.0.1: another origin, RFC 6454 §4) opens a WebSocket to
the lab's chat. The browser sends that page's ``Origin`` (RFC 6455 §4.1, §10.2) and nothing stops the
connection: it joins and reads what others say, unless the server checks ``Origin`` (``Lab(origins=...)``).
"""

from __future__ import annotations

import http.server
import threading

import pytest
from conftest import launched_chromium

from wslab import Lab

PAGE = """<!doctype html><meta charset="utf-8"><title>not the chat</title>
<p id="status">connecting</p><ul id="log"></ul>
<script>
const ws = new WebSocket(new URLSearchParams(location.search).get("lab"));
const status = document.getElementById("status");
ws.onopen = () => { status.textContent = "open"; };
ws.onmessage = (e) => { const li = document.createElement("li"); li.textContent = e.data;
                        document.getElementById("log").append(li); };
ws.onclose = (e) => { status.textContent = "closed " + e.code; };
</script>"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def other_site():
    """``http://127.0.0.1:PORT/``: the attacker's page, on an origin that is not the lab's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(sync_playwright_api, chromium_path):
    with launched_chromium(sync_playwright_api, chromium_path) as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def origins_sent(lab):
    return [r.event.header("Origin") for r in lab.trace.handshakes if r.event.sender == "client"]


def test_a_page_on_another_origin_joins_the_chat_and_reads_it(page, other_site, sync_playwright_api):
    expect = sync_playwright_api.expect
    with Lab("chat") as lab:
        page.goto(f"{other_site}/?lab={lab.url}")
        expect(page.locator("#status")).to_have_text("open")
        with lab.connect_sync(origin=lab.local_http_url.rstrip("/")) as alice:
            alice.send("the meeting is at noon")
            assert alice.recv(timeout=5) == "the meeting is at noon"
            expect(page.locator("#log")).to_contain_text("the meeting is at noon")
        page.close()
    assert other_site in origins_sent(lab)  # the browser said where the page came from; nobody looked


def test_an_origin_check_refuses_it_with_403(page, other_site, sync_playwright_api):
    expect = sync_playwright_api.expect
    with Lab("chat", origins=["http://chat.example"]) as lab:
        page.goto(f"{other_site}/?lab={lab.url}")
        expect(page.locator("#status")).to_have_text("closed 1006")  # the API hides why (WHATWG: no status)
        lab.wait_for(lambda r: r.kind == "handshake" and r.event.status == 403)
        page.close()
    statuses = [r.event.status for r in lab.trace.handshakes if r.event.sender == "server"]
    assert statuses == [403], lab.trace
    assert origins_sent(lab) == [other_site]
