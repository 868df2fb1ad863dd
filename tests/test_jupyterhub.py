"""A real JupyterHub: two students run notebook 04 and chat from their browsers through the hub.

This is the set-up a class has: JupyterHub (``jupyterhub`` package) behind
configurable-http-proxy (npm), one single-user JupyterLab per student started
by ``SimpleLocalProcessSpawner``, jupyter-server-proxy in those servers, and
Debian's Chromium driven by Playwright as each student's browser. Everything
listens on 127.0.0.1 on free ports; the hub's config, database, cookie secret
and the students' home folders live in the test's tmp_path.

For each of alice and bob, in their own browser context (their own cookies):

1. log in on the hub's login page (``DummyAuthenticator``, any password);
2. open ``04-chat.ipynb`` (a copy, outputs stripped, in their home) in their
   JupyterLab and run it, from the Run menu, up to and including the cell that
   shows the chat page: that cell makes the chat lab (``Lab("chat")``) and shows
   ``lab.http_url`` as a link and an IFrame;
3. check the notebook's IFrame connects through the hub's proxy;
4. open the printed ``lab.http_url`` on the hub's origin in a new page, and
   type a message of their own.

Then the test reads each kernel's trace over the Jupyter kernel WebSocket API
(through the hub, with a service token): alice's message is in alice's trace
and not in bob's, and the other way round; and the handshake shows what the
proxies made of the browser's request.

Processes: the hub, configurable-http-proxy, two single-user servers and their
kernels. The hub stops the servers and the proxy when it gets SIGTERM; anything
still alive after that is found by a marker in its environment (set only for
this test's processes) and killed by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import websockets.sync.client
from conftest import launched_chromium
from helpers import TIMEOUT_FACTOR, free_port
from test_jupyterlab import CODE_CELLS, KERNEL_STATUS, PANEL, VIEWPORT, source, strip_outputs

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "04-chat.ipynb"
BIN = Path(sys.executable).parent  # .venv/bin: jupyterhub, jupyterhub-singleuser
USERS = ("alice", "bob")
SHOWS_THE_PAGE = re.compile(r"\bIFrame\(lab\.http_url\b|\blab\.page_frame\(")  # 04's browser cell

# Deadlines (scaled by WSLAB_TESTS_TIMEOUT_FACTOR); what a run takes on a loaded 2-core machine in brackets.
HUB_TIMEOUT = 60 * TIMEOUT_FACTOR        # s, hub and proxy answering (3-5 s)
SPAWN_TIMEOUT = 90 * TIMEOUT_FACTOR      # s, both single-user servers ready (5-10 s)
UI_TIMEOUT = 60_000 * TIMEOUT_FACTOR     # ms, JupyterLab loaded, kernel idle (5-10 s)
RUN_TIMEOUT = 90_000 * TIMEOUT_FACTOR    # ms, notebook cells run (3-5 s)
STEP_TIMEOUT = 15_000 * TIMEOUT_FACTOR   # ms, one chat step in a page (well under 1 s)
KERNEL_TIMEOUT = 30 * TIMEOUT_FACTOR     # s, one execute request over the kernel WebSocket (< 1 s)
STOP_TIMEOUT = 30 * TIMEOUT_FACTOR       # s, the hub stopping its servers and proxy (2-5 s)

CONFIG = """\
# Written by tests/test_jupyterhub.py for one test run.
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.pid_file = {proxy_pid!r}
c.JupyterHub.db_url = "sqlite:///" + {db!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = {spawn_timeout}
c.Spawner.http_timeout = {spawn_timeout}
# The test itself: a service whose token creates users, starts their servers and reaches their APIs.
c.JupyterHub.services = [{{"name": "wslab-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "wslab-test", "services": ["wslab-test"],
                             "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
"""

# Run in each student's kernel after the notebook's cells: what its lab saw, as one JSON line.
# Cookie values are credentials (the hub's session for that user): only their names leave the kernel.
REPORT = """\
def _wslab_report():
    import json, os
    trace = lab.trace
    def headers(request):
        return [[k, v if k.lower() != "cookie" else "; ".join(c.split("=", 1)[0] for c in v.split("; "))]
                for k, v in request.headers]
    status = {r.conn: r.status for r in trace.handshakes if r.sender == "server"}
    requests = [r for r in trace.handshakes if r.sender == "client"]
    sockets, pages = [], []
    for request in requests:
        if status.get(request.conn) == 200:  # the chat page itself (GET /)
            pages.append({"conn": request.conn, "path": request.path, "headers": headers(request)})
        elif status.get(request.conn) == 101:
            frames = [f for f in trace.frames if f.conn == request.conn]
            sockets.append({
                "conn": request.conn, "path": request.path, "headers": headers(request),
                "texts": [f.text for f in frames if f.sender == "client" and f.opcode == "TEXT"],
                "client_masked": all(f.masked for f in frames if f.sender == "client"),
                "server_masked": any(f.masked for f in frames if f.sender == "server"),
                "closes": [[f.sender, f.close_code] for f in frames if f.opcode == "CLOSE"],
            })
    return json.dumps({"http_url": lab.http_url, "local_http_url": lab.local_http_url, "port": lab.port,
                       "prefix": os.environ.get("JUPYTERHUB_SERVICE_PREFIX"),
                       "messages": trace.messages("client"), "sockets": sockets, "pages": pages})
print(_wslab_report())
"""


# Run in a student's kernel: block until the lab has answered the Close of the connection that
# carried ``text`` (woken by each record the lab makes, as test_browser.wait_for_record).
WAIT_FOR_CLOSE = """\
def _wslab_wait(text, timeout):
    import time
    deadline = time.monotonic() + timeout
    frames = lambda: [r for r in lab.recorder.records if r.kind == "frame"]
    with lab.recorder.changed:
        while True:
            conns = {{r.conn for r in frames() if r.sender == "client" and r.opcode == "TEXT" and r.text == text}}
            if any(r.conn in conns and r.sender == "server" and r.opcode == "CLOSE" for r in frames()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no closing handshake on the connection that carried {{text!r}}")
            lab.recorder.changed.wait(max(0.0, deadline - time.monotonic()))
_wslab_wait({text!r}, {timeout!r})
"""


def pids_with_marker(marker: str) -> list[int]:
    """PIDs of the processes whose environment holds ``marker`` (``NAME=value``): this test's, no others."""
    needle = marker.encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if needle in environ:
                pids.append(int(entry.name))
    return pids


class Hub:
    """JupyterHub with configurable-http-proxy, configured in ``root``; :meth:`stop` ends all it started."""

    def __init__(self, spawn, root: Path, chp: str) -> None:
        self.root = root
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.service_token = secrets.token_hex(32)
        # In the environment of every process of this hub (the spawner passes Spawner.environment on).
        self.marker = ("WSLAB_HUB_TEST", uuid.uuid4().hex)
        (root / "home").mkdir(parents=True)
        path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
        environment = {
            "PATH": path,  # the venv's jupyter, python for kernels
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            self.marker[0]: self.marker[1],
        }
        if os.environ.get("PYTHONPATH"):  # the wslab under test (a worktree) rather than an installed one
            environment["PYTHONPATH"] = os.environ["PYTHONPATH"]
        args = ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:  # containers and CI runners often run as root
            args.append("--allow-root")
        config = root / "jupyterhub_config.py"
        config.write_text(CONFIG.format(
            hub_port=self.port, api_port=free_port(), proxy_api_port=free_port(), chp=chp,
            proxy_pid=str(root / "proxy.pid"), db=str(root / "jupyterhub.sqlite"),
            cookie_secret=str(root / "jupyterhub_cookie_secret"), home_template=str(root / "home" / "{username}"),
            singleuser=str(BIN / "jupyterhub-singleuser"), args=args, environment=environment,
            spawn_timeout=int(SPAWN_TIMEOUT), service_token=self.service_token))
        self.process = spawn([str(BIN / "jupyterhub"), "-f", str(config)], cwd=str(root),
                             env={"PATH": path, self.marker[0]: self.marker[1]})

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def request(self, path: str, method: str = "GET", body: dict | None = None,
                timeout: float = 30 * TIMEOUT_FACTOR) -> dict | list:
        """A hub or single-user API call through the proxy, with the test's service token; its JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.origin}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.service_token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def wait_until_up(self) -> None:
        """Poll the hub's API through the proxy until it answers."""
        deadline = time.monotonic() + HUB_TIMEOUT
        while True:
            if self.process.proc.poll() is not None:
                self.process.wait(5)
                pytest.fail(f"jupyterhub exited ({self.process.proc.returncode}):\n{self.process.output}",
                            pytrace=False)
            try:
                if "version" in self.request("/hub/api/", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the hub did not answer at {self.origin} within {HUB_TIMEOUT} s:\n"
                            f"{self.process.output}", pytrace=False)
            time.sleep(0.25)

    def start_servers(self, users: tuple[str, ...]) -> None:
        """Create the users and start their servers at once, then wait until all are ready."""
        self.request("/hub/api/users", "POST", {"usernames": list(users)})
        for user in users:
            self.request(f"/hub/api/users/{user}/server", "POST", {})
        deadline = time.monotonic() + SPAWN_TIMEOUT
        waiting = set(users)
        while waiting:
            for user in sorted(waiting):
                server = self.request(f"/hub/api/users/{user}")["servers"].get("", {})
                if server.get("ready"):
                    waiting.discard(user)
            if waiting and time.monotonic() > deadline:
                pytest.fail(f"the servers of {sorted(waiting)} were not ready within {SPAWN_TIMEOUT} s:\n"
                            f"{self.process.output}", pytrace=False)
            if waiting:
                time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM: the hub stops the single-user servers (and their kernels) and the proxy; then a sweep."""
        if self.process.proc.poll() is None:
            self.process.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                self.process.proc.wait(STOP_TIMEOUT)
        self.process.kill()
        for pid in pids_with_marker("=".join(self.marker)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Kernel:
    """A client of a running kernel over the Jupyter kernel WebSocket API, through the hub."""

    def __init__(self, hub: Hub, user: str, kernel_id: str) -> None:
        self.session = uuid.uuid4().hex
        url = (f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{kernel_id}/channels"
               f"?session_id={self.session}")
        self.ws = websockets.sync.client.connect(
            url, additional_headers={"Authorization": f"token {hub.service_token}"}, open_timeout=KERNEL_TIMEOUT,
            max_size=None, proxy=None, legacy=True)

    def run(self, code: str) -> str:
        """Execute ``code`` in the kernel; its stdout. An error in the kernel fails the test."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": "wslab-test", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out: list[str] = []
        deadline = time.monotonic() + KERNEL_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no answer from the kernel within {KERNEL_TIMEOUT} s to:\n{code}", pytrace=False)
            message = json.loads(self.ws.recv(timeout=remaining))
            if message.get("parent_header", {}).get("msg_id") != msg_id or message.get("channel") != "iopub":
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "error":
                pytest.fail(f"the kernel raised {content['ename']}: {content['evalue']} running:\n{code}",
                            pytrace=False)
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def hub(spawn, tmp_path, jupyterhub, jupyter_server_proxy, chp_path, missing_tool):
    for name in ("jupyterhub", "jupyterhub-singleuser"):
        if not os.access(BIN / name, os.X_OK):
            missing_tool(f"{name} ({BIN / name})", "pip install -e '.[test]'")
    if not NOTEBOOK.is_file():  # the test is about this notebook: never a skip
        pytest.fail(f"{NOTEBOOK} is missing", pytrace=False)
    hub = Hub(spawn, tmp_path / "hub", chp_path)
    try:
        hub.wait_until_up()
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def browser(sync_playwright_api, chromium_path):
    with launched_chromium(sync_playwright_api, chromium_path) as browser:
        yield browser


def prepare_home(hub: Hub, user: str) -> list[dict]:
    """The student's home: notebook 04 (outputs stripped) and JupyterLab without popups; its code cells."""
    home = hub.home(user)
    home.mkdir(parents=True, exist_ok=True)
    served = home / NOTEBOOK.name
    served.write_bytes(NOTEBOOK.read_bytes())
    # What a user could set in Settings → Notifications: no news, no update checks (no toasts over the page).
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    return [cell for cell in strip_outputs(served)["cells"] if cell["cell_type"] == "code"]


def log_in(browser, hub: Hub, user: str):
    """A browser context of the student's own, logged in on the hub's login page, at their notebook."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT)
    page = context.new_page()
    target = f"/user/{user}/lab/tree/{NOTEBOOK.name}"
    page.goto(f"{hub.origin}/hub/login?next={urllib.parse.quote(target)}")
    page.fill("#username_input", user)
    page.fill("#password_input", "any password: DummyAuthenticator")
    page.click("#login_submit")
    page.wait_for_url(f"{hub.origin}{target}*")  # via the hub's OAuth dance with the student's server
    return context, page


def wait_for_kernel(page) -> None:
    """Wait until the notebook's kernel (python3, named in the notebook) is started and idle."""
    page.wait_for_function(
        """([idle, name]) => document.querySelector(idle) &&
                              !(document.querySelector(name)?.textContent ?? "No Kernel").includes("No Kernel")""",
        arg=[f'{KERNEL_STATUS}[data-status="idle"]', f"{PANEL} .jp-Toolbar-kernelName"], timeout=UI_TIMEOUT)


def run_through(page, expect, cells: list[dict], last: int) -> None:
    """Run the notebook's code cells 0..``last`` from the Run menu (Run All Above Selected Cell)."""
    code = page.locator(CODE_CELLS)
    expect(code).to_have_count(len(cells), timeout=UI_TIMEOUT)
    wait_for_kernel(page)
    # Select the cell after the last one to run (any cell type), then Run → Run All Above Selected Cell.
    all_cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
    index = code.nth(last).evaluate("cell => [...cell.parentElement.children].indexOf(cell)")
    after = all_cells.nth(index + 1)
    after.locator(".jp-Cell-inputWrapper").click()
    expect(after).to_have_class(re.compile(r"\bjp-mod-active\b"))
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="notebook:run-all-above"]').click()
    page.wait_for_function(
        f"""last => {{
            const prompts = [...document.querySelectorAll({json.dumps(CODE_CELLS)})]
                .map(cell => cell.querySelector(".jp-InputPrompt")?.textContent?.trim() ?? "");
            const status = document.querySelector({json.dumps(KERNEL_STATUS)})?.dataset.status;
            return prompts.slice(0, last + 1).every(p => /^\\[\\d+\\]:$/.test(p)) && status === "idle";
        }}""", arg=last, timeout=RUN_TIMEOUT, polling=250)


def test_two_students_chat_through_jupyterhub(hub, browser, sync_playwright_api):
    expect = sync_playwright_api.expect
    started = time.monotonic()
    cells = {user: prepare_home(hub, user) for user in USERS}
    page_cell = next((i for i, cell in enumerate(cells["alice"]) if SHOWS_THE_PAGE.search(source(cell))), None)
    assert page_cell is not None, f"{NOTEBOOK.name} has no cell showing lab.http_url (IFrame or page_frame)"
    hub.start_servers(USERS)
    took = {"servers ready": time.monotonic() - started}

    said = {user: f"{user} says hi through the hub ({secrets.token_hex(4)})" for user in USERS}
    reports = {}
    try:
        for user in USERS:
            context, notebook = log_in(browser, hub, user)
            run_through(notebook, expect, cells[user], page_cell)
            shown = notebook.locator(CODE_CELLS).nth(page_cell)

            # What the kernel printed: the link's address in the output, and lab.http_url itself.
            sessions = [s for s in hub.request(f"/user/{user}/api/sessions") if s["path"].endswith(NOTEBOOK.name)]
            assert len(sessions) == 1, sessions
            kernel = Kernel(hub, user, sessions[0]["kernel"]["id"])
            try:
                http_url = kernel.run("print(lab.http_url)").strip()
                port = kernel.run("print(lab.port)").strip()
                assert http_url == f"/user/{user}/proxy/{port}/"  # JUPYTERHUB_SERVICE_PREFIX + proxy/PORT/
                expect(shown.locator("a").first).to_have_attribute("href", http_url)

                # The notebook's own IFrame: a live chat page, through the hub and jupyter-server-proxy.
                socket_url = f"ws://127.0.0.1:{hub.port}{http_url}"
                frame = shown.frame_locator("iframe").first
                expect(frame.locator("#status")).to_have_text(f"connected to {socket_url}", timeout=STEP_TIMEOUT)

                # The printed URL in a page of its own, on the hub's origin, as a student opens the link.
                page = context.new_page()
                page.goto(hub.origin + http_url)
                expect(page.locator("#status")).to_have_text(f"connected to {socket_url}", timeout=STEP_TIMEOUT)
                page.fill("#input", said[user])
                page.press("#input", "Enter")
                for view in (page, frame):  # the room broadcasts to both of this student's pages
                    expect(view.locator("#messages li").last).to_have_text(said[user], timeout=STEP_TIMEOUT)
                # The page leaves: the proxy closes its connection to the lab; wait for the lab's answer.
                page.close()
                kernel.run(WAIT_FOR_CLOSE.format(text=said[user], timeout=KERNEL_TIMEOUT / 2))
                reports[user] = json.loads(kernel.run(REPORT))
                took[user] = time.monotonic() - started - sum(took.values())
            finally:
                kernel.close()
    except BaseException:
        print(f"jupyterhub's log:\n{hub.process.output}")
        raise
    ran = time.monotonic() - started

    for user, other in (("alice", "bob"), ("bob", "alice")):
        report = reports[user]
        assert report["prefix"] == f"/user/{user}/"  # JupyterHub's variable, in the student's kernel
        assert report["local_http_url"] == f"http://127.0.0.1:{report['port']}/"
        # Each student's message landed in their own lab only.
        assert said[user] in report["messages"]
        assert said[other] not in report["messages"]

        # Two sockets from the browser: the notebook's IFrame and the page the student typed in.
        browser_sockets = [c for c in report["sockets"] if "Chrome/" in header(c, "User-Agent")]
        assert len(browser_sockets) == 2, report["sockets"]
        typed = [c for c in browser_sockets if c["texts"]]
        assert [c["texts"] for c in typed] == [[said[user]]]
        for socket in browser_sockets:
            # The lab sees the proxies' request: the hub's Host and Origin, the proxy prefix
            # gone from the path, X-Forwarded-* added by configurable-http-proxy (none by
            # jupyter-server-proxy on an upgrade), and the student's hub cookies.
            assert socket["path"] == "/"
            assert header(socket, "Host") == f"127.0.0.1:{hub.port}"
            assert header(socket, "Origin") == hub.origin
            assert header(socket, "X-Forwarded-For") == "127.0.0.1"
            assert header(socket, "X-Forwarded-Port") == str(hub.port)
            assert header(socket, "X-Forwarded-Proto") == "ws"
            cookies = header(socket, "Cookie").split("; ")
            assert f"jupyterhub-user-{user}" in cookies and f"jupyterhub-user-{other}" not in cookies
            assert socket["client_masked"] and not socket["server_masked"]  # RFC 6455 §5.1, proxy or not
        # The page closed: the proxy ended its own connection to the lab with an empty Close (1005),
        # not the browser's 1001 (test_browser.py); the lab echoed it. The IFrame's is still open.
        assert typed[0]["closes"] == [["client", None], ["server", None]]
        assert [c["closes"] for c in browser_sockets if c is not typed[0]] == [[]]

        # The page's own GET /, through both proxies: with their forwarding headers.
        browser_pages = [p for p in report["pages"] if "Chrome/" in header(p, "User-Agent")]
        assert len(browser_pages) == 2 and all(p["path"] == "/" for p in browser_pages), report["pages"]
        for page in browser_pages:
            assert header(page, "Host") == f"127.0.0.1:{hub.port}"
            assert header(page, "X-Forwarded-Host") == f"127.0.0.1:{hub.port}"
            assert header(page, "X-Forwarded-Proto") == "http"
            assert header(page, "X-Forwarded-Prefix") == f"/user/{user}/proxy/{report['port']}"
    print(f"JupyterHub, two students: {ran:.1f} s from the hub answering to both traces read ("
          + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in took.items()) + ")")


def header(request: dict, name: str) -> str:
    """The first value of header ``name`` in a reported request, or ``""``."""
    return next((value for key, value in request["headers"] if key.lower() == name.lower()), "")
