"""What every check shares: the error a student sees, hints, calling the student's code safely."""

from __future__ import annotations

import asyncio
import functools
import inspect
import linecache
import logging
import os
import sysconfig
import traceback
from collections.abc import Callable
from typing import Any

from ..capture.trace import Trace

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"



class ExerciseError(AssertionError):
    """The student's answer is not right yet; the message says why.

    In IPython (a notebook) it shows as its message alone: no traceback through
    wslab's code. When the student's own code raised, the lines of their code
    it went through follow the message.
    """

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback; nbgrader and nbval see an ordinary error output
        # (ename ExerciseError, evalue the message, these lines as its traceback).
        try:
            return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}", *_where_it_raised(self.__cause__)]
        except Exception:  # never let the renderer hide the message
            return [f"{type(self).__name__}: {self}"]


# Where the student's code is not: wslab (this package's parent), the standard library and installed packages (websockets, asyncio...).
_NOT_STUDENT = tuple(os.path.normcase(os.path.realpath(p)) + os.sep for p in {
    os.path.dirname(os.path.dirname(__file__)), *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))})



def _where_it_raised(exc: BaseException | None, limit: int = 3) -> list[str]:
    """The last lines of the student's own code that ``exc`` went through, named as IPython names cells."""
    if exc is None or isinstance(exc, NotImplementedError):
        return []
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<")
              and not os.path.normcase(os.path.realpath(f.filename)).startswith(_NOT_STUDENT)]
    if not frames:
        return []
    lines = [f"  {type(exc).__name__} was raised in your code:"]
    for frame in frames[-limit:]:
        line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        lines.append(f"    {_cell_name(frame.filename)}, line {frame.lineno}, in {frame.name}"
                     + (f"\n      {line}" if line else ""))
    return lines



def _cell_name(filename: str) -> str:
    """``Cell In[7]`` for a notebook cell's code (as IPython's tracebacks say), else the file name."""
    try:
        from IPython import get_ipython

        label = get_ipython().compile.format_code_name(filename)
        if label:
            return " ".join(label)
    except Exception:
        pass
    return filename



def _hint(hint: str) -> Callable[[Callable], Callable]:
    """Every ExerciseError the decorated check raises ends with a hint: its own, or this one."""
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return check(*args, **kwargs)
            except ExerciseError as exc:
                if "\n  hint: " not in str(exc):
                    exc.args = (f"{exc}\n  hint: {hint}",)
                raise
        return checked
    return decorate


#: What a student must do to an exercise whose solution is still nbgrader's stub.
_REPLACE = ("  replace `# YOUR CODE HERE` and `raise NotImplementedError()` with your code, run that cell, "
            "then run the check again.")



def _call(name: str, fn: Callable, *args: Any, expected: Any = None) -> Any:
    """Call the student's ``fn``; turn every failure into an ExerciseError that helps."""
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__} {fn!r}")
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = _run(result)
        return result
    except NotImplementedError:
        call = f"{name}({', '.join(_short(a) for a in args)})"
        wanted = f"\n  expected: {call} == {_short(expected, 120)}" if expected is not None else ""
        raise ExerciseError(f"{name}: not written yet — it still raises NotImplementedError.{wanted}\n{_REPLACE}") from None
    except ExerciseError:
        raise
    except Exception as exc:
        args_text = ", ".join(_short(a) for a in args)
        wanted = f"\n  expected: {_short(expected, 120)}" if expected is not None else ""
        raise ExerciseError(f"{name}: calling it with ({args_text}) raised {type(exc).__name__}: {exc}{wanted}") from exc



class _Watch:
    """Wrap a student's hook or handler that a server calls, noting why it failed.

    The server still sees the exception (websockets answers 500 for a hook, closes
    with 1011 for a handler); :meth:`check` then turns the first failure into an
    ExerciseError that tells the student what happened and what was expected.
    websockets' own log of that exception (a traceback on stderr) is dropped: the
    check reports it, and nbgrader scores 0 for any stderr in a test cell anyway.
    A check must call :meth:`check` once its lab has stopped (every handler is done).
    """

    def __init__(self, name: str, fn: Callable, expected: str, what: str = "handler") -> None:
        if not callable(fn):
            raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__} {fn!r}")
        self.name, self.fn, self.expected, self.what = name, fn, expected, what
        self.failures: list[tuple[str, Exception]] = []
        _drop_logs_of_reported_exceptions()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, NotImplementedError):
            message = (f"{self.name}: not written yet — it still raises NotImplementedError.\n"
                       f"  expected: {self.expected}\n{_REPLACE}")
        elif not type(exc).__module__.startswith("websockets"):  # a closed connection is not the student's bug
            message = (f"{self.name}: your {self.what} raised {type(exc).__name__}: {exc}\n"
                       f"  expected: {self.expected}")
        else:
            return
        exc._wslab_reported = True  # type: ignore[attr-defined]
        self.failures.append((message, exc))

    def wrap(self) -> Callable:
        fn = self.fn

        if inspect.iscoroutinefunction(fn):
            async def watched(*args):
                try:
                    return await fn(*args)
                except Exception as exc:
                    self._failed(exc)
                    raise
            return watched

        def watched_sync(*args):
            try:
                return fn(*args)
            except Exception as exc:
                self._failed(exc)
                raise
        return watched_sync

    def check(self) -> None:
        if self.failures:
            message, exc = self.failures[0]
            raise ExerciseError(message) from exc



class _DropReported(logging.Filter):
    """Drops a log record whose exception a check reports itself (see :class:`_Watch`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, "_wslab_reported", False)



_drop_reported = _DropReported()



def _drop_logs_of_reported_exceptions() -> None:
    # websockets logs "connection handler failed" / "process_request failed" on this logger.
    logger = logging.getLogger("websockets.server")
    if _drop_reported not in logger.filters:
        logger.addFilter(_drop_reported)



def _run(awaitable) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coro(awaitable))
    # Inside a running loop (a notebook cell): run on a helper thread's loop.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _as_coro(awaitable)).result(30)



async def _as_coro(awaitable):
    return await awaitable



def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, Trace):  # its record count depends on how TCP split the bytes; frames and connections don't
        text = f"<Trace: {len(value.frames)} frames, {len(value.connections)} connection(s)>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"



def _expect(name: str, case: str, got: Any, expected: Any, hint: str = "") -> None:
    if got != expected:
        message = f"{name}: for {case}\n  expected: {_short(expected, 200)}\n  you gave: {_short(got, 200)}"
        raise ExerciseError(message + (f"\n  hint: {hint}" if hint else ""))



def _ok(message: str) -> None:
    # Returns None: a check's True would show as "Out: True" under every exercise
    # (and nbval runs cells without history, so a trailing ';' can't hide it).
    print(f"✓ {message}")
