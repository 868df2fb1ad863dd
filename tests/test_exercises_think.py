"""The exercises that make the student think (issue #9): right answers pass, the wrong ones students write fail."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from wslab.decode import GUID
from wslab.exercises import (
    PREDICT_CASES,
    ExerciseError,
    check_diagnosis,
    check_frame_header,
    check_handshake_ok,
    check_predictions,
    check_read_message,
    mystery_trace,
)


# -- 01: handshake_ok ------------------------------------------------------------------
def handshake_ok(key, status, headers):
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    tokens = [t.strip().lower() for t in headers.get("Connection", "").split(",")]
    return (status == 101 and headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in tokens
            and headers.get("Sec-WebSocket-Accept") == accept)


def test_handshake_ok_accepts_the_client_s_checks(capsys):
    assert check_handshake_ok(handshake_ok) is None
    assert capsys.readouterr().out.startswith("✓ handshake_ok accepts the 3 good responses")


def only_the_accept(key, status, headers):
    return headers.get("Sec-WebSocket-Accept") == base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def case_sensitive(key, status, headers):
    return handshake_ok(key, status, headers) and headers["Upgrade"] == "websocket"


def connection_equals(key, status, headers):
    return handshake_ok(key, status, headers) and headers["Connection"].lower() == "upgrade"


def hex_digest(key, status, headers):
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).hexdigest().encode()).decode()
    return status == 101 and headers.get("Sec-WebSocket-Accept") == accept


@pytest.mark.parametrize("fn, case", [
    (only_the_accept, "status 200"),
    (case_sensitive, "other cases"),
    (connection_equals, "keep-alive, Upgrade"),
    (hex_digest, "a correct 101"),
    (lambda key, status, headers: True, "status 200"),
])
def test_handshake_ok_rejects_partial_checks(fn, case):
    with pytest.raises(ExerciseError, match=f"handshake_ok: for .*{case}") as caught:
        check_handshake_ok(fn)
    assert "hint: " in str(caught.value)


def test_handshake_ok_says_a_missing_header_raised():
    def indexes(key, status, headers):
        return headers["Upgrade"].lower() == "websocket" and handshake_ok(key, status, headers)
    with pytest.raises(ExerciseError, match="raised KeyError"):
        check_handshake_ok(indexes)


# -- 02: parse_header (the whole header) and read_message -------------------------------
def parse_header(data):
    fin, opcode = bool(data[0] & 0x80), data[0] & 0x0F
    masked, length, offset = bool(data[1] & 0x80), data[1] & 0x7F, 2
    if length == 126:
        length, offset = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        length, offset = struct.unpack("!Q", data[2:10])[0], 10
    mask = data[offset:offset + 4] if masked else None
    return {"fin": fin, "opcode": opcode, "masked": masked, "length": length, "mask": mask,
            "offset": offset + 4 if masked else offset}


def test_parse_header_accepts_the_whole_header(capsys):
    assert check_frame_header(parse_header) is None
    assert capsys.readouterr().out.startswith("✓ parse_header reads all three length forms")


def seven_bit_only(data):
    head = parse_header(data)
    return {**head, "length": data[1] & 0x7F, "offset": 2 + 4 * head["masked"]}


def mask_always_at_2(data):
    head = parse_header(data)
    return {**head, "mask": data[2:6] if head["masked"] else None}


def no_mask_in_offset(data):
    head = parse_header(data)
    return {**head, "offset": head["offset"] - 4 * head["masked"]}


@pytest.mark.parametrize("fn, case", [
    (seven_bit_only, "16-bit length"), (mask_always_at_2, "64-bit length"), (no_mask_in_offset, "Hello Server"),
])
def test_parse_header_rejects_the_usual_mistakes(fn, case):
    with pytest.raises(ExerciseError, match=f"parse_header: for .*{case}"):
        check_frame_header(fn)


def read_message(data):
    pieces = []
    while data:
        head = parse_header(data)
        payload = data[head["offset"]:head["offset"] + head["length"]]
        if head["masked"]:
            payload = bytes(b ^ head["mask"][i % 4] for i, b in enumerate(payload))
        data = data[head["offset"] + head["length"]:]
        if head["opcode"] >= 8:
            continue
        pieces.append(payload)
        if head["fin"]:
            return b"".join(pieces).decode()
    return None


def test_read_message_accepts_a_reader_that_joins_bytes_then_decodes(capsys):
    assert check_read_message(read_message) is None
    assert capsys.readouterr().out.startswith("✓ read_message")


def first_frame_only(data):
    head = parse_header(data)
    payload = data[head["offset"]:head["offset"] + head["length"]]
    return bytes(b ^ head["mask"][i % 4] for i, b in enumerate(payload)).decode()


def keeps_control_frames(data):
    pieces = []
    while data:
        head = parse_header(data)
        payload = data[head["offset"]:head["offset"] + head["length"]]
        pieces.append(bytes(b ^ head["mask"][i % 4] for i, b in enumerate(payload)))
        data = data[head["offset"] + head["length"]:]
        if head["fin"] and head["opcode"] < 8:
            return b"".join(pieces).decode()


def decodes_each_fragment(data):
    text = ""
    while data:
        head = parse_header(data)
        payload = data[head["offset"]:head["offset"] + head["length"]]
        data = data[head["offset"] + head["length"]:]
        if head["opcode"] < 8:
            text += bytes(b ^ head["mask"][i % 4] for i, b in enumerate(payload)).decode("utf-8", "replace")
            if head["fin"]:
                return text


@pytest.mark.parametrize("fn, case", [
    (first_frame_only, "three fragments"), (keeps_control_frames, "three fragments"),
    (decodes_each_fragment, "Chinese text cut"),
])
def test_read_message_rejects_the_usual_mistakes(fn, case):
    with pytest.raises(ExerciseError, match=f"read_message: for {case}"):
        check_read_message(fn)


# -- 03: predict, then run; diagnose the mystery trace ----------------------------------
def test_predictions_accepts_a_right_prediction_and_shows_why(capsys):
    right = {case: expected for case, (_, expected, _) in PREDICT_CASES.items()}
    assert check_predictions(lambda: right) is None
    out = capsys.readouterr().out
    assert "✓ all 7 predictions match" in out and "(§5.5)" in out


def test_predictions_says_which_predictions_were_wrong():
    guess = dict.fromkeys(PREDICT_CASES, 1002)  # "every odd frame is a protocol error"
    with pytest.raises(ExerciseError, match="4 of 7 predictions differ") as caught:
        check_predictions(lambda: guess)
    assert "✗ a PING with 125 bytes: you said 1002, the server: answered, still open" in str(caught.value)
    assert "✗ two fragments of 600 bytes each: you said 1002, the server: Close 1009" in str(caught.value)


def test_predictions_wants_every_case_before_running():
    with pytest.raises(ExerciseError, match="missing: 'a PING with 125 bytes'"):
        check_predictions(lambda: {})
    with pytest.raises(ExerciseError, match="expected a dict"):
        check_predictions(lambda: [1002])


def test_the_mystery_trace_is_a_keepalive_timeout():
    trace = mystery_trace()
    frames = [(f.sender, f.opcode, f.close_code) for f in trace.frames]
    assert frames == [("client", "TEXT", None), ("server", "TEXT", None), ("server", "PING", None),
                      ("server", "CLOSE", 1011)]


@pytest.mark.parametrize("answer", [
    {"code": 1011, "culprit": "client", "rule": "§5.5.2"},
    {"code": 1011, "culprit": "Client", "rule": "RFC 6455 §5.5.2"},
    {"code": 1011, "culprit": "client", "rule": "5.5.2"},
])
def test_diagnosis_accepts_the_right_answer_however_written(answer, capsys):
    assert check_diagnosis(lambda: answer) is None
    assert capsys.readouterr().out.startswith("✓ 1011 from the server")


@pytest.mark.parametrize("answer, message", [
    ({"code": 1006, "culprit": "client", "rule": "§5.5.2"}, "the close code the server sent"),
    ({"code": 1011, "culprit": "server", "rule": "§5.5.2"}, "the side that broke a rule first"),
    ({"code": 1011, "culprit": "client", "rule": "§7.1.7"}, "the rule that side broke"),
    ({"code": 1011, "culprit": "client", "rule": "§5.5.1"}, "the rule that side broke"),
    ("1011", "expected a dict"),
])
def test_diagnosis_rejects_wrong_answers(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_diagnosis(lambda: answer)
