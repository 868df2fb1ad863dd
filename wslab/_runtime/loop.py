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
import os
import re
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Stoppable(Protocol):
    cell: tuple[Any, ...] | None

    def stop(self) -> None: ...


#: Labs running now, for re-run cells and for interpreter exit.
running: weakref.WeakSet[Any] = weakref.WeakSet()


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

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
        # Even if the loop has not started running yet: the stop waits in its queue.
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if self.thread.is_alive():
            warnings.warn(f"wslab: the lab's loop thread {self.thread.name} did not stop within 5 s", RuntimeWarning,
                          stacklevel=3)


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


__all__ = ["LoopThread", "cell_key", "running", "stop_previous_run_of_this_cell"]
