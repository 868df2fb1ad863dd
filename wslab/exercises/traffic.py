"""Checks for notebook 09 (your own traffic), and the lab's sample captures it studies.

:func:`sample_trace` runs the lab's chat the way the notebook's samples were
made; :func:`har_from_trace` writes a lab trace as Chrome's DevTools export a
HAR ("Save all as HAR with content"), so a HAR can be made without a browser.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from ..capture.readers import load_pcap
from ..capture.trace import Trace
from ._support import _call, _expect, _hint, _ok


async def _chat_until_bye(ws: Any) -> None:
    """The article's chat server, which closes with 4000 'bye' when a client says 'bye'."""
    from ..handlers import chat_reply

    async for message in ws:
        if message == "bye":
            await ws.close(4000, "bye")
            return
        await ws.send(chat_reply(message))


def sample_trace(seed: int = 9, *, hand_made: bool = False) -> Trace:
    """Three chat connections through a lab: a ping and Close 1000, a tab closed (1001), the server's 4000.

    With ``hand_made``, two more from a raw client: one answers the server's 4000 with 1000, one sends an
    empty Close (no code on either side).
    """
    from ..lab import Lab

    with Lab(_chat_until_bye, seed=seed) as lab:
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            ws.recv()
            ws.ping(b"are you there?").wait(5)
            ws.send(b"binary hi")
            ws.recv()
        with lab.connect_sync() as ws:
            ws.send("你好")
            ws.recv()
            ws.close(1001, "tab closed")
        with lab.connect_sync() as ws:
            ws.send("bye")
            with contextlib.suppress(Exception):  # the server's Close 4000 ends the connection
                ws.recv()
        if hand_made:
            with lab.raw() as raw:
                raw.handshake()
                raw.send_frame("TEXT", "bye")
                raw.read_close()
                raw.send_close(1000, "ok")
                raw.wait_closed()
            with lab.raw() as raw:
                raw.handshake()
                raw.send_close(None)
                raw.read_close()
                raw.wait_closed()
    return lab.trace


def har_from_trace(trace: Trace, *, host: str = "127.0.0.1:8765") -> dict:
    """The trace's connections as Chrome's DevTools export them in a HAR: handshakes and messages only."""
    started = trace.started or 0.0

    def iso(t: float) -> str:
        when = datetime.datetime.fromtimestamp(started + t, tz=datetime.UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    entries = []
    for conn in trace.connections:
        shakes = {r.event.sender: r for r in trace.records if r.conn == conn and type(r.event).__name__ == "Handshake"}
        request, response = shakes.get("client"), shakes.get("server")
        if request is None:
            continue
        headers = dict(request.event.headers)
        messages = [{"type": "send" if r.event.sender == "client" else "receive", "time": round(started + r.t, 6),
                     "opcode": r.event.opcode_value,
                     "data": r.event.text if r.event.opcode == "TEXT" else base64.b64encode(r.event.payload).decode()}
                    for r in trace.records
                    if r.conn == conn and type(r.event).__name__ == "Frame" and r.event.opcode in ("TEXT", "BINARY")]
        entries.append({
            "_resourceType": "websocket", "_initiator": {"type": "script"}, "startedDateTime": iso(request.t),
            "time": round(((response.t if response else request.t) - request.t) * 1000, 3),
            "request": {"method": request.event.method, "url": f"ws://{headers.get('Host', host)}{request.event.path}",
                        "httpVersion": request.event.version, "headers": _headers(request.event.headers),
                        "queryString": [], "cookies": [], "headersSize": len(request.event.raw), "bodySize": 0},
            "response": {"status": response.event.status if response else 0,
                         "statusText": response.event.reason if response else "",
                         "httpVersion": response.event.version if response else "",
                         "headers": _headers(response.event.headers) if response else [], "cookies": [],
                         "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                         "headersSize": len(response.event.raw) if response else -1, "bodySize": 0},
            "cache": {}, "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0,
                                     "wait": round(((response.t if response else request.t) - request.t) * 1000, 3),
                                     "receive": 0},
            "_webSocketMessages": messages,
        })
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [],
                    "entries": entries}}


def _headers(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def write_samples(folder: str | os.PathLike, seed: int = 9) -> Trace:
    """Write ``chat.pcap`` and ``chat.har`` of :func:`sample_trace` into ``folder``; returns the trace."""
    trace = sample_trace(seed)
    os.makedirs(folder, exist_ok=True)
    trace.to_pcap(os.path.join(folder, "chat.pcap"), server_port=8765)
    with open(os.path.join(folder, "chat.har"), "w", encoding="utf-8") as f:
        json.dump(har_from_trace(trace), f, ensure_ascii=False, indent=1)
        f.write("\n")
    return trace


def _pcap_of(trace: Trace) -> Trace:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "chat.pcap")
        trace.to_pcap(path, server_port=8765)
        return load_pcap(path)


def _close_codes(trace: Trace) -> dict[int, tuple[int | None, int | None]]:
    codes = {}
    for conn in trace.connections:
        closes = {f.sender: f.close_code for f in reversed(trace.filter("frame", conn=conn, opcode="CLOSE"))}
        codes[conn] = (closes.get("client"), closes.get("server"))
    return codes


# -- 09 your own traffic ---------------------------------------------------------------
@_hint("trace.filter('frame', conn=conn, opcode='CLOSE') gives each connection's Close frames; "
       "frame.sender says whose, frame.close_code the code (None for an empty Close)")
def check_close_codes_each_side(fn: Callable) -> None:
    """``fn(trace)`` returns ``{conn: (client's close code, server's close code)}`` of a pcap's trace."""
    trace = _pcap_of(sample_trace(seed=19, hand_made=True))
    expected = _close_codes(trace)
    _expect("close_codes_each_side", "five chat connections of a capture",
            _call("close_codes_each_side", fn, trace, expected=expected), expected,
            "one entry per connection, (client, server): on 4 the server sent 4000 and the client 1000; "
            "on 5 both Close frames were empty (None)")
    return _ok("close_codes_each_side tells the client's code from the server's, and an empty Close from none")


def only_on_the_wire(pcap: Trace, har: Trace) -> dict[str, int]:
    """How many frames of each opcode the pcap has beyond the HAR's (the notebook's answer)."""
    counts: dict[str, int] = {}
    for frame in pcap.frames:
        counts[str(frame.opcode)] = counts.get(str(frame.opcode), 0) + 1
    for frame in har.frames:
        counts[str(frame.opcode)] = counts.get(str(frame.opcode), 0) - 1
    return {opcode: n for opcode, n in counts.items() if n}


@_hint("count trace.frames by str(frame.opcode) in each trace, subtract the HAR's counts from the pcap's, "
       "and keep the opcodes whose difference is not 0")
def check_only_in_pcap(fn: Callable) -> None:
    """``fn(pcap_trace, har_trace)`` returns ``{opcode: how many more frames the pcap has}``."""
    from ..capture.readers import load_har

    lab = sample_trace(seed=29)
    pcap = _pcap_of(lab)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "chat.har")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(har_from_trace(lab), f)
        har = load_har(path)
    expected = only_on_the_wire(pcap, har)
    _expect("only_in_pcap", "the sample chat as a pcap and as a HAR",
            _call("only_in_pcap", fn, pcap, har, expected=expected), expected,
            "the HAR keeps TEXT and BINARY messages only: what's left is the control frames")
    return _ok("only_in_pcap finds the PING, the PONG and the six CLOSE frames only a capture shows")
