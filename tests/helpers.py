"""Small helpers shared by test modules (importable: pytest puts tests/ on sys.path)."""

import os
import socket

from wslab import Lab


def serves(lab: Lab) -> None:
    """The lab still answers the article's client."""
    with lab.connect_sync() as ws:
        ws.send("Hello Server")
        assert ws.recv(timeout=2) == "Hello Client"


# One factor for every deadline in the tests that start servers (JupyterHub, Jupyter Server):
# WSLAB_TIMEOUT_FACTOR=3 on a slow or loaded machine. Deadlines only: nothing asserts a duration.
TIMEOUT_FACTOR = float(os.environ.get("WSLAB_TIMEOUT_FACTOR") or 1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
