"""The faults the tap injects, per direction: latency and jitter, pauses, dropped frames."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterable

from ..protocol.enums import NoteKind

ARROW = {"client": "client → server", "server": "server → client"}


@dataclasses.dataclass
class Faults:
    """Faults the tap injects, per direction (``"client"`` = client→server).

    Attributes:
        latency: seconds added to every chunk sent by that side.
        jitter: up to this many extra seconds, at random (order is kept).
        paused: directions whose chunks are held until resumed.
        drops: opcodes (``"PONG"`` ...) of frames the tap drops, per direction.
        rng: the random source of the jitter (seeded by ``Lab(seed=...)``).

    The lab replaces these containers instead of changing them in place, on
    the tap's loop, and then calls :meth:`changed`, which wakes the relays
    waiting in :meth:`until_resumed`.
    """

    latency: dict[str, float] = dataclasses.field(default_factory=dict)
    jitter: dict[str, float] = dataclasses.field(default_factory=dict)
    paused: set[str] = dataclasses.field(default_factory=set)
    drops: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    rng: random.Random = dataclasses.field(default_factory=random.Random, repr=False)
    _changed: asyncio.Event | None = dataclasses.field(default=None, init=False, repr=False, compare=False)
    _loop: asyncio.AbstractEventLoop | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def changed(self) -> None:
        """The faults changed (call on the tap's loop): wake whoever waits for a resume."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def until_resumed(self, sender: str) -> None:
        """Return once ``sender``'s direction is not paused (at once if it is not)."""
        while sender in self.paused:
            loop = asyncio.get_running_loop()
            if self._changed is None or self._loop is not loop:  # a restarted lab runs a new loop
                self._changed, self._loop = asyncio.Event(), loop
            await self._changed.wait()

    def hold(self, sender: str) -> bool:
        """Whether a fault is in effect for ``sender``'s bytes: paused, delayed, or frames dropped (checked
        on every chunk: with no fault at all it answers from four empty containers)."""
        if not (self.paused or self.drops or self.latency or self.jitter):
            return False
        return sender in self.paused or bool(self.drops.get(sender)) or self.most_delay(sender) > 0

    def most_delay(self, sender: str) -> float:
        """The longest :meth:`delay` can be for ``sender`` (latency plus all the jitter), drawing no random number."""
        return self.latency.get(sender, 0.0) + self.jitter.get(sender, 0.0)

    def delay(self, sender: str) -> float:
        """Seconds to hold the next chunk from ``sender``: latency plus random jitter."""
        extra = self.jitter.get(sender, 0.0)
        return self.latency.get(sender, 0.0) + (self.rng.uniform(0, extra) if extra else 0.0)

    def describe(self, senders: Iterable[str] = ("client", "server")) -> list[str]:
        """One sentence per fault in effect, e.g. ``"client → server: latency 50 ms"``."""
        return [text for _kind, text in self.in_effect(senders)]

    def in_effect(self, senders: Iterable[str] = ("client", "server")) -> list[tuple[NoteKind, str]]:
        """Each fault in effect: its kind, and a sentence such as ``"client → server: latency 50 ms"``."""
        out = []
        for sender in senders:
            latency, jitter = self.latency.get(sender, 0.0), self.jitter.get(sender, 0.0)
            if latency or jitter:
                text = f"{ARROW[sender]}: latency {latency * 1000:g} ms"
                out.append((NoteKind.LATENCY, text + (f" + up to {jitter * 1000:g} ms jitter" if jitter else "")))
            if sender in self.paused:
                out.append((NoteKind.PAUSE, f"{ARROW[sender]}: paused (the lab holds every byte)"))
            if self.drops.get(sender):
                out.append((NoteKind.DROP, f"{ARROW[sender]}: dropping {', '.join(sorted(self.drops[sender]))} frames"))
        return out


def senders(direction: str) -> tuple[str, ...]:
    """``"client"`` (client → server), ``"server"`` (server → client) or ``"both"``."""
    if direction == "both":
        return ("client", "server")
    if direction in ("client", "server"):
        return (direction,)
    raise ValueError(f"direction must be 'client' (client → server), 'server' (server → client) or 'both', "
                     f"not {direction!r}")


__all__ = ["ARROW", "Faults", "senders"]
