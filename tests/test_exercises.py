"""Exercise checks: right answers pass, unwritten and wrong ones get helpful messages."""

import asyncio
import base64
import hashlib
import json
import struct
from http import HTTPStatus

import pytest
import websockets

from wslab import exercises as ex
from wslab.protocol import GUID, build_frame


def unwritten(*args):
    raise NotImplementedError


async def unwritten_async(*args):
    raise NotImplementedError


def fails(check, answer, *needles):
    with pytest.raises(ex.ExerciseError) as info:
        check(answer)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    return message


# -- right answers ------------------------------------------------------------------
def accept(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def unmask(mask, data):
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def parse_header(two):
    return {"fin": bool(two[0] & 0x80), "opcode": two[0] & 0x0F, "masked": bool(two[1] & 0x80), "length": two[1] & 0x7F}


def text_frame(text, mask):
    data = text.encode()
    head = bytes([0x81])
    head += bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack("!H", len(data))
    return head + mask + unmask(mask, data)


def close_body(code, reason):
    return struct.pack("!H", code) + reason.encode()


def read_close(payload):
    return (struct.unpack("!H", payload[:2])[0], payload[2:].decode()) if payload else (1005, "")


def token_gate(connection, request):
    if "token=secret" not in request.path:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "missing token\n")
    return None


async def polite(ws):
    await ws.recv()
    await ws.send("hello")
    await ws.close(4000, "bye")


def named_chat():
    clients = {}

    async def handler(ws):
        name = await ws.recv()
        clients[ws] = name
        try:
            async for message in ws:
                websockets.broadcast(list(clients), f"{name}: {message}")
        finally:
            clients.pop(ws, None)

    return handler


def frame_overhead(length, masked):
    return 2 + (2 if 125 < length < 65536 else 8 if length >= 65536 else 0) + (4 if masked else 0)


async def hellos(url, n):
    async def one():
        async with websockets.connect(url, proxy=None) as ws:
            await ws.send("Hello Server")
            return await ws.recv()

    return await asyncio.gather(*(one() for _ in range(n)))


def upgrade_request(host, path, key):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


RIGHT = [
    (ex.check_server_messages, lambda t: [f.text for f in t.frames if f.sender == "server" and f.opcode == "TEXT"]),
    (ex.check_accept_key, accept),
    (ex.check_upgrade_request, upgrade_request),
    (ex.check_token_gate, token_gate),
    (ex.check_unmask, unmask),
    (ex.check_parse_header, parse_header),
    (ex.check_text_frame, text_frame),
    (ex.check_close_body, close_body),
    (ex.check_read_close, read_close),
    (ex.check_polite_handler, polite),
    (ex.check_per_connection, lambda t: {c: len([f for f in t.frames if f.conn == c and f.sender == "client"
                                                  and f.opcode == "TEXT"]) for c in t.connections}),
    (ex.check_named_chat, named_chat),
    (ex.check_frame_overhead, frame_overhead),
    (ex.check_concurrent_hellos, hellos),
]


@pytest.mark.parametrize("check, answer", RIGHT, ids=[c.__name__ for c, _ in RIGHT])
def test_right_answers_pass(check, answer, capsys):
    assert check(answer) is None
    assert capsys.readouterr().out.startswith("✓ ")


@pytest.mark.parametrize("check", [c for c, _ in RIGHT], ids=[c.__name__ for c, _ in RIGHT])
def test_unwritten_answers_say_so(check):
    stub = unwritten_async if check in (ex.check_polite_handler, ex.check_concurrent_hellos) else unwritten
    if check is ex.check_named_chat:
        stub = lambda: unwritten_async  # noqa: E731 - the factory works, the handler is unwritten
    fails(check, stub, "not written yet", "NotImplementedError", "expected")


# -- wrong answers: what was expected, what they produced ----------------------------------
def test_wrong_accept_shows_expected_and_given():
    message = fails(ex.check_accept_key, lambda key: hashlib.sha1((key + GUID).encode()).hexdigest(),
                    "expected: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='", "you gave: 'b37a4f2c", "hint")
    assert "dGhlIHNhbXBsZSBub25jZQ==" in message


def test_wrong_unmask_and_header():
    fails(ex.check_unmask, lambda mask, data: data, "expected: b'Hello'", "you gave:")
    fails(ex.check_parse_header, lambda two: {"fin": True, "opcode": two[0], "masked": False, "length": two[1]},
          "expected:", "you gave:", "FIN")


def test_wrong_text_frame_is_decoded_for_the_student():
    fails(ex.check_text_frame, lambda text, mask: bytes([0x81, len(text.encode())]) + text.encode(),
          "expected: 81 8c", "you gave: 81 0c", "wslab reads yours as")


def test_wrong_read_close_mentions_1005():
    fails(ex.check_read_close, lambda p: (struct.unpack("!H", p[:2])[0], p[2:].decode()), "1005")


def test_token_gate_that_lets_everyone_in_is_caught():
    fails(ex.check_token_gate, lambda connection, request: None, "got in; it should get 401")


def test_impolite_handler_is_caught():
    async def closes_normally(ws):
        await ws.recv()
        await ws.close()

    fails(ex.check_polite_handler, closes_normally, "expected: [(4000, 'bye')]", "you gave: [(1000, '')]")


def test_sequential_hellos_are_caught():
    async def one_by_one(url, n):
        replies = []
        for _ in range(n):
            async with websockets.connect(url, proxy=None) as ws:
                await ws.send("Hello Server")
                replies.append(await ws.recv())
        return replies

    fails(ex.check_concurrent_hellos, one_by_one, "asyncio.gather")


def test_a_non_function_is_refused():
    fails(ex.check_accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "expected a function, got str")


# -- student versions ---------------------------------------------------------------------
SOURCE = """def accept(key):
    \"\"\"Your code here.\"\"\"
    ### BEGIN SOLUTION
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()
    ### END SOLUTION

check_accept_key(accept)
"""


def test_strip_solutions_keeps_indentation_and_the_rest():
    assert ex.strip_solutions(SOURCE) == (
        'def accept(key):\n    """Your code here."""\n    raise NotImplementedError\n\ncheck_accept_key(accept)\n')


def test_make_student_clears_outputs_of_solution_cells_only(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [{"output_type": "stream", "name": "stdout", "text": "kept"}],
         "source": ["print('kept')"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 2, "outputs": [{"output_type": "stream", "name": "stdout", "text": "✓"}],
         "source": SOURCE.splitlines(keepends=True)},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    src, out = tmp_path / "master.ipynb", tmp_path / "student" / "master.ipynb"
    src.write_text(json.dumps(nb))
    assert ex.make_student(src, out) == 1
    student = json.loads(out.read_text())
    assert student["cells"][1]["outputs"] and student["cells"][1]["execution_count"] == 1
    assert student["cells"][2]["outputs"] == [] and student["cells"][2]["execution_count"] is None
    assert "BEGIN SOLUTION" not in "".join(student["cells"][2]["source"])
    assert "raise NotImplementedError" in "".join(student["cells"][2]["source"])


def test_frame_overhead_reference_matches_the_encoder():
    for length in (0, 125, 126, 65535, 65536):
        assert frame_overhead(length, True) == len(build_frame("BINARY", bytes(length), mask=bytes(4))) - length
