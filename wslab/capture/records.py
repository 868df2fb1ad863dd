"""The records of a trace: one event each, at a time ``t`` on connection ``conn``.

An event is a decoded :class:`~wslab.protocol.events.Handshake`,
:class:`~wslab.protocol.events.Frame` or :class:`~wslab.protocol.events.DecodeError`,
a :class:`~wslab.protocol.states.State` change, a :class:`Tcp` event seen by the
tap, or a :class:`Note` from the lab. Records are frozen: nothing changes a trace.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from ..protocol import render
from ..protocol.enums import ConnState, NoteKind, Opcode, RecordKind, Sender, TcpEvent
from ..protocol.events import DecodeError, Frame, Handshake
from ..protocol.states import State

#: RFC 6455 §4 / §7: the states each endpoint goes through.
STATES = tuple(ConnState)


@dataclasses.dataclass(frozen=True)
class Tcp:
    """A TCP event seen by the tap.

    ``what`` is ``"connect"`` (client connected), ``"eof"`` (``sender`` half-closed:
    sent FIN) or ``"reset"`` (connection reset / aborted by ``sender``). ``note``
    says why, when the tap knows (e.g. an injected fault).
    """

    sender: Sender
    what: TcpEvent
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Note:
    """Something the lab itself did or observed (e.g. a fault it injected).

    ``kind`` says what, for code (the diagnosis); ``text`` says it for people.
    ``opcode`` is the frame's opcode for a :attr:`NoteKind.DROPPED` note.
    """

    sender: Sender
    text: str
    kind: NoteKind = NoteKind.INFO
    opcode: Opcode | None = None


Event = Handshake | Frame | DecodeError | Tcp | State | Note
E = TypeVar("E", Handshake, Frame, DecodeError, Tcp, State, Note, covariant=True)

KINDS: dict[type, RecordKind] = {
    Handshake: RecordKind.HANDSHAKE,
    Frame: RecordKind.FRAME,
    DecodeError: RecordKind.ERROR,
    Tcp: RecordKind.TCP,
    State: RecordKind.STATE,
    Note: RecordKind.NOTE,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Record(Generic[E]):
    """One event at time ``t`` on connection ``conn``.

    Attributes of the event (``sender``, ``opcode``, ``payload`` ...) can be read
    on the record directly, and ``dir(record)`` (Jupyter's completion) lists
    them; typed code reads them on :attr:`event`.
    """

    t: float
    conn: int
    event: E

    @property
    def kind(self) -> RecordKind:
        """``"handshake"``, ``"frame"``, ``"error"``, ``"tcp"``, ``"state"`` or ``"note"``."""
        return KINDS[type(self.event)]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "event":
            raise AttributeError(name)
        try:
            return getattr(self.event, name)
        except AttributeError:
            raise AttributeError(f"a {self.kind} record has no attribute {name!r}") from None

    def __dir__(self) -> list[str]:
        own = set(object.__dir__(self))  # not super(): slots=True makes a new class
        return sorted(own | {f.name for f in dataclasses.fields(self.event)}
                      | {name for name in dir(type(self.event)) if not name.startswith("_")})

    def __repr__(self) -> str:
        # Short and stable to the millisecond: the full float and every field are one attribute away.
        return f"<Record t={self.t * 1000:.3f} ms conn={self.conn} {self.kind} {self.sender}: {describe(self)}>"


@dataclasses.dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes the tap read in one go from ``sender`` at ``t``, at stream ``offset``."""

    t: float
    conn: int
    sender: Sender
    offset: int
    data: bytes


ARROWS = {"client": "C → S", "server": "C ← S"}
#: How each TCP event reads in a table.
TCP_NAMES = {TcpEvent.CONNECT: "TCP connect", TcpEvent.EOF: "TCP FIN (half-close)", TcpEvent.RESET: "TCP reset"}


def describe(record: Record) -> str:
    """One line saying what a record is, for tables, logs and diagrams."""
    e = record.event
    if isinstance(e, Frame):
        return render.summary(e)
    if isinstance(e, Handshake):
        text = e.start_line
        if e.accept is not None:
            text += "  (accept ✓)" if e.accept.ok else "  (accept ✗)"
        if e.problems:
            text += "  ⚠ " + "; ".join(e.problems)
        return text
    if isinstance(e, DecodeError):
        return f"decode error at byte {e.offset}: {e.reason}"
    if isinstance(e, Tcp):
        return TCP_NAMES.get(e.what, f"TCP {e.what}") + (f" — {e.note}" if e.note else "")
    if isinstance(e, State):
        return f"{e.sender} → {e.state}" + (f" ({e.cause})" if e.cause else "")
    if isinstance(e, Note):
        return e.text
    return repr(e)


__all__ = ["ARROWS", "KINDS", "STATES", "TCP_NAMES", "Chunk", "Event", "Note", "Record", "State", "Tcp", "describe"]
