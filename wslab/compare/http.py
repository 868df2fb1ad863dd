"""Notebook 05's HTTP side: the stream of updates, a minimal HTTP/1.1 keep-alive server and client.

Standard library only, on ``asyncio.start_server``; heads are read with wslab's
own HTTP parser (:mod:`wslab.protocol.http`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import time
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import USER_AGENT

from ..protocol import Problem, Sender
from ..protocol.http import parse_head

#: How long the server holds a long-poll request with nothing to send (seconds).
LONG_POLL_TIMEOUT = 30.0

def update_text(seq: int) -> str:
    """The payload of update ``seq``: ``"update 007"`` (10 bytes for seq < 1000)."""
    return f"update {seq:03d}"


def _seq(text: str) -> int:
    return int(text.split()[1])


async def _sleep_until(when: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``when``."""
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class Feed:
    """The updates a server produces: update ``i`` at ``start + i * interval``.

    ``produced[i]`` is the ``time.monotonic()`` at which update ``i`` existed.
    Use it on one event loop (the server's).
    """

    def __init__(self, updates: int, interval: float) -> None:
        self.updates = updates
        self.interval = interval
        self.messages: list[str] = []
        self.produced: list[float] = []
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def run(self, start: float) -> None:
        """Produce every update on schedule."""
        for i in range(self.updates):
            await _sleep_until(start + i * self.interval)
            async with self.changed:
                self.produced.append(time.monotonic())
                self.messages.append(update_text(i))
                self.changed.notify_all()

    async def since(self, since: int, wait: float = 0.0) -> list[str]:
        """Updates from number ``since`` on; with ``wait``, wait up to that long for one."""
        if wait > 0 and len(self.messages) <= since:
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait_for(lambda: len(self.messages) > since), wait)
        return self.messages[since:]


@dataclasses.dataclass(frozen=True)
class Request:
    """An HTTP request head: ``method``, ``target``, ``version`` and lower-cased ``headers``."""

    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection open unless ``Connection: close`` (RFC 9112 §9.3)."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


def parse_request(head: bytes) -> Request:
    """Parse a request head (through the blank line) with wslab's HTTP parser; ValueError if not HTTP/1.x."""
    parsed = parse_head(head, Sender.CLIENT)
    if isinstance(parsed, Problem):
        raise ValueError(str(parsed))
    if not parsed.version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x request: {parsed.start_line!r}")
    assert parsed.method is not None and parsed.path is not None
    return Request(parsed.method, parsed.path, parsed.version, {k.lower(): v for k, v in parsed.headers})


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def response_bytes(status: int, body: bytes, *, date: str | None = None, close: bool = False) -> bytes:
    """A complete HTTP/1.1 response: status line, the headers a plain server sends, the body.

    ``Date`` is required from origin servers with a clock (RFC 9110 §6.6.1); its
    value always has 29 characters, so response sizes do not depend on it.
    """
    headers = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Date: {date or email.utils.formatdate(usegmt=True)}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
    ]
    if close:
        headers.append("Connection: close")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


class UpdateServer:
    """A minimal HTTP/1.1 server (keep-alive) for a :class:`Feed`.

    ``GET /updates?since=N`` answers at once with updates N, N+1 ... (one per
    line, maybe none); add ``&wait=1`` to hold the request until there is one
    (long polling, at most :data:`LONG_POLL_TIMEOUT` seconds).
    """

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.server: asyncio.AbstractServer | None = None
        self.requests = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def respond(self, request: Request) -> tuple[int, bytes]:
        """(status, body) for one request."""
        url = urlsplit(request.target)
        if url.path != "/updates":
            return 404, b"try GET /updates?since=0\n"
        if request.method != "GET":
            return 405, b"only GET\n"
        query = parse_qs(url.query)
        try:
            since = int(query.get("since", ["0"])[0])
        except ValueError:
            return 400, b"since must be an integer\n"
        wait = LONG_POLL_TIMEOUT if query.get("wait", ["0"])[0] not in ("", "0") else 0.0
        # Build the body in the same step as the wake-up: no update can slip in between.
        messages = await self.feed.since(since, wait)
        return 200, "".join(m + "\n" for m in messages).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                try:
                    request = parse_request(head)
                except ValueError as exc:
                    writer.write(response_bytes(400, f"{exc}\n".encode(), close=True))
                    await writer.drain()
                    return
                length = int(request.headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)  # no route takes a body; drop it
                self.requests += 1
                status, body = await self.respond(request)
                writer.write(response_bytes(status, body, close=not request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


class HttpClient:
    """A minimal HTTP/1.1 client on one keep-alive connection.

    It sends the same ``User-Agent`` as the ``websockets`` client, and nothing a
    browser would add (cookies, ``Accept-Language``, ``Referer`` ...).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> HttpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    def request_bytes(self, target: str) -> bytes:
        return (f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Accept: text/plain\r\n\r\n").encode("latin-1")

    async def get(self, target: str) -> tuple[int, bytes, bytes, bytes]:
        """Send ``GET target``; returns (status, body, request bytes, response bytes)."""
        request = self.request_bytes(target)
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        parsed = parse_head(head, Sender.SERVER)
        if isinstance(parsed, Problem) or parsed.status is None:
            raise ValueError(f"not an HTTP response: {parsed}")
        body = await self.reader.readexactly(int(parsed.header("Content-Length") or 0))
        return parsed.status, body, request, head + body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


__all__ = ["LONG_POLL_TIMEOUT", "Feed", "HttpClient", "Request", "UpdateServer", "parse_request", "response_bytes",
           "update_text"]
