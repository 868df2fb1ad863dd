"""The check added for notebook 03: right answers pass, wrong ones fail with a helpful message."""

from __future__ import annotations

import pytest

# check_close_body, check_read_close and check_polite_handler (also used by 03) are tested in test_exercises.py.
from wslab.exercises import ExerciseError, check_close_codes


def close_codes(trace):
    codes = {}
    for conn in trace.connections:
        closes = trace.filter("frame", conn=conn, sender="server", opcode="CLOSE")
        if not closes:
            codes[conn] = 1006
        elif closes[0].close_code is None:
            codes[conn] = 1005
        else:
            codes[conn] = closes[0].close_code
    return codes


def test_close_codes_accepts_the_client_s_view(capsys):
    assert check_close_codes(close_codes) is None
    assert capsys.readouterr().out.startswith("✓ close_codes reports 1000, 4000, 1005, 1006 and 1007")


def not_written(trace):
    raise NotImplementedError


def codes_on_the_wire(trace):  # forgets 1005 and 1006: they never cross the wire
    return {f.conn: f.close_code for f in trace.frames if f.opcode == "CLOSE" and f.sender == "server"}


def empty_close_as_1000(trace):
    return {**close_codes(trace), 3: 1000}


def first_close_of_either_side(trace):  # the client's own Close on connection 1 is 1000 too, but 4000 on 2 ...
    codes = close_codes(trace)
    codes[2] = 1000
    return codes


def one_too_many(trace):
    return {**close_codes(trace), 99: 1000}


@pytest.mark.parametrize("fn, message", [
    (not_written, "not written yet — it still raises NotImplementedError.\n  expected: close_codes("),
    (codes_on_the_wire, "connection 3 (the client sends a Close frame with no body"),
    (empty_close_as_1000, "§7.1.5 reports 1005"),
    (lambda trace: {**close_codes(trace), 4: None}, "no Close frame before TCP ended: RFC 6455 §7.1.5 reports 1006"),
    (first_close_of_either_side, "connection 2 (the server closes with 4000 'maintenance')\n  expected: 4000"),
    (one_too_many, "you also gave [99]"),
    (lambda trace: [1000, 4000], "expected a dict {conn: code}"),
    (lambda trace: 1 / 0, "raised ZeroDivisionError"),
])
def test_close_codes_explains_what_is_wrong(fn, message):
    with pytest.raises(ExerciseError) as info:
        check_close_codes(fn)
    assert message in str(info.value)


def test_close_codes_does_not_give_the_answers_away_before_an_attempt():
    # The exercise asks the student to work out each code first (content review, row 37).
    with pytest.raises(ExerciseError) as info:
        check_close_codes(not_written)
    assert "1005" not in str(info.value) and "1006" not in str(info.value) and "§7.1.5" in str(info.value)
