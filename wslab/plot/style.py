"""The timeline's look: colours by family and state, and its geometry (named, not magic numbers)."""

from __future__ import annotations

from ..capture.records import STATES

#: Colours of arrows and labels, by family: Okabe & Ito's colour-blind-safe palette (blue, vermillion), dark enough
#: for text on a projector; families also differ by weight and dashes, never by colour alone.
COLORS = {
    "data": "#0072B2",       # Okabe-Ito blue
    "control": "#882E72",    # a dark reddish purple (Okabe-Ito's #CC79A7 is too pale for text)
    "close": "#D55E00",      # Okabe-Ito vermillion
    "handshake": "#000000",
    "tcp": "#4D4D4D",        # dark grey: the light grey washed out on projectors
    "error": "#B2182B",
    "note": "#333333",
}

#: Colours of the state bands along each lifeline (Okabe-Ito); the state's name is also written in its band.
STATE_COLORS = {
    "CONNECTING": "#56B4E9",  # sky blue
    "OPEN": "#009E73",        # bluish green
    "CLOSING": "#E69F00",     # orange
    "CLOSED": "#BBBBBB",
}
#: Text colour on each band.
STATE_TEXT = {"CONNECTING": "#000000", "OPEN": "#FFFFFF", "CLOSING": "#000000", "CLOSED": "#000000"}

#: Default font size of the package's figures (points): readable projected.
FONTSIZE = 12.0
#: Resolution of the figures the package makes (dots per inch): sharp on high-DPI screens and projectors.
FIG_DPI = 150
STATES_ORDER = STATES


DATA_OPCODES = frozenset({"TEXT", "BINARY", "CONTINUATION"})
CONTROL_OPCODES = frozenset({"PING", "PONG"})

# Geometry of timeline(). x data units are inches when timeline() makes the
# figure; y data units are rows.
ROW_IN = 0.42          # height of one row, inches
LANE_GAP = 1.5         # between one lane's server and the next lane's client
BAND = 0.2             # width of a state band (its state's name is written in it)
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


__all__ = ["COLORS", "CONTROL_OPCODES", "DATA_OPCODES", "FIG_DPI", "FONTSIZE", "STATES_ORDER", "STATE_COLORS",
           "STATE_TEXT"]
