"""The recorder: the append-only store of records and chunks that the lab's threads share."""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from ..capture.records import Chunk, Record


class Recorder:
    """The append-only store of records and chunks: the one object the lab's threads share.

    One lock (:attr:`changed`, a Condition) guards it. The tap appends on the
    lab's loop thread, the lab's notes come from the caller's thread, a sync
    server's handlers from theirs; readers call :meth:`snapshot`, which copies
    both lists at once, so a chunk and the events decoded from it are always
    seen together (:meth:`add_many`). Records never change once added.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        #: Guarded by :attr:`changed`: read them through :meth:`snapshot`.
        self.records: list[Record] = []
        self.chunks: list[Chunk] = []
        self.changed = threading.Condition()
        #: Called with each new record, on the thread that added it, outside the lock.
        self.listeners: list[Callable[[Record], Any]] = []
        #: ``time.monotonic()`` of the last change (for waiting until the wire is quiet).
        self.last_change = 0.0

    def add(self, conn: int, event: Any, t: float | None = None) -> Record:
        """Append one event (timestamped now unless ``t`` is given)."""
        return self.add_many(conn, [event], t=t)[0]

    def add_many(self, conn: int, events: Iterable[Any], *, t: float | None = None,
                 chunk: Chunk | None = None) -> list[Record]:
        """Append ``chunk`` (if any) and ``events`` in one step: a snapshot has all of them or none."""
        with self.changed:
            when = self.clock() if t is None else t  # taken under the lock: records stay in time order
            records = [Record(when, conn, event) for event in events]
            if chunk is not None:
                self.chunks.append(chunk)
            self.records.extend(records)
            self.last_change = time.monotonic()
            self.changed.notify_all()
        for record in records:
            self._tell(record)
        return records

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
        """Copies of the records and the chunks, taken together under the lock."""
        with self.changed:
            return list(self.records), list(self.chunks)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self.changed:
            self.records.clear()
            self.chunks.clear()
            self.last_change = time.monotonic()
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[Record], bool], timeout: float) -> Record:
        """The first record (recorded so far or from now on) for which ``predicate`` is true.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        seen = 0
        with self.changed:
            while True:
                for record in self.records[seen:]:
                    if predicate(record):
                        return record
                seen = len(self.records)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching record within {timeout} s")
                self.changed.wait(remaining)

    def __len__(self) -> int:
        with self.changed:
            return len(self.records)


__all__ = ["Recorder"]
