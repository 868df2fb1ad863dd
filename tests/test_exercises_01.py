"""Checks added for notebooks 00-02: right answers pass, unwritten and wrong ones get helpful messages."""


from helpers import fails as check_fails

from wslab import exercises as ex


async def shout(ws):
    async for message in ws:
        await ws.send(message.upper())


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def once(ws):
    await ws.send((await ws.recv()).upper())


async def unwritten(ws):
    raise NotImplementedError


def fails(answer, *needles):
    return check_fails(ex.check_shout_handler, answer, *needles)


def test_shout_handler_accepts_an_upper_case_echo(capsys):
    assert ex.check_shout_handler(shout) is None
    assert capsys.readouterr().out.startswith("✓ ")


def test_shout_handler_says_when_it_is_not_written():
    fails(unwritten, "not written yet", "NotImplementedError", "HELLO SERVER")


def test_shout_handler_shows_what_came_back():
    fails(echo, "expected: ['HELLO SERVER', 'HOW ARE YOU?']", "you gave: ['Hello Server', 'how are you?']")


def test_shout_handler_needs_to_answer_every_message():
    fails(once, "after 1 answer(s) ['HELLO SERVER']", "async for message in ws")


def test_shout_handler_needs_a_function():
    fails("shout", "expected a function")
