"""The checks of notebook 07: right answers pass, wrong ones fail with a message that says what to fix."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from wslab.exercises import CHAT_ORIGIN, ExerciseError, check_browser_close, check_origin_gate


def origin_gate(connection, request):
    if request.headers.get("Origin") != CHAT_ORIGIN:
        return connection.respond(HTTPStatus.FORBIDDEN, "forbidden origin\n")
    return None


def test_origin_gate_accepts_an_exact_comparison(capsys):
    assert check_origin_gate(origin_gate) is None
    assert capsys.readouterr().out.startswith("✓ http://chat.example joins")


def not_written(connection, request):
    raise NotImplementedError


def lets_everyone_in(connection, request):  # the lab's default: cross-site WebSocket hijacking
    return None


def prefix_match(connection, request):  # http://chat.example.evil.example starts with it too
    if not (request.headers.get("Origin") or "").startswith(CHAT_ORIGIN):
        return connection.respond(HTTPStatus.FORBIDDEN, "forbidden origin\n")
    return None


def missing_origin_allowed(connection, request):
    origin = request.headers.get("Origin")
    if origin is not None and origin != CHAT_ORIGIN:
        return connection.respond(HTTPStatus.FORBIDDEN, "forbidden origin\n")
    return None


def wrong_status(connection, request):
    if request.headers.get("Origin") != CHAT_ORIGIN:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "who are you?\n")
    return None


def refuses_everyone(connection, request):
    return connection.respond(HTTPStatus.FORBIDDEN, "no\n")


def crashes(connection, request):
    return request.headers["Origin"].lower()  # KeyError without an Origin, and a str is no response


@pytest.mark.parametrize(("fn", "message"), [
    (not_written, "not written yet"),
    (lets_everyone_in, "a client sending Origin: http://evil.example joined the chat"),
    (prefix_match, "Origin: http://chat.example.evil.example joined"),
    (missing_origin_allowed, "a client sending no Origin header joined"),
    (wrong_status, "expected: 403"),
    (refuses_everyone, "should get in (101), but got 403"),
    (crashes, "no valid HTTP response"),
])
def test_origin_gate_rejects(fn, message):
    with pytest.raises(ExerciseError, match="origin_gate") as info:
        check_origin_gate(fn)
    assert message in str(info.value)
    assert "hint:" in str(info.value)


def browser_close(code, reason):
    return (code is None or code == 1000 or 3000 <= code <= 4999) and len(reason.encode("utf-8")) <= 123


def test_browser_close_accepts_the_standard_s_rule(capsys):
    assert check_browser_close(browser_close) is None
    assert capsys.readouterr().out.startswith("✓ close() accepts 1000 and 3000–4999")


@pytest.mark.parametrize(("fn", "message"), [
    (lambda code, reason: True, "close(1001, '')"),
    (lambda code, reason: code is None or 1000 <= code <= 4999, "close(1001, '')"),
    (lambda code, reason: (code is None or code == 1000 or 3000 <= code <= 4999) and len(reason) <= 123,
     "UTF-8 bytes"),
    (lambda code, reason: code in (None, 1000) or 3000 <= code < 4999, "close(4999"),
    (lambda code, reason: None, "expected: True"),
])
def test_browser_close_rejects(fn, message):
    with pytest.raises(ExerciseError, match="browser_close") as info:
        check_browser_close(fn)
    assert message in str(info.value)


def raises(connection, request):
    raise KeyError("Origin")


def test_origin_gate_reports_a_hook_that_raises():
    with pytest.raises(ExerciseError, match="origin_gate: your hook raised KeyError"):
        check_origin_gate(raises)
