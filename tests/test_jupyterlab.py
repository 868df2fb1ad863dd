"""End to end: notebook 00 run through JupyterLab's own UI, in a real browser.

nbval runs the notebooks in a kernel of its own; this test runs
``notebooks/00-start-here.ipynb``, the student version ``make lab`` opens, where
students run it: ``jupyter lab`` on 127.0.0.1 (with a token), Debian's Chromium
driven by Playwright, Run → Run All Cells from the menu bar. It then checks what
a student would see: every code cell executed, the timeline drawn as an image,
no cell showing an error but the exercises' checks (their solutions are not
written yet), which show the message that helps and no traceback. It also saves
the notebook from the UI and checks the saved file.

JupyterLab serves a copy of the notebooks folder in a temporary directory, with
the stored outputs stripped (so the image and execution counts checked come from
this run); the repository's notebook is never touched. Its settings,
workspaces, runtime files and IPython profile live in that directory too, so a
developer's own JupyterLab setup can't change the result, and the news and
update-check popups are off, so nothing covers the page.

A screenshot of the timeline as JupyterLab shows it is saved to
``$WSLAB_SCREENSHOT_DIR/wslab_jupyterlab.png`` (default: pytest's tmp_path);
``docs/jupyterlab.png`` is one of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
from conftest import launched_chromium

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = "00-start-here.ipynb"
JUPYTER = Path(sys.executable).parent / "jupyter"  # .venv/bin/jupyter, next to the tests' Python
SCREENSHOT_NAME = "wslab_jupyterlab.png"

# As in test_browser.py: Debian's Chromium, nothing downloaded, nothing phoning home.
VIEWPORT = {"width": 1400, "height": 1000}

# JupyterLab's DOM (4.6), as inspected:
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"           # the open notebook (tab panel)
CODE_CELLS = f"{PANEL} .jp-Notebook .jp-CodeCell"          # every code cell (windowing mode
#                                                            "contentVisibility" keeps all in the DOM)
PROMPT = ".jp-InputPrompt"                                 # "[ ]:", "[*]:" (queued/running), "[7]:"
KERNEL_STATUS = f"{PANEL} .jp-Notebook-ExecutionIndicator" # toolbar circle, data-status="idle"|"busy"|...
OUTPUT = ".jp-OutputArea-output"                           # one rendered output, with data-mime-type
# An error output and a stderr stream render alike: RenderedText with this MIME type.
STDERR = f'{OUTPUT}[data-mime-type="application/vnd.jupyter.stderr"]'
RUN_ALL = '.lm-Menu-item[data-command="runmenu:run-all"]'  # Run → Run All Cells (mainmenu-extension)

# The last line of an IPython error display ("ZeroDivisionError: division by zero"); a
# SyntaxError's display has no "Traceback" line, so look for this too.
ERROR_LINE = re.compile(r"^\w*(Error|Exception|Interrupt|Exit)\b(:|$)", re.MULTILINE)

# Upper bounds for a loaded machine; a run takes 20-30 s in all.
START_TIMEOUT = 30     # s, jupyter lab answering /api/status (3 s)
UI_TIMEOUT = 45_000    # ms, JupyterLab loaded with all cells, kernel idle (5-10 s)
RUN_TIMEOUT = 60_000   # ms, all cells run (5 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strip_outputs(path: Path) -> dict:
    """Remove the stored outputs and counts from the notebook at ``path``; its JSON."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return nb


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def raises_exception(cell: dict) -> bool:
    return "raises-exception" in cell.get("metadata", {}).get("tags", [])


def is_check(cell: dict) -> bool:
    """An exercise's autograded test cell (nbgrader metadata): it fails in the student version."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade", False)


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def post(url: str, timeout: float = 5) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=timeout).close()


def pids_mentioning(marker: str) -> list[int]:
    """PIDs of processes whose command line contains ``marker`` (a path only our processes use)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
    return pids


class JupyterLab:
    """``jupyter lab`` serving ``root``, isolated under ``home``; :meth:`stop` ends it and its kernels."""

    def __init__(self, spawn, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.runtime = home / "runtime"  # kernels' connection files: their command lines name it
        settings = home / "settings"
        # Settings a user could also set in Settings → Notifications: never ask about the
        # news, never check for updates (the toasts would cover the page; and no internet).
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        argv = [
            str(JUPYTER), "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",  # no news feed handler fetching from the internet
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ]
        if os.geteuid() == 0:  # containers and CI runners often run as root
            argv.append("--ServerApp.allow_root=True")
        env = {
            "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime), "IPYTHONDIR": str(home / "ipython"),
            # What ipykernel picks when MPLBACKEND is unset; set, in case the test run has e.g. Agg.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        self.process = spawn(argv, env=env, cwd=str(root))

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def wait_until_up(self, timeout: float = START_TIMEOUT) -> dict:
        """Poll ``/api/status`` until the server answers; its JSON."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.proc.poll() is not None:
                self.process.wait(5)
                pytest.fail(f"jupyter lab exited ({self.process.proc.returncode}):\n{self.process.output}",
                            pytrace=False)
            try:
                return json.loads(get(self.url("/api/status")))
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {timeout} s:\n{self.process.output}", pytrace=False)
            time.sleep(0.2)

    def stop(self) -> None:
        """Shut down the server (it shuts down its kernels), then make sure nothing of ours is left."""
        if self.process.proc.poll() is None:
            try:
                post(self.url("/api/shutdown"))
                self.process.proc.wait(10)
            except Exception:
                pass
        self.process.kill()
        # Kernels run in sessions of their own; any left behind is found by its connection file.
        for pid in pids_mentioning(str(self.runtime)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def served_notebooks(tmp_path) -> Path:
    """A copy of the notebooks folder, the one JupyterLab serves and runs."""
    original = NOTEBOOKS / NOTEBOOK
    if not original.is_file():  # the test is about this notebook: never a skip
        pytest.fail(f"{original} is missing", pytrace=False)
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return root


@pytest.fixture
def jupyter_lab(spawn, served_notebooks, tmp_path, missing_tool):
    if importlib.util.find_spec("jupyterlab") is None or not os.access(JUPYTER, os.X_OK):
        missing_tool(f"JupyterLab ({JUPYTER})", "make install (pip install -e '.[test]')")
    lab = JupyterLab(spawn, served_notebooks, tmp_path / "jupyter-home")
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def page(sync_playwright_api, chromium_path):
    with launched_chromium(sync_playwright_api, chromium_path) as browser:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(UI_TIMEOUT)
        yield context.new_page()


def wait_for_kernel(page) -> None:
    """Wait until the notebook's kernel is idle, choosing python3 if JupyterLab asks for a kernel."""
    deadline = time.monotonic() + UI_TIMEOUT / 1000
    idle = page.locator(f'{KERNEL_STATUS}[data-status="idle"]')
    # Shown when the notebook names no kernel JupyterLab knows; its options' values are JSON.
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-Dialog-header", has_text="Select Kernel"))
    kernel_name = page.locator(f"{PANEL} .jp-Toolbar-kernelName")
    while time.monotonic() < deadline:
        if dialog.count():
            dialog.locator("select").select_option(value=json.dumps({"name": "python3"}, separators=(",", ":")))
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        elif idle.count() and "No Kernel" not in kernel_name.inner_text():
            return
        page.wait_for_timeout(200)
    pytest.fail(f"the kernel did not become idle within {UI_TIMEOUT / 1000} s "
                f"(status: {page.locator(KERNEL_STATUS).get_attribute('data-status')})", pytrace=False)


# Evaluated in the page: the prompts of all code cells, and the kernel status.
STATE_JS = f"""() => ({{
    prompts: [...document.querySelectorAll({json.dumps(CODE_CELLS)})]
        .map(cell => (cell.querySelector({json.dumps(PROMPT)}) || {{}}).textContent?.trim() ?? ""),
    status: document.querySelector({json.dumps(KERNEL_STATUS)})?.dataset.status,
}})"""


def run_all_cells(page, expected_cells: int) -> list[str]:
    """Run → Run All Cells, wait until the run is over; the cells' input prompts."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    item = page.locator(RUN_ALL)
    assert item.inner_text().strip().startswith("Run All Cells")
    item.click()
    # Started: some cell queued ([*]) or done ([n]); finished: no [*] left and the kernel idle
    # (on an error the remaining cells are not run and go back to "[ ]:").
    page.wait_for_function(
        f"""() => {{
            const s = ({STATE_JS})();
            return s.prompts.some(p => p.includes("*") || /\\d/.test(p));
        }}""", timeout=UI_TIMEOUT)
    page.wait_for_function(
        f"""() => {{
            const s = ({STATE_JS})();
            return s.prompts.length === {expected_cells} && !s.prompts.some(p => p.includes("*"))
                && s.status === "idle";
        }}""", timeout=RUN_TIMEOUT, polling=250)
    return page.evaluate(STATE_JS)["prompts"]


def save_notebook(page, path: Path, expected_counts: list[int], timeout: float = 15) -> dict:
    """File → Save Notebook (Ctrl+S) and wait until the file on disk has this run's counts; its JSON."""
    page.locator(f"{PANEL} .jp-Notebook").press("Control+s")
    deadline = time.monotonic() + timeout
    while True:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if [cell.get("execution_count") for cell in code_cells(nb)] == expected_counts:
                return nb
        except (OSError, json.JSONDecodeError):  # not written yet, or being written
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"saving from JupyterLab did not write this run's execution counts to {path}",
                        pytrace=False)
        time.sleep(0.2)


# The fraction of the element's height visible in the notebook's scrolling area.
VISIBLE_JS = """element => {
    const scroller = element.closest('.jp-WindowedPanel-outer') || document.documentElement;
    const box = element.getBoundingClientRect(), view = scroller.getBoundingClientRect();
    const visible = Math.min(box.bottom, view.bottom) - Math.max(box.top, view.top);
    return box.height > 0 ? Math.max(0, visible) / box.height : 0;
}"""


def show_timeline(page, cell, image) -> None:
    """Scroll the notebook so the timeline cell's code is at the top and its image fully visible.

    Scrolling makes JupyterLab render the cells around (content-visibility), which can change
    their heights and move the target: scroll again until the image stays put, fully visible.
    """
    top = "img => Math.round(img.getBoundingClientRect().top)"
    for _ in range(10):
        cell.evaluate("cell => cell.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(200)
        if image.evaluate(VISIBLE_JS) < 1:  # code and image taller than the notebook area
            image.evaluate("img => img.scrollIntoView({block: 'end'})")
            page.wait_for_timeout(200)
        before = image.evaluate(top)
        page.wait_for_timeout(300)
        if image.evaluate(VISIBLE_JS) == 1 and image.evaluate(top) == before:
            return
    pytest.fail("could not scroll the timeline image fully into view", pytrace=False)


def screenshot_dir(default: Path) -> Path:
    directory = Path(os.environ.get("WSLAB_SCREENSHOT_DIR") or default)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_notebook_00_runs_in_jupyterlab(jupyter_lab, page, served_notebooks, tmp_path, sync_playwright_api):
    expect = sync_playwright_api.expect
    started = time.monotonic()
    served = served_notebooks / NOTEBOOK
    cells = code_cells(strip_outputs(served))
    plot_cells = [i for i, cell in enumerate(cells) if re.search(r"\btrace\.plot\(", source(cell))]
    assert cells and plot_cells, f"{NOTEBOOK} should have code cells, one drawing the timeline with trace.plot()"
    assert len([cell for cell in cells if is_check(cell) and raises_exception(cell)]) == 2, "00 has two exercises"
    timeline_index = plot_cells[0]

    assert "started" in jupyter_lab.wait_until_up()
    try:
        page.goto(jupyter_lab.url(f"/lab/tree/{NOTEBOOK}"))
        code = page.locator(CODE_CELLS)
        # JupyterLab attaches the cells in idle time, a few at a time: wait for all of them.
        expect(code.first).to_be_visible(timeout=UI_TIMEOUT)
        expect(code).to_have_count(len(cells), timeout=UI_TIMEOUT)
        wait_for_kernel(page)
        # The served copy has no outputs: whatever shows up next comes from this run.
        assert page.locator(f"{PANEL} {OUTPUT}").count() == 0

        prompts = run_all_cells(page, len(cells))
        ran = time.monotonic()

        # 1. No cell shows an error (cells tagged raises-exception may); each check shows the helpful message only.
        stderr_texts = []
        for i, cell in enumerate(cells):
            # text_content, not inner_text: content-visibility leaves off-screen cells unrendered,
            # and their inner text empty.
            texts = code.nth(i).locator(STDERR).all_text_contents()
            if is_check(cell):
                assert len(texts) == 1 and texts[0].startswith("ExerciseError: ") and "not written yet" in texts[0] \
                    and "hint: " in texts[0] and "Traceback" not in texts[0], (
                        f"code cell {i + 1} of {len(cells)}, a check, shows:\n{source(cell)}\n---\n{texts}")
            for text in texts:
                if raises_exception(cell):
                    continue
                assert "Traceback" not in text and not ERROR_LINE.search(text), (
                    f"code cell {i + 1} of {len(cells)} shows an error:\n{source(cell)}\n---\n{text}")
                stderr_texts.append(f"[{i + 1}]: {text.strip()}")
        if stderr_texts:  # not an error, but a student sees a red box: say so
            warnings.warn(UserWarning("stderr shown in JupyterLab:\n" + "\n".join(stderr_texts)), stacklevel=1)

        # 2. Every code cell ran, in order: "[1]:" ... "[n]:" (an error would stop Run All).
        assert prompts == [f"[{n}]:" for n in range(1, len(cells) + 1)], (
            "not every code cell was executed (an error stops Run All Cells):\n"
            + "\n".join(f"  {p or '(no prompt)'}  {source(c).splitlines()[0] if source(c) else ''}"
                        for p, c in zip(prompts, cells, strict=False)))

        # 3. The timeline: a PNG the kernel sent, decoded and shown at a readable size.
        timeline_cell = code.nth(timeline_index)
        image = timeline_cell.locator(f"{OUTPUT} img")
        expect(image).to_have_count(1, timeout=UI_TIMEOUT)
        src = image.get_attribute("src") or ""
        assert src.startswith("data:image/png;base64,") and len(src) > 20_000, src[:80]
        expect(image).to_be_visible(timeout=UI_TIMEOUT)
        size = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]")
        assert size[0] >= 400 and size[1] >= 250, f"timeline image is {size[0]}x{size[1]} px"

        # 4. What the UI saves is a clean run too: counts 1..n, no error outputs, the image.
        saved = code_cells(save_notebook(page, served, list(range(1, len(cells) + 1))))
        errors = [(i + 1, output.get("ename"), output.get("evalue"))
                  for i, cell in enumerate(saved) if not raises_exception(cell)
                  for output in cell["outputs"] if output["output_type"] == "error"]
        assert not errors, f"error outputs in the saved notebook: {errors}"
        assert any("image/png" in output.get("data", {}) for output in saved[timeline_index]["outputs"])

        # 5. The screenshot: the timeline cell's code at the top of the notebook, its image below.
        page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] // 2)  # no hover highlight on a cell
        show_timeline(page, timeline_cell, image)
        expect(image).to_be_in_viewport(ratio=1)
        screenshot = screenshot_dir(tmp_path) / SCREENSHOT_NAME
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except Exception:
        failed = screenshot_dir(tmp_path) / SCREENSHOT_NAME.replace(".png", "-failed.png")
        page.screenshot(path=str(failed))
        print(f"screenshot of the failure: {failed}\njupyter lab's log:\n{jupyter_lab.process.output}")
        raise
    print(f"JupyterLab: {ran - started:.1f} s from start to all cells run; screenshot: {screenshot}")
