"""Built-in connection handlers: the source article's two servers, and wslab's own.

The article's servers, translated to ``websockets`` (its Node.js code is quoted
in notebooks 00 and 04):

* ``"hello"`` -- the article's first server: it answers every message with
  ``Hello Client``.
* ``"article-chat"`` -- the server of the article's chat page: it answers the
  sender only with ``服务器收到消息: `` ("server received message: ") + the
  message, as text; it does not broadcast.

wslab's own:

* ``"room"`` -- an extension, not in the article: a broadcast chat room, every
  message goes to every connected client, the sender included. ``"chat"`` is
  an older name for it.
* ``"echo"`` -- the lab's default test server, a merge of the article's two:
  ``Hello Client`` to ``Hello Server``, the chat prefix to any other text, and
  binary messages returned unchanged. Not one of the article's servers.
* ``"silent"`` -- accepts connections and answers nothing.

Handlers are plain ``websockets`` asyncio handlers; :func:`resolve` turns a
name into a fresh one (a room per lab).
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
CHAT_PREFIX = "服务器收到消息: "
ECHO_PREFIX = CHAT_PREFIX  # the older name


async def hello(ws: ServerConnection) -> None:
    """The article's server: answer every message with ``Hello Client``."""
    async for _message in ws:
        await ws.send(HELLO_REPLY)


def chat_reply(message: str | bytes) -> str:
    """What the article's chat server answers: the prefix and the message, as text.

    Node's ``'服务器收到消息: ' + message`` turns a binary message (a Buffer) into
    text too, decoding it as UTF-8.
    """
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return CHAT_PREFIX + message


async def article_chat(ws: ServerConnection) -> None:
    """The article's chat server: answer the sender only, with :func:`chat_reply`."""
    async for message in ws:
        await ws.send(chat_reply(message))


def reply_to(message: str | bytes) -> str | bytes:
    """What wslab's ``"echo"`` test server answers to ``message`` (not one of the article's servers)."""
    if message == "Hello Server":
        return HELLO_REPLY
    if isinstance(message, bytes):
        return message
    return CHAT_PREFIX + message


async def echo(ws: ServerConnection) -> None:
    """wslab's test server: answer every message (see :func:`reply_to`) until the client closes."""
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


def room() -> Callable:
    """A new broadcast room (wslab's extension): a handler that sends each message to all its clients."""
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


chat = room  # the older name of the broadcast room


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
    "hello": lambda: hello,
    "article-chat": lambda: article_chat,
    "room": room,
    "echo": lambda: echo,
    "chat": room,  # the older name of "room"
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
    """The chat page (HTML + JavaScript, ``new WebSocket(...)``), after the article's."""
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
