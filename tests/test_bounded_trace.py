"""A bounded trace: a lab keeps the start and the most recent part, says what it counted and did
not keep, and can stream everything to disk as JSON lines (counts, never timings)."""

from __future__ import annotations

import wslab
from wslab import Lab
from wslab.protocol import NoteKind


def chat(lab: Lab, n: int) -> None:
    with lab.connect_sync() as ws:
        for i in range(n):
            ws.send(f"m{i}")
            assert ws.recv(timeout=10).endswith(f"m{i}")


def test_a_full_trace_keeps_its_start_and_its_end_and_says_what_it_left_out():
    with Lab("echo", max_records=200) as lab:
        chat(lab, 300)
    trace = lab.trace
    assert len(trace) == 201  # 100 first, the note, 100 most recent
    notes = [r.event for r in trace if r.kind == "note" and r.event.kind is NoteKind.NOT_RECORDED]
    assert len(notes) == 1 and "frames" in notes[0].text and "counted, not kept" in notes[0].text
    assert trace.records[0].kind == "tcp"  # the start: TCP connect, the handshake...
    assert any(r.kind == "handshake" for r in trace.records[:10])
    assert any(r.kind == "frame" and r.event.opcode == "CLOSE" for r in trace.records[-20:])  # ... and the end
    assert "counted, not kept" in trace.table() and "counted, not kept" in trace._repr_html_()
    assert lab.recorder.dropped_frames > 300
    times = [r.t for r in trace]
    assert times == sorted(times)


def test_the_wire_bytes_kept_are_bounded_too():
    with Lab("echo", max_bytes=4096) as lab:
        chat(lab, 300)
    kept = sum(len(c.data) for c in lab.trace.chunks)
    assert kept <= 4096 + 512  # one chunk may overshoot a half
    assert lab.recorder.dropped_bytes > 0
    assert any("bytes of the wire counted, not kept" in r.event.text for r in lab.trace if r.kind == "note")


def test_record_to_streams_everything_as_json_lines(tmp_path):
    path = tmp_path / "class.jsonl"
    with Lab("echo", max_records=100, record_to=path) as lab:
        chat(lab, 250)
    loaded = wslab.load(path)
    texts = [r.event.text for r in loaded.frames if r.event.opcode == "TEXT" and r.sender == "client"]
    assert texts == [f"m{i}" for i in range(250)]
    assert len(loaded) > 500
    assert len(lab.trace) == 101  # the lab itself kept only its budget


def test_a_cut_short_stream_still_loads(tmp_path):
    path = tmp_path / "cut.jsonl"
    with Lab("echo", record_to=path) as lab:
        chat(lab, 5)
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the lab was killed mid-line
    loaded = wslab.load(path)
    assert len(loaded) == len(lab.trace) - 1


def test_default_budget_leaves_a_normal_trace_whole():
    with Lab("echo") as lab:
        chat(lab, 50)
    assert not [r for r in lab.trace if r.kind == "note" and r.event.kind is NoteKind.NOT_RECORDED]
    assert lab.recorder.dropped_records == 0


def test_small_chunks_are_bounded_by_count_too():
    # 20-byte chunks: a bytes budget alone would keep millions of them (each ~150 B of objects).
    with Lab("echo", max_records=200) as lab:
        chat(lab, 300)
    assert len(lab.trace.chunks) <= 200
    assert lab.recorder.dropped_bytes > 0
    assert lab.trace.chunks[0].data.startswith(b"GET ")  # the start is kept, and the end:
    assert lab.trace.chunks[-1].sender == "server" and lab.trace.chunks[-1].data[:1] == b"\x88"
