"""The lab's own clients: websockets' client connections whose close waits for the tap to see the end.

So ``lab.trace`` read right after a lab client's ``with`` block holds the whole
closing exchange, FINs included, without ever waiting for quiet. Their ``recv()``
gives up after a default timeout with a message that says why (a student's
``ws.recv()`` with nothing coming must not hang the kernel); ``recv(timeout=None)``
waits forever, and so does iterating over the connection (``for message in ws``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import websockets.exceptions
import websockets.sync.client

#: ``recv()``'s default timeout on the lab's clients, in seconds.
RECV_TIMEOUT = 10.0
_DEFAULT: Any = object()


def nothing_arrived(timeout: float) -> TimeoutError:
    """The error a lab client's ``recv()`` raises when its default timeout runs out."""
    return TimeoutError(f"nothing arrived within {timeout:g} s — is the server supposed to answer? "
                        "pass timeout=None to wait forever (ws.recv(timeout=None), or "
                        "lab.connect(recv_timeout=None) for every recv)")


def settling_connection(base: type, settle: Callable[[int | None], None],
                        asettle: Callable[[int | None], Awaitable[None]],
                        recv_timeout: float | None = RECV_TIMEOUT) -> type:
    """A subclass of websockets' ``ClientConnection`` ``base`` (sync or asyncio) that calls ``settle(port)``
    (or awaits ``asettle(port)``) with its local port once it has closed, and whose ``recv()`` raises
    :func:`nothing_arrived` after ``recv_timeout`` seconds unless told ``timeout=None``."""
    if issubclass(base, websockets.sync.client.ClientConnection):
        class SettlingSyncConnection(base):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._wslab_port = self.socket.getsockname()[1]

            def recv(self, timeout: float | None = _DEFAULT, decode: bool | None = None) -> Any:
                if timeout is not _DEFAULT:
                    return super().recv(timeout, decode)
                try:
                    return super().recv(recv_timeout, decode)
                except TimeoutError:
                    assert recv_timeout is not None
                    raise nothing_arrived(recv_timeout) from None

            def __iter__(self) -> Iterator[Any]:
                try:
                    while True:
                        yield self.recv(timeout=None)
                except websockets.exceptions.ConnectionClosedOK:
                    return

            def close(self, code: int = 1000, reason: str = "") -> None:
                super().close(code, reason)
                settle(self._wslab_port)

        return SettlingSyncConnection

    class SettlingConnection(base):
        _wslab_port: int | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            sockname = transport.get_extra_info("sockname")
            self._wslab_port = sockname[1] if sockname else None

        async def recv(self, decode: bool | None = None, *, timeout: float | None = _DEFAULT) -> Any:
            wait = recv_timeout if timeout is _DEFAULT else timeout
            if wait is None:
                return await super().recv(decode)
            try:
                async with asyncio.timeout(wait):
                    return await super().recv(decode)
            except TimeoutError:
                if timeout is _DEFAULT:
                    raise nothing_arrived(wait) from None
                raise

        async def __aiter__(self) -> AsyncIterator[Any]:
            try:
                while True:
                    yield await self.recv(timeout=None)
            except websockets.exceptions.ConnectionClosedOK:
                return

        async def close(self, code: int = 1000, reason: str = "") -> None:
            await super().close(code, reason)
            await asettle(self._wslab_port)

    return SettlingConnection


__all__ = ["RECV_TIMEOUT", "nothing_arrived", "settling_connection"]
