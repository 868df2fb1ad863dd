"""wslab.compare: the HTTP server and client, the tap as the relay, the measurement and its picture.

The measurement tests assert invariants that hold on any machine, however
loaded: counts, exact byte counts, orderings that differ by an order of
magnitude, and lower bounds that the relay's delay guarantees. No test asserts
that anything is *fast*.
"""

from __future__ import annotations

import asyncio
import threading
import time

import matplotlib

matplotlib.use("Agg")

import itertools

import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from timeouts import eventually

from wslab import decode
from wslab._runtime.faults import Faults
from wslab._runtime.recorder import Recorder
from wslab._runtime.tap import Tap
from wslab.compare import (
    METHODS,
    Comparison,
    Feed,
    HttpClient,
    MethodResult,
    UpdateServer,
    parse_request,
    plot_comparison,
    response_bytes,
    run_comparison,
    update_text,
)

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


# -- sans-I/O pieces -------------------------------------------------------------------

def test_update_text_has_a_fixed_size():
    assert update_text(0) == "update 000"
    assert {len(update_text(i)) for i in range(1000)} == {10}


def test_parse_request_and_keep_alive_rules():
    request = parse_request(b"GET /updates?since=3 HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n")
    assert (request.method, request.target, request.version) == ("GET", "/updates?since=3", "HTTP/1.1")
    assert request.headers == {"host": "x", "connection": "Close"}
    assert not request.keep_alive
    assert parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive
    assert not parse_request(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert parse_request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    for bad in (b"hello\r\n\r\n", b"GET / SPDY/3\r\n\r\n", b"GET / HTTP/1.1\r\nno colon\r\n\r\n"):
        with pytest.raises(ValueError):
            parse_request(bad)


def test_response_bytes_carry_length_and_a_fixed_size_date():
    response = response_bytes(200, b"update 000\n", date=DATE)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"update 000\n"
    assert b"Content-Length: 11" in head and f"Date: {DATE}".encode() in head
    # A real Date header has the same length as any other: response sizes are reproducible.
    assert len(response_bytes(200, b"x")) == len(response_bytes(200, b"x", date=DATE))
    assert b"Connection: close" in response_bytes(400, b"", close=True)


# -- the server, the client and the relay over real sockets ----------------------------

async def serve(feed: Feed):
    server = UpdateServer(feed)
    port = await server.start()
    client = await HttpClient.open("127.0.0.1", port)
    return server, client


def test_short_poll_answers_at_once_and_keeps_the_connection():
    async def main():
        feed = Feed(3, 0.01)
        server, client = await serve(feed)
        try:
            before = await client.get("/updates?since=0")
            await feed.run(time.monotonic())
            after = await client.get("/updates?since=1")
            missing = await client.get("/nothing")
        finally:
            await client.close()
            await server.stop()
        return before, after, missing, server.requests

    before, after, missing, requests = asyncio.run(main())
    assert before[:2] == (200, b"")
    assert after[:2] == (200, b"update 001\nupdate 002\n")
    assert missing[0] == 404
    assert requests == 3  # three requests, one TCP connection
    _status, body, request, response = after
    assert request.startswith(b"GET /updates?since=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert response.endswith(b"\r\n\r\n" + body)


def test_long_poll_waits_for_the_next_update():
    async def main():
        feed = Feed(2, 1.0)
        server, client = await serve(feed)
        try:
            asked = time.monotonic()
            producing = asyncio.create_task(feed.run(asked + 0.1))
            status, body, _, _ = await client.get("/updates?since=0&wait=1")
            answered = time.monotonic()
            producing.cancel()
        finally:
            await client.close()
            await server.stop()
        return status, body, answered - asked, feed.produced[0] - asked

    status, body, waited, produced_after = asyncio.run(main())
    assert (status, body) == (200, b"update 000\n")  # woken by update 0, not update 1
    assert waited >= produced_after >= 0.09


def test_server_rejects_what_it_does_not_serve():
    async def main():
        server = UpdateServer(Feed(1, 0.01))
        port = await server.start()
        answers = []
        for raw in (b"POST /updates HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", b"GET /updates?since=x HTTP/1.1\r\n\r\n",
                    b"nonsense\r\n\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            answers.append((await reader.readuntil(b"\r\n")).decode().strip())
            writer.close()
        await server.stop()
        return answers

    assert asyncio.run(main()) == ["HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 400 Bad Request",
                                   "HTTP/1.1 400 Bad Request"]


def test_the_tap_as_relay_counts_every_byte_keeps_order_and_delays():
    async def main():
        async def echo(reader, writer):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
            writer.close()

        upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
        recorder = Recorder(time.monotonic)
        relay = Tap(("127.0.0.1", upstream.sockets[0].getsockname()[1]), recorder,
                    Faults(latency={"client": 0.03, "server": 0.03}))
        port = await relay.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.monotonic()
        for i in range(5):
            writer.write(f"chunk {i};".encode())
            await asyncio.sleep(0.005)  # chunks in flight at the same time
        got = b""
        while len(got) < 40:
            got += await reader.read(1024)
        elapsed = time.monotonic() - sent
        writer.close()
        await relay.stop()
        upstream.close()
        chunks = recorder.snapshot()[1]
        return got, elapsed, {side: sum(len(c.data) for c in chunks if c.sender == side) for side in ("client", "server")}

    got, elapsed, counted = asyncio.run(main())
    assert got == b"".join(f"chunk {i};".encode() for i in range(5))
    assert counted == {"client": 40, "server": 40}
    assert elapsed >= 0.06  # 30 ms there and 30 ms back, at least


# -- the measurement -------------------------------------------------------------------

UPDATES = 20


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return run_comparison(updates=UPDATES, interval=0.02, poll_interval=0.1)


def test_every_method_delivers_every_update(comparison):
    assert [r.method for r in comparison] == list(METHODS)
    for r in comparison:
        assert r.updates == UPDATES
        assert all(t >= 0 for t in r.latencies)
        assert r.bytes_per_update > 0 and r.down > 0


def test_websocket_bytes_are_exactly_one_small_frame_per_update(comparison):
    ws = comparison["websocket"]
    assert ws.up == 0  # a push: the client sends nothing while the updates flow
    assert ws.down == UPDATES * (2 + 10)  # RFC 6455 §5.2: 2-byte header, 10-byte payload
    assert ws.example == (b"", b"\x81\x0aupdate 000")
    frame = decode(ws.example[1], "server")[0]
    assert (frame.opcode, frame.text, frame.masked) == ("TEXT", "update 000", False)
    assert ws.setup > 200  # the opening and closing handshakes, paid once
    assert ws.requests == ws.empty == 0


def test_websocket_needs_fewer_bytes_per_update_than_polling(comparison):
    ws, short, long = comparison["websocket"], comparison["short polling"], comparison["long polling"]
    assert ws.bytes_per_update < short.bytes_per_update < long.bytes_per_update
    assert ws.bytes_per_update * 3 < short.bytes_per_update  # headers dwarf a 10-byte update


def test_long_polling_answers_each_request_with_news(comparison):
    long = comparison["long polling"]
    assert long.empty == 0 and 1 <= long.requests <= UPDATES
    request, response = long.example
    assert request.startswith(b"GET /updates?since=") and b"&wait=1 HTTP/1.1\r\n" in request
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nContent-Length: 11\r\n" in response
    # Every exchange costs at least one request and one response head.
    assert long.bytes_per_update * long.updates >= long.requests * (len(request) + len(response) - 20)


def test_short_polling_batches_updates_and_waits_for_its_tick(comparison):
    short = comparison["short polling"]
    assert 1 <= short.requests < UPDATES  # a poll every 100 ms collects several 20 ms updates
    # (How much later short polling delivers is a measurement: notebook 05 and bench/, not an assertion.)


def test_added_round_trip_time_is_a_lower_bound_for_every_method():
    far = run_comparison(updates=5, interval=0.02, poll_interval=0.05, rtt=0.04)
    for r in far:
        assert min(r.latencies) >= 0.02, r  # half the round trip, one way


def test_table_and_reprs(comparison):
    table = comparison.table()
    assert "short polling every 100 ms" in table and "long polling" in table and "websocket" in table
    assert repr(comparison).startswith("<Comparison: 20 updates every 20 ms")
    assert "B/update" in repr(comparison["websocket"])
    with pytest.raises(KeyError, match="measured: short polling"):
        comparison["carrier pigeon"]


def test_arguments_are_checked_and_no_thread_is_left_behind():
    with pytest.raises(ValueError, match="unknown method"):
        run_comparison(methods=["smoke signals"])
    run_comparison(updates=3, interval=0.01, methods=["long polling"])
    eventually(lambda: not [t.name for t in threading.enumerate() if t.name.startswith("wslab")],
               what="the comparison's threads ending")


# -- the picture -----------------------------------------------------------------------

def fake(method: str, latency: float, up: int, down: int) -> MethodResult:
    return MethodResult(method, tuple(latency * (1 + i / 10) for i in range(10)), 10, 0, up, down, 0, (b"", b""))


FAKE = Comparison(10, 0.02, 0.1, 0.0, (fake("short polling", 0.05, 200, 400), fake("long polling", 0.0005, 1200, 1500),
                                       fake("websocket", 0.0006, 0, 120)))


def test_plot_draws_into_the_given_axes_without_a_new_figure():
    fig, ax = plt.subplots()
    figures = plt.get_fignums()
    assert plot_comparison(FAKE, ax=ax) is ax
    assert plt.get_fignums() == figures
    assert [c.get_gid() for c in ax.collections] == ["latency"] * 3
    labels = [t for t in ax.texts if t.get_gid() == "method"]
    assert [t.get_text().split("\n")[0] for t in labels] == ["short polling every 100 ms", "long polling", "websocket"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert low <= 0.5 and high >= 0.05 * 1.9 * 1000
    plt.close(fig)


def test_plot_makes_a_figure_and_overlays_keep_labels_apart():
    ax = plot_comparison(FAKE)
    assert isinstance(ax, Axes)
    other = Comparison(10, 0.02, 0.01, 0.05, (fake("short polling", 0.0006, 2000, 3000),))
    plot_comparison(other, ax=ax)
    labels = [t for t in ax.texts if t.get_gid() == "method"]
    assert len(labels) == 4 and "rtt 50 ms" in labels[-1].get_text()
    heights = sorted(t.xyann[1] for t in labels)
    assert all(0 <= h <= 1 for h in heights)
    assert min(b - a for a, b in itertools.pairwise(heights)) > 0.05  # stacked, not on top of each other
    plt.close(ax.figure)


def test_plot_keeps_plain_tick_labels_when_called_again_and_with_shared_axes():
    fig, (left, right) = plt.subplots(1, 2, sharey=True)
    plot_comparison(FAKE, ax=left)
    plot_comparison(FAKE, ax=left)
    plot_comparison(FAKE, ax=right)
    fig.canvas.draw()
    for axis in (left.xaxis, left.yaxis, right.xaxis):
        labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
        assert labels and not any("$" in label or "^" in label for label in labels), labels
    plt.close(fig)


def test_plot_titles_say_how_many_updates_each_run_had_and_labels_show_one_off_bytes():
    fig, ax = plt.subplots()
    plot_comparison(FAKE, ax=ax)
    assert ax.get_title().startswith("loopback (127.0.0.1): each dot is one of 10 updates\n")
    fewer = Comparison(5, 0.02, 0.01, 0.0, (fake("short polling", 0.006, 300, 500),))
    plot_comparison(fewer, ax=ax)
    assert ax.get_title().startswith(
        "loopback (127.0.0.1): each dot is one update (10 per method; 5 for short polling every 10 ms)\n")
    plt.close(fig)
    once = Comparison(10, 0.02, 0.1, 0.0, (MethodResult("websocket", (0.001,) * 10, 0, 0, 0, 120, 410, (b"", b"")),))
    ax = plot_comparison(once)
    [label] = [t.get_text() for t in ax.texts if t.get_gid() == "method"]
    assert label.endswith("12 B per update + 410 B once")
    plt.close(ax.figure)


def test_plot_labels_the_shared_x_axis_once():
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, sharey=True)
    plot_comparison(FAKE, ax=top)
    plot_comparison(FAKE, ax=bottom)
    assert top.get_xlabel() == "" and bottom.get_xlabel().startswith("bytes on the wire per update")
    assert top.get_xlim() == bottom.get_xlim()
    plt.close(fig)
