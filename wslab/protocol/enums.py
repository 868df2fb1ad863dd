"""The protocol's vocabulary as small, exact types (RFC 6455 names).

Every enum here is a ``StrEnum`` or an ``IntEnum``, so it compares equal to
the plain strings and numbers notebooks already use: ``frame.opcode == "TEXT"``,
``record.sender == "client"``, ``record.kind == "frame"``, ``code == 1000``.
"""

from __future__ import annotations

import enum


class StrEnum(enum.StrEnum):
    """A ``StrEnum`` whose repr is its value's, ``'TEXT'``: records and frames print as they always did."""

    def __repr__(self) -> str:
        return repr(self.value)


class Sender(StrEnum):
    """Who sent the bytes: the two ends of a connection."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def other(self) -> Sender:
        """The other end."""
        return Sender.SERVER if self is Sender.CLIENT else Sender.CLIENT

    @property
    def arrow(self) -> str:
        """``"client → server"`` or ``"server → client"``."""
        return f"{self.value} → {self.other.value}"

    @classmethod
    def _missing_(cls, value: object) -> Sender | None:
        """``"Client"``, ``"SERVER"``, ``"c"`` and ``"s"`` name the ends too (students type them)."""
        if isinstance(value, str):
            name = value.strip().lower()
            for member in cls:
                if name in (member.value, member.value[0]):
                    return member
        return None


class Opcode(StrEnum):
    """RFC 6455 §5.2 / §11.8 opcodes, by name; all 16 values (the reserved ones as ``RESERVED_0xN``).

    ``Opcode("text")`` and ``Opcode("CONT")`` work too; :attr:`bits` is the 4-bit value.
    """

    CONTINUATION = "CONTINUATION"
    TEXT = "TEXT"
    BINARY = "BINARY"
    RESERVED_0x3 = "RESERVED_0x3"
    RESERVED_0x4 = "RESERVED_0x4"
    RESERVED_0x5 = "RESERVED_0x5"
    RESERVED_0x6 = "RESERVED_0x6"
    RESERVED_0x7 = "RESERVED_0x7"
    CLOSE = "CLOSE"
    PING = "PING"
    PONG = "PONG"
    RESERVED_0xB = "RESERVED_0xB"
    RESERVED_0xC = "RESERVED_0xC"
    RESERVED_0xD = "RESERVED_0xD"
    RESERVED_0xE = "RESERVED_0xE"
    RESERVED_0xF = "RESERVED_0xF"

    @classmethod
    def _missing_(cls, value: object) -> Opcode | None:
        if isinstance(value, str):
            name = value.upper()
            if name == "CONT":
                return cls.CONTINUATION
            for member in cls:
                if member.value.upper() == name:
                    return member
        return None

    @classmethod
    def from_bits(cls, value: int) -> Opcode:
        """The opcode whose 4-bit value is ``value`` (0-15)."""
        return _BY_BITS[value]

    @property
    def bits(self) -> int:
        """The 4-bit value on the wire."""
        return _BITS[self]

    @property
    def is_control(self) -> bool:
        """0x8-0xF: control frames (RFC 6455 §5.5)."""
        return self.bits >= 0x8

    @property
    def is_data(self) -> bool:
        """CONTINUATION, TEXT, BINARY (RFC 6455 §5.6)."""
        return self.bits in (0x0, 0x1, 0x2)

    @property
    def is_reserved(self) -> bool:
        """No meaning defined (RFC 6455 §5.2)."""
        return self.name.startswith("RESERVED")


_BY_BITS: dict[int, Opcode] = dict(enumerate(Opcode))
_BITS: dict[Opcode, int] = {op: value for value, op in _BY_BITS.items()}


class CloseCode(enum.IntEnum):
    """RFC 6455 §7.4.1 close codes (and the IANA registry's 1012-1015)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    @property
    def meaning(self) -> str:
        """The code's meaning in words, e.g. ``"normal closure"``."""
        return _MEANINGS[self]

    @property
    def never_sent(self) -> bool:
        """1005, 1006, 1015: only reported by an endpoint, never sent in a Close frame (§7.4.1)."""
        return self in (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)


_MEANINGS = {
    CloseCode.NORMAL_CLOSURE: "normal closure",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure",
}


class ConnState(StrEnum):
    """RFC 6455 §4 / §7: the states each endpoint goes through."""

    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class RecordKind(StrEnum):
    """What a trace record holds."""

    HANDSHAKE = "handshake"
    FRAME = "frame"
    ERROR = "error"
    TCP = "tcp"
    STATE = "state"
    NOTE = "note"

    @classmethod
    def _missing_(cls, value: object) -> RecordKind | None:
        """Any case: ``"Frame"``, ``"TCP"``."""
        if isinstance(value, str):
            for member in cls:
                if member.value == value.strip().lower():
                    return member
        return None


class TcpEvent(StrEnum):
    """What the tap saw happen to TCP."""

    CONNECT = "connect"  #: the client connected
    EOF = "eof"  #: the sender half-closed (sent FIN)
    RESET = "reset"  #: the connection was reset / aborted


class NoteKind(StrEnum):
    """What a note in the trace is about: something the lab did or observed."""

    INFO = "info"
    LATENCY = "latency"  #: a delay in effect or changed
    PAUSE = "pause"  #: a direction paused
    RESUME = "resume"  #: a direction resumed
    DROP = "drop"  #: frames of some opcodes dropped from now on (or no longer)
    DROPPED = "dropped"  #: the lab dropped this frame
    FAULTS_CLEARED = "faults-cleared"
    CUT = "cut"  #: the lab cut TCP
    CUT_SCHEDULED = "cut-scheduled"  #: the lab will cut TCP after some bytes
    DISCONNECT = "disconnect"  #: the lab asked the server to close
    HANDLER_RAISED = "handler-raised"  #: the server's handler raised an exception
    SERVER_STOPPING = "server-stopping"  #: the lab is stopping its server
    LAB_STOPPED = "lab-stopped"  #: the lab stopped and cut what was left
    REDACTED = "redacted"  #: secrets hidden in a handshake
    UPSTREAM_REFUSED = "upstream-refused"  #: the tap could not reach the server
    NOT_WEBSOCKET = "not-websocket"  #: a captured TCP connection that carries no WebSocket
    UNDECODED = "undecoded"  #: captured bytes that could not be decoded (TLS, mid-connection, lost)
    MESSAGE_LEVEL = "message-level"  #: a HAR: messages only, no masks, control frames or close codes
    LOOP_BLOCKED = "loop-blocked"  #: code on the lab's loop (a handler) blocked it: nothing moved meanwhile
    LINGER_CUT = "linger-cut"  #: one side had ended the connection; the other did not within close_timeout
    HANDSHAKE_TIMEOUT = "handshake-timeout"  #: no complete HTTP request head in time: the tap cut it
    NOT_RECORDED = "not-recorded"  #: bytes relayed (or discarded) and counted, but not decoded or kept

    @property
    def is_fault(self) -> bool:
        """A fault the lab injected (latency, pause, drops, cuts)."""
        return self in _FAULTS


_FAULTS = frozenset({NoteKind.LATENCY, NoteKind.PAUSE, NoteKind.RESUME, NoteKind.DROP, NoteKind.DROPPED,
                     NoteKind.FAULTS_CLEARED, NoteKind.CUT, NoteKind.CUT_SCHEDULED})


#: RFC 6455 §11.8 opcode names, by value (the defined ones; see :class:`Opcode` for all 16).
OPCODES: dict[int, Opcode] = {op.bits: op for op in Opcode if not op.is_reserved}

#: RFC 6455 §7.4.1 close codes and their names.
CLOSE_CODES: dict[int, str] = {int(code): code.meaning for code in CloseCode}


def opcode_name(value: int) -> Opcode:
    """``Opcode.TEXT`` for 0x1 ...; ``Opcode.RESERVED_0x3`` for reserved values (RFC 6455 §5.2)."""
    return Opcode.from_bits(value)


def close_code_name(code: int) -> str:
    """A close code's meaning (RFC 6455 §7.4), e.g. ``"normal closure"``."""
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if 3000 <= code <= 3999:
        return "registered (libraries, frameworks)"
    if 4000 <= code <= 4999:
        return "private use"
    return "unknown"


__all__ = ["CLOSE_CODES", "OPCODES", "CloseCode", "ConnState", "NoteKind", "Opcode", "RecordKind", "Sender", "TcpEvent",
           "close_code_name", "opcode_name"]
