"""A capture's TCP connections, decoded into a trace like the lab's: :func:`load_pcap`.

Each TCP connection (``conn`` n is tshark's ``tcp.stream`` n - 1) is
reassembled (:mod:`.reassembly`) and classified by its first bytes:

* a WebSocket connection: a ``GET`` request with ``Upgrade: websocket`` is in
  it. The side that sent it is the client. From the request on, each
  direction's bytes go, in capture-time order, through the same
  :class:`~wslab.decode.WireDecoder` and :class:`~wslab.tap.StateTracker` the
  lab's tap uses, with the same Tcp records for SYN, FIN and RST -- so the
  trace has the lab's handshakes, frames (permessage-deflate inflated when the
  handshake was captured), states, chunks and diagnosis.
* anything else -- TLS, plain HTTP, another protocol, a connection the capture
  joined after its handshake -- gets one :class:`~wslab.trace.Note` saying so
  and why, and nothing else.

What the capture lacks (bytes it never got, bytes before a handshake, a frame
still in flight when it ended) is said in notes too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ...protocol import DecodeError, Sender, WireDecoder
from ...protocol.enums import NoteKind, TcpEvent
from ...protocol.problems import Problem, ProblemCode
from ...protocol.render import preview
from ...protocol.states import StateTracker
from ..notes import NOT_DECODED
from ..records import Chunk, Note, Record, Tcp
from ..trace import Trace
from .packets import Capture, read_capture
from .reassembly import Delivery, Endpoint, Segment, TcpConnection

ARROW = {"client": "client → server", "server": "server → client"}
OTHER: dict[Sender, Sender] = {Sender.CLIENT: Sender.SERVER, Sender.SERVER: Sender.CLIENT}
#: Bytes of one connection held while looking for a WebSocket handshake in it.
MAX_HELD = 16 * 1024 * 1024
#: Bytes of each side's stream kept to say what a connection that isn't decoded starts with.
_OPENING = 8192
#: Notes about a connection wslab did not decode start with this.

_REQUEST_LINE = re.compile(rb"GET [!-~]+ HTTP/1\.\d\r\n")
_UPGRADE = re.compile(rb"\r\nupgrade:[^\r\n]*\bwebsocket\b", re.IGNORECASE)
_ANY_REQUEST = re.compile(rb"[A-Z]{3,10} [!-~]+ HTTP/\d\.\d\r\n")
_METHOD_START = re.compile(rb"[A-Z]{1,10}( |$)")
_STATUS_LINE = re.compile(rb"HTTP/1\.\d \d\d\d")
_TLS_RECORD = re.compile(rb"[\x14-\x17]\x03[\x00-\x04]")


def load_pcap(path: str | os.PathLike) -> Trace:
    """Read a pcap or pcapng capture of WebSocket traffic into a :class:`~wslab.trace.Trace`.

    Works on files from Wireshark, tshark, tcpdump or dumpcap (Ethernet, Linux
    cooked and loopback link types; IPv4 and IPv6), on any port. ``started``
    is the capture time of the first packet, so times are seconds since then.
    Connections that can't be decoded (TLS, not WebSocket, joined mid-way)
    get a note saying why. Raises ``ValueError`` for a file that isn't a capture.
    """
    return _import(read_capture(path))


def _import(capture: Capture) -> Trace:
    streams: list[_Stream] = []
    current: dict[frozenset[Endpoint], _Stream] = {}
    for segment in capture.segments:
        key = frozenset((segment.src, segment.dst))
        stream = current.get(key)
        if stream is None or stream.tcp.is_new_connection(segment):
            if stream is not None:
                stream.finish()
            stream = current[key] = _Stream(len(streams) + 1, segment, capture)
            streams.append(stream)
        stream.packet(segment)
    for stream in current.values():
        stream.finish()
    started = capture.first_time or 0.0  # the streams' times are capture times: the trace counts from here
    records = [Record(r.t - started, r.conn, r.event) for stream in streams for r in stream.records]
    chunks = [Chunk(c.t - started, c.conn, c.sender, c.offset, c.data) for stream in streams for c in stream.chunks]
    return Trace(records, chunks, started=capture.first_time)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n and not n % (1 << 20) else f"{n} bytes"


def _where(end: Endpoint) -> str:
    host, port = end
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Stream:
    """One TCP connection of the capture, on its way to records.

    While it is ``"pending"`` its deliveries are held and scanned for a
    WebSocket handshake; then it becomes ``"websocket"`` (the held deliveries
    are decoded, and every later one as it comes) or ``"other"`` (one note).
    """

    def __init__(self, conn: int, first: Segment, capture: Capture) -> None:
        self.conn = conn
        self.capture = capture
        self.tcp = TcpConnection(first)
        self.first_t = first.t
        self.mode = "pending"
        self.records: list[Record] = []  # on the capture's clock until _import shifts them
        self.chunks: list[Chunk] = []
        self.held: list[tuple[Endpoint, Delivery]] = []
        self.seen: dict[Endpoint, bytearray] = {end: bytearray() for end in self.tcp.ends}  # bytes while pending
        self.base: dict[Endpoint, int | None] = dict.fromkeys(self.tcp.ends)  # stream offset of seen[0]
        self.scanned: dict[Endpoint, int] = dict.fromkeys(self.tcp.ends, 0)
        self.sent: dict[Endpoint, int] = dict.fromkeys(self.tcp.ends, 0)  # bytes delivered, all modes
        self.first_sender: Endpoint | None = None
        self.missing: dict[Endpoint, int] = dict.fromkeys(self.tcp.ends, 0)  # bytes the capture lacks
        self.opening: dict[Endpoint, bytes] = dict.fromkeys(self.tcp.ends, b"")  # each side's first bytes
        self.why = ""  # mode "other": the note's text ("": said when the connection ends)
        # -- mode "websocket" ----------------------------------------------------
        self.role: dict[Endpoint, Sender] = {}
        self.decoder = WireDecoder()
        self.states = StateTracker()
        self.start: dict[str, int | None] = {"client": None, "server": None}  # stream offset decoding starts at
        self.waiting: list[Delivery] = []  # the server's bytes while its response is looked for
        self.fed = {"client": 0, "server": 0}
        self.skipped = {"client": 0, "server": 0}
        self.lost = {"client": False, "server": False}
        self.eof = {"client": False, "server": False}
        self.handshake_t: float | None = None  # capture time of the handshake request's first byte

    # -- input ---------------------------------------------------------------------
    def packet(self, segment: Segment) -> None:
        self._deliver(self.tcp.packet(segment))

    def finish(self) -> None:
        """The capture ended (or a new connection took these ports): say what's left to say."""
        if self.mode == "done":
            return
        self._deliver(self.tcp.close())
        if self.mode == "pending":
            self._other(self._pending_reason())
        if self.mode == "other":
            self._note(self.first_t, "client", self.why or self._pending_reason() + (
                f" (wslab stopped looking for a handshake after {_size(MAX_HELD)})"))
        elif self.mode == "websocket":
            self._wrap_up()
        self.mode = "done"

    def _deliver(self, deliveries: Iterable[tuple[Endpoint, Delivery]]) -> None:
        for end, d in deliveries:
            if d.kind == "data":
                self.sent[end] += len(d.data)
            if self.mode == "websocket":
                self._decode(end, d)
            elif self.mode == "pending":
                self.held.append((end, d))
                if d.kind == "gap":
                    self.missing[end] += d.size
                elif d.kind == "data":
                    self._look(end, d)

    # -- classification --------------------------------------------------------------
    def _look(self, end: Endpoint, d: Delivery) -> None:
        """Look for the handshake in what ``end`` sent so far; settle the connection's kind when possible."""
        seen = self.seen[end]
        if self.base[end] is None:
            self.base[end] = d.offset
            if self.tcp.halves[end].start_seen:
                self.missing[end] += d.offset  # the stream's first bytes were not captured
        if d.offset != (self.base[end] or 0) + len(seen):  # a hole: scanning restarts after it (base set above)
            seen.clear()
            self.base[end], self.scanned[end] = d.offset, 0
        seen += d.data
        if len(self.opening[end]) < _OPENING and d.offset == len(self.opening[end]) + (self.base[end] or 0):
            self.opening[end] += d.data[: _OPENING - len(self.opening[end])]
        if self.first_sender is None:
            self.first_sender = end
            if _TLS_RECORD.match(seen):
                self._other(self._tls_reason())
                return
            speaks_first = end != self.tcp.opener and not seen.startswith(b"HTTP/")  # SSH, SMTP ...
            if self._from_start(end) and not _METHOD_START.match(bytes(seen[:11])) and (
                    end == self.tcp.opener or speaks_first):
                self._other(self._not_http_reason())
                return
        found = self._find_request(end)
        if found is not None:
            self._websocket(end, found)
        elif sum(len(b) for b in self.seen.values()) > MAX_HELD:
            self._other("")

    def _find_request(self, end: Endpoint) -> int | None:
        """The stream offset of a complete ``GET`` request with ``Upgrade: websocket`` sent by ``end``, or None."""
        seen = self.seen[end]
        pos = self.scanned[end]
        while True:
            match = _REQUEST_LINE.search(seen, pos)
            if match is None:
                last = seen.rfind(b"GET ", max(pos, len(seen) - 8192))
                self.scanned[end] = last if last >= 0 else max(pos, len(seen) - 3)
                return None
            head_end = seen.find(b"\r\n\r\n", match.start())
            if head_end < 0:  # the head isn't complete yet
                self.scanned[end] = match.start()
                return None
            if _UPGRADE.search(seen, match.start(), head_end + 2):
                return self.base[end] + match.start()  # type: ignore[operator]
            pos = match.end()

    def _from_start(self, end: Endpoint) -> bool:
        return self.tcp.halves[end].start_seen and self.base[end] == 0

    def _other(self, why: str) -> None:
        self.mode, self.why = "other", why
        self.held.clear()
        self.seen = {end: bytearray() for end in self.seen}

    # -- notes for connections that aren't decoded ---------------------------------------
    def _ends(self) -> str:
        client = self.tcp.opener or self.first_sender or self.tcp.ends[0]
        server = next(end for end in self.tcp.ends if end != client)
        return f"{_where(client)} → {_where(server)}"

    def _counts(self) -> str:
        client = self.tcp.opener or self.first_sender or self.tcp.ends[0]
        server = next(end for end in self.tcp.ends if end != client)
        return f"{self.sent[client]} bytes client → server, {self.sent[server]} bytes server → client"

    def _tls_reason(self) -> str:
        start = "" if self._from_start(self.first_sender) else " (the capture starts mid-connection)"  # type: ignore[arg-type]
        return (f"TLS: encrypted, can't decode frames{start} — TCP {self._ends()}. To see the frames, capture a "
                "ws:// connection rather than wss://, or export a HAR from the browser's DevTools (wslab.load_har)")

    def _not_http_reason(self) -> str:
        start = preview(self.opening[self.first_sender])  # type: ignore[index]
        return (f"{NOT_DECODED}not a WebSocket connection: it starts with {start}, not an HTTP request "
                f"— TCP {self._ends()}")

    def _pending_reason(self) -> str:
        ends = self._ends()
        if not any(self.sent.values()):
            if self.tcp.reset and self.tcp.opener is not None:
                refused = next(end for end in self.tcp.ends if end != self.tcp.opener)
                return (f"{NOT_DECODED}TCP {ends} was refused: {_where(refused)} answered the SYN with a reset "
                        "(nothing listening on that port?)")
            return f"{NOT_DECODED}TCP {ends} carried no data: not a WebSocket connection"
        if self.first_sender is not None and not self.tcp.halves[self.first_sender].start_seen:
            return (f"capture starts mid-connection: no WebSocket handshake in the bytes captured ({self._counts()}), "
                    f"so its frames can't be decoded — the handshake says who the client is and what was "
                    f"negotiated — TCP {ends}")
        if any(self.missing.values()):
            client = self.tcp.opener or self.first_sender or self.tcp.ends[0]
            lacks = " and ".join(f"{self.missing[end]} bytes {ARROW['client' if end == client else 'server']}"
                                 for end in sorted(self.tcp.ends, key=lambda e: e != client) if self.missing[end])
            return (f"the capture is missing {lacks} of this TCP connection ({self._lacking()}), and "
                    f"no WebSocket handshake is in what it has ({self._counts()}) — TCP {ends}")
        request = _ANY_REQUEST.match(self.opening[self.first_sender or self.tcp.ends[0]])
        if request is not None:
            line = request[0].decode("latin-1").strip()
            return (f"{NOT_DECODED}not a WebSocket connection: plain HTTP ({line!r}), no request with "
                    f"Upgrade: websocket ({self._counts()}) — TCP {ends}")
        return (f"{NOT_DECODED}not a WebSocket connection: no HTTP Upgrade request in it ({self._counts()}) "
                f"— TCP {ends}")

    def _lacking(self) -> str:
        cut = self.capture.truncated
        return "packets it didn't record" + (
            f"; {cut} packet{'s were' if cut != 1 else ' was'} cut short by the capture's snapshot length (-s)"
            if cut else "")

    # -- decoding ---------------------------------------------------------------------
    def _websocket(self, client: Endpoint, at: int) -> None:
        """``client`` sent the handshake request at stream offset ``at``: decode everything held, then the rest."""
        server = next(end for end in self.tcp.ends if end != client)
        self.mode = "websocket"
        self.role = {client: Sender.CLIENT, server: Sender.SERVER}
        self.start["client"] = at
        if at == 0 and self.tcp.halves[client].start_seen:  # the request opens the stream: so does the response
            self.start["server"] = self.base[server] or 0
        held, self.held = self.held, []
        self.seen = {}
        for end, d in held:
            self._decode(end, d)

    def _decode(self, end: Endpoint, d: Delivery) -> None:
        sender = self.role[end]
        if d.kind == "syn":
            self._record(d.t, Tcp(Sender.CLIENT, TcpEvent.CONNECT))
            for change in self.states.connected():
                self._record(d.t, change)
        elif d.kind == "data":
            self._data(sender, d)
        elif d.kind == "gap":
            start = self.start[sender]
            if not self.lost[sender] and start is not None and d.offset + d.size > start:
                self.lost[sender] = True
                self._note(d.t, sender, f"{d.size} bytes {ARROW[sender]} missing from the capture "
                                        f"({self._lacking()}) after {self.fed[sender]} decoded bytes: the rest of "
                                        "this direction is not decoded")
        elif d.kind == "fin":
            self.eof[sender] = True
            self._record(d.t, Tcp(sender, TcpEvent.EOF))
            if not self.lost[sender]:
                self._decoded(d.t, self.decoder.eof(sender))
            if all(self.eof.values()):
                self._closed(d.t, "TCP connection closed")
        elif d.kind == "rst":
            self._record(d.t, Tcp(sender, TcpEvent.RESET, "RST"))
            for side in (sender, OTHER[sender]):
                if not self.eof[side] and not self.lost[side]:
                    self._decoded(d.t, self.decoder.eof(side))
            self._closed(d.t, "TCP connection reset")

    def _data(self, sender: Sender, d: Delivery) -> None:
        if self.lost[sender]:
            return
        if self.start[sender] is None:  # the server's response is still to be found
            self.waiting.append(d)
            self._find_response()
            return
        start = self.start[sender]
        data = d.data[start - d.offset:] if d.offset < start else d.data  # type: ignore[operator]
        self.skipped[sender] += len(d.data) - len(data)
        if not data:
            return
        self.chunks.append(Chunk(d.t, self.conn, sender, self.fed[sender], data))
        self.fed[sender] += len(data)
        try:
            events = self.decoder.receive(sender, data)
        except Exception as exc:  # as in the tap: the decoder must never stop the import
            events = [DecodeError(sender, self.fed[sender],
                                  Problem(ProblemCode.DECODER_CRASHED, f"decoder crashed: {exc!r}"))]
        self._decoded(d.t, events)
        if sender == "client" and self.handshake_t is None:  # the request is in: its response can be looked for
            self.handshake_t = d.t
            self._find_response()

    def _find_response(self) -> None:
        """The server's first status line sent after the handshake request started: decoding starts there."""
        if self.handshake_t is None:
            return
        after = [d for d in self.waiting if d.t >= self.handshake_t]
        data = b"".join(d.data for d in after)
        match = _STATUS_LINE.search(data)
        if match is None:
            return
        offset = after[0].offset + match.start()
        self.start["server"] = offset
        waiting, self.waiting = self.waiting, []
        for d in waiting:
            if d.offset + len(d.data) <= offset:
                self.skipped["server"] += len(d.data)
            else:
                self._data(Sender.SERVER, d)

    def _decoded(self, t: float, events: list) -> None:
        for event in events:
            self._record(t, event)
            for change in self.states.event(event):
                self._record(t, change)

    def _closed(self, t: float, cause: str) -> None:
        for change in self.states.closed(cause):
            self._record(t, change)

    def _wrap_up(self) -> None:
        """Notes on what the decoded connection's capture lacks."""
        first = self.handshake_t if self.handshake_t is not None else self.first_t
        skipped = [f"{self.skipped[s]} bytes {ARROW[s]}" for s in ("client", "server") if self.skipped[s]]
        if skipped:
            if self.tcp.halves[next(e for e, s in self.role.items() if s == "client")].start_seen:
                text = (f"{' and '.join(skipped)} before the WebSocket handshake (earlier HTTP on this connection) "
                        "skipped")
            else:
                text = f"capture starts mid-connection: {' and '.join(skipped)} before the first handshake skipped"
            self._note(first, "client", text, front=True)
        if self.start["server"] is None and self.waiting:
            waited = sum(len(d.data) for d in self.waiting)
            self._note(self.waiting[-1].t, "server", f"{waited} bytes from the server, none of them an HTTP "
                                                     "response to the handshake: not decoded")
        last = max((r.t for r in self.records), default=first)
        for sender in ("client", "server"):
            stream = self.decoder.decoder(sender)  # type: ignore[arg-type]
            pending = stream.received - stream.offset - stream.undecoded
            if not self.eof[sender] and not self.lost[sender] and not self.tcp.reset and pending > 0:
                self._note(last, sender, f"the capture ends with {pending} bytes {ARROW[sender]} still to come "
                                         "(an unfinished frame or HTTP head)")
        if self.capture.cut_short and not self.tcp.over:
            self._note(last, "client", f"the capture stops here: {self.capture.cut_short}")

    # -- output -----------------------------------------------------------------------
    def _record(self, t: float, event) -> None:
        self.records.append(Record(t, self.conn, event))

    def _note(self, t: float, sender: str, text: str, *, front: bool = False) -> None:
        """A note at ``t``; ``front``: before the records already made at that time (the trace sorts stably)."""
        kind = NoteKind.NOT_WEBSOCKET if text.startswith(NOT_DECODED) else NoteKind.UNDECODED
        record = Record(t, self.conn, Note(sender, text, kind))  # type: ignore[arg-type]
        self.records.insert(0, record) if front else self.records.append(record)
