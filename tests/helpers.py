"""Small helpers shared by test modules (importable: pytest puts tests/ on sys.path)."""

import socket

import pytest
from timeouts import FACTOR

from wslab import Lab
from wslab.exercises import ExerciseError


def serves(lab: Lab) -> None:
    """The lab still answers the article's client."""
    with lab.connect_sync() as ws:
        ws.send("Hello Server")
        assert ws.recv(timeout=2 * FACTOR) == "Hello Client"


# The one factor for every deadline in the tests (WSLAB_TESTS_TIMEOUT_FACTOR, see timeouts.py).
TIMEOUT_FACTOR = FACTOR


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fails(check, answer, *needles) -> str:
    """``check(answer)`` raises ExerciseError whose message holds every one of ``needles``; the message."""
    with pytest.raises(ExerciseError) as info:
        check(answer)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    return message
