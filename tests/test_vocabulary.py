"""The typed vocabulary: enums that compare like the strings notebooks use, problems with codes,
notes with kinds, and the diagnosis reasoning on codes and kinds, never on wording."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from wslab import Lab, Trace, build_frame, close_payload, load
from wslab.capture.trace import Note, Record, from_json
from wslab.diagnose import diagnose
from wslab.protocol import decode_bytes as decode
from wslab.protocol.enums import CloseCode, ConnState, NoteKind, Opcode, RecordKind, Sender, TcpEvent
from wslab.protocol.problems import Problem, ProblemCode

DATA = Path(__file__).parent / "data"
MASK = b"\x01\x02\x03\x04"


def test_enums_compare_like_the_strings_notebooks_use():
    assert Opcode.TEXT == "TEXT" and Sender.CLIENT == "client" and RecordKind.FRAME == "frame"
    assert ConnState.OPEN == "OPEN" and TcpEvent.EOF == "eof" and CloseCode.NORMAL_CLOSURE == 1000
    assert f"{Sender.SERVER:<8}|" == "server  |" and str(Opcode.PING) == "PING"
    assert Opcode("pong") is Opcode.PONG and Opcode("CONT") is Opcode.CONTINUATION
    assert [op.bits for op in Opcode] == list(range(16)) and Opcode.from_bits(0x3) == "RESERVED_0x3"
    assert Sender.CLIENT.other is Sender.SERVER and CloseCode.ABNORMAL_CLOSURE.never_sent
    frame = decode(build_frame("TEXT", "hi", mask=MASK))[0]
    assert frame.opcode is Opcode.TEXT and frame.sender is Sender.CLIENT


def test_record_fields_are_visible_to_completion():
    record = Record(0.0, 1, decode(build_frame("TEXT", "hi", mask=MASK))[0])
    names = dir(record)
    assert {"opcode", "payload", "explain", "conn", "event", "kind"} <= set(names)
    assert record.kind is RecordKind.FRAME and record.opcode == "TEXT"
    with pytest.raises(AttributeError, match="a frame record has no attribute 'status'"):
        record.status  # noqa: B018


@pytest.mark.parametrize(("wire", "sender", "code", "rule"), [
    (build_frame("TEXT", "x"), "client", ProblemCode.UNMASKED_CLIENT_FRAME, "RFC 6455 §5.1"),
    (build_frame("TEXT", "x", mask=MASK), "server", ProblemCode.MASKED_SERVER_FRAME, "RFC 6455 §5.1"),
    (build_frame("TEXT", "x", rsv2=True), "server", ProblemCode.RESERVED_BIT, "RFC 6455 §5.2"),
    (build_frame(0x3, "x"), "server", ProblemCode.RESERVED_OPCODE, "RFC 6455 §5.2"),
    (build_frame("PING", bytes(126)), "server", ProblemCode.CONTROL_FRAME_TOO_LONG, "RFC 6455 §5.5"),
    (build_frame("PING", "x", fin=False), "server", ProblemCode.FRAGMENTED_CONTROL_FRAME, "RFC 6455 §5.5"),
    (build_frame("CLOSE", b"\x03"), "server", ProblemCode.CLOSE_PAYLOAD_ONE_BYTE, "RFC 6455 §5.5.1"),
    (build_frame("CLOSE", close_payload(1005)), "server", ProblemCode.INVALID_CLOSE_CODE, "RFC 6455 §7.4.1"),
    (build_frame("CLOSE", close_payload(2000)), "server", ProblemCode.INVALID_CLOSE_CODE, "RFC 6455 §7.4.2"),
    (build_frame("CLOSE", b"\x03\xe8\xff"), "server", ProblemCode.CLOSE_REASON_NOT_UTF8, "RFC 6455 §5.5.1"),
    (build_frame("CONT", "x"), "server", ProblemCode.ORPHAN_CONTINUATION, "RFC 6455 §5.4"),
    (build_frame("TEXT", b"\xff"), "server", ProblemCode.INVALID_UTF8, "RFC 6455 §8.1"),
])
def test_each_frame_rule_has_its_code(wire, sender, code, rule):
    (frame,) = decode(wire, sender)
    assert [p.code for p in frame.problems] == [code]
    problem = frame.problems[0]
    assert problem.rule == rule and str(problem).endswith(f"({rule})") and problem == problem.text


def test_decode_errors_and_handshakes_have_codes():
    (error,) = decode(build_frame("TEXT", "hello")[:4], "server")
    assert error.reason.code is ProblemCode.TRUNCATED_FRAME
    (error,) = decode(b"GET / HTTP/1.1\r\nHost: x", "client")
    assert error.reason.code is ProblemCode.TRUNCATED_HEAD and error.reason.rule == "RFC 9112 §2.1"
    (request,) = decode(b"POST / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", "client")
    codes = {p.code for p in request.problems}
    assert {ProblemCode.METHOD_NOT_GET, ProblemCode.MISSING_HOST, ProblemCode.MISSING_KEY} <= codes


def test_diagnosis_matches_codes_not_wording():
    """Reword a problem: the diagnosis stays the same, because it reads the code."""
    with Lab("echo") as lab, lab.raw() as raw:
        raw.handshake()
        raw.send_frame("TEXT", "Hello Server", mask=None)
        raw.read_close()
        raw.wait_closed()
    trace = lab.trace
    reworded = []
    for r in trace:
        if r.kind == "frame" and r.problems:
            problems = tuple(Problem(p.code, "a brand new wording", p.rule) for p in r.problems)
            r = Record(r.t, r.conn, dataclasses.replace(r.event, problems=problems))
        reworded.append(r)
    assert "unmasked TEXT frame" in diagnose(trace).text
    assert diagnose(Trace(reworded, trace.chunks)).text == diagnose(trace).text


def test_notes_have_kinds():
    with Lab("echo") as lab:
        with lab.connect_sync() as ws:
            lab.pause("server")
            lab.resume("server")
            lab.drop("client", "ping")
            lab.delay(0.001)
            lab.clear_faults()
            ws.send("x")
            ws.recv()
        lab.cut(lab.connect_sync())
    kinds = [r.event.kind for r in lab.trace if r.kind == "note"]
    for kind in (NoteKind.PAUSE, NoteKind.RESUME, NoteKind.DROP, NoteKind.LATENCY, NoteKind.FAULTS_CLEARED,
                 NoteKind.CUT):
        assert kind in kinds
    assert all(isinstance(r.event, Note) for r in lab.trace if r.kind == "note")


def test_json_keeps_codes_and_kinds(tmp_path):
    with Lab("echo") as lab:
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("TEXT", "Hello Server", mask=None)
            raw.read_close()
            raw.wait_closed()
        lab.cut(lab.connect_sync())
    trace = lab.trace
    trace.save(tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["wslab_trace"] == 3
    again = load(tmp_path / "t.json")
    assert again == trace
    frame = next(r for r in again.frames if r.problems)
    assert frame.problems[0].code is ProblemCode.UNMASKED_CLIENT_FRAME and frame.opcode is Opcode.TEXT
    assert any(r.event.kind is NoteKind.CUT for r in again if r.kind == "note")
    assert diagnose(again).text == diagnose(trace).text


def test_version_1_files_still_load_and_diagnose_the_same():
    """A trace saved by wslab before problems had codes (the golden file) loads; so does its diagnosis."""
    trace = load(DATA / "trace-v1.json")
    expected = json.loads((DATA / "trace-v1.diagnosis.json").read_text())
    assert [str(f) for f in trace.diagnose()] == expected
    assert all(p.code is not ProblemCode.UNKNOWN for r in trace if r.kind in ("frame", "handshake")
               for p in r.problems)
    assert {r.event.kind for r in trace if r.kind == "note"} >= {NoteKind.DROP, NoteKind.CUT}


def test_not_a_trace():
    with pytest.raises(ValueError, match="not a wslab trace"):
        from_json({"records": []})


def test_filter_validates_its_arguments():
    trace = Trace()
    for bad, message in (({"kind": "frames"}, r"unknown kind 'frames' \(did you mean 'frame'\?\); kinds: handshake"),
                         ({"sender": "Clint"}, "unknown sender 'Clint'"),
                         ({"opcode": "txt"}, "unknown opcode 'txt'")):
        with pytest.raises(ValueError, match=message):
            trace.filter(**bad)
    assert len(trace.filter("frame", sender="client", opcode="text")) == 0
    assert len(trace.filter("Frame", sender="C", opcode="Text")) == 0  # any case, and C/S, where unambiguous
