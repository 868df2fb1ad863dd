"""Shared fixtures for the tests that drive outside tools (Chromium, Node.js, tshark).

A developer machine may lack a tool: those tests then skip, saying which tool
is missing and how to get it (``make tools``). CI installs every tool, so when
the ``CI`` environment variable is set a missing tool FAILS the test instead:
a broken install must never turn into a quietly green run.

:class:`Process` runs an outside program with its output read line by line on
a thread, so a test can wait for a line (with a timeout) instead of sleeping,
and always ends the program (``with`` block, or the ``spawn`` fixture's
teardown).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

import pytest

HOW_TO_INSTALL = ("run `make tools` (scripts/install-tools) to install Debian's chromium and tshark, Node.js and npm, "
                  "and configurable-http-proxy from npm")


def in_ci() -> bool:
    """True when running in CI (``CI`` set, and not to an explicit no such as ``0`` or ``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str, why: str = HOW_TO_INSTALL) -> NoReturn:
    """Skip the test on a developer machine; fail it in CI, where every tool must be there."""
    message = f"{what} is not available: {why}"
    if in_ci():
        pytest.fail(f"{message} (CI is set: CI installs every outside tool, so this is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(message)


def require_executable(name: str, path: str | None = None) -> str:
    """The path of the program ``name`` (or the exact ``path``), or skip/fail via :func:`missing`."""
    if path is not None:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        missing(f"{name} ({path})")
    found = shutil.which(name)
    if found is None:
        missing(f"{name} (not on PATH)")
    return found


def require_module(name: str):
    """Import the Python module ``name``, or skip/fail via :func:`missing`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name} ({exc})", "pip install -e '.[test]'")


@pytest.fixture(scope="session")
def missing_tool():
    """:func:`missing`, for fixtures that find out late that a tool can't work (e.g. npm install failed)."""
    return missing


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; Playwright drives it, and never downloads a browser of its own."""
    return require_executable("chromium", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def sync_playwright_api():
    """``playwright.sync_api`` (``sync_playwright``, ``expect``)."""
    return require_module("playwright.sync_api")


#: Debian's Chromium as the tests run it: nothing downloaded, nothing phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def launched_chromium(sync_playwright_api, chromium_path: str):
    """A headless Chromium driven by Playwright (see the fixtures above), closed on the way out."""
    with sync_playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def node_path() -> str:
    return require_executable("node")


@pytest.fixture(scope="session")
def npm_path() -> str:
    return require_executable("npm")


@pytest.fixture(scope="session")
def tshark_path() -> str:
    return require_executable("tshark")


@pytest.fixture(scope="session")
def chp_path() -> str:
    """configurable-http-proxy, JupyterHub's proxy (Node.js, from npm: scripts/install-tools)."""
    return require_executable("configurable-http-proxy")


@pytest.fixture(scope="session")
def jupyter_server_proxy():
    """jupyter-server-proxy, which serves a kernel's port at ``<base_url>proxy/<port>/``."""
    return require_module("jupyter_server_proxy")


@pytest.fixture(scope="session")
def jupyterhub():
    """The ``jupyterhub`` package (its ``jupyterhub`` command runs next to the tests' Python)."""
    return require_module("jupyterhub")


class Process:
    """A subprocess whose stdout (stderr merged) is collected line by line on a thread.

    Use as a context manager, or call :meth:`kill` in a ``finally``; both are safe to repeat.
    """

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.argv = list(argv)
        self.lines: list[str] = []
        self.ended = False  # all output read
        self._changed = threading.Condition()
        self._seen = 0
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=cwd,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"reader-{self.proc.pid}")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """The first match of the regex ``pattern`` in a line not matched before; fails after ``timeout`` s.

        Lines are consumed in order: the next call looks after the line that matched.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                while self._seen < len(self.lines):
                    line = self.lines[self._seen]
                    self._seen += 1
                    match = regex.search(line)
                    if match:
                        return match
                if self.ended:
                    pytest.fail(f"{self.argv} ended (exit {self.proc.poll()}) without a line matching "
                                f"{pattern!r}; output:\n{self.output}", pytrace=False)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no line matching {pattern!r} from {self.argv} within {timeout} s; "
                                f"output so far:\n{self.output}", pytrace=False)
                self._changed.wait(remaining)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the program to exit by itself and for all its output; its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.argv} did not exit within {timeout} s; output so far:\n{self.output}", pytrace=False)
        self._reader.join(5)
        return code

    def interrupt(self, timeout: float = 10.0) -> int:
        """Send SIGINT (Ctrl-C) and wait for a clean exit; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        """End the program if it still runs (SIGTERM, then SIGKILL) and close its pipe."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)
        self._reader.join(3)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@pytest.fixture
def spawn():
    """``spawn(argv, env=..., cwd=...)`` starts a :class:`Process`; every one is killed at teardown."""
    started: list[Process] = []

    def start(argv: Sequence[str], **kwargs) -> Process:
        process = Process(argv, **kwargs)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.kill()
