"""wslab: see and understand the whole life of a WebSocket connection.

A :class:`Lab` runs a real ``websockets`` server behind a recording TCP tap,
inside the Jupyter kernel; ``lab.trace`` is every byte that crossed the wire,
decoded by wslab's own RFC 6455 decoder, as a table, a timeline and a capture.
:func:`load_pcap` and :func:`load_har` make the same kind of trace from a
packet capture or a browser's HAR export.
"""

import importlib.metadata

from . import decode
from ._runtime.raw import RawClient
from .capture.readers import load_har, load_pcap
from .capture.trace import Record, Trace, load
from .lab import Lab
from .nested import allow_nested_asyncio
from .protocol import accept_key, build_frame, check_accept, close_payload, decode_bytes

__all__ = [
    "Lab", "RawClient", "Record", "Trace", "accept_key", "allow_nested_asyncio", "build_frame", "check_accept",
    "close_payload", "decode", "decode_bytes", "load", "load_har", "load_pcap",
]
try:  # the version is written once, in pyproject.toml
    __version__ = importlib.metadata.version("wslab")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
    __version__ = "0+unknown"
