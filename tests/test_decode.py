"""Tests for wslab.protocol.decoder: the sans-I/O RFC 6455 wire decoder.

Sources of truth: the RFC 6455 §1.3 and §5.7 examples, and python-websockets'
own serializer and permessage-deflate extension as oracles.
"""

from __future__ import annotations

import random
import struct
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close, Opcode
from websockets.frames import Frame as WSFrame
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wslab.protocol import (
    CLOSE_CODES,
    GUID,
    OPCODES,
    AcceptCheck,
    DecodeError,
    DeflateParams,
    Field,
    Frame,
    Handshake,
    StreamDecoder,
    WireDecoder,
    accept_key,
    build_frame,
    check_accept,
    close_payload,
    deflate_params,
)
from wslab.protocol import (
    decode_bytes as decode,
)

FAST = settings(max_examples=200, deadline=None)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def only(events, kind):
    return [event for event in events if isinstance(event, kind)]


def one_frame(data: bytes, sender: str = "server", **kwargs) -> Frame:
    events = decode(data, sender, **kwargs)
    assert len(events) == 1 and isinstance(events[0], Frame), events
    return events[0]


def field_map(frame: Frame) -> dict[str, Field]:
    return {field.name: field for field in frame.fields}


def feed_in_pieces(decoder: StreamDecoder, data: bytes, cuts) -> list:
    events = []
    previous = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += decoder.feed(data[previous:cut])
        previous = cut
    return events + decoder.eof()


# ---------------------------------------------------------------------------
# RFC 6455 §1.3: the opening handshake example.
# ---------------------------------------------------------------------------

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


def test_accept_key_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    check = check_accept("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    assert check.ok and check.guid == GUID
    assert check.sha1 == "b37a4f2cc0624f1690f64606cf385945b2bec4ea"


def test_rfc_handshake_through_wire_decoder():
    wire = WireDecoder()
    [request] = wire.receive("client", REQUEST)
    assert isinstance(request, Handshake)
    assert (request.method, request.path, request.version) == ("GET", "/chat", "HTTP/1.1")
    assert request.start_line == "GET /chat HTTP/1.1"
    assert request.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert request.raw == REQUEST and request.offset == 0
    assert request.problems == ()
    assert wire.key == "dGhlIHNhbXBsZSBub25jZQ=="

    [response] = wire.receive("server", RESPONSE)
    assert isinstance(response, Handshake)
    assert (response.status, response.reason) == (101, "Switching Protocols")
    assert response.accept is not None and response.accept.ok
    assert response.accept.expected == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert response.problems == ()
    assert str(response) == "server HTTP/1.1 101 Switching Protocols [accept ok]"
    assert str(request) == "client GET /chat HTTP/1.1"


def test_wrong_accept_is_a_problem():
    wire = WireDecoder()
    wire.receive("client", REQUEST)
    bad = RESPONSE.replace(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    [response] = wire.receive("server", bad)
    assert response.accept is not None and not response.accept.ok
    assert response.accept.got == "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert any("Sec-WebSocket-Accept" in p and "§4.1" in p for p in response.problems)
    assert "[accept MISMATCH]" in str(response)


def test_response_may_only_pick_what_was_offered():
    wire = WireDecoder()
    wire.receive("client", REQUEST)
    response = RESPONSE.replace(b"Sec-WebSocket-Protocol: chat\r\n",
                                b"Sec-WebSocket-Protocol: mqtt\r\n"
                                b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    [handshake] = wire.receive("server", response)
    assert handshake.accept.ok
    assert handshake.problems == (
        "extension 'permessage-deflate' was not offered in the request (RFC 6455 §4.1)",
        "subprotocol 'mqtt' was not offered in the request (RFC 6455 §4.1)",
    )
    assert wire.client.deflate == wire.server.deflate == DeflateParams()  # still decoded as it is


def test_accept_explain_shows_every_step():
    text = check_accept("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").explain()
    for part in ("dGhlIHNhbXBsZSBub25jZQ==", GUID, "b37a4f2cc0624f1690f64606cf385945b2bec4ea",
                 "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "matches"):
        assert part in text
    assert "does NOT match" in check_accept("dGhlIHNhbXBsZSBub25jZQ==", "x").explain()


# ---------------------------------------------------------------------------
# RFC 6455 §5.7: every example.
# ---------------------------------------------------------------------------


def test_rfc_single_frame_unmasked_text():
    frame = one_frame(h("81 05 48 65 6c 6c 6f"), "server")
    assert (frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (True, False, False, False)
    assert (frame.opcode, frame.opcode_value) == ("TEXT", 0x1)
    assert (frame.masked, frame.mask) == (False, None)
    assert (frame.length, frame.length_bits) == (5, 7)
    assert frame.payload == frame.masked_payload == b"Hello"
    assert frame.text == "Hello"
    assert frame.problems == ()
    assert [f.name for f in frame.fields] == [
        "FIN", "RSV1", "RSV2", "RSV3", "opcode", "MASK", "payload length", "payload"]
    fields = field_map(frame)
    assert (fields["FIN"].start, fields["FIN"].end, fields["FIN"].bits, fields["FIN"].value) == (0, 1, "0", "1")
    assert (fields["opcode"].bits, fields["opcode"].value) == ("4-7", "0x1 TEXT")
    assert (fields["MASK"].start, fields["MASK"].bits, fields["MASK"].value) == (1, "0", "0")
    assert (fields["payload length"].bits, fields["payload length"].value) == ("1-7", "5")
    assert (fields["payload"].start, fields["payload"].end) == (2, 7)
    assert str(frame) == "server TEXT fin len=5 'Hello'"


def test_rfc_single_frame_masked_text():
    frame = one_frame(h("81 85 37 fa 21 3d 7f 9f 4d 51 58"), "client")
    assert frame.masked and frame.mask == h("37 fa 21 3d")
    assert frame.masked_payload == h("7f 9f 4d 51 58")
    assert frame.payload == b"Hello" and frame.text == "Hello"
    assert frame.problems == ()
    fields = field_map(frame)
    assert (fields["masking key"].start, fields["masking key"].end) == (2, 6)
    assert fields["masking key"].value == "37 fa 21 3d"
    assert (fields["payload"].start, fields["payload"].end) == (6, 11)
    assert "extended payload length" not in fields
    assert str(frame) == "client TEXT fin masked len=5 'Hello'"


def test_rfc_fragmented_unmasked_text():
    first, second = decode(h("01 03 48 65 6c") + h("80 02 6c 6f"), "server")
    assert (first.opcode, first.fin, first.payload, first.text) == ("TEXT", False, b"Hel", "Hel")
    assert (second.opcode, second.fin, second.payload, second.text) == ("CONTINUATION", True, b"lo", "lo")
    assert second.offset == 5
    assert first.problems == second.problems == ()


def test_rfc_ping_and_pong():
    ping = one_frame(h("89 05 48 65 6c 6c 6f"), "server")
    assert (ping.opcode, ping.opcode_value, ping.payload, ping.masked) == ("PING", 0x9, b"Hello", False)
    assert ping.text is None and ping.problems == ()
    pong = one_frame(h("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), "client")
    assert (pong.opcode, pong.opcode_value, pong.payload, pong.masked) == ("PONG", 0xA, b"Hello", True)
    assert pong.problems == ()


def test_rfc_256_bytes_binary_16_bit_length():
    data = bytes(random.Random(256).randbytes(256))
    frame = one_frame(h("82 7E 0100") + data, "server")
    assert (frame.opcode, frame.length, frame.length_bits) == ("BINARY", 256, 16)
    assert frame.payload == data and frame.text is None and frame.problems == ()
    fields = field_map(frame)
    assert fields["payload length"].value == "126"
    ext = fields["extended payload length"]
    assert (ext.start, ext.end, ext.value, ext.bits) == (2, 4, "256", None)
    assert (fields["payload"].start, fields["payload"].end) == (4, 260)


def test_rfc_64_kib_binary_64_bit_length():
    data = bytes(random.Random(64).randbytes(65536))
    frame = one_frame(h("82 7F 0000000000010000") + data, "server")
    assert (frame.opcode, frame.length, frame.length_bits) == ("BINARY", 65536, 64)
    assert frame.payload == data and frame.problems == ()
    fields = field_map(frame)
    assert fields["payload length"].value == "127"
    ext = fields["extended payload length"]
    assert (ext.start, ext.end, ext.value) == (2, 10, "65536")
    assert (fields["payload"].start, fields["payload"].end) == (10, 65546)
    assert len(frame.wire) == 65546


# ---------------------------------------------------------------------------
# Oracle: python-websockets' serializer.
# ---------------------------------------------------------------------------

NAMES = {Opcode.CONT: "CONTINUATION", Opcode.TEXT: "TEXT", Opcode.BINARY: "BINARY",
         Opcode.CLOSE: "CLOSE", Opcode.PING: "PING", Opcode.PONG: "PONG"}

sizes = st.one_of(st.integers(0, 130), st.sampled_from([125, 126, 127, 65535, 65536, 65537, 70000]),
                  st.integers(126, 70000))
big_binary = st.builds(lambda n, seed: random.Random(seed).randbytes(n), sizes, st.integers(0, 2**32))


@st.composite
def ws_messages(draw):
    """A valid sequence of websockets frames, and the messages it carries."""
    frames: list[WSFrame] = []
    messages: list[bytes | str] = []
    control = st.builds(lambda op, data: WSFrame(op, data), st.sampled_from([Opcode.PING, Opcode.PONG]),
                        st.binary(max_size=125))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "binary", "fragmented", "control"]))
        if kind == "text":
            text = draw(st.text(max_size=200))
            frames.append(WSFrame(Opcode.TEXT, text.encode()))
            messages.append(text)
        elif kind == "binary":
            data = draw(big_binary)
            frames.append(WSFrame(Opcode.BINARY, data))
            messages.append(data)
        elif kind == "fragmented":
            text = draw(st.text(min_size=1, max_size=200))
            data = text.encode()
            cuts = sorted(draw(st.lists(st.integers(0, len(data)), min_size=1, max_size=3)))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=False)]
            for i, piece in enumerate(pieces):
                op = Opcode.TEXT if i == 0 else Opcode.CONT
                frames.append(WSFrame(op, piece, fin=i == len(pieces) - 1))
                if i < len(pieces) - 1 and draw(st.booleans()):
                    frames.append(draw(control))  # control frames may be interleaved (§5.4)
            messages.append(text)
        else:
            frames.append(draw(control))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20).filter(lambda r: len(r.encode()) <= 123))
        frames.append(WSFrame(Opcode.CLOSE, Close(code, reason).serialize()))
    return frames, messages


@FAST
@given(ws_messages(), st.sampled_from(["client", "server"]), st.binary(min_size=4, max_size=4), st.data())
def test_oracle_websockets_serializer(generated, sender, mask, data):
    frames, messages = generated
    with mock.patch("secrets.token_bytes", lambda n: mask):
        wires = [frame.serialize(mask=sender == "client", extensions=[]) for frame in frames]
    stream = b"".join(wires)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    events = feed_in_pieces(StreamDecoder(sender, http=False), stream, cuts)

    assert all(isinstance(event, Frame) for event in events), [str(e) for e in events]
    assert len(events) == len(frames)
    offset = 0
    texts: list[str] = []
    for frame, wire, got in zip(frames, wires, events, strict=False):
        assert (got.fin, got.opcode, got.payload, got.masked) == (frame.fin, NAMES[frame.opcode], frame.data,
                                                                  sender == "client")
        assert (got.rsv1, got.rsv2, got.rsv3) == (False, False, False)
        assert got.wire == wire and got.offset == offset
        assert got.mask == (mask if sender == "client" else None)
        assert got.length == len(frame.data)
        assert got.length_bits == (7 if len(frame.data) < 126 else 16 if len(frame.data) < 65536 else 64)
        assert got.problems == (), got.problems
        if got.opcode == "CLOSE":
            expected = Close.parse(frame.data)
            assert (got.close_code, got.close_reason) == (expected.code, expected.reason)
        if got.text is not None:
            texts.append(got.text)
        offset += len(wire)
        event(f"length_bits={got.length_bits}")
    # Text frames (even split inside a UTF-8 sequence) rebuild the messages.
    assert "".join(texts) == "".join(m for m in messages if isinstance(m, str))


@FAST
@given(st.sampled_from([*list(OPCODES), 3, 11, 15]), st.binary(max_size=300), st.booleans(), st.booleans())
def test_build_frame_matches_websockets_serializer(opcode, payload, fin, masked):
    if opcode >= 0x8 and opcode in OPCODES:
        payload, fin = payload[:125], True
    if opcode not in OPCODES:
        # websockets refuses reserved opcodes; compare with a BINARY frame's bytes instead.
        expected_head = WSFrame(Opcode.BINARY, payload, fin).serialize(mask=False)
        got = build_frame(opcode, payload, fin=fin)
        assert got[0] & 0x0F == opcode and got[1:] == expected_head[1:]
        return
    mask = b"\x01\x02\x03\x04" if masked else None
    with mock.patch("secrets.token_bytes", lambda n: b"\x01\x02\x03\x04"):
        expected = WSFrame(Opcode(opcode), payload, fin).serialize(mask=masked)
    assert build_frame(opcode, payload, fin=fin, mask=mask) == expected
    assert build_frame(OPCODES[opcode], payload, fin=fin, mask=mask) == expected


# ---------------------------------------------------------------------------
# Robustness: arbitrary bytes never raise; byte-by-byte equals one feed.
# ---------------------------------------------------------------------------

pieces = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([REQUEST, RESPONSE, b"\r\n", b"\r\n\r\n", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 101 OK\r\n",
                     b"HTTP/1.1 426 No\r\nContent-Length: 3\r\n\r\n", b"Content-Length: 10\r\n",
                     b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"]),
    st.builds(lambda op, data, fin, rsv1, masked, bits: build_frame(
        op, data, fin=fin, rsv1=rsv1, mask=b"\x00\xffab" if masked else None,
        length_bits=bits if bits != 7 or len(data) < 126 else None),
        st.integers(0, 15), st.binary(max_size=140), st.booleans(), st.booleans(), st.booleans(),
        st.sampled_from([7, 16, 64])),
    st.builds(lambda length: b"\x82\x7f" + struct.pack("!Q", length), st.integers(0, 2**64 - 1)),
    st.just(b"\xc1\x07\xf2H\xcd\xc9\xc9\x07\x00"),  # compressed "Hello"
)
deflates = st.one_of(st.none(), st.builds(DeflateParams, st.integers(8, 15), st.booleans()))


def check_consistent(decoder: StreamDecoder, stream: bytes, events: list) -> None:
    """Events tile the stream: each raw/wire continues where the previous ended."""
    assert all(isinstance(e, (Handshake, Frame, DecodeError)) for e in events)
    position = 0
    for e in events:
        assert e.offset == position
        if isinstance(e, DecodeError):
            assert not e.reason.startswith("internal decoder error"), e.reason
            assert e is events[-1]
            assert stream[position:].startswith(e.data)
            continue
        raw = e.raw if isinstance(e, Handshake) else e.wire
        assert stream[position : position + len(raw)] == raw
        position += len(raw)
        # Presentation never raises on decoded data.
        str(e)
        e.explain()
        e._repr_html_()
    assert decoder.state in ("eof", "error", "done")
    assert decoder.received == len(stream)
    assert decoder.offset + decoder.undecoded == len(stream)


@FAST
@given(st.lists(pieces, max_size=8).map(b"".join), st.sampled_from(["client", "server"]), st.booleans(),
       deflates, st.sampled_from([None, 200, 2**20]), st.data())
def test_arbitrary_bytes_never_raise(stream, sender, http, deflate, max_frame, data):
    heads = {"client": [REQUEST, REQUEST.replace(b"13", b"8")],
             "server": [RESPONSE, b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n\r\n"]}
    stream = data.draw(st.sampled_from([b"", *heads[sender]])) + stream
    if stream and data.draw(st.booleans()):  # corrupt one byte of an otherwise plausible stream
        i = data.draw(st.integers(0, len(stream) - 1))
        stream = stream[:i] + bytes([data.draw(st.integers(0, 255))]) + stream[i + 1 :]
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    decoder = StreamDecoder(sender, http=http, deflate=deflate, max_frame=max_frame)
    events = feed_in_pieces(decoder, stream, cuts)
    check_consistent(decoder, stream, events)
    for kind in sorted({type(e).__name__ for e in events}):
        event(kind)

    # Byte by byte gives the same frames and handshakes, and errors at the same place.
    slow = StreamDecoder(sender, http=http, deflate=deflate, max_frame=max_frame)
    slow_events = feed_in_pieces(slow, stream, range(len(stream)))

    def key(event):
        return (type(event), event.offset) if isinstance(event, DecodeError) else event

    assert [key(e) for e in slow_events] == [key(e) for e in events]
    assert slow.undecoded == decoder.undecoded


@FAST
@given(st.binary(max_size=300), st.data())
def test_wire_decoder_arbitrary_bytes(stream, data):
    wire = WireDecoder()
    events = []
    for sender in data.draw(st.lists(st.sampled_from(["client", "server"]), max_size=6)):
        events += wire.receive(sender, data.draw(st.binary(max_size=80)))
    events += wire.receive("client", stream) + wire.eof("client") + wire.eof("server")
    assert all(isinstance(event, (Handshake, Frame, DecodeError)) for event in events)
    # The decoder's safety net turns a crash into a DecodeError: that must never be needed.
    assert not [e.reason for e in events if isinstance(e, DecodeError) and "internal decoder error" in e.reason]


# ---------------------------------------------------------------------------
# Feeding: several frames at once, byte by byte, head and frame together.
# ---------------------------------------------------------------------------


def test_response_head_and_first_frame_in_one_feed():
    wire = WireDecoder()
    wire.receive("client", REQUEST)
    frame_bytes = h("81 05 48 65 6c 6c 6f")
    response, frame = wire.receive("server", RESPONSE + frame_bytes)
    assert isinstance(response, Handshake) and response.accept.ok
    assert isinstance(frame, Frame) and frame.text == "Hello"
    assert frame.offset == len(RESPONSE)
    assert wire.server.offset == len(RESPONSE) + len(frame_bytes)


def test_several_frames_in_one_feed():
    stream = build_frame("TEXT", "one") + build_frame("PING", b"") + build_frame("BINARY", b"\x00" * 300)
    frames = StreamDecoder("server", http=False).feed(stream)
    assert [f.opcode for f in frames] == ["TEXT", "PING", "BINARY"]
    assert [f.offset for f in frames] == [0, 5, 7]
    assert frames[2].length_bits == 16 and frames[2].payload == b"\x00" * 300


def test_byte_by_byte_feed_equals_one_feed():
    stream = (REQUEST + build_frame("TEXT", "Hello Server", mask=b"abcd")
              + build_frame("BINARY", bytes(200), mask=b"\x01\x02\x03\x04")
              + build_frame("CLOSE", close_payload(1000, "bye"), mask=b"wxyz"))
    whole = StreamDecoder("client")
    expected = whole.feed(stream) + whole.eof()
    slow = StreamDecoder("client")
    events = []
    for i in range(len(stream)):
        events += slow.feed(stream[i : i + 1])
    events += slow.eof()
    assert events == expected
    assert [type(e).__name__ for e in events] == ["Handshake", "Frame", "Frame", "Frame"]
    assert events[1].text == "Hello Server" and events[3].close_reason == "bye"
    assert str(events[1]) == "client TEXT fin masked len=12 'Hello Server'"


def test_one_shot_decode_detects_http():
    events = decode(REQUEST + build_frame("TEXT", "hi", mask=b"abcd"), "client")
    assert [type(e) for e in events] == [Handshake, Frame]
    assert [type(e) for e in decode(build_frame("TEXT", "hi", mask=b"abcd"), "client")] == [Frame]
    assert [type(e) for e in decode(RESPONSE + build_frame("TEXT", "hi"), "server")] == [Handshake, Frame]


def test_wire_decoder_without_http():
    wire = WireDecoder(http=False)
    [frame] = wire.receive("server", build_frame("TEXT", "hi"))
    assert frame.text == "hi" and frame.sender == "server"
    [frame] = wire.receive("client", build_frame("TEXT", "yo", mask=b"abcd"))
    assert frame.text == "yo" and frame.sender == "client"


# ---------------------------------------------------------------------------
# permessage-deflate (RFC 7692).
# ---------------------------------------------------------------------------


def deflate_stream(messages, *, no_context_takeover: bool, window_bits: int = 15, mask: bool = False):
    """Frames a websockets endpoint with this compressor sends."""
    ext = PerMessageDeflate(False, no_context_takeover, 15, window_bits)
    return [WSFrame(Opcode.TEXT, m.encode()).serialize(mask=mask, extensions=[ext]) for m in messages]


@pytest.mark.parametrize("no_context_takeover", [False, True])
@pytest.mark.parametrize("window_bits", [9, 12, 15])
def test_permessage_deflate_messages(no_context_takeover, window_bits):
    messages = ["Hello, compressed world! " * 20, "Hello, compressed world! " * 20, "", "short"]
    wires = deflate_stream(messages, no_context_takeover=no_context_takeover, window_bits=window_bits)
    decoder = StreamDecoder("server", http=False, deflate=DeflateParams(window_bits, no_context_takeover))
    frames = decoder.feed(b"".join(wires))
    assert [f.text for f in frames] == messages
    assert [f.payload for f in frames] == [m.encode() for m in messages]
    assert all(f.compressed and f.rsv1 and f.problems == () for f in frames)
    assert frames[0].length < len(messages[0])
    if not no_context_takeover:  # the repeat refers back to the first message
        assert frames[1].length < frames[0].length


def test_context_takeover_needs_the_shared_window():
    messages = ["the same sentence, again and again " * 5] * 2
    wires = deflate_stream(messages, no_context_takeover=False)
    wrong = StreamDecoder("server", http=False, deflate=DeflateParams(15, no_context_takeover=True))
    first, second = wrong.feed(b"".join(wires))
    assert first.text == messages[0] and first.problems == ()
    assert second.text is None
    assert any(p.startswith("decompression failed") and "RFC 7692" in p for p in second.problems)


def test_compressed_frame_without_deflate_is_rsv1_problem():
    [wire] = deflate_stream(["hello"], no_context_takeover=True)
    frame = one_frame(wire, "server")
    assert frame.rsv1 and not frame.compressed
    assert "RSV1 set without a negotiated extension (RFC 6455 §5.2)" in frame.problems


def test_fragmented_compressed_message():
    ext = PerMessageDeflate(False, False, 15, 15)
    chunks = ["Hello ", "fragmented ", "compressed world"]
    frames_out = [WSFrame(Opcode.TEXT, chunks[0].encode(), fin=False),
                  WSFrame(Opcode.CONT, chunks[1].encode(), fin=False),
                  WSFrame(Opcode.CONT, chunks[2].encode(), fin=True)]
    wires = [f.serialize(mask=True, extensions=[ext]) for f in frames_out]
    stream = b"".join(wires)
    decoder = StreamDecoder("client", http=False, deflate=DeflateParams())
    frames = feed_in_pieces(decoder, stream, range(0, len(stream), 3))
    assert [f.opcode for f in frames] == ["TEXT", "CONTINUATION", "CONTINUATION"]
    assert [f.rsv1 for f in frames] == [True, False, False]
    assert all(f.compressed and f.problems == () for f in frames)
    assert [f.payload for f in frames] == [c.encode() for c in chunks]
    assert "".join(f.text for f in frames) == "".join(chunks)
    assert "inflated" in frames[0].explain()


def test_deflate_params_parsing():
    params = deflate_params("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
    assert params == {"client": DeflateParams(10, False), "server": DeflateParams(15, True)}
    params = deflate_params('x-other, permessage-deflate; server_max_window_bits="9"; client_no_context_takeover')
    assert params == {"client": DeflateParams(15, True), "server": DeflateParams(9, False)}
    assert deflate_params("x-webkit-deflate-frame") is None


def test_real_websockets_connection_with_permessage_deflate():
    client = ClientProtocol(parse_uri("ws://example.com/chat"),
                            extensions=[ClientPerMessageDeflateFactory(client_max_window_bits=True)])
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                                                        client_max_window_bits=11)])
    client.send_request(client.connect())
    request_bytes = b"".join(client.data_to_send())
    server.receive_data(request_bytes)
    [request] = server.events_received()
    server.send_response(server.accept(request))
    response_bytes = b"".join(server.data_to_send())
    client.receive_data(response_bytes)
    client.events_received()

    server.send_text(b"Hello Client " * 10)
    server.send_text(b"Hello Client " * 10)
    server_bytes = response_bytes + b"".join(server.data_to_send())
    client.send_text(b"Hello Server " * 10)
    client.send_text(b"Hello Server " * 10)
    client.send_close(1000, "bye")
    client_bytes = b"".join(client.data_to_send())

    wire = WireDecoder()
    [req] = wire.receive("client", request_bytes)
    assert req.problems == () and "permessage-deflate" in req.header("Sec-WebSocket-Extensions")
    server_events = wire.receive("server", server_bytes)  # response and frames in one feed
    response = server_events[0]
    assert response.status == 101 and response.accept.ok and response.problems == ()
    assert wire.server.deflate == DeflateParams(15, True)
    assert wire.client.deflate == DeflateParams(11, False)
    client_events = wire.receive("client", client_bytes)

    server_frames, client_frames = server_events[1:], client_events
    assert [f.payload for f in server_frames] == [b"Hello Client " * 10] * 2
    assert [f.payload for f in client_frames[:2]] == [b"Hello Server " * 10] * 2
    assert all(f.compressed and f.problems == () for f in server_frames + client_frames[:2])
    assert client_frames[1].length < client_frames[0].length  # client keeps its context
    assert server_frames[1].length == server_frames[0].length  # server resets it
    close = client_frames[2]
    assert (close.opcode, close.close_code, close.close_reason, close.compressed) == ("CLOSE", 1000, "bye", False)


# ---------------------------------------------------------------------------
# Problems: RFC violations that do not stop decoding.
# ---------------------------------------------------------------------------


def test_unmasked_client_frame_and_masked_server_frame():
    frame = one_frame(build_frame("TEXT", "hi"), "client")
    assert frame.problems == ("client frame not masked (RFC 6455 §5.1)",)
    assert frame.text == "hi"
    frame = one_frame(build_frame("TEXT", "hi", mask=b"abcd"), "server")
    assert frame.problems == ("server frame masked (RFC 6455 §5.1)",)


def test_reserved_opcode():
    frame = one_frame(build_frame(0x3, b"??"), "server")
    assert (frame.opcode, frame.opcode_value) == ("RESERVED_0x3", 0x3)
    assert frame.problems == ("reserved opcode 0x3 (RFC 6455 §5.2)",)
    frame = one_frame(build_frame("RESERVED_0xB", b""), "server")
    assert frame.opcode == "RESERVED_0xB" and "reserved opcode 0xB (RFC 6455 §5.2)" in frame.problems


def test_rsv_bits_without_extension():
    frame = one_frame(build_frame("BINARY", b"x", rsv2=True, rsv3=True), "server")
    assert frame.problems == ("RSV2 set without a negotiated extension (RFC 6455 §5.2)",
                              "RSV3 set without a negotiated extension (RFC 6455 §5.2)")


def test_control_frame_too_long():
    frame = one_frame(build_frame("PING", bytes(126)), "server")
    assert frame.length == 126 and frame.length_bits == 16
    assert frame.problems == ("control frame payload of 126 bytes exceeds 125 (RFC 6455 §5.5)",)


def test_fragmented_ping():
    frame = one_frame(build_frame("PING", b"x", fin=False), "server")
    assert frame.problems == ("fragmented control frame (RFC 6455 §5.5)",)


def test_invalid_utf8_text():
    frame = one_frame(build_frame("TEXT", b"\xffabc"), "server")
    assert frame.text is None
    assert frame.problems == ("invalid UTF-8 in a text message (RFC 6455 §8.1)",)


def test_utf8_split_across_fragments_is_fine_but_unfinished_is_not():
    data = "héllo".encode()  # é is c3 a9
    first, second = decode(build_frame("TEXT", data[:2], fin=False) + build_frame(0, data[2:]), "server")
    assert (first.text, second.text) == ("h", "éllo")
    assert first.problems == second.problems == ()
    first, second = decode(build_frame("TEXT", data[:2], fin=False) + build_frame(0, b"", fin=True), "server")
    assert second.text is None and second.problems == ("invalid UTF-8 in a text message (RFC 6455 §8.1)",)


def test_continuation_problems():
    [orphan] = decode(build_frame("CONTINUATION", b"x"), "server")
    assert orphan.problems == ("continuation frame with no message started (RFC 6455 §5.4)",)
    first, second = decode(build_frame("TEXT", "a", fin=False) + build_frame("BINARY", b"b"), "server")
    assert first.problems == ()
    assert second.problems == ("new data frame while a fragmented message is open (RFC 6455 §5.4)",)


def test_close_frames():
    frame = one_frame(build_frame("CLOSE", close_payload(1000, "bye")), "server")
    assert (frame.close_code, frame.close_reason, frame.problems) == (1000, "bye", ())
    assert str(frame) == "server CLOSE fin len=5 1000 (normal closure) 'bye'"
    frame = one_frame(build_frame("CLOSE", b""), "server")
    assert (frame.close_code, frame.close_reason, frame.problems) == (None, None, ())
    frame = one_frame(build_frame("CLOSE", b"\x03"), "server")
    assert frame.close_code is None
    assert frame.problems == ("close frame payload of 1 byte: a close code takes 2 (RFC 6455 §5.5.1)",)
    frame = one_frame(build_frame("CLOSE", b"\x03\xe8\xff"), "server")
    assert frame.close_code == 1000
    assert frame.problems == ("close reason is not valid UTF-8 (RFC 6455 §5.5.1)",)


@pytest.mark.parametrize("code", [1005, 1006, 1015, 1004, 999, 0, 2000, 5000])
def test_invalid_close_codes(code):
    frame = one_frame(build_frame("CLOSE", close_payload(code)), "server")
    assert frame.close_code == code
    assert len(frame.problems) == 1 and frame.problems[0].startswith(f"invalid close code {code}")
    assert "(RFC 6455 §7.4" in frame.problems[0]


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1014, 3000, 4999])
def test_valid_close_codes(code):
    assert one_frame(build_frame("CLOSE", close_payload(code)), "server").problems == ()


def test_data_after_close():
    close, late = decode(build_frame("CLOSE", close_payload(1000)) + build_frame("TEXT", "late"), "server")
    assert close.problems == ()
    assert late.text == "late" and late.problems == ("data frame after a close frame (RFC 6455 §5.5.1)",)
    close, ping = decode(build_frame("CLOSE", b"") + build_frame("PING", b""), "server")
    assert ping.problems == ()


def test_64_bit_length_with_most_significant_bit():
    stream = b"\x82\x7f" + struct.pack("!Q", 2**63 + 5) + b"hello"
    [error] = decode(stream, "server")
    assert isinstance(error, DecodeError) and "most significant bit" in error.reason
    assert "RFC 6455 §5.2" in error.reason
    # Without a size limit the frame header is decoded and the problem reported.
    decoder = StreamDecoder("server", http=False, max_frame=None)
    assert decoder.feed(stream) == []
    [error] = decoder.eof()
    assert error.reason.startswith("truncated frame: needs")


def test_huge_declared_length_is_an_error_not_a_wait():
    decoder = StreamDecoder("server", http=False)
    stream = build_frame("TEXT", "ok") + b"\x82\x7f" + struct.pack("!Q", 2**40)
    ok, error = decoder.feed(stream)
    assert ok.text == "ok"
    assert isinstance(error, DecodeError) and error.offset == 4
    assert "exceeds max_frame" in error.reason
    assert decoder.feed(b"more") == [] and decoder.undecoded == 10 + 4  # the header, then "more"
    assert decoder.eof() == []


def test_non_minimal_length_is_fine():
    frame = one_frame(build_frame("TEXT", "hello", length_bits=64), "server")
    assert (frame.length, frame.length_bits, frame.text, frame.problems) == (5, 64, "hello", ())
    assert len(frame.wire) == 2 + 8 + 5
    fields = field_map(frame)
    assert (fields["extended payload length"].start, fields["extended payload length"].end) == (2, 10)
    assert (fields["payload"].start, fields["payload"].end) == (10, 15)
    frame = one_frame(build_frame("TEXT", "hello", length_bits=16, mask=b"abcd"), "client")
    assert (frame.length_bits, frame.text, frame.problems) == (16, "hello", ())


# ---------------------------------------------------------------------------
# Handshake problems, rejections and decode errors.
# ---------------------------------------------------------------------------


def test_rejected_handshake_426_with_body():
    body = b"Unsupported version\n"
    response = (b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body))
    after = build_frame("TEXT", "not a websocket")
    decoder = StreamDecoder("server")
    events = decoder.feed(response + body[:5])
    assert events == []  # waiting for the body
    events = decoder.feed(body[5:] + after)
    [rejection] = events
    assert (rejection.status, rejection.reason) == (426, "Upgrade Required")
    assert rejection.body == body and rejection.raw == response + body
    assert rejection.header("Sec-WebSocket-Version") == "13"
    assert rejection.problems == () and rejection.accept is None
    assert decoder.state == "done" and decoder.undecoded == len(after)
    assert decoder.feed(b"xx") == [] and decoder.undecoded == len(after) + 2
    assert decoder.eof() == []
    assert "body=20 bytes" in str(rejection)


def test_rejection_without_content_length_reads_until_eof():
    decoder = StreamDecoder("server")
    assert decoder.feed(b"HTTP/1.1 403 Forbidden\r\n\r\nGo away") == []
    assert decoder.feed(b", please") == []
    [rejection] = decoder.eof()
    assert rejection.status == 403 and rejection.body == b"Go away, please"
    [rejection] = decode(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n", "server")
    assert rejection.problems == ("426 response without Sec-WebSocket-Version listing the supported "
                                  "versions (RFC 6455 §4.4)",)


def test_truncated_rejection_body():
    [rejection] = decode(b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabc", "server")
    assert rejection.body == b"abc"
    assert rejection.problems == ("truncated body: got 3 of Content-Length 10 bytes (RFC 9112 §6.3)",)


def test_request_problems():
    no_key = REQUEST.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
    [request] = decode(no_key, "client")
    assert request.problems == ("missing Sec-WebSocket-Key header (RFC 6455 §4.2.1)",)

    bad = (b"POST /chat HTTP/1.0\r\nUpgrade: h2c\r\nConnection: keep-alive\r\n"
           b"Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 8\r\n\r\n")
    [request] = decode(bad, "client")
    assert request.problems == (
        "request method is POST, must be GET (RFC 6455 §4.2.1)",
        "HTTP/1.0 request, must be HTTP/1.1 or later (RFC 6455 §4.2.1)",
        "missing Host header (RFC 6455 §4.2.1)",
        "Upgrade header 'h2c' does not contain websocket (RFC 6455 §4.2.1)",
        "Connection header 'keep-alive' does not contain Upgrade (RFC 6455 §4.2.1)",
        "Sec-WebSocket-Key 'c2hvcnQ=' is not base64 of 16 bytes (RFC 6455 §4.2.1)",
        "Sec-WebSocket-Version is '8', must be 13 (RFC 6455 §4.2.1)",
    )


def test_token_lists_are_case_insensitive():
    request = REQUEST.replace(b"Upgrade: websocket", b"Upgrade: WebSocket").replace(
        b"Connection: Upgrade", b"Connection: keep-alive, upgrade")
    [handshake] = decode(request, "client")
    assert handshake.problems == ()


def test_response_101_problems():
    [response] = decode(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "server")
    assert response.problems == ("missing Connection header (RFC 6455 §4.1)",
                                 "missing Sec-WebSocket-Accept header (RFC 6455 §4.1)")


def test_truncated_frame_at_eof():
    decoder = StreamDecoder("server", http=False)
    frame_bytes = build_frame("TEXT", "Hello")
    [_whole] = decoder.feed(frame_bytes)
    assert decoder.feed(frame_bytes[:4]) == []
    [error] = decoder.eof()
    assert isinstance(error, DecodeError)
    assert error.offset == len(frame_bytes)
    assert error.reason == "truncated frame: needs 3 more bytes (got 4 of 7)"
    assert error.data == frame_bytes[:4]
    [error] = decode(b"\x81", "server")
    assert error.reason.startswith("truncated frame: needs at least 1 more byte")
    [error] = decode(build_frame("TEXT", b"hi", length=5), "server")
    assert error.reason.startswith("truncated frame: needs 3 more bytes")


def test_truncated_head_at_eof():
    [error] = decode(b"GET /chat HTTP/1.1\r\nHost: x\r\n", "client")
    assert isinstance(error, DecodeError) and error.offset == 0
    assert error.reason.startswith("truncated HTTP head")


def test_malformed_start_line_is_decode_error_with_offset():
    decoder = StreamDecoder("server")
    [interim] = decoder.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert interim.status == 100
    [error] = decoder.feed(b"HTTP/1.1 OK\r\n\r\n" + build_frame("TEXT", "x"))
    assert isinstance(error, DecodeError)
    assert error.offset == 25
    assert error.reason == "malformed HTTP status line 'HTTP/1.1 OK' (RFC 9112 §4)"
    assert decoder.state == "error" and decoder.undecoded == 15 + 3
    [error] = decode(b"GET /chat\r\nHost: x\r\n\r\n", "client")
    assert error.offset == 0 and "request line" in error.reason and "RFC 9112 §3" in error.reason
    assert "decode error at offset 0" in str(error)


def test_frames_where_a_response_was_expected_fail_at_once():
    decoder = StreamDecoder("server")
    [error] = decoder.feed(h("81 05 48 65 6c 6c 6f"))  # no need to wait for a CRLF
    assert error.offset == 0 and "malformed HTTP status line" in error.reason


def test_malformed_header_line():
    [error] = decode(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "client")
    assert isinstance(error, DecodeError) and "header line" in error.reason


def test_head_too_large():
    decoder = StreamDecoder("client", max_head=1024)
    assert decoder.feed(b"GET /" + b"a" * 500) == []
    [error] = decoder.feed(b"a" * 600)
    assert error.reason == "HTTP head too large: no blank line within 1024 bytes (decoder limit)"
    [error] = StreamDecoder("client").feed(b"GET / HTTP/1.1\r\nX: " + b"y" * 70000)
    assert "HTTP head too large" in error.reason


# ---------------------------------------------------------------------------
# build_frame, close_payload and presentation.
# ---------------------------------------------------------------------------


def test_build_frame_reproduces_rfc_examples():
    assert build_frame("TEXT", "Hello") == h("81 05 48 65 6c 6c 6f")
    assert build_frame("TEXT", b"Hello", mask=h("37 fa 21 3d")) == h("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert build_frame("TEXT", "Hel", fin=False) + build_frame("CONTINUATION", "lo") == \
        h("01 03 48 65 6c") + h("80 02 6c 6f")
    assert build_frame(0xA, b"Hello", mask=h("37 fa 21 3d")) == h("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert build_frame("BINARY", bytes(256))[:4] == h("82 7E 0100")
    assert build_frame("BINARY", bytes(65536))[:10] == h("82 7F 0000000000010000")
    assert close_payload(1000, "bye") == b"\x03\xe8bye"
    assert close_payload(1005) == b"\x03\xed"


def test_build_frame_forced_64_bit_round_trip():
    stream = build_frame("BINARY", b"\x01\x02\x03\x04\x05", length_bits=64, mask=b"\xaa\xbb\xcc\xdd")
    assert stream[:2] == b"\x82\xff" and stream[2:10] == struct.pack("!Q", 5) and len(stream) == 19
    frame = one_frame(stream, "client")
    assert (frame.length, frame.length_bits, frame.payload, frame.mask) == (
        5, 64, b"\x01\x02\x03\x04\x05", b"\xaa\xbb\xcc\xdd")
    assert frame.problems == () and frame.wire == stream


def test_build_frame_rejects_impossible_requests():
    with pytest.raises(ValueError):
        build_frame("TEXT", b"x", length_bits=7, length=128)
    with pytest.raises(ValueError):
        build_frame("TEXT", b"x", length_bits=16, length=70000)
    with pytest.raises(ValueError):
        build_frame("TEXT", b"x", length_bits=32)
    with pytest.raises(ValueError):
        build_frame("TEXT", b"x", mask=b"abc")
    with pytest.raises(ValueError):
        build_frame("NOPE")
    with pytest.raises(ValueError):
        build_frame(16)


def test_explain_annotates_every_field():
    frame = one_frame(h("81 85 37 fa 21 3d 7f 9f 4d 51 58"), "client")
    text = frame.explain()
    for part in ("FIN=1", "final fragment", "RSV1=0", "RSV2=0", "RSV3=0", "opcode=0x1", "TEXT",
                 "MASK=1", "payload len=5", "(7-bit)", "masking key=37 fa 21 3d",
                 "7f 9f 4d 51 58", "48 65 6c 6c 6f", "'Hello'", "1... ....", ".... 0001", ".000 0101"):
        assert part in text, part
    lines = text.splitlines()
    assert lines[0].startswith("client TEXT fin masked len=5 'Hello'")
    assert lines[2].startswith("0000  81")
    frame = one_frame(build_frame("BINARY", bytes(range(256)) * 2, length_bits=64), "server")
    text = frame.explain()
    assert "extended payload len=512" in text and "(64-bit)" in text
    assert "bytes not shown" in text and "00 00 00 00 00 00 02 00" in text


def test_explain_shows_problems_and_close():
    frame = one_frame(build_frame("CLOSE", close_payload(1005, "x")), "server")
    text = frame.explain()
    assert "close code=1005" in text and "no status received" in text
    assert "problem" in text and "invalid close code 1005" in text


def test_html_escapes_and_colours():
    frame = one_frame(build_frame("TEXT", "<script>alert('x')</script>"), "server")
    markup = frame._repr_html_()
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert markup.startswith("<table") and "background:#fde2e2" in markup  # FIN row colour
    assert "stylesheet" not in markup and "<link" not in markup


def test_presentation_is_robust_to_bad_data():
    weird = Frame(sender="client", offset=0, fin=False, rsv1=True, rsv2=False, rsv3=False, opcode="CLOSE",
                  opcode_value=8, masked=True, mask=b"\x01", length=99, length_bits=64, fields=(),
                  wire=b"\x88", masked_payload=b"", payload=b"\xff\x00", close_code=None,
                  problems=("odd",))
    assert "CLOSE" in str(weird)
    assert "FIN=1" in weird.explain()  # the dump shows the wire (0x88), not the attributes
    assert "<table" in weird._repr_html_()
    error = DecodeError("server", 7, "broken <rule>", b"\x00\x01")
    assert str(error) == "server decode error at offset 7: broken <rule> [00 01]"
    handshake = decode(REQUEST, "client")[0]
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in handshake.explain()
    assert isinstance(check_accept("k", None), AcceptCheck)


def test_opcode_and_close_code_tables_untouched():
    assert OPCODES[0x0] == "CONTINUATION" and OPCODES[0xA] == "PONG"
    assert CLOSE_CODES[1000] == "normal closure"
