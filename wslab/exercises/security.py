"""Checks for notebook 07 (``wss://`` and security): an Origin gate (RFC 6455 §10.2), the browser API's close() rule."""

from __future__ import annotations

from collections.abc import Callable

from ._support import ExerciseError, _call, _expect, _hint, _ok, _Watch

#: The one origin :func:`check_origin_gate` lets in (the chat page's own), and the ones it must keep out.
CHAT_ORIGIN = "http://chat.example"
_FOREIGN_ORIGINS = ("http://evil.example", "http://chat.example.evil.example", "https://chat.example", None)


@_hint("origin = request.headers.get('Origin'); if origin != CHAT_ORIGIN: return connection.respond(403, "
       "'forbidden origin\\n'); else return None (RFC 6455 §10.2)")
def check_origin_gate(fn: Callable) -> None:
    """``fn(connection, request)`` is a ``process_request`` hook: 403 unless ``Origin`` is exactly :data:`CHAT_ORIGIN`.

    A missing ``Origin`` is refused too: this chat is for its own page only (RFC 6455 §10.2).
    """
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    from ..lab import Lab

    watch = _Watch("origin_gate", fn, f"403 unless the Origin header is exactly {CHAT_ORIGIN!r}, None (go on) for it",
                   "hook")

    def status(lab: Lab, origin: str | None) -> int:
        """The status the server answers a client sending ``origin`` (101: it joined and chatted)."""
        try:
            with lab.connect_sync(origin=origin) as ws:
                ws.send("Hello Server")
                ws.recv(timeout=3)
        except InvalidStatus as exc:
            watch.check()
            if exc.response.status_code == 500:
                raise ExerciseError("origin_gate: the server answered 500: your function raised an exception "
                                    "(the server log above shows it)") from None
            return int(exc.response.status_code)
        except InvalidHandshake:
            watch.check()
            raise ExerciseError("origin_gate: the server sent no valid HTTP response: return "
                                "connection.respond(...) to refuse, or None to let the handshake go on") from None
        return 101

    with Lab("chat", process_request=watch.wrap()) as lab:
        got = status(lab, CHAT_ORIGIN)
        if got != 101:
            raise ExerciseError(f"origin_gate: the chat's own page (Origin: {CHAT_ORIGIN}) should get in (101), "
                                f"but got {got}")
        for origin in _FOREIGN_ORIGINS:
            case = f"Origin: {origin}" if origin else "no Origin header"
            got = status(lab, origin)
            if got == 101:
                raise ExerciseError(f"origin_gate: a client sending {case} joined the chat; it should get 403 "
                                    f"(compare the whole header with {CHAT_ORIGIN!r}: no prefixes, no other scheme)")
            _expect("origin_gate", f"a client sending {case}", got, 403,
                    "return connection.respond(HTTPStatus.FORBIDDEN, 'forbidden origin\\n')")
    watch.check()
    return _ok(f"{CHAT_ORIGIN} joins; evil.example, look-alike origins and no Origin at all get 403")


#: (code, reason, what the WebSocket API's close() does): WHATWG WebSockets standard, close() method.
BROWSER_CLOSE_CASES = (
    (None, "", True),
    (1000, "", True),
    (1000, "bye", True),
    (3000, "", True),
    (4999, "x" * 123, True),
    (4000, "é" * 61 + "x", True),  # 123 bytes of UTF-8
    (1001, "", False),  # going away: a browser sends it when the page goes, a script may not
    (1011, "", False),
    (2999, "", False),
    (5000, "", False),
    (1000, "x" * 124, False),
    (4000, "é" * 62, False),  # 62 characters, 124 bytes
)


@_hint("True if code is None or 1000 or 3000 <= code <= 4999, and len(reason.encode('utf-8')) <= 123")
def check_browser_close(fn: Callable) -> None:
    """``fn(code, reason)``: would a browser's ``ws.close(code, reason)`` send a Close frame (True) or throw (False)?"""
    for code, reason, expected in BROWSER_CLOSE_CASES:
        shown = reason if len(reason) < 8 else f"{reason[:3]}… ({len(reason.encode())} bytes)"
        got = _call("browser_close", fn, code, reason, expected=expected)
        hint = ("the code must be 1000 or 3000–4999 (or left out)" if code not in (None, 1000)
                and not 3000 <= code <= 4999 else "the reason's UTF-8 bytes, not its characters, count: at most 123")
        _expect("browser_close", f"close({code}, {shown!r})", got, expected, hint)
    return _ok("close() accepts 1000 and 3000–4999 with a reason of at most 123 UTF-8 bytes, and nothing else")
