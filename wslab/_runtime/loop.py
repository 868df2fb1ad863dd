"""The lab's own event loop, in a daemon thread, and which notebook cell made which lab.

The loop thread owns everything asynchronous a lab runs (its tap, its server and
their connections); other threads hand it work with :meth:`LoopThread.run` (a
coroutine) or :meth:`LoopThread.call` (a plain function) and wait for the result.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import linecache
import os
import re
import socket
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Stoppable(Protocol):
    cell: tuple[Any, ...] | None

    def stop(self) -> None: ...


#: Labs running now, for re-run cells and for interpreter exit.
running: weakref.WeakSet[Any] = weakref.WeakSet()


#: A loop that does not come round for this long is blocked (a handler calling ``time.sleep``, say).
BLOCKED_AFTER = 0.1
#: How often the watchdog looks (and the loop beats).
BEAT = 0.05
#: Code in these folders is the machinery, not what blocked: blame the innermost frame outside them.
_MACHINERY = tuple(os.path.dirname(m.__file__ or "") + os.sep for m in (asyncio, threading, inspect, contextlib))
_WSLAB = os.path.dirname(os.path.dirname(__file__)) + os.sep


def _blamed_frame(frame: Any) -> Any:
    """The innermost frame of ``frame``'s stack that is someone's code (not asyncio, wslab or websockets),
    if that code runs under someone's coroutine (a handler); None otherwise (a GC pause, a starved loop)."""
    innermost, under_coroutine = None, False
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_MACHINERY) or name.startswith(_WSLAB) or f"{os.sep}websockets{os.sep}" in name
                or (name.startswith("<") and not name.startswith("<ipython"))):  # <string>: dataclasses' code
            innermost = innermost or frame
            under_coroutine = under_coroutine or bool(frame.f_code.co_flags & _ASYNC)
        frame = frame.f_back
    return innermost if under_coroutine else None


_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class Watchdog:
    """Notices when code on a loop (a handler) blocks it for more than :data:`BLOCKED_AFTER` seconds.

    The loop beats every :data:`BEAT` s; a thread of its own looks at the beat, and
    while it is late looks at what the loop's thread is running. A stall is reported
    (``on_blocked(seconds, where)``, from the watchdog's thread, once the loop runs
    again) only when the loop's thread was inside someone's code, not asyncio's or
    wslab's own: a loop that was merely starved of CPU blames nobody.
    """

    def __init__(self, loop_thread: LoopThread, on_blocked: Callable[[float, str], Any]) -> None:
        self.loop_thread = loop_thread
        self.on_blocked = on_blocked
        self.beat = time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name=f"{loop_thread.thread.name}-watchdog", daemon=True)

    async def beating(self) -> None:
        while True:
            self.beat = time.monotonic()
            await asyncio.sleep(BEAT)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.beating(), self.loop_thread.loop)
        self.thread.start()

    def _watch(self) -> None:
        tid = self.loop_thread.thread.ident
        where: str | None = None
        late_since: float | None = None
        while not self.stopped.wait(BEAT):
            beat = self.beat
            now = time.monotonic()
            if now - beat > BLOCKED_AFTER:
                late_since = beat if late_since is None else late_since
                frame = _blamed_frame(sys._current_frames().get(tid)) if tid is not None else None
                if frame is not None:
                    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
                    where = f"{frame.f_code.co_name}() at line {frame.f_lineno}" + (f": {line}" if line else "")
            elif late_since is not None:
                if where is not None and not self.stopped.is_set():
                    with contextlib.suppress(Exception):  # the watchdog must never die of its report
                        self.on_blocked(beat - late_since, where)
                late_since, where = None, None

    def stop(self) -> None:
        self.stopped.set()


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self.watchdog: Watchdog | None = None

    def watch(self, on_blocked: Callable[[float, str], Any]) -> None:
        """Call ``on_blocked(seconds, where)`` after code on this loop blocked it (see :class:`Watchdog`)."""
        self.watchdog = Watchdog(self, on_blocked)
        self.watchdog.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Cancel what is left so nothing logs "Task was destroyed but it is pending".
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coro: Any, timeout: float | None = 10) -> Any:
        """Run ``coro`` on the loop and wait for its result from another thread."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("LoopThread.run() called from its own loop; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"lab operation did not finish in {timeout} s") from None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 10) -> T:
        """``fn(*args)`` run on the loop (directly when already on it); its result, from any thread."""
        if threading.current_thread() is self.thread:
            return fn(*args)

        async def on_loop() -> T:
            return fn(*args)

        return self.run(on_loop(), timeout)

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        # Even if the loop has not started running yet: the stop waits in its queue.
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if self.thread.is_alive():
            warnings.warn(f"wslab: the lab's loop thread {self.thread.name} did not stop within 5 s", RuntimeWarning,
                          stacklevel=3)


def close_sockets(sockets: Iterable[socket.socket]) -> int:
    """Close listening sockets from outside their loop (a stuck loop would hold their ports); how many."""
    closed = 0
    for sock in sockets:
        if sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.close()
                closed += 1
    return closed


#: The id of the notebook cell running now, from IPython's ``pre_run_cell`` event (JupyterLab
#: and ipykernel >= 6 send one, stable across edits of the cell); None elsewhere.
_cell_id: str | None = None
_hooked: set[int] = set()


def _on_pre_run_cell(info: Any) -> None:
    global _cell_id
    _cell_id = getattr(info, "cell_id", None)


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    return getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None


def _hook(shell: Any) -> None:
    """Listen to ``pre_run_cell`` once per shell, to learn each cell's id as it starts."""
    if id(shell) in _hooked:
        return
    _hooked.add(id(shell))
    with contextlib.suppress(Exception):  # an unusual shell: fall back to the stack walk
        shell.events.register("pre_run_cell", _on_pre_run_cell)


def cell_key() -> tuple[Any, ...] | None:
    """Identify the notebook cell (and its run) that is creating a lab, if any.

    The cell's id when the front end sends one (JupyterLab does), so editing
    and re-running a cell still finds the labs its previous run made; else, for
    terminal IPython, where the cell's code came from. Then the execution count.
    """
    shell = _shell()
    if shell is None:
        return None
    _hook(shell)
    cell = _cell_id
    if cell is None:  # the cell that imported wslab ran before the hook: ask the kernel's message
        with contextlib.suppress(Exception):
            cell = shell.get_parent().get("metadata", {}).get("cellId")
    if cell is not None:
        return ("cell", cell), shell.execution_count
    frame = inspect.currentframe()
    here = os.path.dirname(os.path.dirname(__file__))  # the wslab package
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back
    if frame is None or ("ipykernel" not in frame.f_code.co_filename and "<ipython" not in frame.f_code.co_filename):
        return None
    # ipykernel names a cell's code after a hash of its text; terminal IPython adds
    # the execution count (<ipython-input-N-hash>), which we drop.
    filename = re.sub(r"^<ipython-input-\d+-", "<ipython-input-", frame.f_code.co_filename)
    return (filename, frame.f_lineno), shell.execution_count


if (_ipython_shell := _shell()) is not None:  # imported in a cell: every later cell reports its id
    _hook(_ipython_shell)


def stop_previous_run_of_this_cell(lab: Stoppable) -> None:
    """Stop the labs the previous run of ``lab``'s cell made (labs made in one run all survive)."""
    if lab.cell is None:
        return
    for other in list(running):
        same_cell = other.cell is not None and other.cell[0] == lab.cell[0]
        if other is not lab and same_cell and other.cell[1] != lab.cell[1]:
            other.stop()


@atexit.register
def _stop_all() -> None:
    for lab in list(running):
        lab.stop()


__all__ = ["BLOCKED_AFTER", "LoopThread", "Watchdog", "cell_key", "close_sockets", "running",
           "stop_previous_run_of_this_cell"]
