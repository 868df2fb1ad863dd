"""Compatibility: the trace's old home. Its contents now live in :mod:`wslab.capture`."""

from .capture.export import VERSION, from_json, load
from .capture.records import KINDS, STATES, Chunk, Event, Note, Record, State, Tcp
from .capture.trace import ARROWS, TCP_NAMES, Trace, describe, preview

__all__ = ["ARROWS", "KINDS", "STATES", "TCP_NAMES", "VERSION", "Chunk", "Event", "Note", "Record", "State", "Tcp",
           "Trace", "describe", "from_json", "load", "preview"]
