"""Each endpoint's state (RFC 6455 §4.1, §7), as seen on the wire: a sans-I/O tracker.

h11's idea: state changes are events too. :class:`StateTracker` is fed decoded
events and TCP's end, and returns :class:`State` changes. An endpoint is
CONNECTING once TCP is up, OPEN once the ``101`` has crossed the wire, CLOSING
once a Close frame has been sent or received by it, and CLOSED when the TCP
connection is gone (§7.1.4).
"""

from __future__ import annotations

import dataclasses

from .enums import ConnState, Opcode, Sender
from .events import Event, Frame, Handshake

#: What moves an endpoint on, as a table a notebook can print: (event, from the sender's side, the other's).
TRANSITIONS: tuple[tuple[str, ConnState, ConnState], ...] = (
    ("TCP connected", ConnState.CONNECTING, ConnState.CONNECTING),
    ("101 Switching Protocols", ConnState.OPEN, ConnState.OPEN),
    ("Close frame", ConnState.CLOSING, ConnState.CLOSING),
    ("TCP connection closed", ConnState.CLOSED, ConnState.CLOSED),
)


@dataclasses.dataclass(frozen=True)
class State:
    """``sender`` (the endpoint) entered ``state`` because of ``cause``."""

    sender: Sender
    state: ConnState
    cause: str = ""


class StateTracker:
    """Each endpoint's state, from the events of one connection (see the module docstring)."""

    def __init__(self) -> None:
        self.state: dict[Sender, ConnState | None] = {Sender.CLIENT: None, Sender.SERVER: None}

    def _set(self, side: Sender, state: ConnState, cause: str) -> list[State]:
        if self.state[side] in (state, ConnState.CLOSED):
            return []
        self.state[side] = state
        return [State(side, state, cause)]

    def connected(self) -> list[State]:
        """TCP is up: both endpoints are CONNECTING."""
        return (self._set(Sender.CLIENT, ConnState.CONNECTING, "TCP connected")
                + self._set(Sender.SERVER, ConnState.CONNECTING, "TCP connected"))

    def event(self, event: Event | object) -> list[State]:
        """The state changes ``event`` causes (a 101 opens both ends, a Close frame starts closing)."""
        out: list[State] = []
        if isinstance(event, Handshake) and event.sender == "server" and event.status == 101:
            out += self._set(Sender.SERVER, ConnState.OPEN, "sent 101")
            out += self._set(Sender.CLIENT, ConnState.OPEN, "received 101")
        elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
            sender = Sender(event.sender)
            out += self._set(sender, ConnState.CLOSING, "sent Close")
            out += self._set(sender.other, ConnState.CLOSING, "received Close")
        return out

    def closed(self, cause: str) -> list[State]:
        """TCP is gone: both endpoints are CLOSED."""
        return (self._set(Sender.SERVER, ConnState.CLOSED, cause)
                + self._set(Sender.CLIENT, ConnState.CLOSED, cause))


__all__ = ["TRANSITIONS", "State", "StateTracker"]
