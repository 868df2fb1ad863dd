"""The WebSocket protocol, sans I/O: RFC 6455 / RFC 7692 vocabulary, rules, decoding and encoding.

Nothing in this package opens a socket, starts a thread or reads a clock, and it
imports nothing else from wslab: bytes go in, events come out.

=============  ===============================================================
``enums``      Sender, Opcode, CloseCode, ConnState, RecordKind, TcpEvent, NoteKind
``problems``   Problem (code, rule, text) and ProblemCode: every rule checked
``events``     Handshake, Frame, DecodeError (and AcceptCheck, Field)
``http``       the one HTTP/1.1 head parser, and the handshake's §4 rules
``frames``     §5.2 layout, the §5 frame rules, MessageAssembler (UTF-8, inflate)
``deflate``    permessage-deflate settings (RFC 7692)
``decoder``    StreamDecoder (one direction), WireDecoder (a connection), decode_bytes
``build``      build_frame, close_payload, accept_key, check_accept
``states``     StateTracker: each endpoint's CONNECTING → OPEN → CLOSING → CLOSED
``render``     how events print: one-liners, explanations, HTML
=============  ===============================================================
"""

from .build import GUID, accept_key, build_frame, check_accept, close_payload, opcode_value
from .decoder import MAX_FRAME, MAX_HEAD, StreamDecoder, WireDecoder, decode_bytes
from .deflate import EMPTY_BLOCK, DeflateParams, deflate_params
from .enums import (
    CLOSE_CODES,
    OPCODES,
    CloseCode,
    ConnState,
    NoteKind,
    Opcode,
    RecordKind,
    Sender,
    TcpEvent,
    close_code_name,
    opcode_name,
)
from .events import AcceptCheck, DecodeError, Event, Field, Frame, Handshake
from .frames import apply_mask, frame_layout
from .problems import Problem, ProblemCode
from .states import State, StateTracker

__all__ = [
    "CLOSE_CODES", "EMPTY_BLOCK", "GUID", "MAX_FRAME", "MAX_HEAD", "OPCODES", "AcceptCheck", "CloseCode", "ConnState",
    "DecodeError", "DeflateParams", "Event", "Field", "Frame", "Handshake", "NoteKind", "Opcode", "Problem",
    "ProblemCode", "RecordKind", "Sender", "State", "StateTracker", "StreamDecoder", "TcpEvent", "WireDecoder",
    "accept_key", "apply_mask", "build_frame", "check_accept", "close_code_name", "close_payload", "decode_bytes",
    "deflate_params", "frame_layout", "opcode_name", "opcode_value",
]
