"""A browser's HAR export (DevTools → Network → Save all as HAR) as a trace: :func:`load_har`.

A HAR keeps, per WebSocket connection, the handshake (the entry's request and
response) and -- in Chrome's export -- every message in the entry's
``_webSocketMessages``: ``{"type": "send" | "receive", "time": <Unix seconds>,
"opcode": 1 | 2, "data": <text, or base64 for binary>}``. Firefox's export
(as of Firefox 13x) has the handshake but no messages.

That is message level, not wire level: no masks, no control frames (ping,
pong, close), no fragmentation, no close codes. The trace says so in a note,
and rebuilds one unmasked frame per message with wslab's own frame builder,
decoded by the same :class:`~wslab.decode.WireDecoder` and
:class:`~wslab.tap.StateTracker` as the lab's, so ``explain()``, tables,
``plot()`` and ``diagnose()`` work.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ...protocol import Frame, Handshake, Sender, WireDecoder, build_frame
from ...protocol.enums import NoteKind
from ...protocol.problems import ProblemCode
from ...protocol.states import StateTracker
from ..notes import MESSAGE_LEVEL
from ..records import Chunk, Note, Record
from ..trace import Trace

#: The note on every connection from a HAR starts with this.
MESSAGE_LEVEL_NOTE = (
    f"{MESSAGE_LEVEL} — the browser recorded each message's direction, time, type and data, not the bytes on the "
    "wire: masks, control frames (ping, pong, close), fragmentation and close codes are not in a HAR. The frames "
    "here are rebuilt from the messages, one unmasked frame per message."
)
#: What the decoder would say about what a HAR doesn't keep: rebuilt frames are unmasked on purpose,
#: and a refusal's body is not in the export.
_NOT_IN_A_HAR = frozenset({ProblemCode.UNMASKED_CLIENT_FRAME, ProblemCode.TRUNCATED_BODY})
_SENDERS: dict[str, Sender] = {"send": Sender.CLIENT, "receive": Sender.SERVER}
_VERSION = re.compile(r"HTTP/1\.[01]", re.IGNORECASE)


def load_har(path: str | os.PathLike) -> Trace:
    """Read the WebSocket connections of a HAR file (Chrome's or Firefox's DevTools) into a trace.

    Each entry with a WebSocket handshake (``_resourceType`` ``"websocket"``, a
    ``ws://``/``wss://`` URL, status 101 or ``_webSocketMessages``) becomes a
    connection, in order of their start; ``started`` is the first one's
    ``startedDateTime``. Raises ``ValueError`` for a file that isn't a HAR or
    has no WebSocket connection.
    """
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            har = json.load(f)
        entries = har["log"]["entries"]
        if not isinstance(entries, list):
            raise TypeError("log.entries is not a list")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{name}: not a HAR file (JSON with log.entries): {exc}") from None
    sockets = [e for e in entries if isinstance(e, dict) and _is_websocket(e)]
    if not sockets:
        raise ValueError(f"{name}: no WebSocket connection in this HAR ({len(entries)} entries, none with a "
                         "ws:// URL, a 101 response or _webSocketMessages) — export it from the page that opened "
                         "the WebSocket, with the Network panel open before the connection started")
    creator = str((har["log"].get("creator") or {}).get("name") or "the browser")
    starts = [_epoch(e.get("startedDateTime")) for e in sockets]
    order = sorted(range(len(sockets)), key=lambda i: (starts[i] is None, starts[i] or 0.0))
    known = [s for s in starts if s is not None] or [
        _seconds(m["time"]) for e in sockets for m in e.get("_webSocketMessages") or []
        if isinstance(m, dict) and isinstance(m.get("time"), (int, float))]  # no startedDateTime: the messages'
    started = min(known) if known else None
    records: list[Record] = []
    chunks: list[Chunk] = []
    for conn, i in enumerate(order, start=1):
        _Connection(conn, sockets[i], (starts[i] or started or 0.0) - (started or 0.0), started or 0.0,
                    creator, records, chunks).run()
    return Trace(records, chunks, started=started)


def _is_websocket(entry: dict) -> bool:
    request, response = entry.get("request") or {}, entry.get("response") or {}
    url = str(request.get("url", ""))
    return (entry.get("_resourceType") == "websocket" or "_webSocketMessages" in entry
            or url.startswith(("ws://", "wss://")) or response.get("status") == 101)


def _epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _seconds(time: float) -> float:
    """A message's ``time`` in Unix seconds (Chrome writes seconds; Playwright's recorder milliseconds)."""
    return time / 1000 if time > 1e11 else float(time)


def _head(start_line: str, headers: Any) -> bytes:
    """An HTTP/1.1 head from HAR ``[{"name": ..., "value": ...}]`` headers (HTTP/2 pseudo-headers left out)."""
    lines = [start_line]
    for header in headers if isinstance(headers, list) else []:
        name, value = str(header.get("name", "")), str(header.get("value", ""))
        if name and not name.startswith(":"):
            lines.append(f"{name}: {value}".replace("\r", " ").replace("\n", " "))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _version(value: Any) -> str:
    text = str(value or "")
    return text.upper() if _VERSION.fullmatch(text) else "HTTP/1.1"


class _Connection:
    """One HAR entry on its way to records, through a WireDecoder and a StateTracker."""

    def __init__(self, conn: int, entry: dict, t: float, started: float, creator: str,
                 records: list[Record], chunks: list[Chunk]) -> None:
        self.conn, self.entry, self.t, self.started, self.creator = conn, entry, t, started, creator
        self.records, self.chunks = records, chunks
        self.decoder = WireDecoder()
        self.states = StateTracker()
        self.offsets = {"client": 0, "server": 0}

    def run(self) -> None:
        entry = self.entry
        request, response = entry.get("request") or {}, entry.get("response") or {}
        messages = entry.get("_webSocketMessages")
        times = [self._time(m.get("time")) for m in messages or [] if isinstance(m, dict)]
        self.note(self.t, MESSAGE_LEVEL_NOTE)
        if not isinstance(messages, list):
            self.note(self.t, f"HAR: no messages — this HAR has the handshake only: {self.creator}'s export has no "
                              "_webSocketMessages (Firefox's DevTools don't export WebSocket messages; Chrome's "
                              "do). For the frames, capture the connection with Wireshark or dumpcap "
                              "(wslab.load_pcap)")
        url = urlsplit(str(request.get("url", "")))
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        method = str(request.get("method") or "GET")
        self.send(Sender.CLIENT, self.t, _head(f"{method} {path} {_version(request.get('httpVersion'))}",
                                          request.get("headers")))
        status = response.get("status")
        if isinstance(status, int) and status > 0:
            reply_t = self.t + sum(max(0.0, float(v)) for k, v in (entry.get("timings") or {}).items()
                                   if k in ("blocked", "dns", "connect", "send", "wait")
                                   and isinstance(v, (int, float))) / 1000
            reply_t = min([reply_t, *times])
            reason = str(response.get("statusText") or "")
            status_line = f"{_version(response.get('httpVersion'))} {status} {reason}".rstrip()
            self.send(Sender.SERVER, reply_t, _head(status_line, response.get("headers")))
            if status != 101:  # a refusal: its body (not in the HAR) ends the response
                self.decoded(reply_t, self.decoder.eof(Sender.SERVER))
        else:
            error = response.get("_error") or response.get("_failureText") or "no response recorded"
            self.note(self.t, f"HAR: the handshake got no response ({error})")
        for message, t in zip([m for m in messages or [] if isinstance(m, dict)], times, strict=False):
            self.message(message, t)

    def _time(self, value: Any) -> float:
        """A message's time on the trace's clock: HAR times are Unix seconds (milliseconds in some exports)."""
        if not isinstance(value, (int, float)):
            return self.t
        return _seconds(value) - self.started

    def message(self, message: dict, t: float) -> None:
        sender = _SENDERS.get(str(message.get("type")))
        data = message.get("data")
        data = "" if data is None else str(data)
        opcode = message.get("opcode")
        if sender is None or not isinstance(opcode, int) or not 0 <= opcode <= 0xF:
            self.note(t, f"HAR: the browser reported {message.get('type')!r} (opcode {opcode!r}): {data}")
            return
        payload = data.encode("utf-8")
        if opcode == 2:
            try:
                payload = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                self.note(t, "HAR: this binary message's data is not base64 (as Chrome writes it): "
                             "its text is used as the payload")
        self.send(sender, t, build_frame(opcode, payload))

    def send(self, sender: Sender, t: float, data: bytes) -> None:
        self.chunks.append(Chunk(t, self.conn, sender, self.offsets[sender], data))
        self.offsets[sender] += len(data)
        self.decoded(t, self.decoder.receive(sender, data))

    def decoded(self, t: float, events: list) -> None:
        for event in events:
            if isinstance(event, (Frame, Handshake)) and any(p.code in _NOT_IN_A_HAR for p in event.problems):
                event = dataclasses.replace(event, problems=tuple(p for p in event.problems
                                                                  if p.code not in _NOT_IN_A_HAR))
            self.records.append(Record(t, self.conn, event))
            if isinstance(event, (Handshake, Frame)):
                for change in self.states.event(event):
                    self.records.append(Record(t, self.conn, change))

    def note(self, t: float, text: str) -> None:
        self.records.append(Record(t, self.conn, Note(Sender.CLIENT, text, NoteKind.MESSAGE_LEVEL)))
