"""Notebook 05: WebSocket push against HTTP polling, measured on this machine."""

from .run import (
    METHODS,
    Comparison,
    Feed,
    HttpClient,
    MethodResult,
    Relay,
    UpdateServer,
    parse_request,
    plot_comparison,
    response_bytes,
    run_comparison,
    update_text,
)

__all__ = [
    "METHODS", "Comparison", "Feed", "HttpClient", "MethodResult", "Relay", "UpdateServer",
    "parse_request", "plot_comparison", "response_bytes", "run_comparison", "update_text",
]
