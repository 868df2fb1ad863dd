"""The tap's hot path: chunks relayed and recorded from the protocol, their frames scanned at once
and decoded later, in order. Readers see exactly what an eager decoder would have given them."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from timeouts import eventually, scaled

from wslab import Lab
from wslab.protocol import Sender, build_frame, decode_bytes
from wslab.protocol.scan import QUIET_OPCODES, FrameScanner

MASK = b"\x01\x02\x03\x04"


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


frames = st.lists(st.tuples(st.sampled_from(["TEXT", "BINARY", "PING", "PONG"]),
                            st.sampled_from([0, 1, 125, 126, 300, 65535, 65536, 70000]), st.booleans()),
                  min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(frames, st.lists(st.integers(0, 10**6), max_size=20))
def test_the_scanner_counts_every_frame_however_the_stream_is_cut(spec, cuts):
    stream = b"".join(build_frame(op, b"x" * n, mask=MASK if masked else None) for op, n, masked in spec)
    scanner = FrameScanner()
    assert all(scanner.feed(piece) for piece in pieces(stream, cuts))
    assert scanner.frames == len(spec)


@settings(max_examples=100, deadline=None)
@given(frames, st.lists(st.integers(0, 10**6), max_size=20))
def test_the_scanner_stops_at_the_piece_where_a_close_starts(spec, cuts):
    before = b"".join(build_frame(op, b"x" * n, mask=MASK) for op, n, _ in spec)
    stream = before + build_frame("CLOSE", b"\x03\xe8", mask=MASK) + build_frame("TEXT", b"after", mask=MASK)
    scanner = FrameScanner()
    fed = 0
    for piece in pieces(stream, cuts):
        if not scanner.feed(piece):
            # the Close's first two bytes (opcode, length) are in what was fed so far, and it was not before
            assert fed < len(before) + 2 <= fed + len(piece)
            return
        fed += len(piece)
    raise AssertionError("the Close went by unnoticed")


def test_only_data_frames_pings_and_pongs_go_by_unnoticed():
    assert sorted(QUIET_OPCODES) == [0x0, 0x1, 0x2, 0x9, 0xA]
    for opcode in (0x3, 0x8, 0xB, 0xF):
        assert FrameScanner().feed(build_frame(opcode, b"", mask=MASK)) is False


def test_a_lab_takes_the_hot_path_and_its_trace_is_what_an_eager_decoder_gives():
    told = []
    with Lab("echo") as lab:
        lab.recorder.listeners.append(told.append)
        with lab.connect_sync() as ws:
            for i in range(300):
                ws.send(f"message {i}")
                ws.recv(timeout=scaled(10))
            ws.send(b"\x00" * 70_000)  # a frame longer than one read, 16- and 64-bit lengths
            ws.recv(timeout=scaled(10))
    trace = lab.trace
    assert lab.recorder.deferred >= 300  # most chunks went by the hot path
    assert lab.recorder.waiting == 0
    times = [r.t for r in trace]
    assert times == sorted(times)
    assert [r.t for r in told] == times  # the listeners heard every record, in order
    for sender in (Sender.CLIENT, Sender.SERVER):
        wire = b"".join(c.data for c in trace.chunks if c.sender == sender)
        eager = [e for e in decode_bytes(wire, sender) if type(e).__name__ == "Frame"]
        live = [r.event for r in trace.frames if r.sender == sender]
        assert live == eager and len(live) == 302  # 300 texts, one binary, a Close, and nothing else
        assert all(not f.problems for f in live)
    texts = [r.text for r in trace.frames if r.sender == "client" and r.opcode == "TEXT"]
    assert texts == [f"message {i}" for i in range(300)]


def test_a_reader_on_another_thread_sees_chunks_and_their_frames_together():
    with Lab("echo") as lab:
        stop = threading.Event()
        seen: list[tuple[int, int]] = []

        def read() -> None:
            while not stop.is_set():
                records, chunks = lab.recorder.snapshot()
                seen.append((sum(r.kind == "frame" for r in records), len(chunks)))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            with lab.connect_sync() as ws:
                for i in range(200):
                    ws.send(f"m{i}")
                    ws.recv(timeout=scaled(10))
        finally:
            stop.set()
            reader.join()
    # After the two handshake chunks, each echo chunk carries one frame: never a chunk without its frame.
    assert seen and all(frames == max(chunks - 2, 0) for frames, chunks in seen)
    assert lab.recorder.deferred >= 200


def test_a_trace_table_in_html_shows_its_first_and_last_rows_and_says_how_many_it_left_out():
    with Lab("echo") as lab, lab.connect_sync() as ws:
        for i in range(300):
            ws.send(f"m{i}")
            ws.recv(timeout=scaled(10))
    html = lab.trace._repr_html_()
    assert html.count("<tr") == 1 + 200 + 1  # the header, 200 rows, the line saying what is left out
    shown = sum(r.kind != "state" for r in lab.trace)
    assert f"{shown - 200:,} more rows not shown" in html
    assert "m0" in html and "m299" in html and "m150" not in html


def test_a_reader_decoding_on_its_thread_keeps_the_loop_from_decoding_ahead_of_it(monkeypatch):
    # A reader (lab.trace, lab.watch()) catches up on its own thread; meanwhile the tap reads a Close,
    # which it decodes at once. It must wait for the reader: one decoder, fed in order.
    from wslab._runtime import tap as tap_module

    decode_later = tap_module.TapConnection._decode_later
    entered, release = threading.Event(), threading.Event()

    def slow(self, sender, data, frames):
        if threading.current_thread().name == "reader":
            entered.set()
            release.wait(scaled(10))
        return decode_later(self, sender, data, frames)

    monkeypatch.setattr(tap_module.TapConnection, "_decode_later", slow)
    with Lab("echo") as lab, lab.raw() as raw:
        raw.handshake()
        connection = lab.tap.active()[0]
        raw.send_frame("PONG", "hello", mask=MASK)  # no reply: the hot path keeps it undecoded
        eventually(lambda: lab.recorder.waiting == 1, scaled(10), "the PONG waiting to be decoded")
        reader = threading.Thread(target=lambda: len(lab.recorder), name="reader")
        reader.start()
        assert entered.wait(scaled(10))
        before = connection.sides[Sender.CLIENT].offset
        raw.send_close(1000)
        eventually(lambda: connection.sides[Sender.CLIENT].offset > before, scaled(10), "the tap reading the Close")
        release.set()
        reader.join(scaled(10))
        raw.read_close()
    frames = [(r.offset, r.opcode) for r in lab.trace.frames if r.sender == "client"]
    assert [opcode for _, opcode in frames] == ["PONG", "CLOSE"]
    assert frames == sorted(frames) and not [r for r in lab.trace if r.kind == "error"]


def test_a_full_disk_while_catching_up_loses_no_chunk_and_raises_nothing():
    import io
    import time
    import warnings

    from wslab._runtime.recorder import Recorder
    from wslab.capture.records import Chunk

    class Full(io.StringIO):
        def write(self, text):
            if self.getvalue():
                raise OSError(28, "No space left on device")
            return super().write(text)

    recorder = Recorder(time.monotonic, sink=Full())  # the header line fits, nothing more
    for i in range(3):
        recorder.add_later(1, 0.0, Chunk(0.0, 1, Sender.CLIENT, 2 * i, b"\x81\x00"), lambda: [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorder.catch_up()
    assert recorder.waiting == 0 and len(recorder.chunks) == 3
    assert recorder.sink is None and any("writing the trace to disk failed" in str(w.message) for w in caught)


def test_reading_saving_and_comparing_a_trace_brings_back_no_memory(tmp_path):
    import wslab

    def stored(frame, name: str) -> bool:
        try:
            getattr(type(frame), name).__get__(frame, type(frame))  # the slot itself, not __getattr__
        except AttributeError:
            return False
        return True

    with Lab("echo") as lab, lab.connect_sync() as ws:
        ws.send("Hello Server")
        ws.recv(timeout=scaled(10))
    trace = lab.trace
    trace.save(tmp_path / "t.json")
    assert wslab.load(tmp_path / "t.json") == trace
    trace.table()
    reply = next(r.event for r in trace.frames if r.sender == "server" and r.opcode == "TEXT")
    assert reply.text and reply.payload and reply.fields and reply.mask is None  # all there when read...
    for name in ("fields", "masked_payload", "mask", "payload", "text"):
        assert not stored(reply, name), name  # ... and none of them kept
