"""The checks added for notebook 09: right answers pass, wrong ones fail with a helpful message."""

from __future__ import annotations

import json

import pytest

from wslab import load_har, load_pcap
from wslab.exercises import ExerciseError, check_close_codes_each_side, check_only_in_pcap
from wslab.exercises.traffic import har_from_trace, sample_trace


def close_codes_each_side(trace):
    codes = {}
    for conn in trace.connections:
        sent = {f.sender: f.close_code for f in trace.filter("frame", conn=conn, opcode="CLOSE")}
        codes[conn] = (sent.get("client"), sent.get("server"))
    return codes


def only_in_pcap(pcap, har):
    counts = {}
    for frame in pcap.frames:
        counts[str(frame.opcode)] = counts.get(str(frame.opcode), 0) + 1
    for frame in har.frames:
        counts[str(frame.opcode)] = counts.get(str(frame.opcode), 0) - 1
    return {opcode: n for opcode, n in counts.items() if n}


def not_written(*args):
    raise NotImplementedError


def server_first(trace):  # (server, client): the sides swapped
    return {conn: (server, client) for conn, (client, server) in close_codes_each_side(trace).items()}


def empty_close_as_1005(trace):  # 1005 is what an endpoint reports, never what it sends
    return {conn: (1005 if c is None else c, 1005 if s is None else s) for conn, (c, s) in close_codes_each_side(trace).items()}


def control_opcodes(pcap, har):  # a set of names, not counts
    return {str(f.opcode) for f in pcap.frames if str(f.opcode) in ("PING", "PONG", "CLOSE")}


def with_zeros(pcap, har):
    return {"TEXT": 0, **only_in_pcap(pcap, har)}


def test_close_codes_each_side_passes(capsys):
    assert check_close_codes_each_side(close_codes_each_side) is None
    assert capsys.readouterr().out.startswith("✓ close_codes_each_side")


@pytest.mark.parametrize("wrong, words", [
    (server_first, "(4000, 1000)"),
    (empty_close_as_1005, "None"),
    (not_written, "not written yet"),
])
def test_close_codes_each_side_explains_wrong_answers(wrong, words):
    with pytest.raises(ExerciseError) as info:
        check_close_codes_each_side(wrong)
    assert words in str(info.value) or words.lower() in str(info.value).lower()


def test_only_in_pcap_passes(capsys):
    assert check_only_in_pcap(only_in_pcap) is None
    assert capsys.readouterr().out.startswith("✓ only_in_pcap finds the PING")


@pytest.mark.parametrize("wrong, words", [
    (control_opcodes, "'CLOSE': 6"),
    (with_zeros, "'TEXT': 0"),
    (not_written, "not written yet"),
])
def test_only_in_pcap_explains_wrong_answers(wrong, words):
    with pytest.raises(ExerciseError) as info:
        check_only_in_pcap(wrong)
    assert words.lower() in str(info.value).lower()


def test_the_sample_har_loads_as_chrome_s_and_keeps_the_pcap_s_messages(tmp_path):
    trace = sample_trace()
    trace.to_pcap(tmp_path / "chat.pcap", server_port=8765)
    (tmp_path / "chat.har").write_text(json.dumps(har_from_trace(trace)), encoding="utf-8")
    pcap, har = load_pcap(tmp_path / "chat.pcap"), load_har(tmp_path / "chat.har")
    assert pcap.connections == har.connections == [1, 2, 3]
    assert pcap.messages() == har.messages() == trace.messages()
    assert not any(f.masked for f in har.frames)
    assert only_in_pcap(pcap, har) == {"PING": 1, "PONG": 1, "CLOSE": 6}
