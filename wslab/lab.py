"""The lab: a real websockets server with a wire tap in front of it.

A :class:`Lab` runs on a private asyncio loop in a daemon thread, so it keeps
serving while a notebook cell blocks (``time.sleep``, a synchronous client).
It works the same as a context manager (``with`` / ``async with``) and as a
long-lived object across cells (``lab = Lab().start()`` ... ``lab.stop()``).
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import random
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import websockets.asyncio.client
import websockets.asyncio.server
import websockets.sync.client
import websockets.sync.server

from . import handlers
from .seeding import seeded_connection
from .tap import Faults, Recorder, Tap
from .trace import Trace

_running: weakref.WeakSet[Lab] = weakref.WeakSet()


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

    def run(self, coro, timeout: float | None = 10) -> Any:
        """Run ``coro`` on the loop and wait for its result from another thread."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("LoopThread.run() called from its own loop; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"lab operation did not finish in {timeout} s") from None

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _cell_key() -> tuple | None:
    """Identify the notebook cell (and its run) that is creating a lab, if any."""
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    if shell is None:
        return None
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(__file__.rsplit("/", 1)[0]):
        frame = frame.f_back
    if frame is None or "ipykernel" not in frame.f_code.co_filename and "<ipython" not in frame.f_code.co_filename:
        return None
    # ipykernel names a cell's code after a hash of its text; terminal IPython adds
    # the execution count (<ipython-input-N-hash>), which we drop.
    filename = re.sub(r"^<ipython-input-\d+-", "<ipython-input-", frame.f_code.co_filename)
    return (filename, frame.f_lineno), shell.execution_count


class Lab:
    """A tapped WebSocket server on 127.0.0.1, recording every byte.

    Args:
        handler: a ``websockets`` connection handler (async, or sync -- then the
            threaded sync server runs it), or a built-in name: ``"echo"``, ``"chat"``,
            ``"silent"``.
        target: ``ws://host:port/path`` of an existing server to tap instead of
            starting one.
        seed: make the lab's own clients' handshake keys and masks reproducible.
        compression: ``None`` (default, bytes stay readable) or ``"deflate"``.
        ping_interval, ping_timeout, close_timeout, max_size, subprotocols,
        process_request, origins: passed to ``websockets``' ``serve()``.
        path: the path in :attr:`url` (the server accepts any path).
        port, host: where the tap listens (default: a free port on 127.0.0.1).
        page: serve the article's chat page to browsers at ``http://.../`` (asyncio handlers).
        server_options: any other keyword for ``serve()``.

    Use as ``with Lab(...) as lab:``, ``async with Lab(...) as lab:`` or
    ``lab = Lab(...).start()`` ... ``lab.stop()``.
    """

    def __init__(
        self,
        handler: str | Callable = "echo",
        *,
        target: str | None = None,
        seed: int | None = None,
        compression: str | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 2,
        max_size: int | None = 2**20,
        subprotocols: Sequence[str] | None = None,
        process_request: Callable | None = None,
        origins: Sequence[str | None] | None = None,
        path: str = "/",
        port: int = 0,
        host: str = "127.0.0.1",
        page: bool = True,
        **server_options: Any,
    ) -> None:
        self.handler = None if target else handlers.resolve(handler)
        self.target = target
        self.seed = seed
        self.compression = compression
        self.path = urlsplit(target).path or "/" if target else path
        self.server_options = dict(
            compression=compression, ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, subprotocols=subprotocols,
            process_request=process_request, origins=origins, **server_options,
        )
        self.close_timeout = close_timeout
        self.faults = Faults(rng=random.Random(seed))
        self.t0 = time.monotonic()
        self.recorder = Recorder(lambda: time.monotonic() - self.t0)
        self.clients_made = 0
        self.loop_thread: LoopThread | None = None
        self.server: Any = None
        self.server_thread: threading.Thread | None = None
        self.tap: Tap | None = None
        self.server_port: int | None = None
        self.port: int | None = None
        self.cell: tuple | None = None
        self.listen = (host, port)
        self.page = page

    # -- life cycle ----------------------------------------------------------
    def start(self) -> Lab:
        """Start the server and the tap; returns the lab. Idempotent."""
        if self.loop_thread is not None:
            return self
        self._stop_previous_run_of_this_cell()
        self.t0 = time.monotonic()
        self.loop_thread = LoopThread(f"wslab-{id(self):x}")
        try:
            self.loop_thread.run(self._start())
        except BaseException:
            self.stop()
            raise
        _running.add(self)
        return self

    def _stop_previous_run_of_this_cell(self) -> None:
        # Re-running a notebook cell that makes a lab stops the lab its previous
        # run made, so labs don't pile up; labs made in a loop in one run survive.
        self.cell = _cell_key()
        if self.cell is None:
            return
        for lab in list(_running):
            if lab.cell is not None and lab.cell[0] == self.cell[0] and lab.cell[1] != self.cell[1]:
                lab.stop()

    async def _start(self) -> None:
        if self.target is not None:
            parts = urlsplit(self.target)
            if parts.scheme != "ws":
                raise ValueError(f"target must be a ws:// URL, not {self.target!r}")
            upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        elif inspect.iscoroutinefunction(self.handler) or inspect.iscoroutinefunction(
            getattr(self.handler, "__call__", None)
        ):
            options = dict(self.server_options)
            if self.page:
                options["process_request"] = handlers.chain(handlers.serve_page, options["process_request"])
            self.server = await websockets.asyncio.server.serve(self.handler, "127.0.0.1", 0, **options)
            upstream = ("127.0.0.1", self.server.sockets[0].getsockname()[1])
        else:
            options = {k: v for k, v in self.server_options.items() if k != "ping_timeout" or v is not None}
            self.server = websockets.sync.server.serve(self.handler, "127.0.0.1", 0, **options)
            self.server_thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                                  name=f"wslab-sync-{id(self):x}")
            self.server_thread.start()
            upstream = ("127.0.0.1", self.server.socket.getsockname()[1])
        self.server_port = upstream[1]
        self.tap = Tap(upstream, self.recorder, self.faults)
        self.port = await self.tap.start(*self.listen)

    def stop(self) -> None:
        """Close open connections (1001 going away), the port and the thread. Idempotent."""
        loop_thread, self.loop_thread = self.loop_thread, None
        _running.discard(self)
        if loop_thread is None:
            return
        try:
            loop_thread.run(self._stop(), timeout=(self.close_timeout or 2) + 5)
        except Exception:
            pass
        finally:
            loop_thread.stop()
            if self.server_thread is not None:
                self.server_thread.join(5)

    async def _stop(self) -> None:
        if isinstance(self.server, websockets.asyncio.server.Server):
            self.server.close()  # RFC 6455 §7.4.1: 1001, the server is going away
            try:
                await asyncio.wait_for(self.server.wait_closed(), (self.close_timeout or 2) + 1)
            except asyncio.TimeoutError:
                pass
        elif self.server is not None:
            await asyncio.to_thread(self.server.shutdown)
        if self.tap is not None:
            await self.tap.stop()

    @property
    def running(self) -> bool:
        return self.loop_thread is not None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Lab:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        what = f"tapping {self.target}" if self.target else getattr(self.handler, "__name__", "handler")
        return f"<Lab {what}, {state}, {len(self.recorder.records)} records>"

    # -- addresses -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``ws://`` URL through the tap; any client can connect to it."""
        if self.port is None:
            raise RuntimeError("the lab is not started; call lab.start() or use 'with Lab(...) as lab:'")
        return f"ws://127.0.0.1:{self.port}{self.path}"

    @property
    def http_url(self) -> str:
        """The same address as ``http://``, for the browser."""
        return "http" + self.url[2:]

    # -- clients -------------------------------------------------------------
    def _client_options(self, kwargs: dict, base: type) -> dict:
        options = dict(proxy=None, compression=self.compression, ping_interval=None,
                       close_timeout=self.close_timeout)
        if self.seed is not None and "create_connection" not in kwargs:
            self.clients_made += 1
            rng = random.Random(f"wslab:{self.seed}:{self.clients_made}")
            options["create_connection"] = seeded_connection(base, rng)
        options.update(kwargs)
        return options

    def connect(self, path: str | None = None, **kwargs: Any) -> websockets.asyncio.client.connect:
        """An asyncio client through the tap: ``async with lab.connect() as ws:``.

        Keyword arguments go to :func:`websockets.asyncio.client.connect`.
        """
        url = self.url if path is None else self.url.rsplit(self.path, 1)[0] + path
        options = self._client_options(kwargs, websockets.asyncio.client.ClientConnection)
        return websockets.asyncio.client.connect(url, **options)

    def connect_sync(self, path: str | None = None, **kwargs: Any) -> websockets.sync.client.ClientConnection:
        """A synchronous client through the tap: ``with lab.connect_sync() as ws:``."""
        url = self.url if path is None else self.url.rsplit(self.path, 1)[0] + path
        options = self._client_options(kwargs, websockets.sync.client.ClientConnection)
        options.setdefault("open_timeout", 5)
        options.setdefault("legacy", True)  # return the connection itself, usable with or without `with`
        return websockets.sync.client.connect(url, **options)

    # -- the record ----------------------------------------------------------
    def settle(self, timeout: float = 2.0, quiet: float = 0.03) -> None:
        """Wait until connections that are closing have closed and the wire is quiet."""
        deadline = time.monotonic() + timeout
        with self.recorder.changed:
            while True:
                now = time.monotonic()
                last = self.recorder.records[-1].t + self.t0 if self.recorder.records else 0
                closing = self.tap is not None and any(c.closing for c in self.tap.active())
                if now >= deadline or (not closing and now - last >= quiet):
                    return
                self.recorder.changed.wait(min(quiet, deadline - now))

    @property
    def trace(self) -> Trace:
        """A snapshot of everything recorded so far (after letting closing connections finish)."""
        if threading.current_thread() is not (self.loop_thread and self.loop_thread.thread):
            self.settle()
        return Trace(list(self.recorder.records), list(self.recorder.chunks))

    def clear(self) -> None:
        """Forget what was recorded so far (connections keep their numbers)."""
        with self.recorder.changed:
            self.recorder.records.clear()
            self.recorder.chunks.clear()


@atexit.register
def _stop_all() -> None:
    for lab in list(_running):
        lab.stop()
