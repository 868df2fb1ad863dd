"""The live view follows a lab while frames cross the wire, throttled, and stops with it."""

import threading

import pytest

from wslab import Lab

pytest.importorskip("anywidget", reason="pip install -e '.[notebooks]'")


def wait_for(view, predicate, timeout=10.0):
    """Wait (on the view's own change notifications, not by sleeping) until predicate(view) holds."""
    changed = threading.Event()
    view.observe(lambda change: changed.set(), names="updates")
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not predicate(view):
            if deadline.is_set():
                raise AssertionError(f"the view did not get there within {timeout} s: {view.status!r}")
            changed.wait(0.1)
            changed.clear()
    finally:
        timer.cancel()


def test_frames_appear_in_the_view_without_redisplaying_it():
    with Lab("echo", seed=1) as lab:
        view = lab.watch(rows=8)
        assert "waiting for the first connection" in view.table_html
        with lab.connect_sync() as ws:
            ws.send("hello live view")
            ws.recv(timeout=5)
        wait_for(view, lambda v: "hello live view" in v.table_html and v.png)
        assert "1 connection" in view.status
        assert view.alt.startswith("Sequence diagram of connection(s) 1")
    wait_for(view, lambda v: not v.running)
    assert "stopped" in view.status
    assert view._poke not in lab.recorder.listeners


def test_a_busy_wire_is_drawn_a_few_times_a_second_not_per_record():
    with Lab("echo", seed=1) as lab:
        view = lab.watch(rows=5, plot=False, fps=2)
        with lab.connect_sync() as ws:
            for i in range(300):
                ws.send(f"m{i}")
                ws.recv(timeout=5)
        wait_for(view, lambda v: "m299" in v.table_html)
        records = len(lab.recorder.records)
    # Each record pokes the view; it redraws far fewer times than that (fps-throttled).
    assert records > 600 and view.updates < records / 10
    # Only the newest rows are kept in the table.
    assert "m299" in view.table_html and "m0'" not in view.table_html


def test_it_degrades_to_a_static_table_where_widgets_do_not_render():
    with Lab("echo", seed=1) as lab:
        view = lab.watch(plot=False)
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            ws.recv(timeout=5)
        wait_for(view, lambda v: "Hello Server" in v.table_html)
        bundle, _ = view._repr_mimebundle_()
        view.stop()
        assert not view.running
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Hello Server" in bundle["text/html"] and bundle["text/plain"].startswith("wslab lab live at ws://")


def test_watch_needs_a_running_lab_and_sane_arguments():
    lab = Lab("echo")
    with pytest.raises(RuntimeError, match="not started"):
        lab.watch()
    with lab, pytest.raises(ValueError, match="fps"):
        lab.watch(fps=0)
