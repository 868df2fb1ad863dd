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

Why this module is longer than the ~600 lines the others keep to: it is the one
class students read and call, so every public method lives here with its
docstring (lifecycle, clients, faults, the trace, the TLS and bounds options);
what those methods do lives in :mod:`wslab._runtime`. Splitting the surface
across mixins would scatter the page a student reads to learn the lab.

Threads, and who owns what -- one rule:

* The lab's loop thread owns the tap, its connections, the faults in effect and
  the server. Any other thread (the notebook's, a sync server's handler thread)
  reaches them only through :meth:`LoopThread.run` / :meth:`LoopThread.call`,
  which run the code on the loop and wait for it (``trio.from_thread.run``'s
  discipline); coroutines use ``run_coroutine_threadsafe`` and await it.
* The :class:`~wslab._runtime.recorder.Recorder` is the one object the threads share: one lock
  guards it, writers append whole steps (:meth:`~wslab._runtime.recorder.Recorder.add_many`),
  readers take a :meth:`~wslab._runtime.recorder.Recorder.snapshot`.
* The server's connections, registered by handlers on the loop or on a sync
  server's threads, sit behind their own small lock.

So every public method of :class:`Lab` may be called from any thread; the
blocking ones (:meth:`Lab.settle`, :meth:`Lab.stop`) have coroutine forms or run
in a worker thread from ``async with``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import websockets.asyncio.client
import websockets.asyncio.server
import websockets.protocol
import websockets.sync.client

from . import browser, handlers
from ._runtime.clients import RECV_TIMEOUT, settling_connection
from ._runtime.faults import ARROW, Faults
from ._runtime.faults import senders as _senders
from ._runtime.loop import LoopThread, cell_key, close_sockets, stop_previous_run_of_this_cell
from ._runtime.loop import running as _running
from ._runtime.recorder import MAX_BYTES, MAX_RECORDS, Recorder
from ._runtime.seeding import seeded_connection
from ._runtime.server import Server
from ._runtime.tap import Limits, Tap, TapConnection, frame_limit
from ._runtime.tls import Certificates, EncryptedLeg
from .capture.notes import DISCONNECT, FAULT, SERVER_STOPPING
from .capture.records import Note, Record
from .capture.trace import Trace
from .protocol import NoteKind, Sender, opcode_name, opcode_value

if TYPE_CHECKING:
    from ._runtime.raw import RawClient
    from .diagnose import Findings
    from .live import LiveView

T = TypeVar("T")

NOT_RUNNING = "the lab is not running; call lab.start() or use 'with Lab(...) as lab:'"
#: Seconds a lab client's close waits, at most, for the tap to see its connection end.
CLIENT_SETTLE = 2.0


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
        tls: serve ``wss://`` with a certificate made for this lab (``trustme``); the tap terminates
            TLS, so :attr:`trace` still shows every frame, and :attr:`encrypted_trace` records
            the encrypted leg in front of it. The lab's clients trust the certificate; others
            can use :attr:`ssl_context`.
        max_records, max_bytes: what :attr:`trace` keeps (records; bytes of the wire): past either
            it keeps the start and the most recent part, and a note in the trace says how many
            frames were counted, not kept. ``None``: no limit.
        record_to: a file that gets every record as it comes, kept or not, as JSON lines;
            ``wslab.load(PATH)`` reads it back as a trace.
        conn_records, conn_bytes: per connection, the records and bytes of chunks the trace keeps;
            past either, bytes are relayed and counted, not decoded or kept (a note says how many).
            The tap also lets go of a connection on its own: once one side has ended it, the
            other has ``close_timeout`` + 1 s to finish before the tap cuts it; a client with no
            complete request head after ``open_timeout`` + 1 s is cut; the decoder buffers and
            inflates no frame past ``max_size`` (64 KiB at least).
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
        tls: bool = False,
        conn_records: int | None = 20_000,
        conn_bytes: int | None = 16 * 2**20,
        max_records: int | None = MAX_RECORDS,
        max_bytes: int | None = MAX_BYTES,
        record_to: str | os.PathLike[str] | None = None,
        **server_options: Any,
    ) -> None:
        self.handler = None if target else handlers.resolve(handler)
        self.target = target
        self.seed = seed
        self.compression = compression
        self.path = urlsplit(target).path or "/" if target else path
        self.server_options: dict[str, Any] = dict(
            compression=compression, ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, subprotocols=subprotocols,
            process_request=process_request, origins=origins, **server_options,
        )
        self.close_timeout = close_timeout
        self.faults = Faults(rng=random.Random(seed))
        self.t0 = time.monotonic()
        self.started = time.time()  # the wall clock at t = 0, for captures with real dates
        #: ``Lab(record_to=PATH)``: every record and chunk, kept or not, as JSON lines (``wslab.load`` reads it).
        self.record_to = record_to
        sink = open(record_to, "w", encoding="utf-8") if record_to is not None else None  # noqa: SIM115
        self.recorder = Recorder(lambda: time.monotonic() - self.t0, max_records=max_records, max_bytes=max_bytes,
                                 sink=sink, started=self.started)
        self.clients_made = 0
        self.loop_thread: LoopThread | None = None
        self.server: Server | None = None
        self.tap: Tap | None = None
        self.server_port: int | None = None
        self.port: int | None = None
        self.cell: tuple | None = None
        self._cell_hint: tuple | None = None
        self.listen = (host, port)
        self.page = page
        self.redact = redact
        self.tls = tls
        self.certificates: Certificates | None = None
        #: The encrypted leg's recorder (``tls=True``): TLS records only, on the lab's clock.
        self.tls_recorder = Recorder(lambda: time.monotonic() - self.t0)
        self.front: EncryptedLeg | None = None
        self._views: list[LiveView] = []  # lab.watch()'s views, stopped with the lab
        self._conn_count = 0  # connection numbers continue across restarts
        self._warned_blocked = False  # the loop-blocked warning, once per lab
        #: Per connection, records and bytes of chunks kept; past either, bytes are relayed and counted only.
        self.conn_limits = Limits(conn_records=conn_records, conn_bytes=conn_bytes)

    # -- life cycle ----------------------------------------------------------
    def start(self) -> Lab:
        """Start the server and the tap; returns the lab. Idempotent."""
        if self.loop_thread is not None:
            return self
        # Re-running a notebook cell that makes a lab stops the lab its previous
        # run made, so labs don't pile up; labs made in a loop in one run survive.
        self.cell, self._cell_hint = self._cell_hint or cell_key(), None
        stop_previous_run_of_this_cell(self)
        if not len(self.recorder):  # a restarted lab keeps its clock
            self.t0, self.started = time.monotonic(), time.time()
        self.loop_thread = LoopThread(f"wslab-{id(self):x}")
        self.loop_thread.watch(self._loop_blocked)
        try:
            self.loop_thread.run(self._start())
        except BaseException:
            self.stop()
            raise
        _running.add(self)
        return self

    async def _start(self) -> None:
        if self.target is not None:
            parts = urlsplit(self.target)
            if parts.scheme != "ws":
                raise ValueError(f"target must be a ws:// URL, not {self.target!r}")
            upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        else:
            assert self.handler is not None
            self.server = Server(self.handler, self.server_options, name=f"{id(self):x}", recorder=self.recorder,
                                 page_hook=handlers.serve_page if self.page else None,
                                 find_conn=self._conn_of_server_port, on_loop=self._on_loop)
            upstream = ("127.0.0.1", await self.server.start())
        self.server_port = upstream[1]
        host, port = self.listen
        if self.tls:
            if self.certificates is None:
                self.certificates = await asyncio.to_thread(Certificates, "127.0.0.1")
            self.tap = Tap(upstream, self.recorder, self.faults, redact=self.redact, ssl=self.certificates.server,
                           limits=self._limits())
            self.tap.count = self._conn_count
            inner = await self.tap.start("127.0.0.1", 0)
            self.front = EncryptedLeg(("127.0.0.1", inner), self.tls_recorder)
            self.front.tap.count = self._conn_count
            try:
                self.port = await self.front.start(host, port or self.port or 0)
            except OSError:
                if port:
                    raise
                self.port = await self.front.start(host, 0)
            return
        self.tap = Tap(upstream, self.recorder, self.faults, redact=self.redact, limits=self._limits())
        self.tap.count = self._conn_count
        try:
            self.port = await self.tap.start(host, port or self.port or 0)  # a restart keeps its port
        except OSError:
            if port:
                raise
            self.port = await self.tap.start(host, 0)

    def _limits(self) -> Limits:
        """What the tap waits for and keeps per connection, from the server's own settings."""
        open_timeout = self.server_options.get("open_timeout", 10)
        return dataclasses.replace(
            self.conn_limits,
            linger=(self.close_timeout if self.close_timeout is not None else 2) + 1,
            handshake_timeout=None if open_timeout is None else open_timeout + 1,
            max_frame=frame_limit(self.server_options.get("max_size")))

    def _loop_blocked(self, seconds: float, where: str) -> None:
        """The watchdog saw code on the lab's loop block it (from the watchdog's thread)."""
        text = f"the lab's event loop was blocked for {seconds:.2f} s by {where}: nothing moved meanwhile"
        tap = self.tap
        with contextlib.suppress(RuntimeError):  # the tap's table changed while copied: note what we can
            for connection in list(tap.connections.values()) if tap is not None else []:
                self.recorder.add(connection.conn, Note(Sender.SERVER, text, NoteKind.LOOP_BLOCKED))
        if not self._warned_blocked:
            self._warned_blocked = True
            warnings.warn(
                f"wslab: code on the lab's event loop blocked it for {seconds:.1f} s, in {where}. While it blocks, "
                "no connection of this lab moves, not even through the tap. In an async handler use "
                "`await asyncio.sleep(...)`, not time.sleep(), and `await asyncio.to_thread(f, ...)` for slow work. "
                "(Said once per lab; each stall is a note in the trace.)", RuntimeWarning, stacklevel=1)

    def _conn_of_server_port(self, port: int) -> int | None:
        """The tap's connection whose upstream side is ``port`` (the server's peer). On the loop thread."""
        found = self.tap.find(upstream_port=port) if self.tap is not None else None
        return found.conn if found is not None else None

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
            self.recorder.flush()
            # A handler that blocked the loop kept it from closing its ports: close them from here.
            close_sockets([*(self.tap.listening() if self.tap else ()),
                           *(self.server.listening() if self.server else ())])
            if self.server is not None:
                self.server.join()
            views, self._views = self._views, []
            for view in views:  # their last drawing done when stop() returns (no thread left behind)
                view.stop()
            if self.tap is not None:
                self._conn_count = self.tap.count

    async def _stop(self) -> None:
        if self.tap is not None:
            # A client stalled in its opening handshake would hold the server until open_timeout,
            # and one that never closes its side after the server's would hold it forever: the
            # first is cut now, the second after a short grace (most clients close in a millisecond).
            active = self.tap.active()
            for connection in active:
                connection.record(Note(Sender.SERVER, SERVER_STOPPING, NoteKind.SERVER_STOPPING))
            await self.tap.finish([c for c in active if not c.opened and not c.closing], grace=0)
            await self.tap.finish([c for c in active if c.sides[Sender.SERVER].eof], grace=0.25)
        if self.server is not None:
            await self.server.stop(self.close_timeout or 2)  # RFC 6455 §7.4.1: 1001, the server is going away
        if self.tap is not None:
            await self.tap.stop()
        if self.front is not None:
            await self.front.stop()

    @property
    def running(self) -> bool:
        return self.loop_thread is not None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Lab:
        self._cell_hint = cell_key()  # here, on the cell's thread: the worker thread has no cell frames
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        what = f"tapping {self.target}" if self.target else getattr(self.handler, "__name__", "handler")
        return f"<Lab {what}, {state}, {len(self.recorder)} records>"

    # -- addresses -----------------------------------------------------------
    def _started_port(self) -> int:
        if self.port is None:
            raise RuntimeError("the lab is not started; call lab.start() or use 'with Lab(...) as lab:'")
        return self.port

    @property
    def url(self) -> str:
        """The ``ws://`` (``wss://`` with ``tls=True``) URL through the tap; any client on the kernel's
        machine can connect to it."""
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self._started_port()}{self.path}"

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client SSL context that trusts this lab's certificate (``tls=True``; else None).

        The lab's own clients use it already; pass it to others: ``websockets.connect(lab.url,
        ssl=lab.ssl_context)``. The certificate's CA is :attr:`certificates` ``.ca_pem``.
        """
        return self.certificates.client if self.certificates is not None else None

    @property
    def encrypted_trace(self) -> Trace:
        """What crossed the wire in front of the TLS termination (``tls=True``): TLS records only.

        Its bytes are what a network observer, or a proxy relaying ``CONNECT``, sees
        (RFC 6455 §1.5, §4.1); ``to_pcap()`` writes them for tshark, ``load_pcap`` reads them back.
        """
        if not self.tls:
            raise RuntimeError("encrypted_trace is for a TLS lab: Lab(tls=True)")
        records, chunks = self.tls_recorder.snapshot()
        return Trace(records, chunks, started=self.started)

    @property
    def local_http_url(self) -> str:
        """``http://127.0.0.1:PORT/``: the lab's page for a browser on the kernel's machine (tests, ``serve``)."""
        url = browser.local_url(self._started_port(), self.path)
        return "https" + url[4:] if self.tls and url.startswith("http:") else url

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
    def _client_options(self, kwargs: dict[str, Any], base: type) -> dict[str, Any]:
        options: dict[str, Any] = dict(proxy=None, compression=self.compression, ping_interval=None,
                                       close_timeout=self.close_timeout)
        recv_timeout = kwargs.pop("recv_timeout", RECV_TIMEOUT)
        if self.ssl_context is not None:
            options["ssl"] = self.ssl_context
        if "create_connection" not in kwargs:
            connection = settling_connection(base, self._settle_client, self._asettle_client, recv_timeout)
            if self.seed is not None:
                self.clients_made += 1
                rng = random.Random(f"wslab:{self.seed}:{self.clients_made}")
                connection = seeded_connection(connection, rng)
            options["create_connection"] = connection
        options.update(kwargs)
        return options

    def connect(self, path: str | None = None, **kwargs: Any) -> websockets.asyncio.client.connect:
        """An asyncio client through the tap: ``async with lab.connect() as ws:``.

        Keyword arguments go to :func:`websockets.asyncio.client.connect`, except ``recv_timeout``:
        ``await ws.recv()`` raises TimeoutError after that many seconds (default 10) saying nothing arrived;
        ``ws.recv(timeout=None)`` or ``recv_timeout=None`` waits forever (``async for`` always does).
        When the client has closed, the trace holds its whole ending (see :meth:`settle`).
        """
        url = self.url if path is None else self.url.rsplit(self.path, 1)[0] + path
        options = self._client_options(kwargs, websockets.asyncio.client.ClientConnection)
        return websockets.asyncio.client.connect(url, **options)

    def connect_sync(self, path: str | None = None, **kwargs: Any) -> websockets.sync.client.ClientConnection:
        """A synchronous client through the tap: ``with lab.connect_sync() as ws:``.

        As :meth:`connect`: ``ws.recv()`` gives up after ``recv_timeout`` seconds (default 10) with a
        TimeoutError saying nothing arrived; ``ws.recv(timeout=None)`` waits forever.
        """
        url = self.url if path is None else self.url.rsplit(self.path, 1)[0] + path
        options = self._client_options(kwargs, websockets.sync.client.ClientConnection)
        options.setdefault("open_timeout", 5)
        options.setdefault("legacy", True)  # return the connection itself, usable with or without `with`
        return websockets.sync.client.connect(url, **options)

    def raw(self, *, timeout: float = 2.0) -> RawClient:
        """A plain TCP client through the tap, for hand-made bytes: ``with lab.raw() as raw:``.

        See :class:`~wslab._runtime.raw.RawClient`: ``raw.handshake()``, ``raw.send_frame(...)``,
        ``raw.read_close()`` ... Every read waits at most ``timeout`` seconds.
        """
        from ._runtime.raw import RawClient

        if self.tls:
            raise RuntimeError("lab.raw() speaks plain TCP; a TLS lab (tls=True) needs a TLS client: "
                               "use lab.connect() or lab.connect_sync()")
        return RawClient(self, timeout=timeout)

    def conn_of(self, client: Any) -> int:
        """The connection number (``conn`` in the trace) of an open ``client``.

        ``client`` is a :class:`~wslab._runtime.raw.RawClient`, a ``websockets`` client
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
        found = self._on_loop(self._find_client, port) if self.tap is not None and self.running else None
        if found is None:
            raise LookupError(f"no open connection from port {port} through this lab")
        return found.conn

    def _find_client(self, port: int) -> TapConnection | None:
        """The tap's open connection of the client on ``port`` (through the TLS front, if any). On the loop."""
        if self.tap is None:
            return None
        if self.front is not None:
            inner = self.front.inner_port(port)
            return self.tap.find(client_port=inner) if inner is not None else None
        return self.tap.find(client_port=port)

    def _on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` run on the lab's loop thread, which owns the tap (see the class docstring)."""
        loop_thread = self.loop_thread
        if loop_thread is None or self.tap is None:
            raise RuntimeError(NOT_RUNNING)
        return loop_thread.call(fn, *args)

    def _connection(self, conn: Any) -> TapConnection:
        """The open tap connection ``conn`` (a number or a client); None: the newest. On the loop thread."""
        assert self.tap is not None
        active = self.tap.active()
        if conn is None:
            if not active:
                raise LookupError("no open connection through the lab")
            return max(active, key=lambda c: c.conn)
        number = conn if isinstance(conn, int) else None
        if number is None:
            port = conn.local_address[1] if hasattr(conn, "local_address") else conn.getsockname()[1]
            found = self._find_client(port)
            if found is None:
                raise LookupError(f"no open connection from port {port} through this lab")
            return found
        for connection in active:
            if connection.conn == number:
                return connection
        raise LookupError(f"connection {number} is not open")

    # -- faults --------------------------------------------------------------
    def _change_faults(self, notes: Sequence[tuple[str, str, NoteKind]], **changes: Any) -> None:
        """Replace fields of :attr:`faults` and note each change on every open connection, on the loop thread
        (new connections get a note when they open)."""
        def apply() -> None:
            for name, value in changes.items():
                setattr(self.faults, name, value)
            self.faults.changed()
            for connection in self.tap.active() if self.tap is not None else []:
                self.recorder.add_many(connection.conn, [Note(Sender(s), FAULT + text, kind)
                                                         for s, text, kind in notes])

        if self.running:
            self._on_loop(apply)
        else:
            apply()

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
        new = Faults(latency={**faults.latency, **{s: float(latency) for s in senders}},
                     jitter={**faults.jitter, **{s: float(jitter) for s in senders}})
        notes = []
        for sender in senders:
            described = new.describe([sender])
            notes.append((sender, described[0] if described else f"{ARROW[sender]}: no added latency",
                          NoteKind.LATENCY))
        self._change_faults(notes, latency=new.latency, jitter=new.jitter)

    def pause(self, direction: str = "both") -> None:
        """Hold every byte sent in ``direction`` (``"client"``, ``"server"``, ``"both"``) until :meth:`resume`.

        Nothing is lost: the tap records the bytes when they arrive and delivers
        them on resume. Meanwhile the peer hears nothing (a stalled network).
        """
        senders = _senders(direction)
        self._change_faults([(s, f"{ARROW[s]}: paused (the lab holds every byte)", NoteKind.PAUSE) for s in senders],
                            paused=self.faults.paused | set(senders))

    def resume(self, direction: str = "both") -> None:
        """Deliver what :meth:`pause` held in ``direction`` and stop holding."""
        senders = [s for s in _senders(direction) if s in self.faults.paused]
        self._change_faults([(s, f"{ARROW[s]}: resumed (the lab delivers what it held)", NoteKind.RESUME)
                             for s in senders], paused=self.faults.paused - set(senders))

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
        said = f"dropping {', '.join(sorted(names))} frames" if names else "no longer dropping frames"
        self._change_faults([(s, f"{ARROW[s]}: {said}", NoteKind.DROP) for s in senders],
                            drops={**self.faults.drops, **{s: frozenset(names) for s in senders}})

    def clear_faults(self) -> None:
        """Remove every latency, pause and drop (held bytes are delivered)."""
        notes = [("client", "all faults cleared", NoteKind.FAULTS_CLEARED)] if self.faults.describe() else []
        self._change_faults(notes, latency={}, jitter={}, drops={}, paused=set())

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
        if direction not in ("client", "server"):
            raise ValueError("direction must be 'client' or 'server'")
        if after is not None and after < 0:
            raise ValueError("after is a number of bytes, >= 0")

        def cut_on_loop() -> int:
            connection = self._connection(conn)
            if after is None:
                connection.kill(f"{FAULT}the lab cut the TCP connection", NoteKind.CUT)
            else:
                connection.record(Note(Sender(direction), f"{FAULT}the lab will cut the TCP connection after "
                                       f"{after} more bytes from the {direction}", NoteKind.CUT_SCHEDULED))
                connection.sides[Sender(direction)].cut_after = after
            return connection.conn

        return self._on_loop(cut_on_loop)

    def disconnect(self, conn: Any = None, code: int = 1000, reason: str = "") -> int:
        """Make the server close connection ``conn`` (its handler's ``ws.close(code, reason)``).

        The server starts the closing handshake (RFC 6455 §7.1.2) and waits up
        to ``close_timeout`` for the client's Close before dropping TCP. This
        returns once the server's Close frame is on its way. ``conn`` is as for
        :meth:`cut`. Returns the connection number.
        """
        async def close_on_loop() -> tuple[int, Any]:
            connection = self._connection(conn)
            ws = self.server.connection(connection.conn) if self.server is not None else None
            if ws is None:
                raise LookupError(f"connection {connection.conn} has no running handler on the lab's server")
            connection.record(Note(Sender.SERVER, f"{DISCONNECT} ({code}{' ' + repr(reason) if reason else ''})",
                                   NoteKind.DISCONNECT))
            if isinstance(ws, websockets.asyncio.server.ServerConnection):
                closing = asyncio.ensure_future(ws.close(code, reason))
                # Return once the Close frame is handed to the transport, not when the peer answers.
                while ws.protocol.state is websockets.protocol.State.OPEN and not closing.done():
                    await asyncio.sleep(0)
                return connection.conn, None
            return connection.conn, ws

        if self.loop_thread is None or self.tap is None:
            raise RuntimeError(NOT_RUNNING)
        number, sync_ws = self.loop_thread.run(close_on_loop())
        if sync_ws is not None:  # a sync server's connection: its close() blocks until the peer answers
            threading.Thread(target=sync_ws.close, args=(code, reason), daemon=True,
                             name=f"wslab-close-{number}").start()
        return number

    # -- the record ----------------------------------------------------------
    def settle(self, timeout: float = 2.0, quiet: float = 0.03) -> None:
        """Wait until nothing is on its way, then return: at most ``timeout`` seconds.

        Nothing on its way means: no connection that has seen a Close, an EOF or a
        reset is still open, no byte is queued in the tap (paused directions aside),
        and nothing was recorded for ``quiet`` seconds. The lab's own clients settle
        by themselves when they close, and :meth:`stop` leaves a settled trace, so
        this is for other clients (a browser, a bare socket). From a coroutine, use
        ``await lab.asettle()``: this method would block the running event loop.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("lab.settle() would block the running event loop of this thread: "
                               "use `await lab.asettle()`")
        deadline = time.monotonic() + timeout
        while True:
            busy = self.running and self._on_loop(self._busy)
            with self.recorder.changed:
                now = time.monotonic()
                if now >= deadline or (not busy and now - self.recorder.last_change >= quiet):
                    return
                self.recorder.changed.wait(min(quiet, deadline - now))

    def watch(self, *, rows: int = 12, conns: int = 2, fps: float = 4.0, plot: bool = True) -> LiveView:
        """A live view for the notebook: the newest ``rows`` events and the diagram of the latest
        ``conns`` connections, redrawn at most ``fps`` times a second while the kernel runs other
        cells, until the lab stops (see :mod:`wslab.live`)."""
        if not self.running:
            raise RuntimeError("the lab is not started; call lab.start() before lab.watch()")
        from .live import LiveView

        view = LiveView(self, rows=rows, conns=conns, fps=fps, plot=plot)
        self._views.append(view)
        return view

    async def asettle(self, timeout: float = 2.0, quiet: float = 0.03) -> None:
        """:meth:`settle` for coroutines: ``await lab.asettle()`` waits without blocking the event loop."""
        await asyncio.to_thread(self.settle, timeout, quiet)

    def _busy(self) -> bool:
        taps = [t for t in (self.tap, self.front.tap if self.front else None) if t is not None]
        return any(c.busy() for tap in taps for c in tap.active())

    def _client_conn(self, port: int, timeout: float) -> int | None:
        """The connection number of the client on ``port``, once the tap has accepted it (None: not in time)."""
        tap, loop_thread = self.tap, self.loop_thread
        if tap is None or loop_thread is None:
            return None
        found = loop_thread.run(self._wait_client(tap, port, timeout), timeout=timeout + 1)
        return found.conn if found is not None else None

    async def _wait_client(self, tap: Tap, port: int, timeout: float) -> TapConnection | None:
        if self.front is not None:
            inner = await self.front.wait_inner_port(port, timeout)
            if inner is None:
                return None
            port = inner
        return await tap.wait_for(client_port=port, timeout=timeout)

    def _settle_client(self, port: int | None) -> None:
        """Wait until the tap has seen the end of the lab's client on ``port`` (a client's close calls this)."""
        loop_thread = self.loop_thread
        if port is None or loop_thread is None or threading.current_thread() is loop_thread.thread:
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            loop_thread.run(self._client_done(port), timeout=CLIENT_SETTLE + 1)

    async def _asettle_client(self, port: int | None) -> None:
        """:meth:`_settle_client` without blocking the caller's event loop."""
        loop_thread = self.loop_thread
        if port is None or loop_thread is None:
            return
        if asyncio.get_running_loop() is loop_thread.loop:
            await self._client_done(port)
            return
        with contextlib.suppress(RuntimeError):
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._client_done(port), loop_thread.loop))

    async def _client_done(self, port: int) -> None:
        ends = [self._find_client(port)]
        if self.front is not None:
            ends.append(self.front.tap.find(client_port=port))
        for connection in ends:
            if connection is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(connection.done.wait(), CLIENT_SETTLE)

    @property
    def trace(self) -> Trace:
        """A snapshot of everything recorded so far, at once, whatever the traffic.

        The lab's own clients (:meth:`connect`, :meth:`connect_sync`, :meth:`raw`)
        wait for the tap to see their connection end when they close, and
        :meth:`stop` (the end of a ``with`` block) leaves everything settled; for
        other clients, call :meth:`settle` (or ``await lab.asettle()``) first.
        """
        records, chunks = self.recorder.snapshot()
        return Trace(records, chunks, started=self.started)

    def on_record(self, callback: Callable[[Record], Any]) -> None:
        """Call ``callback(record)`` with each new record, on the thread that records it (keep it short)."""
        self.recorder.listeners.append(callback)

    def wait_for(self, predicate: Callable[[Record], bool], timeout: float = 5.0) -> Record:
        """The first record (recorded so far or from now on) for which ``predicate`` is true.

        Raises TimeoutError after ``timeout`` seconds.
        """
        return self.recorder.wait_for(predicate, timeout)

    def diagnose(self) -> Findings:
        """How each connection ended and what went wrong, in plain words (``lab.trace.diagnose()``)."""
        return self.trace.diagnose()

    def clear(self) -> None:
        """Forget what was recorded so far (connections keep their numbers)."""
        self.recorder.clear()
        self.tls_recorder.clear()
