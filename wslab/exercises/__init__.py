"""Checks for the notebooks' exercises, and the student versions of the notebooks.

Each ``check_*`` function takes what the student wrote (usually a function),
runs it on real inputs, and either prints a short "✓ ..." line, or raises
:class:`ExerciseError` saying what was expected, what the student's code
produced and a hint. A function whose body is still ``raise
NotImplementedError()`` gets a message that says so. In IPython the error shows
as that message alone, not as a traceback through wslab's code.

The teacher versions of the notebooks (``solutions/``) are nbgrader source
notebooks: each exercise is a solution cell, its answer between nbgrader's
``### BEGIN SOLUTION`` and ``### END SOLUTION`` markers, followed by a locked,
autograded test cell that imports its check and calls it. :func:`make_release`
(``python -m wslab release``) writes the student versions (``notebooks/``) the
way ``nbgrader generate_assignment`` would, without nbgrader.

The checks live in modules named for what they are about (``handshake``,
``frames``, ``closing``, ``servers``, ``security``, ``capstone``, ``traffic``), on
what they share (``_support``); ``release`` writes the student versions. Every name is importable from
``wslab.exercises``, as the notebooks' test cells do.
"""

from ._support import BEGIN, END, ExerciseError
from .capstone import CAPSTONE_MESSAGES, check_capstone
from .closing import (
    CLOSE_CASES,
    DIAGNOSIS,
    PREDICT_CASES,
    check_close_body,
    check_close_codes,
    check_diagnosis,
    check_polite_handler,
    check_predictions,
    check_read_close,
    mystery_trace,
    run_predictions,
)
from .frames import (
    HEADER_CASES,
    check_frame_header,
    check_frame_overhead,
    check_parse_header,
    check_read_message,
    check_text_frame,
    check_unmask,
)
from .handshake import HANDSHAKE_CASES, check_accept_key, check_handshake_ok, check_token_gate, check_upgrade_request
from .release import CODE_STUB, RAISES, TEXT_STUB, make_release, release
from .security import BROWSER_CLOSE_CASES, CHAT_ORIGIN, check_browser_close, check_origin_gate
from .servers import (
    SLOW,
    check_concurrent_hellos,
    check_named_chat,
    check_no_blocking,
    check_per_connection,
    check_push_handler,
    check_server_messages,
    check_shout_handler,
    slow_shout,
)
from .traffic import check_close_codes_each_side, check_only_in_pcap

__all__ = [
    "BEGIN",
    "BROWSER_CLOSE_CASES",
    "CAPSTONE_MESSAGES",
    "CHAT_ORIGIN",
    "CLOSE_CASES",
    "CODE_STUB",
    "DIAGNOSIS",
    "END",
    "HANDSHAKE_CASES",
    "HEADER_CASES",
    "PREDICT_CASES",
    "RAISES",
    "SLOW",
    "TEXT_STUB",
    "ExerciseError",
    "check_accept_key",
    "check_browser_close",
    "check_capstone",
    "check_close_body",
    "check_close_codes",
    "check_close_codes_each_side",
    "check_concurrent_hellos",
    "check_diagnosis",
    "check_frame_header",
    "check_frame_overhead",
    "check_handshake_ok",
    "check_named_chat",
    "check_no_blocking",
    "check_only_in_pcap",
    "check_origin_gate",
    "check_parse_header",
    "check_per_connection",
    "check_polite_handler",
    "check_predictions",
    "check_push_handler",
    "check_read_close",
    "check_read_message",
    "check_server_messages",
    "check_shout_handler",
    "check_text_frame",
    "check_token_gate",
    "check_unmask",
    "check_upgrade_request",
    "make_release",
    "mystery_trace",
    "release",
    "run_predictions",
    "slow_shout",
]
