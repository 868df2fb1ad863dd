"""Compatibility: the decoder's old home. Its contents now live in :mod:`wslab.protocol`.

``from wslab.decode import CLOSE_CODES, Frame, build_frame ...`` keeps working, and
so does calling the module, ``wslab.decode(data, "server")``: it is
:func:`wslab.protocol.decode_bytes` (use that name in new code). ``wslab.decode``
is this module, never a function that hides it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .protocol import (
    CLOSE_CODES,
    EMPTY_BLOCK,
    GUID,
    MAX_FRAME,
    MAX_HEAD,
    OPCODES,
    AcceptCheck,
    DecodeError,
    DeflateParams,
    Event,
    Field,
    Frame,
    Handshake,
    Opcode,
    Sender,
    StreamDecoder,
    WireDecoder,
    accept_key,
    apply_mask,
    build_frame,
    check_accept,
    close_code_name,
    close_payload,
    decode_bytes,
    deflate_params,
    frame_layout,
    opcode_name,
    opcode_value,
)

#: The one-shot decoder under its old name (``from wslab.decode import decode``).
decode = decode_bytes


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`~wslab.protocol.decode_bytes` (``wslab.decode(data, "server")``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> list[Event]:
        return decode_bytes(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "CLOSE_CODES", "EMPTY_BLOCK", "GUID", "MAX_FRAME", "MAX_HEAD", "OPCODES", "AcceptCheck", "DecodeError",
    "DeflateParams", "Event", "Field", "Frame", "Handshake", "Opcode", "Sender", "StreamDecoder", "WireDecoder",
    "accept_key", "apply_mask", "build_frame", "check_accept", "close_code_name", "close_payload", "decode",
    "decode_bytes", "deflate_params", "frame_layout", "opcode_name", "opcode_value",
]
