"""Reproducible keys and masks for the lab's own clients.

RFC 6455 requires a fresh random Sec-WebSocket-Key (§4.1) and an unpredictable
masking key per frame (§5.3). For teaching we want the same bytes on every run,
so a lab made with ``seed=N`` gives *its own clients* a seeded generator.

``websockets`` draws both from ``secrets.token_bytes`` (its own test suite
patches that). We replace the ``secrets`` name inside ``websockets.frames`` and
``websockets.utils`` with a shim that behaves exactly like :mod:`secrets`,
except while one of our seeded client protocols is generating a key or
serialising a frame on the current thread. Every other connection in the
process keeps real randomness.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import threading

import websockets.frames
import websockets.utils

_active = threading.local()


class _ScopedSecrets:
    """Stands in for the ``secrets`` module inside websockets."""

    def __getattr__(self, name: str):
        return getattr(secrets, name)

    def token_bytes(self, n: int | None = None) -> bytes:
        rng: random.Random | None = getattr(_active, "rng", None)
        if rng is None:
            return secrets.token_bytes(n)
        return rng.randbytes(32 if n is None else n)


_shim = _ScopedSecrets()


def _install() -> None:
    websockets.frames.secrets = _shim  # type: ignore[assignment]  # a stand-in module, on purpose
    websockets.utils.secrets = _shim  # type: ignore[assignment]


@contextlib.contextmanager
def _using(rng: random.Random):
    previous = getattr(_active, "rng", None)
    _active.rng = rng
    try:
        yield
    finally:
        _active.rng = previous


def seed_protocol(protocol, rng: random.Random) -> None:
    """Make ``protocol`` (a websockets ClientProtocol) draw its key and masks from ``rng``."""
    _install()
    # ClientProtocol drew its key in __init__ (websockets.client); draw it again.
    with _using(rng):
        protocol.key = websockets.utils.generate_key()
    send_frame = protocol.send_frame

    def seeded_send_frame(frame):
        with _using(rng):
            return send_frame(frame)

    protocol.send_frame = seeded_send_frame


def seeded_connection(base: type, rng: random.Random) -> type:
    """A subclass of websockets' ``ClientConnection`` ``base`` whose protocol uses ``rng``."""

    class SeededClientConnection(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seed_protocol(self.protocol, rng)

    return SeededClientConnection
