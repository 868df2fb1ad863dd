"""Checks for the opening handshake (notebooks 00–01).

Sec-WebSocket-Accept, the Upgrade request, a token gate, the client's own checks.
"""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Callable

from ..protocol import GUID
from ._support import (
    ExerciseError,
    _call,
    _expect,
    _hint,
    _ok,
    _Watch,
)


# -- 01 handshake -----------------------------------------------------------------
@_hint("base64( SHA-1( key + GUID ) ) — hash the raw 20-byte digest, not its hex (RFC 6455 §4.2.2)")
def check_accept_key(fn: Callable) -> None:
    """``fn(key)`` computes Sec-WebSocket-Accept (RFC 6455 §4.2.2)."""
    cases = ["dGhlIHNhbXBsZSBub25jZQ==", base64.b64encode(bytes(range(16))).decode(), "x3JJHMbDL1EzLkh9GBhXDw=="]
    for key in cases:
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        _expect("accept", f"key {key!r}", _call("accept", fn, key, expected=expected), expected,
                "base64( SHA-1( key + GUID ) ) — hash the raw 20-byte digest, not its hex")
    return _ok("accept matches RFC 6455 §1.3: dGhlIHNhbXBsZSBub25jZQ== → s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@_hint("a GET line, then Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key and "
       "Sec-WebSocket-Version: 13, each line ending in \\r\\n, then an empty line (RFC 6455 §4.1)")
def check_upgrade_request(fn: Callable) -> None:
    """``fn(host, path, key)`` returns the bytes of a valid Upgrade request; a real server must answer 101."""
    from ..lab import Lab

    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with Lab("echo") as lab:
        host = f"127.0.0.1:{lab.port}"
        request = _call("upgrade_request", fn, host, "/chat", key,
                        expected="b'GET /chat HTTP/1.1\\r\\nHost: ...\\r\\n...\\r\\n\\r\\n' that a server answers with 101")
        if isinstance(request, str):
            request = request.encode()
        if not isinstance(request, bytes):
            raise ExerciseError(f"upgrade_request: expected bytes, you gave {type(request).__name__}")
        if not request.endswith(b"\r\n\r\n"):
            raise ExerciseError("upgrade_request: an HTTP head ends with an empty line: b'\\r\\n\\r\\n' (RFC 9112 §2.1)")
        with socket.create_connection(("127.0.0.1", lab.port), timeout=3) as sock:
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if not status.startswith("HTTP/1.1 101"):
        body = answer.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace").strip()
        raise ExerciseError(f"upgrade_request: the server should answer 101 Switching Protocols\n"
                            f"  it answered: {status}\n  and said: {body}")
    return _ok("a real websockets server accepted your request with 101 Switching Protocols")


@_hint("return connection.respond(HTTPStatus.UNAUTHORIZED, 'missing token\\n') to refuse, None to go on (a "
       "server may answer the handshake with any HTTP status, RFC 6455 §4.2.2)")
def check_token_gate(fn: Callable) -> None:
    """``fn(connection, request)`` is a ``process_request`` hook: 401 without ``?token=secret``, accept with it.

    "With it" means the query parameter ``token`` is ``secret``, wherever it is in the query string and
    whatever the path: comparing ``request.path`` to one string, or looking for ``token=secret`` in it, fails.
    """
    from websockets.exceptions import InvalidStatus

    from ..lab import Lab

    watch = _Watch("token_gate", fn, "401 for clients without ?token=secret, None (go on) for the others", "hook")
    welcome = {"/?token=secret": "",
               "/?token=secret&lang=en": " (other parameters come after it)",
               "/?lang=en&token=secret": " (query parameters come in any order)",
               "/chat?token=secret": " (the path is not always /)"}
    refuse = {"/": "", "/?token=wrong": "", "/?token=secretive": " (the token is 'secretive', not 'secret')",
              "/?mytoken=secret": " (that parameter is 'mytoken', not 'token')", "/?token=": " (an empty token)"}
    read_it = "read the parameter: parse_qs(urlsplit(request.path).query).get('token') == ['secret']"
    with Lab("echo", process_request=watch.wrap()) as lab:
        for path, why in welcome.items():
            try:
                with lab.connect_sync(path) as ws:
                    ws.send("Hello Server")
                    ws.recv(timeout=3)
            except InvalidStatus as exc:
                watch.check()
                raise ExerciseError(f"token_gate: a client connecting to {path!r} has the token{why} and should get "
                                    f"in (101), but got {exc.response.status_code}\n  hint: {read_it}") from None
        for path, why in refuse.items():
            try:
                with lab.connect_sync(path):
                    pass
            except InvalidStatus as exc:
                watch.check()
                if exc.response.status_code == 500:
                    raise ExerciseError("token_gate: the server answered 500: your function raised an exception "
                                        "(the server log above shows it)") from None
                _expect("token_gate", f"a client connecting to {path!r}", exc.response.status_code, 401,
                        "return connection.respond(HTTPStatus.UNAUTHORIZED, 'missing token\\n')")
            else:
                raise ExerciseError(f"token_gate: a client connecting to {path!r}{why} got in; it should get 401\n"
                                    f"  hint: {read_it}")
    watch.check()
    return _ok("without the token: 401; with ?token=secret: 101 and the echo works")


def _accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


_RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_GOOD = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": _accept_for(_RFC_KEY)}


#: (what the response is, status, headers, does the client accept it?) for :func:`check_handshake_ok`.
HANDSHAKE_CASES = (
    ("a correct 101", 101, _GOOD, True),
    ("header values in other cases: 'WebSocket', 'upgrade' (ASCII case-insensitive, §4.1)", 101,
     {**_GOOD, "Upgrade": "WebSocket", "Connection": "upgrade"}, True),
    ("Connection: keep-alive, Upgrade (a list that contains the token Upgrade, §4.1)", 101,
     {**_GOOD, "Connection": "keep-alive, Upgrade"}, True),
    ("status 200 with the right headers", 200, _GOOD, False),
    ("a 101 replaying the accept value of another key", 101,
     {**_GOOD, "Sec-WebSocket-Accept": _accept_for("x3JJHMbDL1EzLkh9GBhXDw==")}, False),
    ("a 101 whose accept is the base64 of the SHA-1's hex digest", 101,
     {**_GOOD, "Sec-WebSocket-Accept": base64.b64encode(
         hashlib.sha1((_RFC_KEY + GUID).encode()).hexdigest().encode()).decode()}, False),
    ("a 101 with no Upgrade header", 101, {k: v for k, v in _GOOD.items() if k != "Upgrade"}, False),
    ("a 101 with Upgrade: h2c", 101, {**_GOOD, "Upgrade": "h2c"}, False),
    ("a 101 with Connection: keep-alive only", 101, {**_GOOD, "Connection": "keep-alive"}, False),
    ("a 101 with no Sec-WebSocket-Accept", 101, {k: v for k, v in _GOOD.items() if k != "Sec-WebSocket-Accept"},
     False),
)


@_hint("status 101; Upgrade equal to 'websocket' ignoring case; Connection a comma-separated list containing "
       "'upgrade' ignoring case; Sec-WebSocket-Accept equal to base64(SHA-1(key + GUID)) (RFC 6455 §4.1, §4.2.2)")
def check_handshake_ok(fn: Callable) -> None:
    """``fn(key, status, headers)`` says whether a client may call the connection open (RFC 6455 §4.1)."""
    for case, status, headers, expected in HANDSHAKE_CASES:
        got = _call("handshake_ok", fn, _RFC_KEY, status, dict(headers), expected=expected)
        if got is not None and not isinstance(got, bool):
            got = bool(got)
        _expect("handshake_ok", case, got, expected)
    return _ok(f"handshake_ok accepts the 3 good responses and refuses the {len(HANDSHAKE_CASES) - 3} bad ones "
               "(RFC 6455 §4.1)")
