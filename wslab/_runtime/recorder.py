"""The recorder: the append-only store of records and chunks that the lab's threads share."""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import IO, Any

from ..capture import export
from ..capture.records import Chunk, Note, Record
from ..protocol.enums import NoteKind, Sender
from ..protocol.events import DecodeError, Frame
from ..protocol.problems import Problem, ProblemCode

#: What a lab keeps by default: safe for a notebook kernel (~100 MB at worst); the start
#: and the most recent part are kept, and the trace says how much was counted, not kept.
MAX_RECORDS = 50_000
MAX_BYTES = 32 * 2**20


class Recorder:
    """The store of records and chunks: the one object the lab's threads share.

    One lock (:attr:`changed`, a Condition) guards it. The tap appends on the
    lab's loop thread, the lab's notes come from the caller's thread, a sync
    server's handlers from theirs; readers call :meth:`snapshot`, which copies
    both lists at once, so a chunk and the events decoded from it are always
    seen together (:meth:`add_many`). Records never change once added.

    It is bounded: past ``max_records`` records or ``max_bytes`` bytes of chunks it
    keeps the first half and the most recent half, and counts what falls out between
    them (a snapshot then carries a note saying how many frames and records were
    counted, not kept). ``sink``, a text file, gets every record and chunk as JSON
    lines as they come, kept or not (:func:`~wslab.capture.export.load` reads it).

    The tap may hand over a chunk whose decoding can wait (:meth:`add_later`): it is
    decoded, in order, before anything else is added or read (:meth:`catch_up`), so
    readers never see the difference, only the relay goes faster.
    """

    def __init__(self, clock: Callable[[], float], *, max_records: int | None = MAX_RECORDS,
                 max_bytes: int | None = MAX_BYTES, sink: IO[str] | None = None, started: float | None = None) -> None:
        self.clock = clock
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._head: list[Record] = []
        self._tail: collections.deque[Record] = collections.deque()
        self._head_chunks: list[Chunk] = []
        self._tail_chunks: collections.deque[Chunk] = collections.deque()
        self._head_bytes = self._tail_bytes = 0
        self._chunks_head_closed = False
        #: What fell out of the middle: records, frames among them, chunk bytes; and when.
        self.dropped_records = self.dropped_frames = self.dropped_bytes = 0
        self._dropped_at: tuple[float, int] | None = None
        #: Records ever added (kept or not).
        self.added = 0
        self.changed = threading.Condition()
        #: Called with each new record, on the thread that added it, outside the lock.
        self.listeners: list[Callable[[Record], Any]] = []
        #: ``time.monotonic()`` of the last change (for waiting until the wire is quiet).
        self.last_change = 0.0
        self.sink = sink
        self._flushed = 0.0
        #: Chunks ever handed over with :meth:`add_later` (how often the tap's hot path ran).
        self.deferred = 0
        #: Chunks whose records are still to be decoded: (conn, t, chunk, decode, its arguments).
        self._pending: collections.deque[tuple[int, float, Chunk, Callable[..., list[Any]], tuple[Any, ...]]] = (
            collections.deque())
        if sink is not None:
            sink.write(export.jsonl_header(started) + "\n")

    @property
    def records(self) -> list[Record]:
        """The records kept (a copy)."""
        self.catch_up()
        with self.changed:
            return [*self._head, *self._tail]

    @property
    def chunks(self) -> list[Chunk]:
        """The chunks kept (a copy)."""
        self.catch_up()
        with self.changed:
            return [*self._head_chunks, *self._tail_chunks]

    @property
    def waiting(self) -> int:
        """Chunks handed over with :meth:`add_later` and not decoded yet."""
        return len(self._pending)

    def add_later(self, conn: int, t: float, chunk: Chunk, decode: Callable[..., list[Any]], *args: Any) -> int:
        """Keep ``chunk``, read at ``t``, with the events ``decode(*args)`` will return: called, in order,
        before the next record is added or anything is read. Returns how many chunks wait so."""
        with self.changed:
            self.deferred += 1
            self._pending.append((conn, t, chunk, decode, args))
            self.last_change = time.monotonic()
            if getattr(self.changed, "_waiters", True):  # the hot path: skip notify_all() when nobody waits
                self.changed.notify_all()
            return len(self._pending)

    def catch_up(self) -> None:
        """Decode and keep every chunk :meth:`add_later` left waiting (then tell the listeners).

        Whoever decodes holds the lock, and a chunk leaves the queue only once decoded: so a
        caller that finds the queue empty knows no other thread is still feeding a decoder
        (the tap then decodes its next chunk itself, in order)."""
        if not self._pending:
            return
        with self.changed:
            told = self._catch_up_locked()
        for record in told:
            self._tell(record)

    def _catch_up_locked(self) -> list[Record]:
        told: list[Record] = []
        pending = self._pending
        while pending:
            conn, t, chunk, decode, args = pending[0]
            try:
                events = decode(*args)
            except Exception as exc:  # a decoding bug must lose no chunk, and never stop the relay
                events = [DecodeError(chunk.sender, chunk.offset,
                                      Problem(ProblemCode.DECODER_CRASHED, f"decoding this chunk failed: {exc!r}"))]
            finally:
                pending.popleft()
            told += self._store(conn, events, t, chunk)
        self._wake_waiters()
        return told

    def add(self, conn: int, event: Any, t: float | None = None) -> Record:
        """Append one event (timestamped now unless ``t`` is given)."""
        return self.add_many(conn, [event], t=t)[0]

    def add_many(self, conn: int, events: Iterable[Any], *, t: float | None = None,
                 chunk: Chunk | None = None) -> list[Record]:
        """Append ``chunk`` (if any) and ``events`` in one step: a snapshot has all of them or none."""
        with self.changed:
            told = self._catch_up_locked() if self._pending else []
            records = self._add_locked(conn, events, t, chunk)
        for record in (*told, *records):
            self._tell(record)
        return records

    def _add_locked(self, conn: int, events: Iterable[Any], t: float | None, chunk: Chunk | None) -> list[Record]:
        when = self.clock() if t is None else t  # taken under the lock: records stay in time order
        records = self._store(conn, events, when, chunk)
        self._wake_waiters()
        return records

    def _store(self, conn: int, events: Iterable[Any], t: float, chunk: Chunk | None) -> list[Record]:
        """Keep ``chunk`` and the records of ``events`` at ``t`` (and write them to the sink); under the lock."""
        records = [Record(t, conn, event) for event in events]
        if chunk is not None:
            self._keep_chunk(chunk)
        for record in records:
            self._keep(record)
        self.added += len(records)
        if self.sink is not None:
            self._write(records, chunk)
        return records

    def _wake_waiters(self) -> None:
        self.last_change = time.monotonic()
        self.changed.notify_all()

    def _keep(self, record: Record) -> None:
        cap = self.max_records
        if cap is None or len(self._head) < (cap + 1) // 2:
            self._head.append(record)
            return
        self._tail.append(record)
        while len(self._tail) > cap // 2:
            gone = self._tail.popleft()
            if self._dropped_at is None:
                self._dropped_at = (gone.t, gone.conn)
            self.dropped_records += 1
            self.dropped_frames += type(gone.event) is Frame

    def _keep_chunk(self, chunk: Chunk) -> None:
        # Bytes and count both bound the chunks: a million 20-byte chunks are 20 MB of wire, but
        # with their objects ~150 MB of memory; no more chunks are kept than records.
        cap = self.max_bytes
        count = self.max_records
        size = len(chunk.data)
        if (cap is None or self._head_bytes + size <= cap // 2) and (
                count is None or len(self._head_chunks) < (count + 1) // 2) and not self._chunks_head_closed:
            self._head_chunks.append(chunk)
            self._head_bytes += size
            return
        self._chunks_head_closed = True
        self._tail_chunks.append(chunk)
        self._tail_bytes += size
        tail = self._tail_chunks
        while len(tail) > 1 and ((cap is not None and self._tail_bytes > cap - cap // 2)
                                 or (count is not None and len(tail) > count // 2)):
            gone = self._tail_chunks.popleft()
            self._tail_bytes -= len(gone.data)
            self.dropped_bytes += len(gone.data)
            if self._dropped_at is None:
                self._dropped_at = (gone.t, gone.conn)

    def _write(self, records: list[Record], chunk: Chunk | None) -> None:
        assert self.sink is not None
        try:
            if chunk is not None:
                self.sink.write(export.jsonl_chunk(chunk) + "\n")
            for record in records:
                self.sink.write(export.jsonl_record(record) + "\n")
            now = time.monotonic()
            if now - self._flushed > 1.0:
                self._flushed = now
                self.sink.flush()
        except (OSError, ValueError) as exc:  # a full disk must not stop the relay: say so once, stop writing
            self.sink = None
            warnings.warn(f"wslab: writing the trace to disk failed, and stopped: {exc!r}", RuntimeWarning,
                          stacklevel=3)

    def flush(self) -> None:
        """Push what was written to the sink to disk."""
        self.catch_up()
        with self.changed:
            if self.sink is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.sink.flush()

    def note_of_dropped(self) -> Record | None:
        """A note saying what was counted and not kept, for a snapshot; None when everything was kept."""
        if self._dropped_at is None:
            return None
        t, conn = self._dropped_at
        parts = []
        if self.dropped_records:
            parts.append(f"{self.dropped_frames} frames ({self.dropped_records} records) counted, not kept")
        if self.dropped_bytes:
            parts.append(f"{self.dropped_bytes} bytes of the wire counted, not kept")
        text = ("the trace is full: " + "; ".join(parts) + ". It keeps the start and the most recent part "
                "(Lab(max_records=..., max_bytes=...); Lab(record_to=PATH) keeps everything on disk)")
        return Record(t, conn, Note(Sender.SERVER, text, NoteKind.NOT_RECORDED))

    def _tell(self, record: Record) -> None:
        for listener in list(self.listeners):
            try:
                listener(record)
            except Exception as exc:  # a broken printer must not break the relay, but it must not hide
                if not getattr(listener, "_wslab_warned", False):
                    warnings.warn(f"wslab: a record listener raised {exc!r}; it stays registered", RuntimeWarning,
                                  stacklevel=2)
                    with contextlib.suppress(AttributeError, TypeError):
                        listener._wslab_warned = True  # type: ignore[attr-defined]

    def snapshot(self) -> tuple[list[Record], list[Chunk]]:
        """Copies of the records and the chunks, taken together under the lock (with a note of
        what was counted, not kept, where it was left out)."""
        self.catch_up()
        with self.changed:
            note = self.note_of_dropped()
            middle = [note] if note is not None else []
            return [*self._head, *middle, *self._tail], [*self._head_chunks, *self._tail_chunks]

    def clear(self) -> None:
        """Forget everything kept so far (what was written to the sink stays there)."""
        self.catch_up()  # decoders must see every byte, kept or not
        with self.changed:
            self._head.clear()
            self._tail.clear()
            self._head_chunks.clear()
            self._tail_chunks.clear()
            self._head_bytes = self._tail_bytes = 0
            self._chunks_head_closed = False
            self.dropped_records = self.dropped_frames = self.dropped_bytes = 0
            self._dropped_at = None
            self.last_change = time.monotonic()
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[Record], bool], timeout: float) -> Record:
        """The first record (recorded so far or from now on) for which ``predicate`` is true.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        seen: int | None = None  # records added when last looked
        while True:
            self.catch_up()
            with self.changed:
                if self._pending:  # more came while catching up
                    continue
                for record in [*self._head, *self._tail] if seen is None else self._last(self.added - seen):
                    if predicate(record):
                        return record
                seen = self.added
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching record within {timeout} s")
                self.changed.wait(remaining)

    def _last(self, n: int) -> list[Record]:
        """The newest ``n`` records kept (fewer if some fell out)."""
        tail = self._tail
        if n <= len(tail):
            return list(itertools.islice(tail, len(tail) - n, None))
        return [*self._head[max(0, len(self._head) - (n - len(tail))):], *tail]

    def __len__(self) -> int:
        self.catch_up()
        with self.changed:
            return len(self._head) + len(self._tail)


__all__ = ["MAX_BYTES", "MAX_RECORDS", "Recorder"]
