"""The WebSocket protocol, sans I/O: RFC 6455 / RFC 7692 vocabulary, rules and decoding.

Nothing in this package opens a socket, starts a thread or reads a clock; it
imports nothing else from wslab. Bytes go in, events come out.
"""

from .enums import CloseCode, ConnState, NoteKind, Opcode, RecordKind, Sender, TcpEvent
from .problems import Problem, ProblemCode

__all__ = ["CloseCode", "ConnState", "NoteKind", "Opcode", "Problem", "ProblemCode", "RecordKind", "Sender",
           "TcpEvent"]
