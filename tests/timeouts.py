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
