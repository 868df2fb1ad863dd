"""Checks used by notebooks 04-06: right answers pass, wrong ones fail with a helpful message."""

from __future__ import annotations

import asyncio

import pytest

# The checks 04-06 share with the other notebooks are tested in test_exercises.py.
from wslab.exercises import ExerciseError, check_no_blocking, check_push_handler, slow_shout

# -- check_push_handler (05) -------------------------------------------------------------

async def push(ws):
    for i in range(5):
        await ws.send(f"update {i:03d}")
        await asyncio.sleep(0.01)


def test_push_handler_accepts_a_pushing_handler(capsys):
    assert check_push_handler(push) is None
    assert "12 B each on the wire" in capsys.readouterr().out


async def not_written(ws):
    raise NotImplementedError


async def pushes_too_few(ws):
    for i in range(3):
        await ws.send(f"update {i:03d}")


async def never_closes(ws):
    await push(ws)
    await ws.wait_closed()


async def closes_with_an_error(ws):
    await push(ws)
    await ws.close(1011, "oops")


async def crashes(ws):
    await ws.send("update 000")
    raise ValueError("bad update")


@pytest.mark.parametrize("handler, message", [
    (not_written, "still raises NotImplementedError"),
    (pushes_too_few, "expected: ['update 000', 'update 001', 'update 002', 'update 003', 'update 004']"),
    (never_closes, "the server did not close"),
    (closes_with_an_error, "the first Close frame's code"),
    (crashes, "your handler raised ValueError: bad update"),
    (lambda ws: None, "expected an `async def` handler"),
])
def test_push_handler_explains_what_is_wrong(handler, message):
    with pytest.raises(ExerciseError, match=message.replace("(", r"\(").replace("[", r"\[")):
        check_push_handler(handler)


# -- check_no_blocking (06) --------------------------------------------------------------

async def offloads(ws):
    async for message in ws:
        await ws.send(await asyncio.to_thread(slow_shout, message))


async def blocks(ws):
    async for message in ws:
        await ws.send(slow_shout(message))


async def skips_the_slow_call(ws):
    async for message in ws:
        await ws.send(message.upper())


async def not_written_loop(ws):
    async for _message in ws:
        raise NotImplementedError


def test_no_blocking_accepts_a_handler_that_uses_a_thread(capsys):
    assert check_no_blocking(offloads) is None
    assert "answered together" in capsys.readouterr().out


@pytest.mark.parametrize("handler, message", [
    (blocks, "answered one after the other"),
    (skips_the_slow_call, "call slow_shout"),
    (not_written_loop, "still raises NotImplementedError"),
])
def test_no_blocking_explains_what_is_wrong(handler, message):
    with pytest.raises(ExerciseError, match=message):
        check_no_blocking(handler)


def test_slow_shout_is_slow_and_shouts():
    assert slow_shout("hi") == "HI"


def test_no_blocking_says_not_written_for_a_handler_that_is_all_stub():
    # The student version's stub replaces the whole handler: it raises before any message arrives.
    async def stub(ws):
        raise NotImplementedError()

    with pytest.raises(ExerciseError, match="no_blocking: not written yet"):
        check_no_blocking(stub)
