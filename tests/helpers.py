"""Small helpers shared by test modules (importable: pytest puts tests/ on sys.path)."""

from wslab import Lab


def serves(lab: Lab) -> None:
    """The lab still answers the article's client."""
    with lab.connect_sync() as ws:
        ws.send("Hello Server")
        assert ws.recv(timeout=2) == "Hello Client"
