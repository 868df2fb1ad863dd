"""One factor for every timeout in the tests, as websockets does with WEBSOCKETS_TESTS_TIMEOUT_FACTOR.

A slow or shared machine sets ``WSLAB_TESTS_TIMEOUT_FACTOR=4`` (say) and every
wait in the tests grows with it; no test sleeps to synchronise.
"""

import os

#: Multiplies every test timeout.
FACTOR = float(os.environ.get("WSLAB_TESTS_TIMEOUT_FACTOR", "1"))

#: A wait that should take milliseconds: generous, so only a hang trips it.
TIMEOUT = 5.0 * FACTOR


def scaled(seconds: float) -> float:
    """``seconds`` times the factor."""
    return seconds * FACTOR


def eventually(predicate, timeout: float = TIMEOUT, what: str = "the condition") -> None:
    """Wait until ``predicate()`` is true (checked every 10 ms: for counts that have no event to wait on,
    such as threads ending); AssertionError after ``timeout`` seconds (already scaled)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)
