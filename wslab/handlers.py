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

from collections.abc import Callable
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
