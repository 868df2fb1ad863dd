"""Notebook 05: WebSocket push against HTTP polling, measured on this machine.

=============  ==============================================================
``http``       the stream of updates, a minimal HTTP/1.1 server and client
``results``    MethodResult, Comparison: what was measured
``run``        run_comparison(): each method through a recording tap
=============  ==============================================================

The picture is :func:`wslab.plot.compare.plot_comparison`, re-exported here.
"""

from ..plot.compare import plot_comparison
from .http import Feed, HttpClient, Request, UpdateServer, parse_request, response_bytes, update_text
from .results import METHODS, Comparison, MethodResult
from .run import run_comparison

__all__ = [
    "METHODS", "Comparison", "Feed", "HttpClient", "MethodResult", "Request", "UpdateServer", "parse_request",
    "plot_comparison", "response_bytes", "run_comparison", "update_text",
]
