"""The lab: a real websockets server with a wire tap in front of it.

A :class:`Lab` runs on a private asyncio loop in a daemon thread, so it keeps
serving while a notebook cell blocks (``time.sleep``, a synchronous client).
It works the same as a context manager (``with`` / ``async with``) and as a
long-lived object across cells (``lab = Lab().start()`` ... ``lab.stop()``).

The lab also breaks things on purpose, through its tap: latency and jitter,
a paused direction, dropped frames, a cut connection (:meth:`Lab.delay`,
:meth:`Lab.pause`, :meth:`Lab.drop`, :meth:`Lab.cut`), and it opens raw TCP
connections for hand-made bytes (:meth:`Lab.raw`). Each fault leaves a note in
the trace, and :meth:`Lab.diagnose` explains how every connection ended.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import random
import re
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import websockets.asyncio.client
import websockets.asyncio.server
import websockets.sync.client
import websockets.sync.server
from websockets.exceptions import ConnectionClosed

from . import browser, handlers
from .decode import opcode_name, opcode_value
from .seeding import seeded_connection
from .tap import ARROW, BACKLOG, DISCONNECT, FAULT, HANDLER_RAISED, SERVER_STOPPING, Faults, Recorder, Tap, TapConnection
from .trace import Note, Trace

if TYPE_CHECKING:
    from .live import LiveView
    from .diagnose import Findings
    from .raw import RawClient

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
        # Even if the loop has not started running yet: the stop waits in its queue.
        if not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.loop.stop)
            except RuntimeError:  # closed between the check and the call
                pass
        self.thread.join(5)
        if self.thread.is_alive():
            warnings.warn(f"wslab: the lab's loop thread {self.thread.name} did not stop within 5 s", RuntimeWarning,
                          stacklevel=3)


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


def require_version_13(connection: Any, request: Any) -> Any:
    """``process_request`` hook: refuse a Sec-WebSocket-Version other than 13 with ``426``.

    RFC 6455 §4.4: the server answers a version it does not speak with an error
    such as 426 Upgrade Required and a Sec-WebSocket-Version header listing the
    versions it does speak (websockets alone would answer 400 Bad Request).
    """
    versions = {v.strip() for value in request.headers.get_all("Sec-WebSocket-Version") for v in value.split(",")}
    if not versions or versions == {"13"}:
        return None
    response = connection.respond(
        426, f"Failed to open a WebSocket connection: Sec-WebSocket-Version {', '.join(sorted(versions))} "
             "is not supported; this server speaks version 13.\n")
    response.headers["Sec-WebSocket-Version"] = "13"
    response.headers["Upgrade"] = "websocket"  # RFC 9110 §15.5.22: a 426 MUST carry Upgrade
    return response


def _chain_sync(*hooks: Callable | None) -> Callable:
    """One synchronous ``process_request`` hook that tries ``hooks`` in order."""
    def process_request(connection: Any, request: Any) -> Any:
        for hook in hooks:
            response = hook(connection, request) if hook is not None else None
            if response is not None:
                return response
        return None

    return process_request


def _senders(direction: str) -> tuple[str, ...]:
    """``"client"`` (client → server), ``"server"`` (server → client) or ``"both"``."""
    if direction == "both":
        return ("client", "server")
    if direction in ("client", "server"):
        return (direction,)
    raise ValueError(f"direction must be 'client' (client → server), 'server' (server → client) or 'both', "
                     f"not {direction!r}")


class Lab:
    """A tapped WebSocket server on 127.0.0.1, recording every byte.

    Args:
        handler: a ``websockets`` connection handler (async, or sync -- then the
            threaded sync server runs it), or a built-in name: ``"hello"``, ``"article-chat"``
            (the article's two servers), ``"room"`` (a broadcast room), ``"echo"``,
            ``"silent"`` (see :mod:`wslab.handlers`).
        target: ``ws://host:port/path`` of an existing server to tap instead of
            starting one.
        seed: make the lab's own clients' handshake keys and masks reproducible.
        compression: ``None`` (default, bytes stay readable) or ``"deflate"``.
        ping_interval, ping_timeout, close_timeout, max_size, subprotocols,
        process_request, origins: passed to ``websockets``' ``serve()``.
        path: the path in :attr:`url` (the server accepts any path).
        port, host: where the tap listens (default: a free port on 127.0.0.1).
        page: serve the article's chat page to browsers at ``http://.../`` (asyncio handlers).
        redact: hide the values of cookies, ``Authorization`` and token query parameters in
            the trace (the server still gets them); ``False`` records them, e.g. to study
            cookies on your own machine. Through JupyterHub or Binder they are your login.
        server_options: any other keyword for ``serve()``.

    Use as ``with Lab(...) as lab:``, ``async with Lab(...) as lab:`` or
    ``lab = Lab(...).start()`` ... ``lab.stop()``. A stopped lab can be started
    again; it keeps its trace, its connection numbers and, if it can, its port.

    Faults, injected by the tap: :meth:`delay`, :meth:`pause` / :meth:`resume`,
    :meth:`drop`, :meth:`cut`; the server closing a connection: :meth:`disconnect`;
    hand-made bytes: :meth:`raw`; what went wrong, in words: :meth:`diagnose`.
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
        redact: bool = True,
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
        self.started = time.time()  # the wall clock at t = 0, for captures with real dates
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
        self.redact = redact
        self._conn_count = 0  # connection numbers continue across restarts
        self._server_connections: dict[int, Any] = {}  # conn -> the server's connection, while its handler runs

    # -- life cycle ----------------------------------------------------------
    def start(self) -> Lab:
        """Start the server and the tap; returns the lab. Idempotent."""
        if self.loop_thread is not None:
            return self
        self._stop_previous_run_of_this_cell()
        if not self.recorder.records:  # a restarted lab keeps its clock
            self.t0, self.started = time.monotonic(), time.time()
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
            options = {"backlog": BACKLOG, **self.server_options}
            options["process_request"] = handlers.chain(handlers.serve_page if self.page else None,
                                                        require_version_13, options["process_request"])
            self.server = await websockets.asyncio.server.serve(self._tapped(self.handler), "127.0.0.1", 0,
                                                                **options)
            upstream = ("127.0.0.1", self.server.sockets[0].getsockname()[1])
        else:
            options = {k: v for k, v in self.server_options.items() if k != "ping_timeout" or v is not None}
            options.setdefault("backlog", BACKLOG)
            options["process_request"] = _chain_sync(require_version_13, options.get("process_request"))
            self.server = websockets.sync.server.serve(self._tapped(self.handler), "127.0.0.1", 0, **options)
            self.server_thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                                  name=f"wslab-sync-{id(self):x}")
            self.server_thread.start()
            upstream = ("127.0.0.1", self.server.socket.getsockname()[1])
        self.server_port = upstream[1]
        self.tap = Tap(upstream, self.recorder, self.faults, redact=self.redact)
        self.tap.count = self._conn_count
        host, port = self.listen
        try:
            self.port = await self.tap.start(host, port or self.port or 0)  # a restart keeps its port
        except OSError:
            if port:
                raise
            self.port = await self.tap.start(host, 0)

    def _tapped(self, handler: Callable) -> Callable:
        """``handler``, noting in the trace which connection it serves and any exception it raises."""
        lab = self

        @contextlib.contextmanager
        def serving(ws: Any):
            tapped = lab.tap.find(upstream_port=ws.remote_address[1]) if lab.tap is not None else None
            conn = tapped.conn if tapped is not None else None
            if conn is not None:
                lab._server_connections[conn] = ws
            try:
                yield
            except ConnectionClosed:
                pass  # the connection ended (the trace shows how): not the handler's failure
            except Exception as exc:
                if conn is not None:
                    text = f"{HANDLER_RAISED}{type(exc).__name__}" + (f": {exc}" if str(exc) else "")
                    lab.recorder.add(conn, Note("server", text))
                raise
            finally:
                lab._server_connections.pop(conn, None)  # type: ignore[arg-type]

        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None)):
            @functools.wraps(handler)
            async def tapped_async(ws: Any) -> None:
                with serving(ws):
                    await handler(ws)

            return tapped_async

        @functools.wraps(handler)
        def tapped_sync(ws: Any) -> None:
            with serving(ws):
                handler(ws)

        return tapped_sync

    def stop(self) -> None:
        """Close open connections (1001 going away), the port and the thread. Idempotent."""
        loop_thread, self.loop_thread = self.loop_thread, None
        _running.discard(self)
        if loop_thread is None:
            return
        try:
            loop_thread.run(self._stop(), timeout=(self.close_timeout or 2) + 5)
        except Exception as exc:  # stop anyway, but say what went wrong
            warnings.warn(f"wslab: stopping the lab did not finish cleanly: {exc!r}", RuntimeWarning, stacklevel=2)
        finally:
            loop_thread.stop()
            if self.server_thread is not None:
                self.server_thread.join(5)
            if self.tap is not None:
                self._conn_count = self.tap.count
            self._server_connections.clear()

    async def _stop(self) -> None:
        if self.tap is not None:
            # A client stalled in its opening handshake would hold the server until open_timeout,
            # and one that never closes its side after the server's would hold it forever: the
            # first is cut now, the second after a short grace (most clients close in a millisecond).
            active = self.tap.active()
            for connection in active:
                connection.record(Note("server", SERVER_STOPPING))
            await self.tap.finish([c for c in active if not c.opened and not c.closing], grace=0)
            await self.tap.finish([c for c in active if c.eof["server"]], grace=0.25)
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
    def _started_port(self) -> int:
        if self.port is None:
            raise RuntimeError("the lab is not started; call lab.start() or use 'with Lab(...) as lab:'")
        return self.port

    @property
    def url(self) -> str:
        """The ``ws://`` URL through the tap; any client on the kernel's machine can connect to it."""
        return f"ws://127.0.0.1:{self._started_port()}{self.path}"

    @property
    def local_http_url(self) -> str:
        """``http://127.0.0.1:PORT/``: the lab's page for a browser on the kernel's machine (tests, ``serve``)."""
        return browser.local_url(self._started_port(), self.path)

    @property
    def http_url(self) -> str:
        """The lab's page as the student's browser reaches it, wherever the kernel runs.

        ``http://127.0.0.1:PORT/`` on the student's own computer; under JupyterHub
        or Binder ``{JUPYTERHUB_SERVICE_PREFIX}proxy/PORT/`` (jupyter-server-proxy,
        a path on the hub's origin); ``WSLAB_BROWSER_URL`` (a template such as
        ``"https://lab.example.org/proxy/{port}/"``) overrides both. In Google
        Colab, where the page could never connect, it raises
        :class:`~wslab.browser.NoBrowserURL`. The rules: :mod:`wslab.browser`.
        """
        return browser.browser_url(self._started_port(), self.path)

    def page_frame(self, height: int = 420) -> browser.PageFrame:
        """The lab's page for a notebook cell: a link and a frame at :attr:`http_url`.

        Where there is no such URL (Google Colab) it shows why instead, and raises nothing.
        """
        try:
            return browser.PageFrame(self.http_url, height=height)
        except browser.NoBrowserURL as exc:
            return browser.PageFrame(None, str(exc), height=height)

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

    def raw(self, *, timeout: float = 2.0) -> RawClient:
        """A plain TCP client through the tap, for hand-made bytes: ``with lab.raw() as raw:``.

        See :class:`~wslab.raw.RawClient`: ``raw.handshake()``, ``raw.send_frame(...)``,
        ``raw.read_close()`` ... Every read waits at most ``timeout`` seconds.
        """
        from .raw import RawClient

        return RawClient(self, timeout=timeout)

    def conn_of(self, client: Any) -> int:
        """The connection number (``conn`` in the trace) of an open ``client``.

        ``client`` is a :class:`~wslab.raw.RawClient`, a ``websockets`` client
        connection (sync or asyncio) or a connected socket.
        """
        number = getattr(client, "conn", None)
        if isinstance(number, int):
            return number
        if hasattr(client, "local_address"):
            port = client.local_address[1]
        elif hasattr(client, "getsockname"):
            port = client.getsockname()[1]
        else:
            raise TypeError(f"cannot tell the connection of {type(client).__name__}")
        found = self.tap.find(client_port=port) if self.tap is not None else None
        if found is None:
            raise LookupError(f"no open connection from port {port} through this lab")
        return found.conn

    def _connection(self, conn: Any) -> TapConnection:
        """The open tap connection ``conn`` (a number or a client); None: the newest."""
        if self.tap is None or not self.running:
            raise RuntimeError("the lab is not running; call lab.start()")
        active = self.tap.active()
        if conn is None:
            if not active:
                raise LookupError("no open connection through the lab")
            return max(active, key=lambda c: c.conn)
        number = conn if isinstance(conn, int) else self.conn_of(conn)
        for connection in active:
            if connection.conn == number:
                return connection
        raise LookupError(f"connection {number} is not open")

    # -- faults --------------------------------------------------------------
    def _fault_note(self, sender: str, text: str) -> None:
        """Note what the lab changed on every open connection (new ones get a note when they open)."""
        for connection in self.tap.active() if self.tap is not None and self.running else []:
            self.recorder.add(connection.conn, Note(sender, FAULT + text))  # type: ignore[arg-type]

    def delay(self, latency: float, *, jitter: float = 0.0, direction: str = "both") -> None:
        """Hold every chunk sent in ``direction`` for ``latency`` seconds, plus up to ``jitter`` more.

        ``direction`` is ``"client"`` (client → server), ``"server"`` (server →
        client) or ``"both"``. Each chunk is due ``latency`` after the tap read
        it, in order, so timelines show realistic round trips. ``lab.delay(0)``
        removes the delay. The jitter is random, seeded by ``Lab(seed=...)``.
        """
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter are seconds, >= 0")
        senders = _senders(direction)
        faults = self.faults
        faults.latency = {**faults.latency, **{s: float(latency) for s in senders}}
        faults.jitter = {**faults.jitter, **{s: float(jitter) for s in senders}}
        for sender in senders:
            described = Faults(latency=faults.latency, jitter=faults.jitter).describe([sender])
            self._fault_note(sender, described[0] if described else f"{ARROW[sender]}: no added latency")

    def pause(self, direction: str = "both") -> None:
        """Hold every byte sent in ``direction`` (``"client"``, ``"server"``, ``"both"``) until :meth:`resume`.

        Nothing is lost: the tap records the bytes when they arrive and delivers
        them on resume. Meanwhile the peer hears nothing (a stalled network).
        """
        senders = _senders(direction)
        self.faults.paused = self.faults.paused | set(senders)
        for sender in senders:
            self._fault_note(sender, f"{ARROW[sender]}: paused (the lab holds every byte)")

    def resume(self, direction: str = "both") -> None:
        """Deliver what :meth:`pause` held in ``direction`` and stop holding."""
        senders = [s for s in _senders(direction) if s in self.faults.paused]
        self.faults.paused = self.faults.paused - set(senders)
        for sender in senders:
            self._fault_note(sender, f"{ARROW[sender]}: resumed (the lab delivers what it held)")

    def drop(self, direction: str, *opcodes: str) -> None:
        """Drop every frame with one of ``opcodes`` sent in ``direction``, e.g. ``lab.drop("client", "PONG")``.

        While dropping, the tap relays whole frames only (it waits for each
        frame to be complete), so the rest of the stream stays valid. The trace
        still shows the dropped frames, each followed by a note. With no
        ``opcodes``, stop dropping.
        """
        senders = _senders(direction)
        names = set()
        for opcode in opcodes:
            try:
                names.add(opcode_name(opcode_value(opcode)))
            except ValueError:
                raise ValueError(f"unknown opcode {opcode!r}; use TEXT, BINARY, CONTINUATION, CLOSE, PING "
                                 "or PONG") from None
        self.faults.drops = {**self.faults.drops, **{s: frozenset(names) for s in senders}}
        for sender in senders:
            self._fault_note(sender, f"{ARROW[sender]}: dropping {', '.join(sorted(names))} frames" if names
                             else f"{ARROW[sender]}: no longer dropping frames")

    def clear_faults(self) -> None:
        """Remove every latency, pause and drop (held bytes are delivered)."""
        active = self.faults.describe()
        self.faults.latency, self.faults.jitter, self.faults.drops = {}, {}, {}
        self.faults.paused = set()
        if active:
            self._fault_note("client", "all faults cleared")

    def cut(self, conn: Any = None, *, after: int | None = None, direction: str = "client") -> int:
        """Cut a connection's TCP: both peers get a reset (RST), and neither sees a Close frame (1006).

        Args:
            conn: a connection number, a client (see :meth:`conn_of`), or None
                for the newest open connection.
            after: cut only after this many more bytes sent in ``direction``
                (``"client"`` or ``"server"``): e.g. ``after=3`` lands in the middle
                of the next frame. The bytes after them are dropped.

        Returns the connection number.
        """
        connection = self._connection(conn)
        if after is None:
            async def now() -> None:
                connection.kill(f"{FAULT}the lab cut the TCP connection")

            self.loop_thread.run(now())  # type: ignore[union-attr]
            return connection.conn
        if direction not in ("client", "server"):
            raise ValueError("direction must be 'client' or 'server'")
        if after < 0:
            raise ValueError("after is a number of bytes, >= 0")

        async def later() -> None:
            self.recorder.add(connection.conn, Note(direction, f"{FAULT}the lab will cut the TCP connection "  # type: ignore[arg-type]
                                                                f"after {after} more bytes from the {direction}"))
            connection.cut_after[direction] = after

        self.loop_thread.run(later())  # type: ignore[union-attr]
        return connection.conn

    def disconnect(self, conn: Any = None, code: int = 1000, reason: str = "") -> int:
        """Make the server close connection ``conn`` (its handler's ``ws.close(code, reason)``).

        The server starts the closing handshake (RFC 6455 §7.1.2) and waits up
        to ``close_timeout`` for the client's Close before dropping TCP.
        ``conn`` is as for :meth:`cut`. Returns the connection number.
        """
        connection = self._connection(conn)
        ws = self._server_connections.get(connection.conn)
        if ws is None:
            raise LookupError(f"connection {connection.conn} has no running handler on the lab's server")
        self.recorder.add(connection.conn, Note("server", f"{DISCONNECT} ({code}{' ' + repr(reason) if reason else ''})"))
        if isinstance(ws, websockets.asyncio.server.ServerConnection):
            asyncio.run_coroutine_threadsafe(ws.close(code, reason), self.loop_thread.loop)  # type: ignore[union-attr]
        else:
            threading.Thread(target=ws.close, args=(code, reason), daemon=True,
                             name=f"wslab-close-{connection.conn}").start()
        return connection.conn

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

    def watch(self, *, rows: int = 12, conns: int = 2, fps: float = 4.0, plot: bool = True) -> LiveView:
        """A live view for the notebook: the newest ``rows`` events and the diagram of the latest
        ``conns`` connections, redrawn at most ``fps`` times a second while the kernel runs other
        cells, until the lab stops (see :mod:`wslab.live`)."""
        if not self.running:
            raise RuntimeError("the lab is not started; call lab.start() before lab.watch()")
        from .live import LiveView

        return LiveView(self, rows=rows, conns=conns, fps=fps, plot=plot)

    @property
    def trace(self) -> Trace:
        """A snapshot of everything recorded so far (after letting closing connections finish)."""
        if threading.current_thread() is not (self.loop_thread and self.loop_thread.thread):
            self.settle()
        return Trace(list(self.recorder.records), list(self.recorder.chunks), started=self.started)

    def diagnose(self) -> Findings:
        """How each connection ended and what went wrong, in plain words (``lab.trace.diagnose()``)."""
        return self.trace.diagnose()

    def clear(self) -> None:
        """Forget what was recorded so far (connections keep their numbers)."""
        with self.recorder.changed:
            self.recorder.records.clear()
            self.recorder.chunks.clear()


@atexit.register
def _stop_all() -> None:
    for lab in list(_running):
        lab.stop()
