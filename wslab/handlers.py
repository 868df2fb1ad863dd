"""Built-in connection handlers: the source article's servers.

* ``"echo"`` -- the article's Node.js server: it greets ``Hello Server`` with
  ``Hello Client`` and answers any other message with
  ``服务器收到消息: <message>`` ("server received message: ...").
* ``"chat"`` -- the article's chat server: every message is broadcast to every
  connected client, the sender included.

Handlers are plain ``websockets`` asyncio handlers; :func:`resolve` turns a
name into a fresh one (a chat room per lab).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from importlib.resources import files

import websockets
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

HELLO_REPLY = "Hello Client"
ECHO_PREFIX = "服务器收到消息: "


def reply_to(message: str | bytes) -> str | bytes:
    """What the article's echo server answers to ``message``."""
    if message == "Hello Server":
        return HELLO_REPLY
    if isinstance(message, bytes):
        return message
    return ECHO_PREFIX + message


async def echo(ws: ServerConnection) -> None:
    """Answer every message (see :func:`reply_to`) until the client closes."""
    async for message in ws:
        await ws.send(reply_to(message))


def limited_echo(rate: float | None) -> Callable:
    """:func:`echo`, closing (1008) a client that sends more than ``rate`` messages a second."""
    async def handler(ws: ServerConnection) -> None:
        async for message in limited(ws, rate):
            await ws.send(reply_to(message))

    return handler


async def limited(ws: ServerConnection, rate: float | None) -> AsyncIterator[str | bytes]:
    """``ws``'s messages; past ``rate`` a second (a token bucket, bursts of twice that) it closes with 1008."""
    if not rate:
        async for message in ws:
            yield message
        return
    loop = asyncio.get_running_loop()
    burst = max(2 * rate, 1.0)
    tokens, last = burst, loop.time()
    async for message in ws:
        now = loop.time()
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        if tokens < 1:
            await ws.close(1008, f"too many messages: over {rate:g} a second")
            return
        tokens -= 1
        yield message


def chat() -> Callable:
    """A new chat room: a handler that broadcasts each message to all its clients."""
    clients: dict[ServerConnection, None] = {}  # a dict keeps join order: reproducible traces

    async def handler(ws: ServerConnection) -> None:
        clients[ws] = None
        try:
            async for message in ws:
                websockets.broadcast(list(clients), message)
        finally:
            clients.pop(ws, None)

    handler.clients = clients  # type: ignore[attr-defined]
    return handler


def classroom_chat(*, rate: float | None = None, write_limit: int | None = None) -> Callable:
    """:func:`chat` for a whole class (``python -m wslab serve``).

    ``rate`` closes a client that sends more than that many messages a second (1008,
    bursts of twice as many), and ``write_limit`` closes a client that does not read
    (1008) once that many bytes wait for it in the server's write buffer, rather than
    let them pile up.
    """
    clients: dict[ServerConnection, None] = {}
    closing: set[asyncio.Future] = set()  # slow clients being closed

    async def handler(ws: ServerConnection) -> None:
        clients[ws] = None
        try:
            async for message in limited(ws, rate):
                listeners = list(clients)
                if write_limit is not None:
                    for slow in [c for c in listeners if c.transport.get_write_buffer_size() > write_limit]:
                        clients.pop(slow, None)
                        listeners.remove(slow)
                        waiting = slow.transport.get_write_buffer_size()
                        task = asyncio.ensure_future(slow.close(1008, f"too slow: {waiting} bytes waiting to be read"))
                        closing.add(task)
                        task.add_done_callback(closing.discard)
                websockets.broadcast(listeners, message)
        finally:
            clients.pop(ws, None)

    handler.clients = clients  # type: ignore[attr-defined]
    return handler


async def silent(ws: ServerConnection) -> None:
    """Accept the connection and wait for the client to close, answering nothing."""
    await ws.wait_closed()


BUILTIN: dict[str, Callable[[], Callable]] = {
    "echo": lambda: echo,
    "chat": chat,
    "silent": lambda: silent,
}


def resolve(handler: str | Callable) -> Callable:
    """Return a handler for a built-in name, or ``handler`` itself."""
    if isinstance(handler, str):
        try:
            return BUILTIN[handler]()
        except KeyError:
            raise ValueError(f"unknown handler {handler!r}; built-ins: {', '.join(BUILTIN)}") from None
    if not callable(handler):
        raise TypeError(f"handler must be a name or a callable, not {type(handler).__name__}")
    return handler


def page() -> bytes:
    """The article's chat page (HTML + JavaScript, ``new WebSocket(...)``)."""
    return files("wslab").joinpath("static/chat.html").read_bytes()


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """``process_request`` hook: answer a browser's plain ``GET /`` with the chat page.

    Only requests without ``Upgrade`` that ask for HTML (or ``/chat.html``) get
    the page, so hand-made handshakes still meet websockets' own checks.
    """
    if "Upgrade" in request.headers:
        return None
    path = request.path.split("?", 1)[0]
    if path == "/chat.html" or (path == "/" and "text/html" in request.headers.get("Accept", "")):
        body = page()
        headers = Headers([("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store")])
        return Response(200, "OK", headers, body)
    return None


def chain(*hooks: Callable | None) -> Callable:
    """One ``process_request`` hook that tries ``hooks`` in order (async hooks awaited)."""
    import inspect

    async def process_request(connection, request):
        for hook in hooks:
            if hook is None:
                continue
            response = hook(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response
        return None

    return process_request
