"""What the lab's notes say, and what they are about.

A :class:`~wslab.capture.records.Note` carries a :class:`NoteKind` for code (the diagnosis
matches kinds, never wording) and a text for people. The texts below are the
ones the tap and the lab write; they are presentation only.
"""

from __future__ import annotations

import re

from ..protocol.enums import NoteKind, Opcode

#: Notes about faults the lab injected start with this.
FAULT = "fault: "
#: Notes about a server handler that raised start with this.
HANDLER_RAISED = "handler raised "
#: The note the tap leaves on connections it cuts when the lab stops.
LAB_STOPPED = "lab stopped"
#: The note left on open connections when the lab stops its server.
SERVER_STOPPING = "the lab is stopping its server"
#: The note left when the tap hid values from the trace.
REDACTED = ("the lab hid the values of cookies, credentials and tokens in this handshake "
            "(Lab(redact=False) records them)")
#: Notes of load_pcap about a connection it could not decode as WebSocket start with this.
NOT_DECODED = "not decoded: "
#: Notes of load_har start with this: a HAR keeps messages, not frames.
MESSAGE_LEVEL = "HAR: message level only"
#: The note left when the lab makes the server close a connection.
DISCONNECT = "the lab asked the server to close the connection"

_DROPPED = re.compile(r"dropped this (\S+) frame")


def legacy_kind(text: str) -> tuple[NoteKind, Opcode | None]:
    """The kind of a note saved before notes had one (version-1 traces), from its text."""
    if text.startswith(FAULT):
        fault = text[len(FAULT):]
        if (match := _DROPPED.search(fault)) is not None:
            return NoteKind.DROPPED, Opcode(match[1])
        for words, kind in (("the lab will cut", NoteKind.CUT_SCHEDULED), ("the lab cut", NoteKind.CUT),
                            ("all faults cleared", NoteKind.FAULTS_CLEARED), (": resumed", NoteKind.RESUME),
                            (": paused", NoteKind.PAUSE), ("dropping", NoteKind.DROP),
                            ("no longer dropping", NoteKind.DROP), ("latency", NoteKind.LATENCY)):
            if words in fault:
                return kind, None
        return NoteKind.INFO, None
    for prefix, kind in ((HANDLER_RAISED, NoteKind.HANDLER_RAISED), (LAB_STOPPED, NoteKind.LAB_STOPPED),
                         (SERVER_STOPPING, NoteKind.SERVER_STOPPING), (DISCONNECT, NoteKind.DISCONNECT),
                         (REDACTED, NoteKind.REDACTED), ("upstream ", NoteKind.UPSTREAM_REFUSED),
                         (NOT_DECODED, NoteKind.NOT_WEBSOCKET), ("HAR: ", NoteKind.MESSAGE_LEVEL)):
        if text.startswith(prefix):
            return kind, None
    return NoteKind.INFO, None


__all__ = ["DISCONNECT", "FAULT", "HANDLER_RAISED", "LAB_STOPPED", "MESSAGE_LEVEL", "NOT_DECODED", "REDACTED",
           "SERVER_STOPPING", "legacy_kind"]
