"""The lab's own clients: websockets' client connections whose close waits for the tap to see the end.

So ``lab.trace`` read right after a lab client's ``with`` block holds the whole
closing exchange, FINs included, without ever waiting for quiet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import websockets.sync.client


def settling_connection(base: type, settle: Callable[[int | None], None],
                        asettle: Callable[[int | None], Awaitable[None]]) -> type:
    """A subclass of websockets' ``ClientConnection`` ``base`` (sync or asyncio) that calls ``settle(port)``
    (or awaits ``asettle(port)``) with its local port once it has closed."""
    if issubclass(base, websockets.sync.client.ClientConnection):
        class SettlingSyncConnection(base):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._wslab_port = self.socket.getsockname()[1]

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

        async def close(self, code: int = 1000, reason: str = "") -> None:
            await super().close(code, reason)
            await asettle(self._wslab_port)

    return SettlingConnection


__all__ = ["settling_connection"]
