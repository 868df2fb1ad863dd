"""Data safety: save() is atomic and takes any text; stop() frees its ports; a blocked loop is named.

Counts and states only, never timings (the blocking handler sleeps on purpose: it is the thing tested).
"""

from __future__ import annotations

import os
import socket
import time
import warnings

import pytest

import wslab
from wslab import Lab, Trace
from wslab.capture.records import Note, Record
from wslab.protocol import NoteKind, Sender


def note_trace(text: str) -> Trace:
    return Trace([Record(0.0, 1, Note(Sender.SERVER, text, NoteKind.HANDLER_RAISED))])


def test_save_round_trips_lone_surrogates_and_any_text(tmp_path):
    text = "handler raised " + os.fsdecode(b"notes-\xff.txt") + " \ud800 é 中 \x00"
    trace = note_trace(text)
    path = tmp_path / "t.json"
    trace.save(path)
    assert wslab.load(path) == trace
    assert wslab.load(path).records[0].event.text == text


def test_failed_save_leaves_the_old_file_whole_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "good.json"
    good = note_trace("good")
    good.save(path)
    before = path.read_bytes()

    from wslab.capture import export

    calls = []
    plain = export.plain

    def broken(value):  # fails part-way, some records written, like Ctrl-C in the middle of a save
        calls.append(value)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return plain(value)

    monkeypatch.setattr(export, "plain", broken)
    with pytest.raises(KeyboardInterrupt):
        note_trace("bad").save(path)
    assert path.read_bytes() == before
    assert wslab.load(path) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json"]


def test_save_replaces_and_keeps_the_files_mode(tmp_path):
    path = tmp_path / "t.json"
    note_trace("one").save(path)
    os.chmod(path, 0o640)
    note_trace("two").save(path)
    assert wslab.load(path).records[0].event.text == "two"
    assert path.stat().st_mode & 0o777 == 0o640


def bindable(port: int) -> bool:
    """Could a new server listen on ``port`` now (as asyncio's servers do, with SO_REUSEADDR)?"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def test_stop_frees_the_ports_even_when_a_handler_blocks_the_loop():

    async def blocker(ws):
        async for message in ws:
            time.sleep(float(message))  # blocks the lab's loop on purpose
            await ws.send(message)

    lab = Lab(blocker, close_timeout=0.1).start()
    ports = (lab.port, lab.server_port)
    ws = lab.connect_sync()
    ws.send("8")  # longer than stop() waits for the loop (0.1 + 5 s)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        lab.stop()
    assert not lab.running
    assert all(bindable(p) for p in ports), ports
    ws.socket.close()


def test_a_handler_that_blocks_the_loop_is_named_once_and_noted():
    async def sleepy(ws):
        async for message in ws:
            time.sleep(0.4)  # the mistake the watchdog is for
            await ws.send(message)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Lab(sleepy) as lab:
            with lab.connect_sync() as ws:
                for _ in range(3):
                    ws.send("hi")
                    assert ws.recv() == "hi"
            lab.wait_for(lambda r: r.kind == "note" and r.event.kind is NoteKind.LOOP_BLOCKED, timeout=5)
    blocked = [w for w in caught if "blocked" in str(w.message)]
    assert len(blocked) == 1, [str(w.message) for w in caught]
    assert "sleepy()" in str(blocked[0].message) and "time.sleep" in str(blocked[0].message)
    notes = [r for r in lab.trace if r.kind == "note" and r.event.kind is NoteKind.LOOP_BLOCKED]
    assert 1 <= len(notes) <= 3
    assert "sleepy()" in notes[0].event.text


def test_an_idle_or_busy_lab_blames_nobody():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Lab("echo") as lab:
            with lab.connect_sync() as ws:
                for i in range(200):
                    ws.send(str(i))
                    ws.recv()
            time.sleep(0.3)
    assert not [w for w in caught if "blocked" in str(w.message)]
    assert not [r for r in lab.trace if r.kind == "note" and r.event.kind is NoteKind.LOOP_BLOCKED]
