"""Tests for wslab.plot.timeline: the timeline sequence diagram and the frame-size chart."""

from __future__ import annotations

import struct

import matplotlib

matplotlib.use("Agg")

import itertools

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text

from wslab import plot
from wslab.capture.trace import Note, Record, State, Tcp
from wslab.protocol import OPCODES, DecodeError, Frame, Handshake, accept_key, check_accept

OPCODE_VALUES = {name: value for value, name in OPCODES.items()}
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


# -- building records by hand ---------------------------------------------------------

def frame(sender: str, opcode: str, payload: bytes = b"", *, fin: bool = True, text: str | None = None,
          close_code: int | None = None, close_reason: str | None = None,
          problems: tuple[str, ...] = ()) -> Frame:
    """A Frame with real RFC 6455 wire bytes (client frames masked, as §5.3 requires)."""
    masked = sender == "client"
    value = OPCODE_VALUES[opcode]
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | value])
    if n < 126:
        head += bytes([(0x80 if masked else 0) | n])
        bits = 7
    elif n < 65536:
        head += bytes([(0x80 if masked else 0) | 126]) + struct.pack("!H", n)
        bits = 16
    else:
        head += bytes([(0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
        bits = 64
    on_wire = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload)) if masked else payload
    wire = head + (MASK if masked else b"") + on_wire
    if opcode == "TEXT" and text is None and fin:
        text = payload.decode("utf-8")
    return Frame(sender=sender, offset=0, fin=fin, rsv1=False, rsv2=False, rsv3=False, opcode=opcode,
                 opcode_value=value, masked=masked, mask=MASK if masked else None, length=n, length_bits=bits,
                 fields=(), wire=wire, masked_payload=on_wire, payload=payload, text=text,
                 close_code=close_code, close_reason=close_reason, problems=problems)


def close(sender: str, code: int = 1000, reason: str = "") -> Frame:
    return frame(sender, "CLOSE", struct.pack("!H", code) + reason.encode(), close_code=code,
                 close_reason=reason or None)


def request(path: str = "/") -> Handshake:
    headers = (("Host", "127.0.0.1:8765"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13"))
    start = f"GET {path} HTTP/1.1"
    raw = "\r\n".join([start] + [f"{k}: {v}" for k, v in headers]).encode() + b"\r\n\r\n"
    return Handshake(sender="client", offset=0, raw=raw, start_line=start, headers=headers, version="HTTP/1.1",
                     method="GET", path=path)


def response(status: int = 101, reason: str = "Switching Protocols", body: bytes = b"") -> Handshake:
    if status == 101:
        headers = (("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(KEY)))
        accept = check_accept(KEY, accept_key(KEY))
    else:
        headers = (("Content-Type", "text/plain"), ("Content-Length", str(len(body))))
        accept = None
    start = f"HTTP/1.1 {status} {reason}"
    raw = "\r\n".join([start] + [f"{k}: {v}" for k, v in headers]).encode() + b"\r\n\r\n" + body
    return Handshake(sender="server", offset=0, raw=raw, start_line=start, headers=headers, version="HTTP/1.1",
                     status=status, reason=reason, body=body, accept=accept)


def opening(conn: int, t: float, path: str = "/") -> list[Record]:
    """TCP connect, the handshake and the state changes around it."""
    return [
        Record(t, conn, State("client", "CONNECTING", "connect()")),
        Record(t + 0.0002, conn, Tcp("client", "connect")),
        Record(t + 0.0003, conn, State("server", "CONNECTING", "accepted")),
        Record(t + 0.0010, conn, request(path)),
        Record(t + 0.0021, conn, response()),
        Record(t + 0.0021, conn, State("server", "OPEN", "sent 101")),
        Record(t + 0.0023, conn, State("client", "OPEN", "got 101")),
    ]


def closing(conn: int, t: float) -> list[Record]:
    """The closing handshake started by the client, then both FINs."""
    return [
        Record(t, conn, State("client", "CLOSING", "sent CLOSE")),
        Record(t, conn, close("client")),
        Record(t + 0.0004, conn, State("server", "CLOSING", "got CLOSE")),
        Record(t + 0.0005, conn, close("server")),
        Record(t + 0.0006, conn, Tcp("server", "eof")),
        Record(t + 0.0006, conn, State("server", "CLOSED", "sent FIN")),
        Record(t + 0.0009, conn, Tcp("client", "eof")),
        Record(t + 0.0009, conn, State("client", "CLOSED", "TCP closed")),
    ]


def lifecycle(conn: int = 1, t: float = 0.0) -> list[Record]:
    """The article's lifecycle: Hello Server, Hello Client, close 1000."""
    return sorted([*opening(conn, t, "/echo"), Record(t + 0.005, conn, frame("client", "TEXT", b"Hello Server")), Record(t + 0.0061, conn, frame("server", "TEXT", b"Hello Client")), *closing(conn, t + 0.01)], key=lambda r: r.t)


def chat(clients: int = 3) -> list[Record]:
    """Several clients on one chat server: each message is broadcast to every client."""
    records: list[Record] = []
    for c in range(1, clients + 1):
        records += opening(c, 0.001 * c, "/chat")
    t = 0.02
    lines = [(1, "hi all"), (2, "hello from 2"), (3, "hey!"), (1, "anyone up for lunch?")]
    for sender, text in lines:
        records.append(Record(t, sender, frame("client", "TEXT", text.encode())))
        for c in range(1, clients + 1):
            t += 0.0003
            records.append(Record(t, c, frame("server", "TEXT", f"{sender}: {text}".encode())))
        t += 0.01
    records.append(Record(t, 2, frame("server", "PING", b"")))
    records.append(Record(t + 0.0002, 2, frame("client", "PONG", b"")))
    for c in range(1, clients + 1):
        records += closing(c, t + 0.01 * c)
    return sorted(records, key=lambda r: r.t)


def burst(n_frames: int = 500) -> list[Record]:
    """One connection echoing ``n_frames`` frames in total (handshake and close included)."""
    records = opening(1, 0.0, "/echo")
    t = 0.003
    i = 0
    while i < n_frames - 2:
        sender = "client" if i % 2 == 0 else "server"
        records.append(Record(t, 1, frame(sender, "TEXT", f"message {i // 2}".encode())))
        t += 0.0004
        i += 1
        if i == 200:
            records.append(Record(t, 1, frame("server", "PING", b"keepalive")))
            records.append(Record(t + 0.0001, 1, frame("client", "PONG", b"keepalive")))
            t += 0.0003
            i += 2
    records += closing(1, t + 0.001)
    return sorted(records, key=lambda r: r.t)


def rejected() -> list[Record]:
    """A server that refuses the upgrade with 426."""
    return [
        Record(0.0, 1, State("client", "CONNECTING", "connect()")),
        Record(0.0002, 1, Tcp("client", "connect")),
        Record(0.0010, 1, request("/ws")),
        Record(0.0018, 1, response(426, "Upgrade Required", b"Upgrade Required: this server speaks WebSocket 13\n")),
        Record(0.0019, 1, Tcp("server", "close", "server closed after rejecting")),
        Record(0.0020, 1, State("client", "CLOSED", "handshake failed")),
    ]


def faults() -> list[Record]:
    """Fragments, binary, ping/pong, a frame with problems, a note, a decode error, a reset."""
    problem = "a server must not mask frames it sends (RFC 6455 §5.1)"
    return sorted([*opening(1, 0.0, "/faults"), Record(0.004, 1, frame("client", "TEXT", b"Hel", fin=False)), Record(0.005, 1, frame("client", "CONTINUATION", b"lo")), Record(0.006, 1, frame("server", "BINARY", bytes(range(40)))), Record(0.007, 1, frame("server", "PING", b"are you there?")), Record(0.0072, 1, frame("client", "PONG", b"are you there?")), Record(0.008, 1, frame("server", "TEXT", b"masked by mistake", problems=(problem, "and a second problem"))), Record(0.009, 1, Note("client", "lab: injecting a frame with reserved opcode 0x3")), Record(0.01, 1, DecodeError("client", 57, "reserved opcode 0x3: the connection must be failed (RFC 6455 §5.2)")), Record(0.011, 1, close("server", 1002, "protocol error: reserved opcode")), Record(0.011, 1, State("server", "CLOSING", "sent CLOSE")), Record(0.012, 1, Tcp("client", "reset", "fault injected: client aborted")), Record(0.012, 1, State("client", "CLOSED", "reset")), Record(0.0125, 1, State("server", "CLOSED", "reset")), Record(0.013, 1, Tcp("server", "close"))], key=lambda r: r.t)


# -- helpers for looking at what was drawn -------------------------------------------------

@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(ax, gid: str) -> list:
    return [t for t in ax.texts if t.get_gid() == gid]


def arrows(ax, gid: str) -> list[Annotation]:
    """Annotations with this gid that really draw an arrow."""
    return [t for t in texts(ax, gid) if isinstance(t, Annotation) and t.arrow_patch is not None]


def labels(ax, gid: str) -> list[str]:
    return [t.get_text().strip() for t in texts(ax, gid)]


def details(ax) -> str:
    """All the detail text below arrows, with wrapped lines joined again."""
    lines = (t.get_text() for t in texts(ax, "detail"))
    return " | ".join(" ".join(line.split()) for line in lines)


def n_frames(records) -> int:
    return sum(r.kind == "frame" for r in records)


# -- timeline ------------------------------------------------------------------------

def test_timeline_returns_given_axes():
    fig, ax = plt.subplots(figsize=(8, 8))
    out = plot.timeline(lifecycle(), ax=ax)
    assert out is ax
    assert len(fig.axes) == 1
    assert len(plt.get_fignums()) == 1


def test_timeline_makes_figure_sized_to_rows():
    before = set(plt.get_fignums())
    ax = plot.timeline(lifecycle())
    assert set(plt.get_fignums()) - before == {ax.figure.number}
    small = ax.figure.get_figheight()
    big = plot.timeline(burst(120), max_frames=None).figure.get_figheight()
    assert small >= 3
    assert big > small


def test_one_arrow_per_frame():
    records = lifecycle()
    ax = plot.timeline(records)
    assert len(arrows(ax, "frame")) == n_frames(records) == 4
    assert not texts(ax, "group")


def test_frame_labels():
    ax = plot.timeline(lifecycle())
    got = labels(ax, "frame")
    assert got[0] == 'TEXT "Hello Server" (12 B, masked)'
    assert got[1] == 'TEXT "Hello Client" (12 B)'
    assert sum(label.startswith("CLOSE 1000 (normal closure)") for label in got) == 2


def test_handshake_labels():
    ax = plot.timeline(lifecycle())
    got = labels(ax, "handshake")
    assert len(arrows(ax, "handshake")) == 2
    assert got[0] == "GET /echo  Upgrade: websocket"
    assert got[1].startswith("101") and "Switching Protocols" in got[1]
    assert texts(ax, "handshake")[1].get_color() == plot.COLORS["handshake"]


def test_arrows_point_from_sender_to_receiver():
    ax = plot.timeline(lifecycle())
    client_x = next(t for t in texts(ax, "lifeline") if t.get_text() == "client").get_position()[0]
    server_x = next(t for t in texts(ax, "lifeline") if t.get_text() == "server").get_position()[0]
    hello_server, hello_client = texts(ax, "frame")[:2]
    assert abs(hello_server.xyann[0] - client_x) < abs(hello_server.xyann[0] - server_x)
    assert abs(hello_server.xy[0] - server_x) < abs(hello_server.xy[0] - client_x)
    assert abs(hello_client.xy[0] - client_x) < abs(hello_client.xy[0] - server_x)


def test_time_runs_down_in_rows():
    ax = plot.timeline(lifecycle())
    assert ax.yaxis_inverted()
    ys = [t.xy[1] for t in texts(ax, "frame")]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "+0.20 ms"  # the TCP connect, 0.2 ms after the first record
    assert all(t.endswith(" ms") for t in ticks)
    assert "time" in ax.get_ylabel() and "ms" in ax.get_ylabel()


def test_colours_by_family():
    records = [*lifecycle(), Record(0.007, 1, frame("server", "PING", b""))]
    ax = plot.timeline(sorted(records, key=lambda r: r.t))
    colour = {t.get_text().strip(): t.get_color() for t in texts(ax, "frame")}
    assert colour['TEXT "Hello Server" (12 B, masked)'] == plot.COLORS["data"]
    assert colour["PING"] == plot.COLORS["control"]
    assert colour["CLOSE 1000 (normal closure)"] == plot.COLORS["close"]


def test_problem_frames_are_red_with_the_problem_below():
    bad = frame("server", "TEXT", b"oops", problems=("server frames must not be masked (RFC 6455 §5.1)",))
    records = sorted([*lifecycle(), Record(0.007, 1, bad)], key=lambda r: r.t)
    ax = plot.timeline(records)
    red = [t for t in texts(ax, "frame") if t.get_color() == plot.COLORS["error"]]
    assert [t.get_text().strip() for t in red] == ['TEXT "oops" (4 B)']
    assert "⚠ server frames must not be masked (RFC 6455 §5.1)" in details(ax)


def test_fragments_and_binary():
    records = [*opening(1, 0.0), Record(0.01, 1, frame("client", "TEXT", b"Hel", fin=False)), Record(0.02, 1, frame("client", "CONTINUATION", b"lo")), Record(0.03, 1, frame("server", "BINARY", bytes([1, 2, 255])))]
    got = labels(plot.timeline(records), "frame")
    assert got[0].startswith('TEXT fin=0 "Hel"')
    assert got[1].startswith('CONTINUATION fin=1 "lo"')
    assert got[2] == "BINARY 01 02 ff (3 B)"


def test_long_payload_is_shortened():
    records = [*opening(1, 0.0), Record(0.01, 1, frame("client", "TEXT", b"x" * 5000))]
    got = labels(plot.timeline(records), "frame")[0]
    assert got.startswith('TEXT "xxx') and got.endswith('…" (5.0 KB, masked)')
    assert len(got) < 80


def test_dollar_signs_are_not_mathtext():
    records = [*opening(1, 0.0), Record(0.01, 1, frame("client", "TEXT", rb"costs $\5 and $6"))]
    ax = plot.timeline(records)
    ax.figure.canvas.draw()  # mathtext would raise: "$\5 and $" is not valid TeX
    assert r"costs $\5 and $6" in labels(ax, "frame")[0]


def test_unusual_characters_are_drawable(recwarn):
    records = [*opening(1, 0.0), Record(0.01, 1, frame("client", "TEXT", "hi\nthere 👋 你好".encode()))]
    ax = plot.timeline(records)
    ax.figure.canvas.draw()
    label = labels(ax, "frame")[0]
    # Characters no installed font has become □; CJK fonts, when installed, are used as fallbacks.
    assert label in ('TEXT "hi⏎there □ □□" (20 B, masked)', 'TEXT "hi⏎there □ 你好" (20 B, masked)')
    assert not [w for w in recwarn if "Glyph" in str(w.message)]


def test_tcp_marks():
    ax = plot.timeline(lifecycle())
    got = labels(ax, "tcp")
    assert got == ["TCP connect", "FIN", "FIN"]
    assert len(arrows(ax, "tcp")) == 3
    records = [*lifecycle()[:-3], Record(0.02, 1, Tcp("client", "reset", "fault injected"))]
    ax = plot.timeline(records)
    rst = [t for t in texts(ax, "tcp") if "RST" in t.get_text()]
    assert len(rst) == 1 and rst[0].get_color() == plot.COLORS["error"]
    assert "fault injected" in details(ax)


def test_state_bands():
    ax = plot.timeline(lifecycle())
    bands = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "state"]
    # client: CONNECTING, OPEN, CLOSING, CLOSED; server: the same.
    assert len(bands) == 8
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"CONNECTING", "OPEN", "CLOSING", "CLOSED"} <= set(legend)
    # Bands follow each other down the lifeline, without gaps.
    client_x = min(p.get_x() for p in bands)
    client = sorted((p for p in bands if p.get_x() == client_x), key=lambda p: p.get_y())
    for a, b in itertools.pairwise(client):
        assert a.get_y() + a.get_height() == pytest.approx(b.get_y())


def test_two_connections_two_lanes():
    records = sorted(lifecycle(1) + lifecycle(2, 0.004), key=lambda r: r.t)
    ax = plot.timeline(records, server="per-connection")
    heads = labels(ax, "lifeline")
    assert sorted(h for h in heads if "client" in h) == ["conn 1 client", "conn 2 client"]
    assert len(arrows(ax, "frame")) == 8
    assert "2 connections" in ax.get_title()


def test_clients_of_one_server_share_its_lifeline():
    records = chat(3)
    ax = plot.timeline(records)
    assert labels(ax, "lifeline") == ["client 1", "client 2", "client 3", "server"]
    lines = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "lifeline-line"]
    assert len(lines) == 4  # one server lifeline, not three
    server_x = max(lines)
    # Each connection's server states are a column of the one server lifeline, side by side.
    bands = [p for p in ax.patches if p.get_gid() == "state" and p.get_x() > max(lines[:3])]
    columns = sorted({round(p.get_x() + p.get_width() / 2, 6) for p in bands})
    assert len(columns) == 3 and columns[0] < server_x < columns[-1]
    # Every server arrow ends (or starts) at its own connection's column.
    assert len(arrows(ax, "frame")) == n_frames(records)
    named = plot.timeline(records, names={1: "alice", 2: "bob"})
    assert labels(named, "lifeline") == ["alice", "bob", "client 3", "server"]
    with pytest.raises(ValueError, match="server: shared, per-connection"):
        plot.timeline(records, server="one")


def test_chat_three_clients():
    records = chat(3)
    ax = plot.timeline(records)
    assert sum("client" in h for h in labels(ax, "lifeline")) == 3
    assert sum(h == "server" for h in labels(ax, "lifeline")) == 1
    assert len(arrows(ax, "frame")) == n_frames(records)
    assert '"1: hi all"' in " ".join(labels(ax, "frame"))


def test_conn_selects_one_connection():
    ax = plot.timeline(chat(3), conn=2)
    assert labels(ax, "lifeline") == ["client", "server"]
    assert all(t.get_text() for t in texts(ax, "frame"))
    assert len(arrows(ax, "frame")) == n_frames([r for r in chat(3) if r.conn == 2])


def test_many_frames_are_thinned():
    records = burst(500)
    assert n_frames(records) == 500
    ax = plot.timeline(records, max_frames=60)
    shown = len(arrows(ax, "frame"))
    assert 50 <= shown <= 60
    groups = texts(ax, "group")
    assert groups and all("TEXT frames" in t.get_text() for t in groups)
    collapsed = sum(int(t.get_text().split()[1]) for t in groups)
    assert shown + collapsed == 500
    assert "of 500" in ax.get_title()
    assert f"showing {shown} of 500 frames" in ax.get_title()
    got = labels(ax, "frame")
    assert sum(label.startswith("CLOSE") for label in got) == 2
    assert sum(label.startswith(("PING", "PONG")) for label in got) == 2
    assert labels(ax, "handshake")[0].startswith("GET")
    assert ax.figure.get_figheight() <= 40


def test_no_thinning_below_max_frames():
    ax = plot.timeline(burst(40), max_frames=60)
    assert len(arrows(ax, "frame")) == 40
    assert not texts(ax, "group")
    assert "showing" not in ax.get_title()


def test_rejected_handshake():
    ax = plot.timeline(rejected())
    got = labels(ax, "handshake")
    assert got[1] == "426 Upgrade Required"
    assert texts(ax, "handshake")[1].get_color() == plot.COLORS["error"]
    assert not texts(ax, "frame")
    assert 'body: "Upgrade Required: this server speaks WebSocket 13"' in details(ax)


def test_decode_error_and_note():
    ax = plot.timeline(faults())
    assert labels(ax, "error") == ["decode error at byte 57"]
    assert "reserved opcode 0x3: the connection must be failed (RFC 6455 §5.2)" in details(ax)
    assert labels(ax, "note") == ["✎ lab: injecting a frame with reserved opcode 0x3"]
    assert "server closed its socket" in labels(ax, "tcp")


def test_long_details_wrap_and_make_the_row_taller():
    ax = plot.timeline(faults())
    bad = next(t for t in texts(ax, "detail") if t.get_text().lstrip().startswith("⚠"))
    assert bad.get_text().count("\n") == 1  # two lines
    assert "and a second problem" in details(ax)
    rows = sorted(t.xy[1] for t in texts(ax, "frame"))
    plain_gap = rows[1] - rows[0]           # TEXT fin=0 -> CONTINUATION: no detail
    problem = next(t for t in texts(ax, "frame") if "masked by mistake" in t.get_text()).xy[1]
    following = min(y for y in [t.xy[1] for t in ax.texts if isinstance(t, Annotation)] if y > problem)
    assert following - problem > 1.8 * plain_gap


def test_kwargs_reach_the_arrows():
    ax = plot.timeline(lifecycle(), fontsize=13, arrowprops={"lw": 3.5})
    ann = texts(ax, "frame")[0]
    assert ann.get_fontsize() == 13
    assert ann.arrow_patch.get_linewidth() == 3.5


def test_title_and_empty():
    ax = plot.timeline(lifecycle(), title="Echo lab")
    assert ax.get_title() == "Echo lab"
    ax = plot.timeline([])
    assert texts(ax, "empty")


EVENT_GIDS = {"frame", "group", "handshake", "tcp", "error", "note", "detail", "lifeline", "lifeline-foot"}


@pytest.mark.parametrize("make", [lifecycle, chat, burst, rejected, faults])
def test_no_text_overlaps_or_is_cut_off(make):
    ax = plot.timeline(make())
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # Text.get_window_extent: the text alone, not an annotation's arrow.
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts if t.get_gid() in EVENT_GIDS]
    boxes += [(t.get_text(), t.get_window_extent(renderer)) for t in ax.get_yticklabels() if t.get_text()]
    assert len(boxes) > 10
    for i, (text_a, a) in enumerate(boxes):
        assert fig.bbox.x0 <= a.x0 and a.x1 <= fig.bbox.x1 and fig.bbox.y0 <= a.y0 and a.y1 <= fig.bbox.y1, text_a
        for text_b, b in boxes[i + 1:]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_x <= 1 or overlap_y <= 1, (text_a, text_b)
    for t in ax.texts + ax.get_yticklabels() + [ax.title, ax.yaxis.label]:
        if t.get_text():
            assert t.get_fontsize() >= 9, t.get_text()


def test_draws_without_warnings(recwarn):
    for records in (lifecycle(), chat(3), burst(500), rejected(), faults()):
        plot.timeline(records).figure.canvas.draw()
    assert not [w for w in recwarn if "Glyph" in str(w.message) or "layout" in str(w.message).lower()]


# -- row labels ---------------------------------------------------------------------------

STEPS = ["", "step 1", "steps 2–3", "step 4", "steps 5–6", "step 7", "step 8", "step 9", "step 9"]


def events(records) -> list[Record]:
    return [r for r in records if r.kind != "state"]


def test_row_labels_sit_on_their_rows_at_the_right():
    records = lifecycle()
    assert len(events(records)) == len(STEPS)
    ax = plot.timeline(records, labels=STEPS)
    got = texts(ax, "row-label")
    assert [t.get_text() for t in got] == [s for s in STEPS if s]  # '' draws nothing
    rows = list(ax.get_yticks())  # one tick per row, in time order
    assert [t.get_position()[1] for t in got] == [y for y, s in zip(rows, STEPS, strict=False) if s]
    # Each label is on the same row as its event's arrow: "step 4" on the client's TEXT frame.
    hello = next(t for t in texts(ax, "frame") if "Hello Server" in t.get_text())
    assert next(t for t in got if t.get_text() == "step 4").get_position()[1] == hello.xy[1]
    server_x = max(line.get_xdata()[0] for line in ax.lines if line.get_gid() == "lifeline-line")
    assert all(t.get_position()[0] > server_x for t in got)
    leaders = [line for line in ax.lines if line.get_gid() == "row-label-line"]
    assert len(leaders) == len(got)


def test_row_labels_reach_trace_plot():
    from wslab.capture.trace import Trace

    ax = Trace(lifecycle()).plot(labels=STEPS, title="steps")
    assert len(texts(ax, "row-label")) == 8
    assert ax.get_title() == "steps"


def test_row_labels_must_match_the_events():
    with pytest.raises(ValueError, match="got 3 labels for 9 events"):
        plot.timeline(lifecycle(), labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="one per event"):
        plot.timeline(lifecycle(), labels=[*STEPS, "extra"])
    with pytest.raises(TypeError, match="single string"):
        plot.timeline(lifecycle(), labels="step 1")
    # conn= picks the events first: one label per event of connection 2.
    records = chat(3)
    two = events([r for r in records if r.conn == 2])
    ax = plot.timeline(records, conn=2, labels=[f"e{i}" for i in range(len(two))])
    assert len(texts(ax, "row-label")) == len(two)


def test_row_labels_with_thinning_join_the_collapsed_frames():
    records = burst(200)
    n = len(events(records))
    names = ["odd" if i % 2 else "even" for i in range(n)]
    ax = plot.timeline(records, max_frames=10, labels=names)
    assert "showing" in ax.get_title()
    got = [t.get_text() for t in texts(ax, "row-label")]
    assert len(got) == len(ax.get_yticks())  # one label per drawn row, not per event
    assert len(got) < n
    assert "even, odd" in got or "odd, even" in got  # a group row shows its frames' labels


@pytest.mark.parametrize("given_ax", [False, True])
def test_row_labels_do_not_overlap_and_fit(given_ax):
    ax = plt.subplots(figsize=(8, 6), layout="constrained")[1] if given_ax else None
    ax = plot.timeline(lifecycle(), ax=ax, labels=["a very long label for the first row", *STEPS[1:]])
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts
             if t.get_gid() in EVENT_GIDS | {"row-label"}]
    assert sum(gid == "row-label" for gid in (t.get_gid() for t in ax.texts)) == 9
    for i, (text_a, a) in enumerate(boxes):
        assert fig.bbox.x0 <= a.x0 and a.x1 <= fig.bbox.x1, text_a
        for text_b, b in boxes[i + 1:]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_x <= 1 or overlap_y <= 1, (text_a, text_b)


# -- sizes -----------------------------------------------------------------------------

def test_sizes_header_and_payload():
    records = lifecycle()
    _fig, ax = plt.subplots()
    assert plot.sizes(records, ax=ax) is ax
    header = [p for p in ax.patches if p.get_gid() == "header"]
    payload = [p for p in ax.patches if p.get_gid() == "payload"]
    assert len(header) == len(payload) == 4
    # Hello Server: 2 header bytes + 4 mask bytes, 12 payload bytes, from the client (up).
    assert header[0].get_height() == 6 and payload[0].get_height() == 12
    # Hello Client: 2 header bytes, unmasked, from the server (down).
    assert header[1].get_height() == -2 and payload[1].get_height() == -12


def test_sizes_makes_figure():
    ax = plot.sizes(burst(100))
    assert len([p for p in ax.patches if p.get_gid() == "header"]) == 100
    assert any("client→server" in t.get_text() for t in ax.get_legend().get_texts())


def test_a_long_note_wraps_instead_of_being_cut():
    text = "the lab asked the server to close the connection (1000 'bye') after the first answer"
    records = [*lifecycle(), Record(0.5, 1, Note("server", text))]
    fig, (ax, _) = plt.subplots(1, 2, figsize=(13, 6))
    plot.timeline(records, ax=ax)
    notes = [t for t in ax.texts if t.get_gid() == "note"]
    assert len(notes) == 1
    shown = notes[0].get_text()
    assert "\n" in shown and shown.replace("\n", " ").endswith("first answer")
    plt.close(fig)


# -- projector look: palette, sizes, state names, proportional time, alt text (issue #9 item 7) -----------

def test_projector_defaults_big_text_high_dpi_okabe_ito():
    ax = plot.timeline(lifecycle())
    assert ax.figure.dpi >= 150
    assert all(t.get_fontsize() >= 12 for t in texts(ax, "frame"))
    assert ax.yaxis.label.get_fontsize() >= 12
    okabe_ito = {"#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9"}
    assert {plot.COLORS["data"], plot.COLORS["close"]} <= okabe_ito
    assert {plot.STATE_COLORS[s] for s in ("CONNECTING", "OPEN", "CLOSING")} <= okabe_ito


def test_state_names_are_written_in_their_bands():
    ax = plot.timeline(lifecycle())
    names = [t for t in ax.texts if t.get_gid() == "state-name"]
    assert {t.get_text() for t in names} >= {"OPEN", "CLOSING"}
    bands = [p for p in ax.patches if p.get_gid() == "state"]
    for name in names:
        x, y = name.get_position()
        assert any(b.get_x() <= x <= b.get_x() + b.get_width() and b.get_y() <= y <= b.get_y() + b.get_height()
                   for b in bands), name.get_text()
        assert name.get_rotation() == 90


def close_timeout() -> list[Record]:
    """A client closes; the server answers 0.5 s later (a close timeout): the one gap that matters."""
    records = lifecycle()
    late = [r for r in records if r.t >= 0.007]
    return sorted([r for r in records if r.t < 0.007] + [Record(r.t + 0.5, r.conn, r.event) for r in late],
                  key=lambda r: r.t)


def test_proportional_time_makes_a_long_gap_long_and_says_how_long():
    rows = plot.timeline(close_timeout())
    scaled = plot.timeline(close_timeout(), time="proportional")
    ticks_rows, ticks_scaled = list(rows.get_yticks()), list(scaled.get_yticks())
    steps = [b - a for a, b in itertools.pairwise(ticks_scaled)]
    assert max(steps) > 4 * sorted(steps)[len(steps) // 2]  # the 0.5 s wait stands out from the rest
    assert max(b - a for a, b in itertools.pairwise(ticks_rows)) < 2  # rows: evenly spaced
    gaps = [t.get_text() for t in scaled.texts if t.get_gid() == "gap"]
    assert len(gaps) == 1 and "503.9 ms later" in gaps[0]
    assert "to scale" in scaled.get_ylabel() and "not to scale" in rows.get_ylabel()
    with pytest.raises(ValueError, match="time: rows, proportional"):
        plot.timeline(lifecycle(), time="log")


def test_every_timeline_has_alt_text():
    from wslab.plot.alt import alt_text, described

    ax = plot.timeline(lifecycle(), title="The article's connection")
    alt = alt_text(ax)
    assert alt.startswith("Sequence diagram: The article's connection. a client lifeline and a server lifeline")
    assert "client → server: TEXT" in alt and "Hello Server" in alt and "TCP FIN" in alt
    assert alt_text(ax.figure) == alt
    shown = described(ax)
    assert repr(shown) == alt
    assert f'alt="{alt[:30]}' in shown._repr_html_().replace("&#x27;", "'")
    assert shown.png.startswith(b"\x89PNG") and shown._repr_png_()[1] == {"alt": alt}
    assert not plt.fignum_exists(ax.figure.number)  # closed: the inline backend won't show it twice
    assert "no events" in alt_text(plot.timeline([])) or "empty" in alt_text(plot.timeline([]))


def test_a_lab_cut_is_one_two_headed_rst_with_one_caption():
    records = [*opening(1, 0.0), Record(0.004, 1, Note("client", "fault: the lab cut the TCP connection")),
               Record(0.0041, 1, Tcp("client", "reset", "fault: the lab cut the TCP connection"))]
    ax = plot.timeline(sorted(records, key=lambda r: r.t))
    [rst] = [t for t in texts(ax, "tcp") if "RST" in t.get_text()]
    assert "both peers" in rst.get_text() and rst.arrow_patch.get_arrowstyle().__class__.__name__ == "CurveFilledAB"
    assert sum("lab cut" in t.get_text() for t in ax.texts if t.get_gid() in ("note", "detail")) == 1


def test_panels_share_one_vertical_scale_with_their_first_rows_level():
    short, long = lifecycle(), close_timeout()
    left, right = plot.panels(short, long, titles=["short", "long"], time=["rows", "proportional"])
    assert left.figure is right.figure and left.figure.dpi >= 150
    assert left.get_ylim() == right.get_ylim()  # one scale: the deeper panel's
    assert left.get_yticks()[0] == right.get_yticks()[0]  # the first rows level
    assert [t.get_text() for t in right.texts if t.get_gid() == "gap"]
    assert not [t.get_text() for t in left.texts if t.get_gid() == "gap"]
    assert "short" in plot.alt_text(left.figure) and "long" in plot.alt_text(left.figure)
    with pytest.raises(ValueError, match="give as many titles and times"):
        plot.panels(short, long, titles=["one"])
