"""The timeline's look: colours by family and state, and its geometry (named, not magic numbers)."""

from __future__ import annotations

from ..capture.records import STATES

#: Colours of arrows and labels, by family.
COLORS = {
    "data": "#1f5fbf",
    "control": "#7d3c98",
    "close": "#c25e00",
    "handshake": "#1b2631",
    "tcp": "#6e7b7c",
    "error": "#c0392b",
    "note": "#4d5656",
}

#: Colours of the state bands along each lifeline.
STATE_COLORS = {
    "CONNECTING": "#f7dc6f",
    "OPEN": "#58c98b",
    "CLOSING": "#f5a142",
    "CLOSED": "#bcc4c6",
}
STATES_ORDER = STATES


DATA_OPCODES = frozenset({"TEXT", "BINARY", "CONTINUATION"})
CONTROL_OPCODES = frozenset({"PING", "PONG"})

# Geometry of timeline(). x data units are inches when timeline() makes the
# figure; y data units are rows.
ROW_IN = 0.36          # height of one row, inches
LANE_GAP = 1.5         # between one lane's server and the next lane's client
BAND = 0.13            # width of a state band
HEAD = 1.6             # rows above the first event, for the lifeline heads
ARROW_AT = 0.64        # where the arrow sits inside its row (its label is above it)
LINE = 0.46            # rows taken by one line of detail text below an arrow
GAP_PT = 2.5           # between an arrow and its label, points
MAX_FIG_H = 40.0       # inches
GREY = "#4d5656"
LABEL_MAX_PT = 200.0   # a row label is cut short (…) beyond this width
LABEL_PAD_PT = 28.0    # between the last server lifeline and the row labels (a leader line)
MAX_CHARS = 400         # no text is longer than this before fitting
DETAIL_LINES = 2        # detail text below an arrow wraps to at most this many lines


__all__ = ["COLORS", "CONTROL_OPCODES", "DATA_OPCODES", "STATES_ORDER", "STATE_COLORS"]
