"""The wire tap: a transparent TCP relay that records every byte.

The tap listens on its own port and relays each accepted connection to the
upstream server. Every chunk read in either direction is timestamped, kept,
fed to the :class:`~wslab.decode.WireDecoder` and then relayed unchanged, so
whatever the decoder cannot parse still reaches the other side. End-of-stream
is passed on with ``write_eof()`` (``websockets`` half-closes TCP after the
closing handshake, RFC 6455 §7.1.1), and resets are passed on as resets.

Faults (latency, jitter, a paused direction, a cut connection) are injected
here, between reading and relaying.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections.abc import Callable
from typing import Any

from .decode import DecodeError, Frame, Handshake, Sender, WireDecoder
from .trace import Chunk, Note, Record, State, Tcp

OTHER: dict[str, Sender] = {"client": "server", "server": "client"}
READ_SIZE = 65536


@dataclasses.dataclass
class Faults:
    """Faults the tap injects, per direction (``"client"`` = client→server).

    Attributes:
        latency: seconds added to every chunk sent by that side.
        jitter: up to this many extra seconds, at random (order is kept).
        paused: directions whose chunks are held until resumed.
    """

    latency: dict[str, float] = dataclasses.field(default_factory=dict)
    jitter: dict[str, float] = dataclasses.field(default_factory=dict)
    paused: set[str] = dataclasses.field(default_factory=set)
    rng: random.Random = dataclasses.field(default_factory=random.Random, repr=False)

    def delay(self, sender: str) -> float:
        extra = self.jitter.get(sender, 0.0)
        return self.latency.get(sender, 0.0) + (self.rng.uniform(0, extra) if extra else 0.0)


class Recorder:
    """The thread-safe, append-only store the tap writes to.

    Readers take snapshots; records are never changed after they are added.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.records: list[Record] = []
        self.chunks: list[Chunk] = []
        self.changed = threading.Condition()
        self.listeners: list[Callable[[Record], Any]] = []

    def add(self, conn: int, event: Any, t: float | None = None) -> Record:
        record = Record(self.clock() if t is None else t, conn, event)
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()
        for listener in list(self.listeners):
            try:
                listener(record)
            except Exception:  # a broken printer must not break the relay
                pass
        return record

    def add_chunk(self, chunk: Chunk) -> None:
        with self.changed:
            self.chunks.append(chunk)


class StateTracker:
    """Each endpoint's state (RFC 6455 §4.1, §7), as seen on the wire.

    Sans-I/O: fed with decoded events and TCP events, returns State changes.
    An endpoint is OPEN once the ``101`` has crossed the wire, CLOSING once a
    Close frame has been sent or received by it, and CLOSED when the TCP
    connection is gone (§7.1.4).
    """

    def __init__(self) -> None:
        self.state = {"client": "", "server": ""}

    def _set(self, side: str, state: str, cause: str) -> list[State]:
        if self.state[side] == state or self.state[side] == "CLOSED":
            return []
        self.state[side] = state
        return [State(side, state, cause)]  # type: ignore[arg-type]

    def connected(self) -> list[State]:
        return self._set("client", "CONNECTING", "TCP connected") + self._set(
            "server", "CONNECTING", "TCP connected"
        )

    def event(self, event: Any) -> list[State]:
        out: list[State] = []
        if isinstance(event, Handshake) and event.sender == "server" and event.status == 101:
            out += self._set("server", "OPEN", "sent 101")
            out += self._set("client", "OPEN", "received 101")
        elif isinstance(event, Frame) and event.opcode == "CLOSE":
            out += self._set(event.sender, "CLOSING", "sent Close")
            out += self._set(OTHER[event.sender], "CLOSING", "received Close")
        return out

    def closed(self, cause: str) -> list[State]:
        return self._set("server", "CLOSED", cause) + self._set("client", "CLOSED", cause)


class TapConnection:
    """One relayed TCP connection: two pumps, one decoder, one state tracker."""

    def __init__(self, tap: Tap, conn: int, reader, writer) -> None:
        self.tap = tap
        self.conn = conn
        self.client_reader, self.client_writer = reader, writer
        self.server_reader = self.server_writer = None
        self.decoder = WireDecoder()
        self.states = StateTracker()
        self.offsets = {"client": 0, "server": 0}
        self.eof = {"client": False, "server": False}
        self.done = asyncio.Event()
        self.cut = False
        #: A Close frame, a rejection, an EOF or a reset was seen: the end is near.
        self.closing = False

    def record(self, event: Any, t: float | None = None) -> None:
        self.tap.recorder.add(self.conn, event, t)

    def record_decoded(self, events: list, t: float) -> None:
        for event in events:
            self.record(event, t)
            if (isinstance(event, Frame) and event.opcode == "CLOSE") or (
                isinstance(event, Handshake) and event.status not in (None, 101)
            ):
                self.closing = True
            for change in self.states.event(event):
                self.record(change, t)

    async def run(self) -> None:
        try:
            host, port = self.tap.upstream
            try:
                self.server_reader, self.server_writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                self.record(Note("server", f"upstream {host}:{port} refused: {exc}"))
                self.client_writer.transport.abort()
                self.record(Tcp("server", "reset", "upstream unreachable"))
                return
            t = self.tap.recorder.clock()
            self.record(Tcp("client", "connect"), t)
            for change in self.states.connected():
                self.record(change, t)
            await asyncio.gather(
                self.pump("client", self.client_reader, self.server_writer),
                self.pump("server", self.server_reader, self.client_writer),
            )
        finally:
            for writer in (self.client_writer, self.server_writer):
                if writer is not None:
                    writer.transport.abort() if self.cut else writer.close()
            for change in self.states.closed("TCP connection closed"):
                self.record(change)
            self.done.set()

    async def pump(self, sender: Sender, reader, writer) -> None:
        """Read from ``sender``, record, decode, relay to the other side."""
        queue: asyncio.Queue = asyncio.Queue()
        relay = asyncio.create_task(self.relay(sender, queue, writer))
        try:
            while True:
                try:
                    data = await reader.read(READ_SIZE)
                except (ConnectionError, OSError) as exc:
                    self.closing = True
                    self.record(Tcp(sender, "reset", type(exc).__name__))
                    await queue.put(None)
                    self.abort(writer)
                    return
                t = self.tap.recorder.clock()
                if not data:
                    self.eof[sender] = self.closing = True
                    self.record(Tcp(sender, "eof"), t)
                    self.record_decoded(self.decoder.eof(sender), t)
                    await queue.put(b"")
                    break
                self.tap.recorder.add_chunk(Chunk(t, self.conn, sender, self.offsets[sender], data))
                self.offsets[sender] += len(data)
                try:
                    events = self.decoder.receive(sender, data)
                except Exception as exc:  # the decoder must never stop the relay
                    events = [DecodeError(sender, self.offsets[sender], f"decoder crashed: {exc!r}")]
                self.record_decoded(events, t)
                await queue.put(data)
        finally:
            await relay

    async def relay(self, sender: Sender, queue: asyncio.Queue, writer) -> None:
        faults = self.tap.faults
        while True:
            data = await queue.get()
            if data is None:
                return
            delay = faults.delay(sender)
            if delay:
                await asyncio.sleep(delay)
            while sender in faults.paused and not self.cut:
                await asyncio.sleep(0.01)
            if self.cut:
                return
            try:
                if data == b"":
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError, RuntimeError):
                return

    def abort(self, writer) -> None:
        try:
            writer.transport.abort()
        except Exception:
            pass

    def kill(self, note: str) -> None:
        """Cut the TCP connection both ways at once (both peers see a reset)."""
        self.cut = True
        self.record(Note("client", note))
        self.record(Tcp("client", "reset", note))
        for writer in (self.client_writer, self.server_writer):
            if writer is not None:
                self.abort(writer)


class Tap:
    """A recording TCP relay in front of ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int], recorder: Recorder, faults: Faults | None = None) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.faults = faults or Faults()
        self.server: asyncio.AbstractServer | None = None
        self.connections: dict[int, TapConnection] = {}
        self.tasks: set[asyncio.Task] = set()
        self.count = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self.accept, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def accept(self, reader, writer) -> None:
        self.count += 1
        connection = TapConnection(self, self.count, reader, writer)
        self.connections[self.count] = connection
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await connection.run()
        finally:
            self.tasks.discard(task)
            self.connections.pop(connection.conn, None)

    def active(self) -> list[TapConnection]:
        return list(self.connections.values())

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for connection in self.active():
            connection.kill("lab stopped")
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)
        if self.server is not None:
            await self.server.wait_closed()
