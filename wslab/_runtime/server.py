"""The lab's websockets server: asyncio or sync (threaded), with its hooks, behind the tap.

It knows which of its connections serves which connection of the tap (so the
lab can make the server close one, :meth:`Server.connection`), and notes in the
trace when a handler raises. The hooks: the chat page for browsers, RFC 6455
§4.4's 426 for a wrong version, and the caller's own ``process_request``,
tried in order by one :func:`chain` that takes sync and async hooks alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import socket
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import websockets.asyncio.server
import websockets.sync.server
from websockets.exceptions import ConnectionClosed

from ..capture.notes import HANDLER_RAISED
from ..capture.records import Note
from ..protocol.enums import NoteKind, Sender
from .recorder import Recorder

#: Pending TCP connections the lab's server (and its tap) queue before refusing.
from .tap import BACKLOG


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


def same_origin(allowed: Sequence[str | re.Pattern[str]] = ()) -> Callable[[Any, Any], Any]:
    """``process_request`` hook: refuse (403) a browser page from another site.

    A browser names the page's origin in ``Origin`` (RFC 6455 §4.1 item 8, §10.2) and a page
    cannot set it. Accepted: requests without ``Origin`` (not browsers); an origin whose host
    is the ``Host`` the request was sent to, or the ``X-Forwarded-Host`` of a proxy in front
    (so a page served through JupyterHub's or Binder's proxy, on the hub's origin, gets in);
    and the origins in ``allowed`` (strings, or patterns matched in full).
    """
    exact = {item.rstrip("/").lower() for item in allowed if isinstance(item, str)}
    patterns = [item for item in allowed if not isinstance(item, str)]

    def check(connection: Any, request: Any) -> Any:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        origin = origin.strip()
        hosts = {value.split(",")[0].strip().lower() for name in ("Host", "X-Forwarded-Host")
                 for value in request.headers.get_all(name)}
        if (urlsplit(origin).netloc.lower() in hosts or origin.rstrip("/").lower() in exact
                or any(pattern.fullmatch(origin) for pattern in patterns)):
            return None
        return connection.respond(403, f"Failed to open a WebSocket connection: a page from {origin} may not "
                                       "connect to this server (start it with --allow-origin to let it).\n")

    return check


def chain(*hooks: Callable[..., Any] | None) -> Callable[..., Any]:
    """One ``process_request`` hook that tries ``hooks`` in order until one answers.

    Sync hooks are called; the first one that returns an awaitable turns the
    rest of the chain into a coroutine (websockets' asyncio server awaits it).
    """
    chained = [hook for hook in hooks if hook is not None]

    def process_request(connection: Any, request: Any) -> Any:
        for i, hook in enumerate(chained):
            response = hook(connection, request)
            if inspect.isawaitable(response):
                return _finish(response, chained[i + 1:], connection, request)
            if response is not None:
                return response
        return None

    return process_request


async def _finish(pending: Awaitable[Any], rest: list[Callable[..., Any]], connection: Any, request: Any) -> Any:
    response = await pending
    for hook in rest:
        if response is not None:
            return response
        response = hook(connection, request)
        if inspect.isawaitable(response):
            response = await response
    return response


def is_async(handler: Callable[..., Any]) -> bool:
    """``async def handler(ws)``, or an object whose ``__call__`` is one."""
    # An object whose __call__ is async counts too (callable() cannot tell): hence the getattr.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004




class Server:
    """The websockets server a lab taps: ``await start()`` returns its port; ``await stop()``.

    Args:
        handler: an asyncio handler (served on the lab's loop) or a sync one (websockets'
            threaded server, in a thread of its own).
        options: keywords for ``serve()``.
        page_hook: a ``process_request`` hook serving the chat page (asyncio handlers).
        find_conn: the tap's connection number for the server's peer port, or None
            (called on the loop thread).
        recorder: where a handler's exception is noted.
        on_loop: runs a plain function on the lab's loop thread (for sync handlers' threads).
    """

    def __init__(self, handler: Callable[..., Any], options: dict[str, Any], *, page_hook: Callable[..., Any] | None,
                 find_conn: Callable[[int], int | None], recorder: Recorder,
                 on_loop: Callable[[Callable[[], Any]], Any], name: str) -> None:
        self.handler = handler
        self.options = options
        self.page_hook = page_hook
        self.find_conn = find_conn
        self.recorder = recorder
        self.on_loop = on_loop
        self.name = name
        self.server: Any = None
        self.thread: threading.Thread | None = None
        self._connections: dict[int, Any] = {}  # conn -> the server's connection, while its handler runs
        self._lock = threading.Lock()  # handlers register on the loop, or on a sync server's threads
        if not is_async(handler) and inspect.iscoroutinefunction(options.get("process_request")):
            warnings.warn("wslab: an async process_request hook cannot run in the sync server of a sync handler; "
                          "write the hook with def, or the handler with async def", RuntimeWarning, stacklevel=3)

    async def start(self) -> int:
        """Start serving on a free port of 127.0.0.1; the port."""
        if is_async(self.handler):
            options = {"backlog": BACKLOG, **self.options}
            options["process_request"] = chain(self.page_hook, require_version_13, options.get("process_request"))
            self.server = await websockets.asyncio.server.serve(self._tapped(), "127.0.0.1", 0, **options)
            return int(self.server.sockets[0].getsockname()[1])
        options = {k: v for k, v in self.options.items() if k != "ping_timeout" or v is not None}
        options.setdefault("backlog", BACKLOG)
        options["process_request"] = chain(require_version_13, options.get("process_request"))
        self.server = websockets.sync.server.serve(self._tapped(), "127.0.0.1", 0, **options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=f"wslab-sync-{self.name}")
        self.thread.start()
        return int(self.server.socket.getsockname()[1])

    async def stop(self, close_timeout: float) -> None:
        """Close the server: 1001 going away to every open connection (RFC 6455 §7.4.1)."""
        if isinstance(self.server, websockets.asyncio.server.Server):
            self.server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), close_timeout + 1)
        elif self.server is not None:
            await asyncio.to_thread(self.server.shutdown)

    def listening(self) -> list[socket.socket]:
        """The server's listening sockets (for :func:`~wslab._runtime.loop.close_sockets` when its loop is stuck)."""
        if isinstance(self.server, websockets.asyncio.server.Server):
            return list(getattr(self.server.server, "_sockets", None) or [])
        sock = getattr(self.server, "socket", None)
        return [sock] if sock is not None else []

    def join(self) -> None:
        """Wait for a sync server's thread (after :meth:`stop`)."""
        if self.thread is not None:
            self.thread.join(5)
        with self._lock:
            self._connections.clear()

    def connection(self, conn: int) -> Any:
        """The server's connection serving the tap's connection ``conn``, while its handler runs; or None."""
        with self._lock:
            return self._connections.get(conn)

    @contextlib.contextmanager
    def _serving(self, ws: Any) -> Iterator[None]:
        port = ws.remote_address[1]
        try:
            conn = self.on_loop(lambda: self.find_conn(port))
        except RuntimeError:  # the lab is stopping
            conn = None
        if conn is not None:
            with self._lock:
                self._connections[conn] = ws
        try:
            yield
        except ConnectionClosed:
            pass  # the connection ended (the trace shows how): not the handler's failure
        except Exception as exc:
            if conn is not None:
                text = f"{HANDLER_RAISED}{type(exc).__name__}" + (f": {exc}" if str(exc) else "")
                self.recorder.add(conn, Note(Sender.SERVER, text, NoteKind.HANDLER_RAISED))
            raise
        finally:
            if conn is not None:
                with self._lock:
                    self._connections.pop(conn, None)

    def _tapped(self) -> Callable[..., Any]:
        """The handler, noting which connection it serves and any exception it raises."""
        handler = self.handler
        if is_async(handler):
            @functools.wraps(handler)
            async def tapped_async(ws: Any) -> None:
                with self._serving(ws):
                    await handler(ws)

            return tapped_async

        @functools.wraps(handler)
        def tapped_sync(ws: Any) -> None:
            with self._serving(ws):
                handler(ws)

        return tapped_sync


__all__ = ["BACKLOG", "Server", "chain", "is_async", "require_version_13"]
