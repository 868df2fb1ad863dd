"""wslab.load_pcap on hand-built captures: TCP reassembly, link types, what can't be decoded, round trips.

The live captures of real peers, compared with tshark, are in test_load_pcap_live.py.
"""

import dataclasses
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pcap_builder import MASK, Conversation, Packet, article, request, response, retimed, shuffled, write

from wslab import Lab, load, load_pcap
from wslab.capture.readers.reassembly import Delivery, HalfStream, Segment, TcpConnection
from wslab.decode import build_frame

ARTICLE_FRAMES = [
    ("client", "TEXT", b"Hello Server", True), ("server", "TEXT", b"Hello Client", False),
    ("client", "BINARY", bytes(range(200)) * 2, True), ("server", "BINARY", bytes(range(200)) * 2, False),
    ("client", "CLOSE", b"\x03\xe8bye", True), ("server", "CLOSE", b"\x03\xe8bye", False),
]


def frames(trace, conn=None):
    return [(f.sender, f.opcode, f.payload, f.masked) for f in trace.frames if conn is None or f.conn == conn]


def streams(trace, conn):
    """Each direction's decoded bytes, joined from the trace's chunks (checking their offsets on the way)."""
    out = {"client": b"", "server": b""}
    for chunk in trace.chunks:
        if chunk.conn == conn:
            assert chunk.offset == len(out[chunk.sender])
            out[chunk.sender] += chunk.data
    return out


def sent(messages, sender):
    return b"".join(data for who, data in messages if who == sender)


def article_connection(**kwargs) -> Conversation:
    return Conversation(**kwargs).talk(article()).fin("server").fin("client")


# ---------------------------------------------------------------------------
# Reassembly, one direction and one connection at a time.
# ---------------------------------------------------------------------------


def data_of(deliveries):
    return [(d.kind, d.offset, d.data) for d in deliveries]


def test_in_order_segments_are_delivered_at_their_offsets():
    half = HalfStream()
    assert half.segment(0.0, 99, syn=True) == []
    assert data_of(half.segment(1.0, 100, b"abc")) == [("data", 0, b"abc")]
    assert data_of(half.segment(2.0, 103, b"def")) == [("data", 3, b"def")]
    assert half.start_seen and half.next == 6


def test_out_of_order_segments_wait_for_the_gap_and_arrive_with_the_segment_that_fills_it():
    half = HalfStream()
    half.segment(0.0, 99, syn=True)
    assert half.segment(1.0, 106, b"ghi") == []
    assert half.segment(2.0, 103, b"def") == []
    delivered = half.segment(3.0, 100, b"abc")
    assert delivered == [Delivery("data", 3.0, 0, b"abcdefghi")]  # at the time the hole was filled


def test_retransmissions_and_overlaps_keep_the_bytes_seen_first():
    half = HalfStream()
    half.segment(0.0, 99, syn=True)
    half.segment(1.0, 100, b"abcd")
    assert half.segment(2.0, 100, b"abcd") == []  # a retransmission
    assert half.segment(2.5, 101, b"bc") == []  # inside what was delivered
    assert data_of(half.segment(3.0, 102, b"XXef")) == [("data", 4, b"ef")]  # overlaps: only the new bytes
    half.segment(4.0, 110, b"klm")  # waits
    half.segment(4.5, 109, b"jKLMn")  # overlaps the waiting segment; its own bytes were there first
    assert data_of(half.segment(5.0, 106, b"ghi")) == [("data", 6, b"ghijklmn")]


def test_sequence_numbers_wrap_around():
    half = HalfStream()
    half.segment(0.0, 2**32 - 3, syn=True)  # offset 0 is sequence number 2**32 - 2
    assert data_of(half.segment(1.0, 2**32 - 2, b"abcd")) == [("data", 0, b"abcd")]
    assert data_of(half.segment(2.0, 2, b"ef")) == [("data", 4, b"ef")]


def test_bytes_the_peer_acknowledged_but_the_capture_missed_are_a_gap():
    half = HalfStream()
    half.segment(0.0, 99, syn=True)
    half.segment(1.0, 100, b"abc")
    half.segment(2.0, 110, b"klm")  # 103..109 never captured
    assert half.acked(2.5, 106) == [Delivery("gap", 2.5, 3, size=3)]
    assert half.acked(2.6, 113) == [Delivery("gap", 2.6, 6, size=4), Delivery("data", 2.6, 10, b"klm")]
    assert half.acked(3.0, 113) == []


def test_at_the_end_of_the_capture_holes_are_gaps_and_a_fin_behind_them_is_delivered():
    half = HalfStream()
    half.segment(0.0, 99, syn=True)
    half.segment(1.0, 100, b"abc")
    half.segment(2.0, 110, b"klm", fin=True)
    assert half.close() == [Delivery("gap", 2.0, 3, size=7), Delivery("data", 2.0, 10, b"klm"),
                            Delivery("fin", 2.0)]


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_order_with_duplicates_and_overlaps_gives_back_the_stream(stream, data):
    """However the segments come (cut anywhere, shuffled, repeated, overlapping), the bytes come out in order."""
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12)) if len(stream) > 1 else [])
    bounds = list(zip([0, *cuts], [*cuts, len(stream)], strict=True))
    extra = data.draw(st.lists(st.tuples(st.integers(0, len(stream) - 1), st.integers(1, 40)), max_size=6))
    segments = [(a, stream[a:b]) for a, b in bounds] + [(a, stream[a:a + n]) for a, n in extra]
    segments = data.draw(st.permutations(segments))
    isn = data.draw(st.integers(0, 2**32 - 1))
    half = HalfStream()
    half.segment(0.0, isn, syn=True)
    out = []
    for i, (at, piece) in enumerate(segments):
        out += half.segment(float(i), (isn + 1 + at) % 2**32, piece)
    assert [d.kind for d in out] == ["data"] * len(out)
    assert [d.offset for d in out] == [sum(len(d.data) for d in out[:i]) for i in range(len(out))]
    assert b"".join(d.data for d in out) == stream
    assert half.close() == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["client", "server"]), st.binary(max_size=200)), max_size=8),
       st.integers(0, 3), st.booleans())
def test_load_pcap_never_fails_on_what_a_connection_carries(tmp_path_factory, messages, drop, upgrade):
    """Random bytes after (or instead of) a handshake, a segment lost: a trace, never an exception."""
    opening = [("client", request()), ("server", response())] if upgrade else []
    packets = Conversation(mss=64).talk(opening + messages).fin("client").packets
    data = [i for i, p in enumerate(packets) if p.data]
    if drop and data:
        del packets[data[drop % len(data)]]
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.pcap"
    write(path, packets)
    trace = load_pcap(path)
    assert trace.connections == [1]
    trace.diagnose()
    str(trace)


def test_a_fin_waits_for_the_bytes_before_it():
    half = HalfStream()
    half.segment(0.0, 99, syn=True)
    assert half.segment(1.0, 103, b"", fin=True) == []
    assert [d.kind for d in half.segment(2.0, 100, b"abc")] == ["data", "fin"]
    assert half.ended


def test_a_capture_that_starts_mid_connection_starts_at_the_first_byte_it_saw():
    half = HalfStream()
    assert data_of(half.segment(1.0, 123456, b"xyz")) == [("data", 0, b"xyz")]
    assert not half.start_seen


def test_a_connection_reports_the_syn_acks_before_data_and_resets():
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 80)
    tcp = TcpConnection(Segment(0.0, client, server, 999, None, syn=True))
    assert tcp.packet(Segment(0.0, client, server, 999, None, syn=True)) == [(client, Delivery("syn", 0.0))]
    assert tcp.opener == client
    tcp.packet(Segment(0.1, server, client, 4999, 1000, syn=True))
    tcp.packet(Segment(0.2, client, server, 1000, 5000, data=b"hello"))
    tcp.packet(Segment(0.3, server, client, 5000, 1005, data=b"world"))
    assert tcp.packet(Segment(0.4, client, server, 1005, 5005, rst=True)) == [(client, Delivery("rst", 0.4))]
    assert tcp.over and tcp.packet(Segment(0.5, server, client, 5005, 1005, data=b"late")) == []


# ---------------------------------------------------------------------------
# Whole captures.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["ethernet", "sll", "sll2", "null", "raw"])
@pytest.mark.parametrize("fmt", ["pcap", "pcap-ns", "pcapng"])
def test_the_articles_connection_on_every_link_type_and_file_format(tmp_path, link, fmt):
    conversation = article_connection()
    path = tmp_path / "article.cap"
    write(path, conversation.packets, link=link, fmt=fmt)
    trace = load_pcap(path)
    assert frames(trace) == ARTICLE_FRAMES
    assert trace.started == pytest.approx(1_700_000_000.0)
    request_record, response_record = trace.handshakes
    assert (request_record.method, request_record.path, response_record.status) == ("GET", "/chat", 101)
    assert response_record.accept.ok
    assert [(r.sender, r.what) for r in trace.filter("tcp")] == [("client", "connect"), ("server", "eof"),
                                                                  ("client", "eof")]
    assert [(r.sender, r.state) for r in trace.filter("state")][-2:] == [("server", "CLOSED"), ("client", "CLOSED")]
    assert streams(trace, 1) == {s: sent(article(), s) for s in ("client", "server")}
    assert not trace.errors and not trace.filter("note")
    assert "closed normally" in trace.diagnose().text


def test_ipv6(tmp_path):
    conversation = article_connection(client=("2001:db8::1", 50000), server=("2001:db8::2", 443 + 8000))
    write(tmp_path / "v6.pcapng", conversation.packets, fmt="pcapng")
    trace = load_pcap(tmp_path / "v6.pcapng")
    assert frames(trace) == ARTICLE_FRAMES


def test_out_of_order_retransmitted_and_overlapping_segments(tmp_path):
    packets = shuffled(article_connection(mss=7).packets, seed=3)
    moved = sum(a.seq != b.seq for a, b in zip(packets, article_connection(mss=7).packets, strict=False))
    assert moved > 20  # the shuffle did reorder segments
    # Retransmit every fifth data segment later on, and overlap some with a segment spanning two.
    extra = []
    data = [p for p in packets if p.data]
    for p in data[::5]:
        extra.append(dataclasses.replace(p))
    for a, b in itertools.pairwise(data):
        if a.src == b.src and (a.seq + len(a.data)) % 2**32 == b.seq and len(extra) < 40:
            extra.append(dataclasses.replace(a, data=a.data[3:] + b.data[:4], seq=(a.seq + 3) % 2**32))
    mixed = list(packets)
    for i, p in enumerate(extra):
        mixed.insert(min(len(mixed) - 4, 10 + i * 7), p)
    write(tmp_path / "messy.pcap", retimed(mixed))
    trace = load_pcap(tmp_path / "messy.pcap")
    assert frames(trace) == ARTICLE_FRAMES
    assert streams(trace, 1) == {s: sent(article(), s) for s in ("client", "server")}
    assert not trace.errors and not trace.filter("note")


def test_two_connections_interleaved(tmp_path):
    second_messages = [("client", request("/second")), ("server", response()),
                       ("client", build_frame("TEXT", "second connection", mask=MASK)),
                       ("server", build_frame("PING", b"ping?")),
                       ("client", build_frame("PONG", b"ping?", mask=MASK))]
    first = article_connection(t=0.0, step=0.002).packets
    second = Conversation(client=("10.0.0.3", 40002), t=0.001, step=0.002).talk(second_messages).reset("client")
    packets = sorted(first + second.packets, key=lambda p: p.t)
    write(tmp_path / "two.pcap", packets)
    trace = load_pcap(tmp_path / "two.pcap")
    assert trace.connections == [1, 2]
    assert frames(trace, 1) == ARTICLE_FRAMES
    assert frames(trace, 2) == [("client", "TEXT", b"second connection", True), ("server", "PING", b"ping?", False),
                                ("client", "PONG", b"ping?", True)]
    assert [r.path for r in trace.handshakes if r.sender == "client"] == ["/chat", "/second"]
    assert [(r.sender, r.what, r.note) for r in trace.filter("tcp", conn=2)] == [
        ("client", "connect", ""), ("client", "reset", "RST")]
    # The frames of the two connections really were interleaved in time.
    times = {conn: [r.t for r in trace.frames if r.conn == conn] for conn in (1, 2)}
    assert times[1][0] < times[2][0] < times[1][-1]
    assert "reset TCP" in trace.diagnose().about(2).text


def test_a_new_connection_on_the_same_ports_is_a_new_connection(tmp_path):
    first = article_connection(isn=(1000, 5000)).packets
    again = article_connection(isn=(777777, 888888), t=1.0).packets
    write(tmp_path / "reuse.pcap", first + again)
    trace = load_pcap(tmp_path / "reuse.pcap")
    assert trace.connections == [1, 2]
    assert frames(trace, 1) == frames(trace, 2) == ARTICLE_FRAMES


def test_permessage_deflate_is_inflated_when_the_handshake_was_captured(tmp_path):
    import zlib

    def deflated(text):
        compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return data[:-4]  # RFC 7692 §7.2.1: without the trailing 00 00 ff ff

    extension = ("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
                 "server_no_context_takeover\r\n")
    split = deflated("one message in two frames, " * 5)
    messages = [("client", request(extra=extension)), ("server", response(extra=extension)),
                ("client", build_frame("TEXT", deflated("squeeze me " * 20), rsv1=True, mask=MASK)),
                ("server", build_frame("TEXT", deflated("squeezed " * 30), rsv1=True)),
                ("server", build_frame("TEXT", split[:10], rsv1=True, fin=False)
                 + build_frame("CONTINUATION", split[10:]))]
    write(tmp_path / "deflate.pcap", Conversation().talk(messages).packets)
    trace = load_pcap(tmp_path / "deflate.pcap")
    assert trace.messages() == ["squeeze me " * 20, "squeezed " * 30, "one message in two frames, " * 5]
    assert all(f.compressed and not f.problems for f in trace.frames)
    assert [len(f.payload) for f in trace.frames] == [220, 270, len(trace.frames[2].payload), 135 - len(
        trace.frames[2].payload)]  # each frame inflates to its own part of the message


# ---------------------------------------------------------------------------
# What can't be decoded is said, in a note per connection.
# ---------------------------------------------------------------------------


def notes(trace, conn=None):
    return [r.text for r in trace.filter("note", conn=conn)]


def test_tls_is_said_plainly(tmp_path):
    client_hello = bytes.fromhex("16030100f8010000f40303") + bytes(240)
    server_hello = bytes.fromhex("160303007a020000760303") + bytes(118)
    packets = Conversation(server=("10.0.0.2", 443)).talk([("client", client_hello), ("server", server_hello),
                                                           ("client", bytes.fromhex("1703030020") + bytes(32))]).packets
    write(tmp_path / "tls.pcap", packets)
    trace = load_pcap(tmp_path / "tls.pcap")
    [text] = notes(trace)
    assert text.startswith("TLS: encrypted, can't decode frames")
    assert "10.0.0.1:40001 → 10.0.0.2:443" in text and "load_har" in text
    assert [r.kind for r in trace] == ["note"] and not trace.chunks
    [finding] = trace.diagnose()
    assert finding.severity == "warning" and finding.text == text


def test_plain_http_other_protocols_refusals_and_empty_connections_are_not_websocket(tmp_path):
    page = [("client", b"GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n"),
            ("server", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            ("client", b"GET /favicon.ico HTTP/1.1\r\nHost: example.test\r\n\r\n"),
            ("server", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]
    http = Conversation(client=("10.0.0.1", 40001)).talk(page).fin("client").fin("server")
    ssh = Conversation(client=("10.0.0.1", 40002), server=("10.0.0.2", 22)).talk(
        [("server", b"SSH-2.0-OpenSSH_9.2\r\n"), ("client", b"SSH-2.0-OpenSSH_9.2\r\n")])
    refused = Conversation(client=("10.0.0.1", 40003), server=("10.0.0.2", 9), handshake=False)
    refused.packets.append(Packet(0.0, ("10.0.0.1", 40003), ("10.0.0.2", 9), 1, 0, 0x02))
    refused.packets.append(Packet(0.0, ("10.0.0.2", 9), ("10.0.0.1", 40003), 0, 2, 0x14))
    empty = Conversation(client=("10.0.0.1", 40004)).fin("client").fin("server")
    write(tmp_path / "other.pcap", http.packets + ssh.packets + refused.packets + empty.packets)
    trace = load_pcap(tmp_path / "other.pcap")
    texts = notes(trace)
    assert len(texts) == 4 and trace.connections == [1, 2, 3, 4] and not trace.chunks
    assert texts[0].startswith("not decoded: not a WebSocket connection: plain HTTP ('GET /index.html HTTP/1.1')")
    assert texts[1].startswith("not decoded: not a WebSocket connection: it starts with 'SSH-2.0-OpenSSH_9.2")
    assert texts[2] == ("not decoded: TCP 10.0.0.1:40003 → 10.0.0.2:9 was refused: 10.0.0.2:9 answered the SYN "
                        "with a reset (nothing listening on that port?)")
    assert texts[3] == "not decoded: TCP 10.0.0.1:40004 → 10.0.0.2:8765 carried no data: not a WebSocket connection"
    assert [(f.conn, f.severity, f.text) for f in trace.diagnose()] == [
        (conn, "info", text) for conn, text in enumerate(texts, start=1)]


def test_a_long_connection_without_a_handshake_is_not_held_in_memory(tmp_path, monkeypatch):
    import wslab.capture.readers.connections as connections

    monkeypatch.setattr(connections, "MAX_HELD", 2000)
    download = [("client", b"GET /big HTTP/1.1\r\nHost: example.test\r\n\r\n"),
                ("server", b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)]
    write(tmp_path / "big.pcap", Conversation().talk(download).fin("client").fin("server").packets)
    assert notes(load_pcap(tmp_path / "big.pcap")) == [
        "not decoded: not a WebSocket connection: plain HTTP ('GET /big HTTP/1.1'), no request with Upgrade: "
        "websocket (41 bytes client → server, 5041 bytes server → client) — TCP 10.0.0.1:40001 → 10.0.0.2:8765 "
        "(wslab stopped looking for a handshake after 2000 bytes)"]


def test_a_capture_that_starts_mid_connection(tmp_path):
    # Joined mid-way: a keep-alive connection's last plain HTTP exchange, then the WebSocket upgrade.
    earlier = [("client", b"ET /old HTTP/1.1\r\nHost: example.test\r\n\r\n"),
               ("server", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    joined = Conversation(handshake=False, isn=(5555, 7777)).talk(earlier + article()).fin("server").fin("client")
    # Joined after the handshake: frames only.
    frames_only = Conversation(client=("10.0.0.1", 40009), handshake=False).talk(article()[2:4])
    write(tmp_path / "mid.pcap", joined.packets + frames_only.packets)
    trace = load_pcap(tmp_path / "mid.pcap")
    assert frames(trace, 1) == ARTICLE_FRAMES
    assert notes(trace, 1) == ["capture starts mid-connection: 40 bytes client → server and 40 bytes server → "
                               "client before the first handshake skipped"]
    assert streams(trace, 1) == {s: sent(article(), s) for s in ("client", "server")}
    [text] = notes(trace, 2)
    assert text.startswith("capture starts mid-connection: no WebSocket handshake in the bytes captured "
                           "(18 bytes client → server, 14 bytes server → client)")
    assert not frames(trace, 2)


def test_bytes_the_capture_missed_stop_that_direction_and_say_so(tmp_path):
    packets = article_connection(mss=50).packets
    lost = next(i for i, p in enumerate(packets) if p.data and p.src[1] == 8765 and p.seq > 5300)
    del packets[lost]  # a server segment inside the BINARY frame; the client's ACK covers it
    write(tmp_path / "lost.pcap", packets)
    trace = load_pcap(tmp_path / "lost.pcap")
    assert [(f[0], f[1]) for f in frames(trace)] == [("client", "TEXT"), ("server", "TEXT"), ("client", "BINARY"),
                                                     ("client", "CLOSE")]
    [text] = notes(trace)
    assert text.startswith("50 bytes server → client missing from the capture") and "not decoded" in text
    assert not trace.errors  # the torn frame is not reported as a broken one
    assert [(r.sender, r.what) for r in trace.filter("tcp")] == [("client", "connect"), ("server", "eof"),
                                                                  ("client", "eof")]


def test_segments_cut_by_the_snapshot_length_are_missing_bytes(tmp_path):
    write(tmp_path / "short.pcap", article_connection(mss=1000).packets, snaplen=120)
    trace = load_pcap(tmp_path / "short.pcap")
    [text] = notes(trace)
    assert text.startswith("the capture is missing 718 bytes client → server and 662 bytes server → client of this "
                           "TCP connection (packets it didn't record; 4 packets were cut short by the capture's "
                           "snapshot length (-s)), and no WebSocket handshake is in what it has")
    assert trace.diagnose()[0].severity == "warning"


def test_the_capture_ends_mid_frame(tmp_path):
    messages = [*article()[:2], ("client", build_frame("TEXT", "x" * 300, mask=MASK)[:150])]
    write(tmp_path / "open.pcap", Conversation().talk(messages).packets)
    trace = load_pcap(tmp_path / "open.pcap")
    assert notes(trace) == ["the capture ends with 150 bytes client → server still to come (an unfinished frame "
                            "or HTTP head)"]
    assert not trace.errors


@pytest.mark.parametrize("content, words", [
    (b"", "an empty file"),
    (json.dumps({"wslab_trace": 1}).encode(), "use wslab.load() for a saved trace"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a pcap or pcapng capture (it starts with 89 50 4e 47"),
])
def test_a_file_that_is_not_a_capture_is_a_clear_error(tmp_path, content, words):
    path = tmp_path / "not.pcap"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a pcap or pcapng capture") as info:
        load_pcap(path)
    assert words in str(info.value)


def test_an_unsupported_link_type_is_a_clear_error(tmp_path):
    path = tmp_path / "usb.pcap"
    import struct

    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 189))  # USB Linux
    with pytest.raises(ValueError, match="link type 189 is not supported"):
        load_pcap(path)


def test_a_file_cut_in_the_middle_of_a_packet(tmp_path):
    path = tmp_path / "cut.pcap"
    write(path, Conversation().talk(article()[:3]).packets)  # ends with the server's ACK: 16 + 54 bytes
    path.write_bytes(path.read_bytes()[:-(54 + 8)])  # half of that packet's record header is left
    trace = load_pcap(path)
    assert frames(trace) == ARTICLE_FRAMES[:1]
    assert any("the capture stops here: the file ends in the middle of a packet" in t for t in notes(trace))


# ---------------------------------------------------------------------------
# Round trips with the lab's own exports.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_trace():
    with Lab("echo", seed=3) as lab:
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=5) == "Hello Client"
            ws.send(bytes(range(256)) * 300)  # 76.8 kB: more than one segment of to_pcap's
            ws.recv(timeout=5)
            assert ws.ping(b"still there?").wait(5)
            ws.close(1001, "bye")
        with lab.connect_sync() as ws:
            ws.send("second")
            ws.recv(timeout=5)
        return lab.trace


def wire(trace):
    """(conn, event) of everything but the notes the lab itself adds."""
    return [(r.conn, r.event) for r in trace.records if r.kind != "note"]


def times(trace):
    """When each wire event happened, but the state changes (the lab records CLOSED when its relay is done)."""
    return [r.t for r in trace.records if r.kind not in ("note", "state")]


def joined(trace):
    out: dict[tuple[int, str], bytes] = {}
    for c in trace.chunks:
        out[c.conn, c.sender] = out.get((c.conn, c.sender), b"") + c.data
    return out


def test_the_labs_to_pcap_loads_back_as_the_same_trace(lab_trace, tmp_path):
    lab_trace.to_pcap(tmp_path / "lab.pcap", server_port=8765)
    trace = load_pcap(tmp_path / "lab.pcap")
    assert wire(trace) == wire(lab_trace)
    shift = trace.started - lab_trace.started  # load_pcap's t = 0 is the first packet, the lab's its start
    assert [t + shift for t in times(trace)] == pytest.approx(times(lab_trace), abs=2e-6)  # pcap: microseconds
    assert joined(trace) == joined(lab_trace)


def test_a_loaded_capture_saves_loads_and_exports_again(lab_trace, tmp_path):
    lab_trace.to_pcap(tmp_path / "lab.pcap")
    trace = load_pcap(tmp_path / "lab.pcap")
    trace.save(tmp_path / "trace.json")
    assert load(tmp_path / "trace.json") == trace
    trace.to_pcap(tmp_path / "again.pcap")
    again = load_pcap(tmp_path / "again.pcap")
    assert wire(again) == wire(trace) and joined(again) == joined(trace)
    assert times(again) == pytest.approx(times(trace), abs=2e-6)
    assert again.started == pytest.approx(trace.started, abs=2e-6)
    assert [f.explain() for f in again.frames] == [f.explain() for f in trace.frames]
