"""Check for the capstone (notebook 08): the student's own client on a plain socket, graded by the lab's trace."""

from __future__ import annotations

import base64
import concurrent.futures
import socket
from collections.abc import Callable
from typing import Any

from ._support import ExerciseError, _call, _hint, _ok, _short

#: What the capstone's client sends, and why each message is there.
CAPSTONE_MESSAGES = (("Hello Server", "the article's message"),
                     ("你好，服务器", "non-ASCII text: 6 characters, 18 bytes"),
                     ("é" * 100, "100 characters, 200 bytes: the 16-bit length form both ways"))


def _capstone_connection(name: str, records: list, message: str, why: str) -> None:
    """Grade one connection of the capstone's client from what crossed the wire (raises ExerciseError)."""
    def fail(what: str, hint: str) -> ExerciseError:
        return ExerciseError(f"{name}: sending {_short(message, 30)} ({why}): {what}\n  hint: {hint}")

    request = next((r for r in records if r.kind == "handshake" and r.sender == "client"), None)
    response = next((r for r in records if r.kind == "handshake" and r.sender == "server"), None)
    if request is None:
        errors = [r for r in records if r.kind == "error" and r.sender == "client"]
        said = f" — wslab reads it as: {errors[0].reason}" if errors else ""
        raise fail(f"no complete HTTP Upgrade request reached the server{said}",
                   "GET path HTTP/1.1, then Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key, "
                   "Sec-WebSocket-Version: 13, each line ending \\r\\n, and an empty line (RFC 6455 §4.1)")
    if request.problems:
        raise fail(f"the request breaks a rule: {request.problems[0]}", "RFC 6455 §4.1 lists what the request must "
                   "hold; wslab's explain() shows it: lab.trace.handshakes[0].explain()")
    if response is None or response.status != 101:
        got = f"{response.status} {response.reason}" if response is not None else "no answer"
        raise fail(f"the server did not switch protocols ({got})", "RFC 6455 §4.1")
    frames = [r for r in records if r.kind == "frame"]
    mine = [r for r in frames if r.sender == "client"]
    bad = next((r for r in records if r.sender == "client" and (r.kind == "error" or (r.kind == "frame" and r.problems))),
               None)
    counted = ""
    data = next((r for r in mine if r.opcode == "TEXT"), None)
    if data is not None and data.length == len(message) != len(message.encode()):
        counted = f" (your length field says {data.length}: characters, not the {len(message.encode())} bytes)"
    if bad is not None or counted:
        what = "" if bad is None else f": {bad.reason if bad.kind == 'error' else bad.problems[0]}"
        raise fail(f"wslab cannot read your frame{what}{counted}",
                   "FIN|opcode, MASK|length (126 + 16 bits over 125, 127 + 64 bits over 65535), the 4-byte mask, "
                   "then the payload XOR mask[i % 4]; the length counts UTF-8 bytes (RFC 6455 §5.2, §5.3)")
    texts = [r for r in mine if r.opcode in ("TEXT", "CONTINUATION")]
    if not texts:
        raise fail("no TEXT frame reached the server", "opcode 0x1 for text (RFC 6455 §5.6)")
    if b"".join(r.payload for r in texts).decode("utf-8", "replace") != message:
        raise fail(f"the server read {_short(texts[0].payload.decode('utf-8', 'replace'), 40)}",
                   "the payload is message.encode('utf-8'), masked (RFC 6455 §5.3)")
    closes = [r for r in mine if r.opcode == "CLOSE"]
    if not closes:
        raise fail("your client sent no Close frame", "send a masked CLOSE (opcode 0x8) whose payload is "
                   "struct.pack('!H', 1000) (RFC 6455 §5.5.1)")
    if closes[0].close_code != 1000:
        raise fail(f"your Close frame says {closes[0].close_code} (1000 = normal closure expected)",
                   "the Close payload is struct.pack('!H', 1000) + an optional UTF-8 reason (RFC 6455 §5.5.1, §7.4.1)")
    answered = [r for r in frames if r.sender == "server" and r.opcode == "CLOSE"]
    ends = {r.sender: r for r in reversed(records) if r.kind == "tcp" and r.what in ("eof", "reset", "close")}
    if not answered or "server" not in ends or ("client" in ends and ends["client"].t < ends["server"].t):
        how = " (a reset: it still had bytes to read)" if "client" in ends and ends["client"].what == "reset" else ""
        raise fail(f"your client closed TCP before the server did{how}", "after sending Close, read until the server's "
                   "Close arrives, then until recv() returns b'' (the server's FIN), and only then close the "
                   "socket: the server closes TCP first (RFC 6455 §7.1.1)")


def _capstone_trace(lab: Any, name: str, message: str, why: str, raised: ExerciseError | None = None) -> None:
    """Grade the newest connection in ``lab``'s trace; when the client ``raised``, say that too."""
    lab.settle()
    trace = lab.trace
    if not trace.connections:
        if raised is not None:
            raise raised
        raise ExerciseError(f"{name}: nothing connected to the lab: use socket.create_connection((host, port))")
    try:
        _capstone_connection(name, list(trace.filter(conn=trace.connections[-1])), message, why)
    except ExerciseError as exc:
        if raised is not None:
            first = str(raised).split("\n", 1)[0]
            raise ExerciseError(f"{exc}\n  (then your client raised: {first.split(' raised ', 1)[-1]})") from raised
        raise


@_hint("see RFC 6455 §4.1 (handshake), §5.2-5.3 (frames and masking), §5.5.1 and §7.1.1 (closing)")
def check_capstone(fn: Callable) -> None:
    """``fn(url, message)`` is a WebSocket client over a plain socket that returns the server's reply.

    Run against a lab, it must: send a valid Upgrade request and check ``Sec-WebSocket-Accept`` (a server
    answering a wrong one must make it raise), send ``message`` in a masked TEXT frame whose length counts
    bytes, read the reply (16-bit lengths included), send Close 1000, read the server's Close, and leave
    closing TCP to the server (RFC 6455 §7.1.1). The lab's trace is the grader.
    """
    from ..handlers import reply_to
    from ..lab import Lab

    name = "my_client"
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__} {fn!r}")
    # On a thread of its own: a notebook cell's thread runs the kernel's event loop, which lab.settle() must not
    # block (and the student's blocking socket calls shouldn't either).
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wslab-capstone") as pool:
        return pool.submit(_capstone, fn, name, reply_to, Lab).result()


def _capstone(fn: Callable, name: str, reply_to: Callable[[str], Any], Lab: Any) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(5)  # a client waiting for bytes that never come fails the check, not the kernel
    try:
        with Lab("echo", close_timeout=1) as lab:
            for message, why in CAPSTONE_MESSAGES:
                expected = reply_to(message)
                try:
                    got = _call(name, fn, lab.url, message, expected=expected)
                except ExerciseError as exc:
                    if isinstance(exc.__cause__, TimeoutError):
                        exc.args = (f"{exc}\n  (nothing arrived within 5 s: is your client waiting for more bytes "
                                    "than the server sends?)",)
                    if exc.__cause__ is not None:  # the wire may say why it raised: grade that first
                        _capstone_trace(lab, name, message, why, exc)
                    raise
                _capstone_trace(lab, name, message, why)
                if got != expected:
                    raise ExerciseError(f"{name}: sending {_short(message, 30)} ({why}): the server answered "
                                        f"{_short(expected, 40)}\n  you returned: {_short(got, 60)}\n  hint: read "
                                        "the server's frame: no mask, length 126 + 16 bits when over 125, payload "
                                        "as UTF-8 (RFC 6455 §5.2)")

        def wrong_accept(connection: Any, request: Any, response: Any) -> None:
            del response.headers["Sec-WebSocket-Accept"]
            response.headers["Sec-WebSocket-Accept"] = base64.b64encode(b"not the right digest").decode()

        with Lab("echo", close_timeout=1, process_response=wrong_accept) as lab:
            try:
                fn(lab.url, "Hello Server")
            except Exception:
                pass
            else:
                raise ExerciseError(f"{name}: a server answered 101 with a wrong Sec-WebSocket-Accept, and your "
                                    "client carried on\n  hint: compare it to base64(sha1(key + GUID)) and raise "
                                    "if it differs: the client MUST fail the connection (RFC 6455 §4.1)")
            lab.settle()
            sent = [r for r in lab.trace.frames if r.sender == "client" and r.opcode in ("TEXT", "BINARY")]
            if sent:
                raise ExerciseError(f"{name}: with a wrong Sec-WebSocket-Accept your client still sent a message "
                                    "before failing\n  hint: check the accept value before sending anything "
                                    "(RFC 6455 §4.1)")
    finally:
        socket.setdefaulttimeout(previous)
    _ok("your client speaks RFC 6455: handshake and accept check, masked frames with byte lengths, "
               "Close 1000, and the server closes TCP first")
