"""Checks used by notebooks 04-06: right answers pass, wrong ones fail with a helpful message."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from wslab.exercises import (
    ExerciseError, check_concurrent_hellos, check_frame_overhead, check_named_chat, check_no_blocking,
    check_per_connection, check_push_handler, slow_shout,
)


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
    async for message in ws:
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


# -- the existing checks these notebooks use, against right and unwritten answers ---------

def per_connection(trace):
    counts = {}
    for f in trace.frames:
        if f.sender == "client" and f.opcode == "TEXT":
            counts[f.conn] = counts.get(f.conn, 0) + 1
    return counts


def named_chat():
    clients = set()

    async def handler(ws):
        name = await ws.recv()
        clients.add(ws)
        try:
            async for message in ws:
                websockets.broadcast(clients, f"{name}: {message}")
        finally:
            clients.discard(ws)

    return handler


def frame_overhead(length, masked):
    return 2 + (2 if 125 < length < 65536 else 8 if length >= 65536 else 0) + (4 if masked else 0)


async def hellos(url, n):
    async def one():
        async with websockets.connect(url, proxy=None) as ws:
            await ws.send("Hello Server")
            return await ws.recv()

    return await asyncio.gather(*(one() for _ in range(n)))


@pytest.mark.parametrize("check, solution", [
    (check_per_connection, per_connection), (check_named_chat, named_chat),
    (check_frame_overhead, frame_overhead), (check_concurrent_hellos, hellos),
])
def test_solutions_pass(check, solution):
    assert check(solution) is None


def unwritten(*args):
    raise NotImplementedError


async def unwritten_async(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, stub", [
    (check_per_connection, unwritten), (check_named_chat, unwritten),
    (check_frame_overhead, unwritten), (check_concurrent_hellos, unwritten_async),
])
def test_student_stubs_get_the_not_implemented_message(check, stub):
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        check(stub)
