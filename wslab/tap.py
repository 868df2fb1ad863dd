"""Compatibility: the tap's old home. The tap is :mod:`wslab._runtime.tap` (internal); the
endpoint states are :mod:`wslab.protocol.states`; the note texts :mod:`wslab.capture.notes`."""

from ._runtime.tap import ARROW, BACKLOG, OTHER, QUEUE_CHUNKS, READ_SIZE, Faults, Recorder, Tap, TapConnection
from .capture.notes import DISCONNECT, FAULT, HANDLER_RAISED, LAB_STOPPED, REDACTED, SERVER_STOPPING
from .protocol.states import State, StateTracker

__all__ = ["ARROW", "BACKLOG", "DISCONNECT", "FAULT", "HANDLER_RAISED", "LAB_STOPPED", "OTHER", "QUEUE_CHUNKS",
           "READ_SIZE", "REDACTED", "SERVER_STOPPING", "Faults", "Recorder", "State", "StateTracker", "Tap",
           "TapConnection"]
