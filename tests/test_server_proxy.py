"""The chat page through jupyter-server-proxy, as a student of a remote JupyterLab opens it.

A plain ``jupyter server`` with a hub-like ``--ServerApp.base_url=/user/alice/``
and a token stands for a remote JupyterLab; jupyter-server-proxy serves the
lab's port at ``/user/alice/proxy/<port>/``. The lab runs in this test's
process, and ``WSLAB_BROWSER_URL`` tells ``lab.http_url`` that address, as a
teacher would for such a server. Chromium logs in with the token, opens the
page, chats, and the lab's trace shows what arrived through the proxy.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import launched_chromium
from helpers import TIMEOUT_FACTOR, free_port
from test_browser import say, wait_for_record

from wslab import Lab

JUPYTER = Path(sys.executable).parent / "jupyter"
BASE_URL = "/user/alice/"
START_TIMEOUT = 30 * TIMEOUT_FACTOR  # s, until the server answers (3 s)
UI_TIMEOUT = 15_000 * TIMEOUT_FACTOR  # ms, one page step (well under 1 s)


class JupyterServer:
    """``jupyter server`` on 127.0.0.1 under :data:`BASE_URL`, isolated under ``home``."""

    def __init__(self, spawn, home: Path) -> None:
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        root = home / "root"
        root.mkdir(parents=True)
        argv = [str(JUPYTER), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.base_url={BASE_URL}",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}"]
        if os.geteuid() == 0:
            argv.append("--ServerApp.allow_root=True")
        env = {"JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython")}
        self.process = spawn(argv, env=env)

    def api(self, path: str, method: str = "GET") -> bytes:
        request = urllib.request.Request(f"{self.origin}{BASE_URL}api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read()

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.proc.poll() is not None:
                self.process.wait(5)
                pytest.fail(f"jupyter server exited:\n{self.process.output}", pytrace=False)
            try:
                json.loads(self.api("status"))
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter server did not answer in {START_TIMEOUT} s:\n{self.process.output}",
                            pytrace=False)
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.proc.poll() is None:
            try:
                self.api("shutdown", method="POST")
                self.process.proc.wait(10 * TIMEOUT_FACTOR)
            except Exception:
                pass
        self.process.kill()


@pytest.fixture
def jupyter_server(spawn, tmp_path, jupyter_server_proxy, missing_tool):
    if not os.access(JUPYTER, os.X_OK):
        missing_tool(f"Jupyter Server ({JUPYTER})", "pip install -e '.[test]'")
    server = JupyterServer(spawn, tmp_path / "jupyter-home")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture
def context(sync_playwright_api, chromium_path):
    with launched_chromium(sync_playwright_api, chromium_path) as browser:
        context = browser.new_context()
        context.set_default_timeout(UI_TIMEOUT)
        yield context


def test_chat_page_through_jupyter_server_proxy(jupyter_server, context, sync_playwright_api, monkeypatch):
    expect = sync_playwright_api.expect
    server = jupyter_server
    # What a teacher sets for a remote JupyterLab that is no hub: the server's own address.
    monkeypatch.setenv("WSLAB_BROWSER_URL", f"{server.origin}{BASE_URL}proxy/{{port}}/")
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    with Lab("chat") as lab:
        proxied = f"{server.origin}/user/alice/proxy/{lab.port}/"
        assert lab.http_url == proxied
        assert lab.local_http_url == f"http://127.0.0.1:{lab.port}/"

        # The student logs in with the token on Jupyter's own login page, then opens the page.
        page = context.new_page()
        page.goto(f"{server.origin}{BASE_URL}login")
        page.fill("#password_input", server.token)
        page.click("#login_submit")
        page.wait_for_url(f"{server.origin}{BASE_URL}**")
        page.goto(lab.http_url)
        # The socket's URL is the page's own folder: through the proxy, not the server's root.
        expect(page.locator("#status")).to_have_text(f"connected to ws://127.0.0.1:{server.port}/user/alice/proxy/"
                                                     f"{lab.port}/")

        # The page and a Python client on the lab's own port are in one room.
        with lab.connect_sync() as frank:
            say(page, "hello through the proxy")
            expect(page.locator("#messages li")).to_have_text(["hello through the proxy"])
            assert frank.recv(timeout=5 * TIMEOUT_FACTOR) == "hello through the proxy"
            frank.send("hello back, from next to the lab")
            expect(page.locator("#messages li")).to_have_text(["hello through the proxy",
                                                               "hello back, from next to the lab"])
            page_conn = next(f.conn for f in lab.trace.frames if f.sender == "client" and f.opcode == "TEXT")
            page.close()
            wait_for_record(lab, lambda r: r.kind == "frame" and r.conn == page_conn and r.opcode == "CLOSE"
                            and r.sender == "server", timeout=10 * TIMEOUT_FACTOR)
        trace = lab.trace

    # What reached the lab: the browser's message, relayed by the proxy's own WebSocket client.
    assert trace.filter(conn=page_conn).messages("client") == ["hello through the proxy"]
    request = next(r for r in trace.handshakes if r.conn == page_conn and r.sender == "client")
    response = next(r for r in trace.handshakes if r.conn == page_conn and r.sender == "server")
    assert (request.method, request.path, response.status) == ("GET", "/", 101)  # the proxy's prefix is gone
    assert request.header("Host") == f"127.0.0.1:{server.port}"  # Jupyter's host, not the lab's
    assert request.header("Origin") == server.origin
    assert "Chrome/" in request.header("User-Agent")  # passed through
    cookies = [c.split("=", 1)[0] for c in (request.header("Cookie") or "").split("; ")]
    assert f"username-127-0-0-1-{server.port}" in cookies  # the Jupyter login cookie reaches the lab
    assert not [name for name, _ in request.headers if name.lower().startswith("x-forwarded")]  # none on the upgrade
    # The page itself came through the proxy too, with its context path.
    page_get = next(r for r in trace.handshakes if r.sender == "client" and r.conn != page_conn and r.method == "GET"
                    and "Chrome/" in (r.header("User-Agent") or ""))
    assert page_get.header("X-Forwarded-Prefix") == f"/user/alice/proxy/{lab.port}"
    assert page_get.header("X-Forwarded-Context") == f"/user/alice/proxy/{lab.port}"

    # RFC 6455 §5.1 still holds on the proxy's connection: its frames masked, the lab's not.
    frames = [f for f in trace.frames if f.conn == page_conn]
    assert all(f.masked for f in frames if f.sender == "client")
    assert not any(f.masked for f in frames if f.sender == "server")
    # Closing the page: where Chromium talks to the lab itself it closes with 1001 (test_browser.py);
    # here the proxy closes its own connection to the lab with an empty Close (reported as 1005).
    assert [(f.sender, f.close_code) for f in frames if f.opcode == "CLOSE"] == [("client", None), ("server", None)]
    assert not trace.filter(conn=page_conn).errors
