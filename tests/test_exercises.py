"""Exercise checks: right answers pass, unwritten and wrong ones get helpful messages."""

import asyncio
import base64
import hashlib
import struct
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest
import websockets
from helpers import fails

from wslab import exercises as ex
from wslab.protocol import GUID, build_frame


def unwritten(*args):
    raise NotImplementedError


async def unwritten_async(*args):
    raise NotImplementedError




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
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    elif len(data) < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", len(data))
    return head + mask + unmask(mask, data)


def close_body(code, reason):
    return struct.pack("!H", code) + reason.encode()


def read_close(payload):
    return (struct.unpack("!H", payload[:2])[0], payload[2:].decode()) if payload else (1005, "")


def token_gate(connection, request):
    if parse_qs(urlsplit(request.path).query).get("token") != ["secret"]:
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


# -- what a student sees in a notebook ----------------------------------------------------
@pytest.mark.parametrize("check", [c for c, _ in RIGHT], ids=[c.__name__ for c, _ in RIGHT])
def test_every_failure_ends_with_a_hint(check):
    for wrong in (unwritten, 42):  # not written yet; not even a function
        message = fails(check, wrong)
        assert "\n  hint: " in message, message


def test_a_check_keeps_its_own_more_precise_hint():
    message = fails(ex.check_read_close, lambda p: (1000, ""), "§7.1.5")
    assert message.count("hint:") == 1, message


def test_the_error_shows_as_its_message_alone_in_ipython():
    with pytest.raises(ex.ExerciseError) as info:
        ex.check_accept_key(unwritten)
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert lines[0].startswith("\x1b[0;31mExerciseError\x1b[0m: accept: not written yet")
    assert text.endswith(str(info.value)) and "Traceback" not in text and "exercises.py" not in text
    assert "hint: base64( SHA-1( key + GUID ) )" in text and "RFC 6455 §4.2.2" in text


def test_when_the_student_s_code_raises_it_shows_where():
    def accept(key):
        digest = hashlib.sha1((key + GUID).encode()).digest()
        return base64.b64encode(digest.hex())  # TypeError: a str, not bytes

    with pytest.raises(ex.ExerciseError) as info:
        ex.check_accept_key(accept)
    text = "\n".join(info.value._render_traceback_())
    assert "accept: calling it with ('dGhlIHNhbXBsZSBub25jZQ==') raised TypeError: " in text
    assert "hint: base64( SHA-1( key + GUID ) )" in text
    assert "TypeError was raised in your code:" in text
    assert "in accept\n      return base64.b64encode(digest.hex())" in text
    assert "base64.py" not in text and "wslab/exercises.py" not in text and "Traceback" not in text


def test_a_handler_s_exception_is_reported_once_not_logged(caplog):
    async def crashes(ws):
        await ws.recv()
        raise ValueError("bad shout")

    with caplog.at_level("DEBUG"), pytest.raises(ex.ExerciseError) as info:
        ex.check_shout_handler(crashes)
    text = "\n".join(info.value._render_traceback_())
    assert "your handler raised ValueError: bad shout" in text and "hint: " in text
    assert "ValueError was raised in your code:" in text and 'raise ValueError("bad shout")' in text
    assert not [r for r in caplog.records if r.name.startswith("websockets") and r.exc_info], caplog.text


def test_a_handler_that_raises_after_answering_right_fails():
    async def answers_then_raises(ws):
        async for message in ws:
            await ws.send(await asyncio.to_thread(ex.slow_shout, message))
        raise ValueError("after the loop")

    fails(ex.check_no_blocking, answers_then_raises, "your handler raised ValueError: after the loop")


def test_a_hook_s_exception_is_reported():
    fails(ex.check_token_gate, lambda connection, request: 1 / 0, "your hook raised ZeroDivisionError", "hint: ")


# -- student versions ---------------------------------------------------------------------
def nbgrader(grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    return {"nbgrader": meta | ({"points": points} if points is not None else {})}


def teacher_notebook():
    code = nbformat.v4.new_code_cell
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        code("print('kept')", execution_count=1, outputs=[nbformat.v4.new_output("stream", text="kept\n")]),
        code(SOURCE, metadata=nbgrader("01-accept", solution=True) | {"execution": {"iopub.status.idle": "t"}},
             execution_count=2),
        code("from wslab.exercises import check_accept_key\n\ncheck_accept_key(accept)", execution_count=3,
             metadata=nbgrader("01-accept-check", grade=True, locked=True, points=1),
             outputs=[nbformat.v4.new_output("stream", text="✓ accept\n")]),
        code(LOOP, metadata=nbgrader("06-shout", solution=True)),
        code("whole = 'answer'", metadata=nbgrader("whole", solution=True)),
        nbformat.v4.new_markdown_cell("Why?\n\n=== BEGIN SOLUTION ===\nBecause.\n=== END SOLUTION ===",
                                      metadata=nbgrader("why", solution=True, grade=True, points=1)),
        code("x = 1", metadata=nbgrader("readonly", locked=True)),
    ], metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})


SOURCE = """def accept(key):
    \"\"\"Your code here.\"\"\"
    ### BEGIN SOLUTION
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()
    ### END SOLUTION"""

LOOP = """async def shout(ws):
    async for message in ws:
        ### BEGIN SOLUTION
        reply = await asyncio.to_thread(slow_shout, message)
        ### END SOLUTION
        await ws.send(reply)"""


def test_release_replaces_solutions_with_nbgrader_s_stub_keeping_indentation():
    nb = teacher_notebook()
    assert ex.release(nb) == 4
    sources = [cell.source for cell in nb.cells]
    assert sources[2] == ('def accept(key):\n    """Your code here."""\n'
                          '    # YOUR CODE HERE\n    raise NotImplementedError()')
    assert sources[4] == ("async def shout(ws):\n    async for message in ws:\n"
                          "        # YOUR CODE HERE\n        raise NotImplementedError()\n        await ws.send(reply)")
    compile(sources[4], "shout", "exec", flags=__import__("ast").PyCF_ALLOW_TOP_LEVEL_AWAIT)  # still parses
    assert sources[5] == "# YOUR CODE HERE\nraise NotImplementedError()"  # a solution cell with no region: all of it
    assert sources[6] == "Why?\n\nYOUR ANSWER HERE"
    assert [sources[0], sources[1], sources[3], sources[7]] == [
        "# Title", "print('kept')", "from wslab.exercises import check_accept_key\n\ncheck_accept_key(accept)", "x = 1"]


def test_release_locks_cells_tags_the_failing_checks_and_clears_outputs():
    nb = teacher_notebook()
    ex.release(nb)
    meta = [cell.metadata for cell in nb.cells]
    assert meta[2]["nbgrader"]["grade_id"] == "01-accept"  # the nbgrader metadata stays: a valid nbgrader release
    assert "execution" not in meta[2]
    # As nbgrader's LockCells: solution cells can't be deleted; test and read-only cells can't be edited either.
    assert (meta[2]["deletable"], meta[4]["deletable"], meta[6]["deletable"]) == (False, False, False)
    assert "editable" not in meta[2] and "editable" not in meta[6]
    assert (meta[3]["deletable"], meta[3]["editable"], meta[7]["deletable"], meta[7]["editable"]) == (False,) * 4
    assert "deletable" not in meta[1] and "deletable" not in meta[0]
    # The autograded test cell fails on purpose in the student version.
    assert [i for i, m in enumerate(meta) if "raises-exception" in m.get("tags", [])] == [3]
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_release_refuses_a_solution_outside_a_solution_cell():
    nb = teacher_notebook()
    del nb.cells[2].metadata["nbgrader"]
    with pytest.raises(ValueError, match="not a solution cell"):
        ex.release(nb)


def test_make_release_writes_the_student_version_elsewhere_only(tmp_path):
    src, out = tmp_path / "solutions" / "00-x.ipynb", tmp_path / "notebooks" / "00-x.ipynb"
    src.parent.mkdir()
    nbformat.write(teacher_notebook(), src)
    assert ex.make_release(src, out) == 4
    assert "BEGIN SOLUTION" not in out.read_text() and "BEGIN SOLUTION" in src.read_text()
    with pytest.raises(ValueError, match="teacher's notebook itself"):
        ex.make_release(src, src)


def test_frame_overhead_reference_matches_the_encoder():
    for length in (0, 125, 126, 65535, 65536):
        assert frame_overhead(length, True) == len(build_frame("BINARY", bytes(length), mask=bytes(4))) - length
