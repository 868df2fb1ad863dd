"""Printing from a thread of its own: a terminal that falls behind never blocks the lab's loop.

Lines go through a bounded queue; when it is full they are dropped and counted,
and the next line printed says how many were skipped.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import IO

#: Lines waiting for the terminal before new ones are dropped.
QUEUE_LINES = 2000


class LinePrinter:
    """``say(line)`` from any thread, never blocking; a daemon thread writes the lines to ``out``."""

    def __init__(self, out: IO[str] | None = None, *, size: int = QUEUE_LINES) -> None:
        self.out = out if out is not None else sys.stdout
        self.lines: queue.Queue[str] = queue.Queue(size)
        self.dropped = 0
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._print, name="wslab-printer", daemon=True)
        self.thread.start()

    def say(self, line: str) -> None:
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _print(self) -> None:
        while True:
            line = self.lines.get()
            with self._lock:
                dropped, self.dropped = self.dropped, 0
            try:
                if dropped:
                    self.out.write(f"… {dropped} lines skipped (the terminal was behind)\n")
                self.out.write(line + "\n")
                if self.lines.empty():
                    self.out.flush()
            except (OSError, ValueError):  # the terminal went away: keep draining, print nothing
                pass
            finally:
                self.lines.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the queued lines to be written; whether they were."""
        done = threading.Event()

        def wait() -> None:
            self.lines.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)


__all__ = ["QUEUE_LINES", "LinePrinter"]
