"""The wire tap: a transparent TCP relay that records every byte.

The tap listens on its own port and relays each accepted connection to the
upstream server. Every chunk read in either direction is timestamped, kept,
fed to the :class:`~wslab.protocol.decoder.WireDecoder` and then relayed unchanged, so
whatever the decoder cannot parse still reaches the other side. End-of-stream
is passed on with ``write_eof()`` (``websockets`` half-closes TCP after the
closing handshake, RFC 6455 §7.1.1), and resets are passed on as resets.

The hot path: once the connection is open and no fault is in effect, each chunk is
relayed, recorded and its frame headers scanned (:class:`~wslab.protocol.scan.FrameScanner`)
from the protocol's ``data_received``, with no task switch; its decoding waits until the
trace is read or a batch has gathered (:meth:`Recorder.add_later`), unless the scan saw a
Close, which is decoded at once. Everything else goes through a pump task per direction.

Faults are injected here, between reading and relaying: latency and jitter,
a paused direction, dropped frames (the tap then relays whole frames only,
cutting at the decoder's frame boundaries), and a cut connection, now or after
a number of bytes. Each one leaves a :class:`~wslab.capture.records.Note` of its kind, whose text starts with
:data:`FAULT` in the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from ..capture.notes import FAULT, LAB_STOPPED, REDACTED
from ..capture.records import Chunk, Note, Tcp
from ..capture.redact import HeadRedactor, mark_handshake
from ..protocol import DecodeError, Frame, Handshake, WireDecoder
from ..protocol.decoder import MAX_FRAME
from ..protocol.enums import ConnState, NoteKind, Sender, TcpEvent
from ..protocol.problems import Problem, ProblemCode
from ..protocol.scan import FrameScanner
from ..protocol.states import StateTracker
from .faults import ARROW, Faults
from .recorder import Recorder

OTHER: dict[str, Sender] = {"client": Sender.SERVER, "server": Sender.CLIENT}
SENDERS = (Sender.CLIENT, Sender.SERVER)
READ_SIZE = 65536
#: Pending TCP connections the tap (and the lab's server) queue before refusing.
BACKLOG = 1024
#: Chunks a direction may have waiting to be relayed before the tap stops
#: reading from that sender (TCP flow control then slows the sender down).
QUEUE_CHUNKS = 64
#: Decoding on the hot path waits at most this long, or for this many chunks (see :meth:`Recorder.add_later`).
CATCH_UP_AFTER = 0.05
CATCH_UP_CHUNKS = 256


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much the tap waits for, decodes and keeps, per connection (a class can't exhaust the lab).

    Past a limit the tap cuts the connection, or relays bytes without decoding or
    keeping them, and says so in a note.
    """

    #: Once one side has ended the connection (its Close, a rejection, its FIN), the other side
    #: has this long to finish (the server's close_timeout, plus a second) before the tap cuts it.
    linger: float | None = 3.0
    #: A connection whose client sends no complete HTTP request head in this long is cut.
    handshake_timeout: float | None = 11.0
    #: The largest frame the decoder buffers, and message it inflates (the server's max_size).
    max_frame: int | None = MAX_FRAME
    #: Bytes a side may still send, decoded and kept, once either side has ended the connection
    #: (enough for a Close in reply); more are relayed and counted, not decoded or kept.
    after_end: int = 64 * 1024
    #: Bytes of chunks and number of records kept per connection; past either, counted only.
    conn_bytes: int | None = 16 * 2**20
    conn_records: int | None = 20_000


#: Decoding never stops at a limit smaller than this (a small max_size still shows the frame that broke it).
MIN_FRAME_LIMIT = 64 * 1024


def frame_limit(max_size: int | None) -> int | None:
    """The decoder's frame limit for a server whose ``max_size`` is given (None: no limit but the decoder's)."""
    return MAX_FRAME if max_size is None else max(int(max_size), MIN_FRAME_LIMIT)

__all__ = ["ARROW", "BACKLOG", "OTHER", "QUEUE_CHUNKS", "READ_SIZE", "Faults", "Limits", "Recorder", "Tap",
           "TapConnection", "frame_limit"]


#: The StreamReaders' buffer limit (asyncio's default).
STREAM_LIMIT = 2**16


async def _open_stream(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection``, with the hot path's protocol."""
    loop = asyncio.get_running_loop()
    protocol = _TapStream.new(loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return protocol.reader, asyncio.StreamWriter(transport, protocol, protocol.reader, loop)


class _Cut:
    """Relay queue item: cut the connection here (after the bytes queued before it)."""

    def __init__(self, note: str, kind: NoteKind = NoteKind.CUT) -> None:
        self.note = note
        self.kind = kind


def _reset(writer: Any) -> None:
    """Abort ``writer``'s socket with an RST rather than a FIN (SO_LINGER 0)."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, ValueError):
        pass
    with contextlib.suppress(Exception):
        writer.transport.abort()


@dataclasses.dataclass
class _Side:
    """What the tap keeps about one direction of a connection (one sender's bytes)."""

    offset: int = 0  #: stream offset of the next byte read from this sender
    eof: bool = False  #: the sender half-closed (FIN)
    cut_after: int | None = None  #: cut the connection after this many more bytes from this sender
    held: bytearray = dataclasses.field(default_factory=bytearray)  #: read, not yet released (drops)
    released: int = 0  #: stream offset up to which bytes were released to the relay
    due: float = 0.0  #: loop time the last delayed chunk was due (latency keeps order)
    in_flight: int = 0  #: items queued for the relay and not written yet (for settling)
    ended: bool = False  #: this sender ended the connection (its Close, a rejection, its FIN)
    after_end: int | None = None  #: bytes it may still send, decoded and kept, now that the end began
    quiet: str | None = None  #: why its bytes are now relayed and counted, not decoded or kept
    unrecorded: int = 0  #: bytes relayed (or dropped) without being decoded or kept
    idle: bool = False  #: its pump waits for bytes and has none: the hot path may take the next ones
    scanner: FrameScanner | None = None  #: in step with the frames not decoded yet (the hot path)


class _TapStream(asyncio.StreamReaderProtocol):
    """A stream protocol whose bytes are offered to the tap's hot path before its StreamReader."""

    fast: Callable[[bytes], bool] | None = None
    reader: asyncio.StreamReader

    @classmethod
    def new(cls, loop: asyncio.AbstractEventLoop, connected: Callable | None = None) -> _TapStream:
        """A protocol and its StreamReader, as ``asyncio.start_server`` and ``open_connection`` build them."""
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        protocol = cls(reader, connected, loop=loop)
        protocol.reader = reader
        return protocol

    def data_received(self, data: bytes) -> None:
        fast = self.fast
        if fast is None or not fast(data):
            super().data_received(data)



class TapConnection:
    """One relayed TCP connection: two pumps, two relays, one decoder, one state tracker.

    A pump reads one sender's bytes, records and decodes them and queues them;
    its relay writes them to the other side when the faults allow.
    """

    def __init__(self, tap: Tap, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tap = tap
        self.conn = conn
        self.client_reader, self.client_writer = reader, writer
        self.server_reader: asyncio.StreamReader | None = None
        self.server_writer: asyncio.StreamWriter | None = None
        peer = writer.get_extra_info("peername")
        #: The client's TCP port (how the lab finds the connection of a client).
        self.client_port: int | None = peer[1] if peer else None
        #: The tap's own port towards the server (what the server sees as the peer).
        self.upstream_port: int | None = None
        self.limits: Limits = tap.limits
        self.decoder = WireDecoder(max_frame=self.limits.max_frame)
        #: Bytes of chunks and records kept for this connection (see :class:`Limits`).
        self.kept_bytes = 0
        self.kept_records = 0
        #: Frames the hot path scanned and kept, not decoded yet (they count against the budget).
        self.waiting_frames = 0
        self.handshaken = False  #: the client's request head was decoded
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: Where each sender's bytes go (for the write-through hot path), once upstream is connected.
        self._writers: dict[Sender, asyncio.StreamWriter] = {}
        #: Cookies, credentials and tokens are hidden in what is recorded (never in what is relayed).
        self.redactors = {side: HeadRedactor(side) for side in ("client", "server")} if tap.redact else None
        self.states = StateTracker()
        #: One record per direction, by sender.
        self.sides = {Sender.CLIENT: _Side(), Sender.SERVER: _Side()}
        self.done = asyncio.Event()
        #: The connection is over both ways (cut, or reset by a peer): stop relaying.
        self.dead = False
        #: A Close frame, a rejection, an EOF or a reset was seen: the end is near.
        self.closing = False
        self._tasks: list[asyncio.Task] = []
        self._open = False  #: the server's 101 was seen (the hot path may start)

    def record(self, event: Any, t: float | None = None) -> None:
        self.kept_records += 1
        self.tap.recorder.add(self.conn, event, t)

    def record_decoded(self, events: list, t: float, chunk: Chunk | None = None) -> None:
        """Record ``chunk`` and what was decoded from it, with the notes and state changes they cause."""
        out = self._outcome(events)
        if out or chunk is not None:
            self.kept_bytes += len(chunk.data) if chunk is not None else 0
            self.tap.recorder.add_many(self.conn, out, t=t, chunk=chunk)

    def _receive(self, sender: Sender, data: bytes) -> list:
        """Decode ``data`` from ``sender`` now (after whatever waits to be decoded)."""
        self.tap.recorder.catch_up()
        self.sides[sender].scanner = None
        return self._decode(sender, data)

    def _decode(self, sender: Sender, data: bytes) -> list:
        try:
            return self.decoder.receive(sender, data)
        except Exception as exc:  # the decoder must never stop the relay
            return [DecodeError(sender, self.decoder.decoder(sender).offset,
                                Problem(ProblemCode.DECODER_CRASHED, f"decoder crashed: {exc!r}"))]

    def _eof(self, sender: Sender) -> list:
        self.tap.recorder.catch_up()
        return self.decoder.eof(sender)

    def _decode_later(self, sender: Sender, data: bytes, frames: int) -> list:
        """What the recorder calls, in order, to decode a chunk (of ``frames`` frame starts) the hot path
        kept undecoded."""
        self.waiting_frames -= frames
        return self._outcome(self._decode(sender, data))

    def _outcome(self, events: list) -> list:
        """``events`` with the redaction notes and state changes they cause (and the tap's own bookkeeping)."""
        out: list[Any] = []
        for event in events:
            if isinstance(event, Handshake) and self.redactors and self.redactors[event.sender].redacted:
                marked = mark_handshake(event)
                if marked != event:
                    out.append(Note(event.sender, REDACTED, NoteKind.REDACTED))
                event = marked
            out.append(event)
            if (isinstance(event, Frame) and event.opcode == "CLOSE") or (
                isinstance(event, Handshake) and event.status not in (None, 101)
            ):
                self.closing = True
                self._ended(event.sender)
            if isinstance(event, Handshake) and event.sender is Sender.CLIENT and not self.handshaken:
                self.handshaken = True
                self._cancel_timer("handshake")
            out += self.states.event(event)
        self.kept_records += len(out)
        return out

    # -- letting go ------------------------------------------------------------------
    def _ended(self, sender: Sender) -> None:
        """``sender`` ended the connection (its Close, a rejection or its FIN): each side may now send
        only a little more that is decoded and kept, and the other side has ``linger`` s to finish."""
        side = self.sides[sender]
        if side.ended:
            return
        side.ended = True
        for each in self.sides.values():
            if each.after_end is None:
                each.after_end = self.limits.after_end
        # On the loop: a Close is always decoded there (the hot path never defers one, scan.py).
        if "linger" not in self._timers and self.limits.linger is not None and not self.done.is_set():
            self._start_timer("linger", self._linger_budget(), self._linger_over, sender)

    def _linger_budget(self) -> float:
        """The linger, plus four times any latency the lab adds (a closing handshake crosses it twice each way)."""
        assert self.limits.linger is not None
        return self.limits.linger + 4 * max(self.tap.faults.most_delay(s) for s in SENDERS)

    def _linger_over(self, sender: Sender) -> None:
        if self.done.is_set() or self.dead:
            return
        if self.tap.faults.paused:  # the lab holds bytes on purpose: wait for them
            self._start_timer("linger", self._linger_budget(), self._linger_over, sender)
            return
        other = OTHER[sender]
        self.kill(f"the {sender} ended the connection and the {other} had not closed its side "
                  f"{self._linger_budget():g} s later: the tap cut it", NoteKind.LINGER_CUT)

    def _handshake_over(self) -> None:
        if self.done.is_set() or self.dead or self.handshaken:
            return
        self.kill(f"the client sent no complete HTTP request head within {self.limits.handshake_timeout:g} s: "
                  "the tap cut the connection", NoteKind.HANDSHAKE_TIMEOUT)

    def _start_timer(self, name: str, delay: float, callback: Any, *args: Any) -> None:
        self._cancel_timer(name)
        self._timers[name] = asyncio.get_running_loop().call_later(delay, callback, *args)

    def _cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _quiet_reason(self, sender: Sender, size: int) -> str | None:
        """Why ``size`` more bytes from ``sender`` are not to be decoded or kept; None: keep them."""
        side = self.sides[sender]
        if side.quiet is not None:
            return side.quiet
        if side.after_end is not None:
            if side.after_end <= 0:
                return "the connection began to end"
            side.after_end -= size
        return self._budget_spent()

    def _budget_spent(self) -> str | None:
        """Which of the connection's recording budgets is spent (frames scanned, not decoded yet, count)."""
        limits = self.limits
        if limits.conn_bytes is not None and self.kept_bytes >= limits.conn_bytes:
            return f"the connection's recording budget of {limits.conn_bytes} bytes was spent"
        if limits.conn_records is not None and self.kept_records + self.waiting_frames >= limits.conn_records:
            return f"the connection's recording budget of {limits.conn_records} records was spent"
        return None

    def _note_unrecorded(self) -> None:
        for sender, side in self.sides.items():
            if side.unrecorded:
                self.tap.recorder.add(self.conn, Note(
                    sender, f"{side.unrecorded} more bytes from the {sender}, after {side.quiet}, were counted, "
                    "not decoded or kept", NoteKind.NOT_RECORDED))
                side.unrecorded = 0

    @property
    def opened(self) -> bool:
        """The server's ``101`` has crossed the wire."""
        return self.states.state[Sender.SERVER] in (ConnState.OPEN, ConnState.CLOSING)

    async def run(self) -> None:
        try:
            host, port = self.tap.upstream
            try:
                self.server_reader, self.server_writer = await _open_stream(host, port)
            except OSError as exc:
                self.record(Note(Sender.SERVER, f"upstream {host}:{port} refused: {exc}", NoteKind.UPSTREAM_REFUSED))
                self.client_writer.transport.abort()
                self.record(Tcp(Sender.SERVER, TcpEvent.RESET, "upstream unreachable"))
                return
            sockname = self.server_writer.get_extra_info("sockname")
            self.upstream_port = sockname[1] if sockname else None
            t = self.tap.recorder.clock()
            self.record(Tcp(Sender.CLIENT, TcpEvent.CONNECT), t)
            for change in self.states.connected():
                self.record(change, t)
            for sender in SENDERS:
                for kind, text in self.tap.faults.in_effect([sender]):
                    self.record(Note(sender, f"{FAULT}{text} (in effect)", kind), t)
            if self.limits.handshake_timeout is not None:
                self._start_timer("handshake", self.limits.handshake_timeout, self._handshake_over)
            self._writers = {Sender.CLIENT: self.server_writer, Sender.SERVER: self.client_writer}
            for sender, transport in ((Sender.CLIENT, self.client_writer.transport),
                                      (Sender.SERVER, self.server_writer.transport)):
                protocol = transport.get_protocol()
                if isinstance(protocol, _TapStream):
                    protocol.fast = partial(self._fast, sender)
            queues: dict[str, asyncio.Queue[tuple[float, bytes | _Cut]]] = {
                sender: asyncio.Queue(QUEUE_CHUNKS) for sender in ("client", "server")}
            self._tasks = [
                asyncio.create_task(self.pump(Sender.CLIENT, self.client_reader, queues["client"], self.server_writer)),
                asyncio.create_task(self.pump(Sender.SERVER, self.server_reader, queues["server"], self.client_writer)),
                asyncio.create_task(self.relay(Sender.CLIENT, queues["client"], self.server_writer)),
                asyncio.create_task(self.relay(Sender.SERVER, queues["server"], self.client_writer)),
            ]
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for name in list(self._timers):
                self._cancel_timer(name)
            for writer in (self.client_writer, self.server_writer):
                if writer is not None:
                    writer.transport.abort() if self.dead else writer.close()
            self._note_unrecorded()
            for change in self.states.closed("TCP connection closed"):
                self.record(change)
            self._tasks = []
            self.done.set()

    async def pump(self, sender: Sender, reader: asyncio.StreamReader, queue: asyncio.Queue[Any],
                   other: asyncio.StreamWriter) -> None:
        """Read from ``sender``, record, decode, queue for the relay."""
        loop = asyncio.get_running_loop()
        side = self.sides[sender]
        while True:
            try:
                side.idle = True
                data = await reader.read(READ_SIZE)
                side.idle = False
            except (ConnectionError, OSError) as exc:
                side.idle = False
                if self.dead:
                    return
                # A reset ends the connection both ways: pass it on, stop relaying.
                self.dead = self.closing = True
                t = self.tap.recorder.clock()
                self.record(Tcp(sender, TcpEvent.RESET, type(exc).__name__), t)
                for end in (sender, OTHER[sender]):
                    if not self.sides[end].eof and self.sides[end].quiet is None:
                        self.record_decoded(self._eof(end), t)
                _reset(other)
                self._cancel_others()
                return
            if self.dead:
                return
            t = self.tap.recorder.clock()
            when = loop.time()
            if not data:
                self.sides[sender].eof = self.closing = True
                self.record(Tcp(sender, TcpEvent.EOF), t)
                if self.sides[sender].quiet is None:
                    self.record_decoded(self._eof(sender), t)
                self._ended(sender)
                await self._release(sender, queue, b"", [], when, t, everything=True)
                await self._put(sender, queue, when, b"")
                return
            cut, dropped = None, 0
            budget = side.cut_after
            if budget is not None:
                if len(data) >= budget:
                    data, dropped = data[:budget], len(data) - budget
                    side.cut_after = None
                    cut = _Cut(f"{FAULT}the lab cut the TCP connection after {budget} more bytes from the "
                               f"{sender}" + (f", dropping the {dropped} bytes after them" if dropped else ""),
                               NoteKind.CUT)
                else:
                    side.cut_after = budget - len(data)
            events: list = []
            quiet = self._quiet_reason(sender, len(data)) if data else None
            if quiet is not None:  # relayed and counted, not decoded or kept
                side.quiet = quiet
                side.unrecorded += len(data)
                side.offset += len(data)
                await self._release(sender, queue, data, [], when, t, everything=True)
                if cut is not None:
                    await self._put(sender, queue, when, cut)
                    return
                continue
            if data:
                seen = self.redactors[sender].feed(data) if self.redactors else data
                chunk = Chunk(t, self.conn, sender, side.offset, seen)
                side.offset += len(data)
                events = self._receive(sender, seen)
                self.record_decoded(events, t, chunk)
            await self._release(sender, queue, data, events, when, t, everything=cut is not None)
            if cut is not None:
                await self._put(sender, queue, when, cut)
                return

    def _fast(self, sender: Sender, data: bytes) -> bool:
        """The hot path, called by the protocol with bytes just read from ``sender``: relay, record
        and scan them now, leaving the decoding for later; False leaves them to the pump (the
        handshake, a Close, a fault, a budget spent, a busy pump, a full socket, or more than the
        pump reads at once, so that budgets are counted in the same steps)."""
        side = self.sides[sender]
        if not side.idle or self.closing or self.dead or side.in_flight or side.held or side.quiet is not None \
                or side.cut_after is not None or not data or len(data) > READ_SIZE:
            side.idle = False
            return False
        if not self._open:
            if not self.opened:
                side.idle = False
                return False
            self._open = True
        transport = self._writers[sender].transport
        if (self.tap.faults.hold(sender) or transport.is_closing() or transport.get_write_buffer_size()
                or self._budget_spent() is not None
                or (sender is Sender.SERVER and self.tap.ssl is not None)):  # TLS hides its TCP buffer: the pump drains
            side.idle = False
            return False
        recorder = self.tap.recorder
        t = recorder.clock()
        # Relay first, record after: the peer gets on with the bytes while the tap takes note of them.
        transport.write(data)  # never raises: a lost connection is its own pump's to see
        redactor = self.redactors[sender] if self.redactors else None
        seen = data if redactor is None or redactor.done else redactor.feed(data)
        chunk = Chunk(t, self.conn, sender, side.offset, seen)
        side.offset += len(data)
        side.released = side.offset
        scanner = side.scanner
        if scanner is None:  # start scanning where the decoder stands, between two frames
            recorder.catch_up()
            if self.decoder.decoder(sender).at_frame_boundary:
                scanner = side.scanner = FrameScanner()
        before = scanner.frames if scanner is not None else 0
        if scanner is not None and scanner.feed(seen):
            frames = scanner.frames - before
            self.kept_bytes += len(data)
            self.waiting_frames += frames
            waiting = recorder.add_later(self.conn, t, chunk, self._decode_later, sender, seen, frames)
            if waiting >= CATCH_UP_CHUNKS:
                recorder.catch_up()
            elif waiting == 1:
                asyncio.get_running_loop().call_later(CATCH_UP_AFTER, recorder.catch_up)
        else:  # a Close (or a stranger): decode it now, it changes what the tap does next
            self.record_decoded(self._receive(sender, seen), t, chunk)
        return True

    async def _release(self, sender: Sender, queue: asyncio.Queue, data: bytes, events: list, when: float,
                       t: float, *, everything: bool) -> None:
        """Queue ``data``, just read from ``sender``: all of it, or whole frames minus dropped ones."""
        drops = self.tap.faults.drops.get(sender)
        side = self.sides[sender]
        held = side.held
        if not drops and not held:  # the usual case: relay as read
            side.released = side.offset
            if data and not await self._write_through(sender, data):
                await self._put(sender, queue, when, data)
            return
        held += data
        stream = self.decoder.decoder(sender)
        start = side.released
        end = side.offset
        if drops and not everything and stream.state in ("head", "body", "frames"):
            # Hold a frame until it is complete, so it can be dropped whole -- but never hold
            # back bytes already relayed (a drop switched on mid-frame lets that frame through).
            end = max(stream.offset, start)
        data = bytes(held[: end - start])
        del held[: end - start]
        side.released = end
        if drops:
            pieces, pos = [], 0
            for event in events:
                if isinstance(event, Frame) and event.opcode in drops and event.offset >= start:
                    first = event.offset - start
                    pieces.append(data[pos:first])
                    pos = first + len(event.wire)
                    self.record(Note(sender, f"{FAULT}the lab dropped this {event.opcode} frame ({ARROW[sender]})",
                                     NoteKind.DROPPED, event.opcode), t)
            data = b"".join(pieces) + data[pos:]
        if data:
            await self._put(sender, queue, when, data)

    async def _write_through(self, sender: Sender, data: bytes) -> bool:
        """Write ``data`` to the other side straight from the pump, when nothing is queued before it and
        no fault delays or holds this direction (the hot path: no queue, no task switch); whether it did."""
        side = self.sides[sender]
        writer = self._writers.get(sender)
        if (writer is None or side.in_flight or self.dead or self.tap.faults.hold(sender)
                or writer.transport.is_closing()):
            return False
        side.in_flight += 1  # what settle() watches, as for a queued chunk
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError, RuntimeError):
            pass  # the other side is gone: the relay sees it with the next item
        finally:
            side.in_flight -= 1
        return True

    async def _put(self, sender: Sender, queue: asyncio.Queue, when: float, item: bytes | _Cut) -> None:
        self.sides[sender].in_flight += 1
        await queue.put((when, item))

    def busy(self) -> bool:
        """Something is still on its way: a Close or EOF seen but the connection not over, or bytes
        queued for a direction that is not paused. (Read on the loop thread.)"""
        if self.closing and not self.done.is_set():
            return True
        return any(side.in_flight or side.held for sender, side in self.sides.items()
                   if sender not in self.tap.faults.paused)

    async def relay(self, sender: Sender, queue: asyncio.Queue, writer: Any) -> None:
        """Write what ``sender``'s pump queued to the other side, after the faults' delays."""
        broken = False
        while True:
            when, data = await queue.get()
            try:
                if broken:  # the other side is gone: keep draining so the pump never blocks
                    if data == b"" or isinstance(data, _Cut):
                        return
                    continue
                done, broken = await self._deliver(sender, when, data, writer)
                if done:
                    return
            finally:
                self.sides[sender].in_flight -= 1

    async def _deliver(self, sender: Sender, when: float, data: bytes | _Cut, writer: Any) -> tuple[bool, bool]:
        """Write one queued item when the faults allow; (relay done, other side broken)."""
        faults = self.tap.faults
        loop = asyncio.get_running_loop()
        delay = faults.delay(sender)
        if delay:
            # Latency, not throttling: each chunk is due `delay` after it was read, in order.
            side = self.sides[sender]
            due = side.due = max(when + delay, side.due)
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
        await faults.until_resumed(sender)  # a kill cancels this task, so no need to watch `dead` here
        if self.dead:
            return True, False
        if isinstance(data, _Cut):
            self.kill(data.note, data.kind)
            return True, False
        try:
            if data == b"":
                if writer.can_write_eof():
                    writer.write_eof()
                else:  # TLS has no half-close: close_notify, then FIN
                    writer.close()
            else:
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, RuntimeError):
            return data == b"", True
        return data == b"", False

    def kill(self, note: str, kind: NoteKind = NoteKind.CUT) -> None:
        """Cut the TCP connection both ways at once: both peers see a reset (RST).

        Call on the tap's event loop. ``note`` says why, in the trace, and ``kind`` what for code.
        """
        if self.dead:
            return
        self.dead = self.closing = True
        t = self.tap.recorder.clock()
        self.record(Note(Sender.CLIENT, note, kind), t)
        self.record(Tcp(Sender.CLIENT, TcpEvent.RESET, note), t)
        for sender in SENDERS:  # a frame cut in half shows as a truncated frame
            if not self.sides[sender].eof and self.sides[sender].quiet is None:
                self.record_decoded(self._eof(sender), t)
        for writer in (self.client_writer, self.server_writer):
            if writer is not None:
                _reset(writer)
        self._cancel_others()

    def _cancel_others(self) -> None:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()


class Tap:
    """A recording TCP relay in front of ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int], recorder: Recorder, faults: Faults | None = None, *,
                 redact: bool = True, ssl: Any = None, limits: Limits | None = None) -> None:
        self.upstream = upstream
        #: An ``ssl.SSLContext``: terminate TLS from clients (``wss://``, see :mod:`wslab._runtime.tls`).
        self.ssl = ssl
        self.limits = limits or Limits()
        self.redact = redact
        self.recorder = recorder
        self.faults = faults or Faults()
        self.server: asyncio.AbstractServer | None = None
        self.connections: dict[int, TapConnection] = {}
        self.tasks: set[asyncio.Task] = set()
        self.count = 0
        self._arrived = asyncio.Event()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()

        # A deep backlog: a class connecting at once must not wait out SYN retries.
        self.server = await loop.create_server(lambda: _TapStream.new(loop, self.accept), host, port,
                                               backlog=BACKLOG, ssl=self.ssl)
        return self.server.sockets[0].getsockname()[1]

    async def accept(self, reader, writer) -> None:
        self.count += 1
        connection = TapConnection(self, self.count, reader, writer)
        self.connections[self.count] = connection
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()  # wakes wait_for(); later arrivals set the new event
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await connection.run()
        finally:
            self.tasks.discard(task)
            self.connections.pop(connection.conn, None)

    def listening(self) -> list[socket.socket]:
        """The tap's listening sockets (for :func:`~wslab._runtime.loop.close_sockets` when its loop is stuck)."""
        return list(getattr(self.server, "_sockets", None) or []) if self.server is not None else []

    def active(self) -> list[TapConnection]:
        return list(self.connections.values())

    async def wait_for(self, *, client_port: int, timeout: float) -> TapConnection | None:
        """The connection from ``client_port`` once the tap has accepted it; None after ``timeout`` s."""
        async def accepted() -> TapConnection:
            while (found := self.find(client_port=client_port)) is None:
                await self._arrived.wait()
            return found

        try:
            return await asyncio.wait_for(accepted(), timeout)
        except TimeoutError:
            return None

    def find(self, *, client_port: int | None = None, upstream_port: int | None = None) -> TapConnection | None:
        """The open connection whose client (or upstream) TCP port is given, or None."""
        for connection in self.active():
            if (client_port is not None and connection.client_port == client_port) or (
                upstream_port is not None and connection.upstream_port == upstream_port
            ):
                return connection
        return None

    async def finish(self, connections: Iterable[TapConnection], grace: float) -> None:
        """Give ``connections`` up to ``grace`` seconds to end on their own, then cut the rest."""
        connections = list(connections)  # walked twice below
        waiting = [asyncio.ensure_future(c.done.wait()) for c in connections if not c.done.is_set()]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=grace)
            for future in pending:
                future.cancel()
        for connection in connections:
            if not connection.done.is_set():
                connection.kill(LAB_STOPPED, NoteKind.LAB_STOPPED)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        # Connections already closing get a moment to finish on their own (the
        # client's FIN usually follows the server's by a millisecond), so the
        # trace shows a clean ending rather than a reset by the lab.
        await self.finish([c for c in self.active() if c.closing], grace=1)
        for connection in self.active():
            connection.kill(LAB_STOPPED, NoteKind.LAB_STOPPED)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)
        if self.server is not None:
            await self.server.wait_closed()
