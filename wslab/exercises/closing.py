"""Checks for the closing handshake (notebook 03): close bodies and codes, predict-then-run, a trace to diagnose."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..capture.trace import Trace
from ..protocol import close_payload
from ._support import (
    ExerciseError,
    _call,
    _expect,
    _hint,
    _ok,
    _short,
    _Watch,
)


# -- 03 closing --------------------------------------------------------------------
@_hint("2-byte big-endian code (struct.pack('!H', code)) + UTF-8 reason (RFC 6455 §5.5.1)")
def check_close_body(fn: Callable) -> None:
    """``fn(code, reason)`` returns a Close frame's payload (RFC 6455 §5.5.1)."""
    for code, reason in [(1000, ""), (1001, "bye"), (4000, "déjà vu")]:
        _expect("close_body", f"code {code} and reason {reason!r}", _call("close_body", fn, code, reason, expected=close_payload(code, reason)),
                close_payload(code, reason), "2-byte big-endian code (struct.pack('!H', code)) + UTF-8 reason")
    return _ok("close_body packs the code and the reason like RFC 6455 §5.5.1")



@_hint("the first 2 bytes are the big-endian code, the rest the UTF-8 reason (RFC 6455 §5.5.1); an empty "
       "payload is reported as 1005 (§7.1.5)")
def check_read_close(fn: Callable) -> None:
    """``fn(payload)`` returns (code, reason); an empty payload means 1005 (RFC 6455 §7.1.5)."""
    for code, reason in [(1000, ""), (1001, "going away"), (1011, "oops")]:
        _expect("read_close", f"payload {close_payload(code, reason).hex(' ')}",
                _call("read_close", fn, close_payload(code, reason), expected=(code, reason)), (code, reason))
    _expect("read_close", "an empty payload", _call("read_close", fn, b"", expected=(1005, "")), (1005, ""),
            "RFC 6455 §7.1.5: no status code in the Close frame is reported as 1005")
    return _ok("read_close reads codes and reasons, and 1005 for an empty Close")



@_hint("answer with await ws.send(...), then await ws.close(4000, 'bye') (RFC 6455 §7.1.2)")
def check_polite_handler(fn: Callable) -> None:
    """``fn`` is a server handler that answers the first message, then closes with 4000 'bye'."""
    from websockets.exceptions import ConnectionClosed

    from ..lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("polite: expected an `async def` handler taking the connection")
    watch = _Watch("polite", fn, "answer the first message, then `await ws.close(4000, 'bye')`")
    with Lab(watch.wrap()) as lab:
        try:
            with lab.connect_sync() as ws:
                ws.send("Hello Server")
                for _ in range(2):
                    ws.recv(timeout=3)
        except ConnectionClosed:
            pass  # what we want: the server closed
        except TimeoutError:
            watch.check()
            raise ExerciseError("polite: the server never closed the connection") from None
        trace = lab.trace
    watch.check()
    closes = [(f.close_code, f.close_reason) for f in trace.frames if f.opcode == "CLOSE" and f.sender == "server"]
    _expect("polite", "the server's Close frame", closes[:1], [(4000, "bye")],
            "await ws.close(4000, 'bye') after you answered")
    return _ok("the server closed with 4000 'bye', and the client answered the Close")


#: The connections :func:`check_close_codes` records, in order: how each one ends, and the code
#: the client reports (RFC 6455 §7.1.5, §7.4.1).
CLOSE_CASES = (
    ("the client sends Close 1000 and the server answers", 1000),
    ("the server closes with 4000 'maintenance'", 4000),
    ("the client sends a Close frame with no body, and the server echoes it", 1005),
    ("the lab cuts TCP: no Close frame at all", 1006),
    ("the client sends a TEXT frame that is not UTF-8", 1007),
)



_CLOSE_HINTS = {
    1005: "the server's Close frame has no status code (frame.close_code is None): RFC 6455 §7.1.5 reports 1005",
    1006: "the server sent no Close frame before TCP ended: RFC 6455 §7.1.5 reports 1006",
}



@_hint("what did each client receive: a Close with a code, a Close without one, or no Close at all? RFC 6455 "
       "§7.1.5 says what the client reports in each case")
def check_close_codes(fn: Callable) -> None:
    """``fn(trace)`` returns ``{conn: code}``: the close code each connection's client reports.

    That is the code in the server's Close frame; 1005 if that frame has no
    status code, 1006 if the server sent no Close frame (RFC 6455 §7.1.5).
    """
    from ..lab import Lab

    with Lab("echo", seed=3, close_timeout=0.3) as lab:
        with lab.raw() as raw:
            raw.handshake()
            raw.send_close(1000)
            raw.read_close()
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            lab.disconnect(raw, 4000, "maintenance")
            raw.read_close()
            raw.send_close(4000, "maintenance")
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("CLOSE")
            raw.read_close()
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            lab.cut(raw)
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("TEXT", b"caf\xc3")
            raw.read_close()
            raw.wait_closed()
        trace = lab.trace
    expected = {conn: code for conn, (_, code) in zip(trace.connections, CLOSE_CASES, strict=False)}
    # Not the answer: the exercise asks the student to work out each code first (content review row 37).
    got = _call("close_codes", fn, trace, expected="{conn: the close code that connection's client reports}")
    if not isinstance(got, dict):
        raise ExerciseError(f"close_codes: expected a dict {{conn: code}}, like {_short(expected, 120)}\n"
                            f"  you gave: {_short(got, 120)}")
    for (conn, code), (case, _) in zip(expected.items(), CLOSE_CASES, strict=False):
        _expect("close_codes", f"connection {conn} ({case})", got.get(conn), code,
                _CLOSE_HINTS.get(code, "the code in the server's Close frame: frame.close_code"))
    extra = sorted(set(got) - set(expected))
    if extra:
        raise ExerciseError(f"close_codes: the trace has connections {sorted(expected)}, but you also gave {extra}")
    return _ok("close_codes reports 1000, 4000, 1005, 1006 and 1007, as the client does (RFC 6455 §7.1.5)")


#: What the raw client sends in :func:`check_predictions`, and how the lab's server (``max_size=1024``) answers:
#: a close code, or None when it answers normally and keeps the connection open.
PREDICT_CASES: dict[str, tuple[Any, int | None, str]] = {
    "a PING with 125 bytes": (dict(opcode="PING", payload=bytes(125)), None,
                              "a control frame may carry up to 125 bytes: the server answers with a PONG (§5.5)"),
    "a PING with 126 bytes": (dict(opcode="PING", payload=bytes(126)), 1002,
                              "control frames carry at most 125 bytes (§5.5)"),
    "a Close with code 4999": (dict(opcode="CLOSE", payload=close_payload(4999, "")), 4999,
                               "4000–4999 are for private use (§7.4.2): the server echoes the code (§5.5.1)"),
    "a Close with code 1005": (dict(opcode="CLOSE", payload=close_payload(1005, "")), 1002,
                               "1005 must never be sent in a Close frame (§7.4.1)"),
    "a BINARY frame with bytes that are not UTF-8": (dict(opcode="BINARY", payload=b"caf\xc3"), None,
                                                     "binary data may be any bytes (§5.6): the server answers"),
    "two fragments of 600 bytes each": ([dict(opcode="BINARY", payload=bytes(600), fin=False),
                                         dict(opcode="CONTINUATION", payload=bytes(600))], 1009,
                                        "the size limit counts the whole message, 1200 > 1024 bytes (§10.4)"),
    "a frame with opcode 0x3": (dict(opcode=3, payload=b"hi"), 1002,
                                "0x3 to 0x7 are reserved: the receiver must fail the connection (§5.2)"),
}



def run_predictions() -> dict:
    """Send each frame of :data:`PREDICT_CASES` on a fresh connection: ``{case: close code or None}``."""
    from ..lab import Lab

    answers: dict[str, int | None] = {}
    with Lab("echo", seed=9, close_timeout=0.3, max_size=1024) as lab:
        for case, (frames, _, _) in PREDICT_CASES.items():
            with lab.raw() as raw:
                raw.handshake()
                for frame in frames if isinstance(frames, list) else [frames]:
                    raw.send_frame(**frame)
                reply = raw.read_frame(timeout=2)
                if reply is not None and reply.opcode == "CLOSE":
                    answers[case] = reply.close_code if reply.close_code is not None else 1005
                    if reply.close_code not in (1002, 1009):
                        raw.send_close(reply.close_code)
                else:
                    answers[case] = None
                    raw.send_close(1000)
                raw.wait_closed()
    return answers



@_hint("write a close code (an int) for each case the server ends with a Close, and None for each case it "
       "answers normally; then read why in RFC 6455 §5.2, §5.5, §5.6, §7.4 and §10.4")
def check_predictions(fn: Callable) -> None:
    """``fn()`` returns ``{case: code or None}``, a prediction; the check runs every case and compares."""
    predicted = _call("predictions", fn, expected=dict.fromkeys(PREDICT_CASES, "?"))
    if not isinstance(predicted, dict):
        raise ExerciseError(f"predictions: expected a dict with one entry per case, like "
                            f"{_short(dict.fromkeys(PREDICT_CASES), 200)}\n  you gave: {_short(predicted)}")
    missing = [case for case in PREDICT_CASES if case not in predicted]
    if missing:
        raise ExerciseError("predictions: predict every case before running; missing: " + ", ".join(map(repr, missing)))
    answers = run_predictions()
    lines, wrong = [], 0
    for case, (_, _, why) in PREDICT_CASES.items():
        mark = "✓" if predicted[case] == answers[case] else "✗"
        wrong += mark == "✗"
        shown = "answered, still open" if answers[case] is None else f"Close {answers[case]}"
        lines.append(f"  {mark} {case}: you said {predicted[case]!r}, the server: {shown} — {why}")
    if wrong:
        raise ExerciseError(f"predictions: {wrong} of {len(PREDICT_CASES)} predictions differ from what the server "
                            "did:\n" + "\n".join(lines))
    _ok(f"all {len(PREDICT_CASES)} predictions match what the server did")
    print("\n".join(lines))



def mystery_trace() -> Trace:
    """A recorded connection that ends badly, for notebook 03's diagnosis exercise (its cause is not given).

    A hand-made client that never answers the server's keepalive Ping: the
    server, pinging every 0.2 s, gives up 0.2 s later, sends Close 1011 and
    closes TCP at once (websockets fails the connection, RFC 6455 §7.1.7).
    """
    from ..lab import Lab

    with Lab("hello", seed=11, ping_interval=0.2, ping_timeout=0.2, close_timeout=0.3) as lab:
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("TEXT", "Hello Server")
            raw.wait_closed(timeout=3)
        return lab.trace



def _section(rule: Any) -> str:
    text = str(rule).replace("RFC 6455", "").replace("RFC6455", "").replace("§", "").replace("section", "")
    return text.strip().strip(".").strip()


#: What :func:`check_diagnosis` accepts for the mystery trace.
DIAGNOSIS = {"code": 1011, "culprit": "client", "rule": "5.5.2"}



@_hint("read the frames after the client's message: who sent what, and what never came back; RFC 6455 §5.5.2 "
       "says what an endpoint must do when it receives a Ping")
def check_diagnosis(fn: Callable) -> None:
    """``fn()`` returns ``{"code": ..., "culprit": "client" or "server", "rule": "§x.y.z"}`` for the mystery trace."""
    got = _call("diagnosis", fn, expected={"code": "?", "culprit": "?", "rule": "§?"})
    if not isinstance(got, dict):
        raise ExerciseError(f"diagnosis: expected a dict like {{'code': 1000, 'culprit': 'client', 'rule': '§5.5.1'}}"
                            f"\n  you gave: {_short(got)}")
    _expect("diagnosis", "the close code the server sent", got.get("code"), DIAGNOSIS["code"],
            "it is in the server's Close frame: frame.close_code")
    _expect("diagnosis", "the side that broke a rule first", str(got.get("culprit", "")).lower().strip(),
            DIAGNOSIS["culprit"], "the server did what websockets' keepalive does; which side stayed silent?")
    if _section(got.get("rule")) != DIAGNOSIS["rule"]:
        raise ExerciseError(f"diagnosis: for the rule that side broke\n  you gave: {got.get('rule')!r}\n"
                            "  hint: the server's PING got no PONG; find the MUST about answering a Ping in RFC 6455 §5.5")
    return _ok("1011 from the server: the client never answered its Ping with a Pong (RFC 6455 §5.5.2 MUST), "
               "so the server's keepalive gave up and failed the connection (§7.1.7)")
