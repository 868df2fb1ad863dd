"""The lab's pcap export, read back by a real dissector: Wireshark's tshark.

A recorded session (text, a 300-byte binary message with a 16-bit length, a
ping/pong, a client close 1001 "bye", and a second connection) is written with
``trace.to_pcap`` and dissected by tshark; tshark must see the same HTTP
Upgrade handshakes and the same WebSocket frames, in the same order, with the
same opcodes, masks, unmasked payloads and close code and reason as the trace.
"""

import json
import re
import socket
import subprocess

import pytest

from wslab import Lab
from wslab.__main__ import main as wslab_main

OPCODES = {"CONTINUATION": 0, "TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9, "PONG": 10}
BINARY = bytes(range(256)) + b"\x00\xff" * 22  # 300 bytes: 126 then a 16-bit length (RFC 6455 §5.2)
assert len(BINARY) == 300
PING = b"are you there?"
SECOND = "第二个连接"  # the second connection's message; the echo server answers it in Chinese too


def tshark_tcp_ports(tshark: str) -> dict[int, str]:
    """TCP ports that tshark hands to a dissector by number (``tshark -G decodes``)."""
    out = subprocess.run([tshark, "-G", "decodes"], capture_output=True, text=True, timeout=60, check=True).stdout
    return {int(port): name for table, port, name in (line.split("\t") for line in out.splitlines() if line.count("\t") == 2)
            if table == "tcp.port" and port.isdigit()}


def unclaimed_free_port(claimed: dict[int, str]) -> int:
    """A free TCP port that no tshark dissector claims, so what tshark finds there doesn't depend on luck."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in claimed:
            return port
    raise AssertionError("no free port outside tshark's port table")


def run_tshark(tshark: str, pcap, *options: str) -> list[dict]:
    """The layers of every packet, from ``tshark -T json`` (repeated layers merged into lists)."""
    done = subprocess.run([tshark, "-r", str(pcap), *options, "-T", "json", "--no-duplicate-keys"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [packet["_source"]["layers"] for packet in json.loads(done.stdout)]


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def find(tree, key: str):
    """The first value of ``key`` anywhere in a tshark JSON tree, or None."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = find(item, key)
            if found is not None:
                return found
    return None


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def sender_of(layers: dict, server_port: int) -> str:
    return "server" if int(layers["tcp"]["tcp.srcport"]) == server_port else "client"


def tshark_frames(packets: list[dict], server_port: int) -> list[tuple]:
    """(stream, sender, opcode, masked, masking key, payload, close code, close reason) per WebSocket frame."""
    frames = []
    for layers in packets:
        sender = sender_of(layers, server_port)
        stream = int(layers["tcp"]["tcp.stream"])
        data = as_list(layers.get("data"))  # a binary payload goes on to the data dissector
        for ws in as_list(layers.get("websocket")):
            opcode = int(ws["websocket.opcode"])
            masked = ws["websocket.mask"] == "1"
            key = hex_bytes(ws["websocket.masking_key"]) if masked else None
            body = ws.get("websocket.payload") or {}
            code = reason = None
            if opcode == 1:
                payload = body["websocket.payload.text"].encode()
            elif opcode == 2:
                payload = hex_bytes(data.pop(0)["data.data"])
            elif opcode in (9, 10):
                payload = hex_bytes(body["websocket.payload.ping" if opcode == 9 else "websocket.payload.pong"])
            elif opcode == 8:
                close = body["websocket.payload.close"]
                code, reason, payload = int(close["websocket.payload.close.status_code"]), \
                    close.get("websocket.payload.close.reason", ""), None
            else:
                payload = None
            frames.append((stream, sender, opcode, masked, key, payload, code, reason))
    return frames


def trace_frames(trace) -> list[tuple]:
    """The same tuples from the lab's own trace (connection n is tshark's stream n - 1 here)."""
    streams = {conn: i for i, conn in enumerate(trace.connections)}
    return [(streams[f.conn], f.sender, OPCODES[f.opcode], f.masked, f.mask if f.masked else None,
             None if f.opcode == "CLOSE" else f.payload, f.close_code, f.close_reason)
            for f in trace.frames]


def http_messages(packets: list[dict], server_port: int) -> list[tuple]:
    """(stream, sender, start, Upgrade, Sec-WebSocket-Key or -Accept) per HTTP message tshark found."""
    out = []
    for layers in packets:
        for http in as_list(layers.get("http")):
            method, code = find(http, "http.request.method"), find(http, "http.response.code")
            start = f"{method} {find(http, 'http.request.uri')}" if method else code
            secret = find(http, "http.sec_websocket_key") or find(http, "http.sec_websocket_accept")
            out.append((int(layers["tcp"]["tcp.stream"]), sender_of(layers, server_port), start,
                        find(http, "http.upgrade"), secret))
    return out


@pytest.fixture(scope="module")
def capture(tshark_path, tmp_path_factory):
    """A recorded session, its pcap, and the lab's port (one tshark doesn't know)."""
    port = unclaimed_free_port(tshark_tcp_ports(tshark_path))
    with Lab("echo", port=port) as lab:
        assert lab.port == port
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=5) == "Hello Client"
            ws.send(BINARY)
            assert ws.recv(timeout=5) == BINARY
            assert ws.ping(PING).wait(5), "no pong"
            ws.close(1001, "bye")
        with lab.connect_sync() as ws:
            ws.send(SECOND)
            assert ws.recv(timeout=5) == "服务器收到消息: " + SECOND
        trace = lab.trace
    pcap = tmp_path_factory.mktemp("tshark") / "session.pcap"
    trace.to_pcap(pcap, server_port=port)
    return trace, pcap, port


def test_tshark_sees_the_same_frames_as_the_trace(capture, tshark_path):
    trace, pcap, port = capture
    packets = run_tshark(tshark_path, pcap, "-d", f"tcp.port=={port},http")

    # The session is what we meant to record ...
    assert [(f.conn, f.sender, f.opcode) for f in trace.frames] == [
        (1, "client", "TEXT"), (1, "server", "TEXT"),
        (1, "client", "BINARY"), (1, "server", "BINARY"),
        (1, "client", "PING"), (1, "server", "PONG"),
        (1, "client", "CLOSE"), (1, "server", "CLOSE"),
        (2, "client", "TEXT"), (2, "server", "TEXT"),
        (2, "client", "CLOSE"), (2, "server", "CLOSE"),
    ]
    # ... and tshark, dissecting the pcap, finds exactly the same frames in the same order:
    # opcodes, masked flags and masking keys, unmasked payloads, close code and reason.
    assert tshark_frames(packets, port) == trace_frames(trace)

    frames = tshark_frames(packets, port)
    assert frames[6][1:3] == ("client", 8) and frames[6][6:] == (1001, "bye")
    assert frames[4][5] == PING and frames[5][5] == PING
    assert frames[2][5] == BINARY
    # The 300-byte payloads use the 16-bit extended length (payload length field 126).
    binary = [ws for layers in packets for ws in as_list(layers.get("websocket")) if ws["websocket.opcode"] == "2"]
    assert [(ws["websocket.payload_length"], ws["websocket.payload_length_ext_16"]) for ws in binary] == \
        [("126", "300"), ("126", "300")]
    # Nothing tshark flags as malformed.
    assert not [layers for layers in packets if "_ws.malformed" in layers]


def test_tshark_recognises_the_upgrade_handshake_on_the_labs_port(capture, tshark_path):
    trace, pcap, port = capture
    packets = run_tshark(tshark_path, pcap, "-d", f"tcp.port=={port},http")
    requests = [r for r in trace.handshakes if r.sender == "client"]
    responses = [r for r in trace.handshakes if r.sender == "server"]
    assert http_messages(packets, port) == [
        (0, "client", "GET /", "websocket", requests[0].header("Sec-WebSocket-Key")),
        (0, "server", "101", "websocket", responses[0].header("Sec-WebSocket-Accept")),
        (1, "client", "GET /", "websocket", requests[1].header("Sec-WebSocket-Key")),
        (1, "server", "101", "websocket", responses[1].header("Sec-WebSocket-Accept")),
    ]
    # The requests went to the lab's own (non-standard) port.
    assert {int(layers["tcp"]["tcp.dstport"]) for layers in packets if "http" in layers
            and sender_of(layers, port) == "client"} == {port}
    assert port not in (80, 8080)


def test_without_d_tshark_finds_the_handshake_by_heuristic_but_a_claimed_port_needs_d(
        capture, tshark_path, tmp_path):
    trace, pcap, port = capture
    with_d = run_tshark(tshark_path, pcap, "-d", f"tcp.port=={port},http")

    # Observed with tshark 4.0: without -d the handshake is still found, on a port
    # no dissector claims, by HTTP's heuristic dissector for TCP (http_tcp, on by
    # default); the WebSocket frames follow from the 101 as with -d.
    without_d = run_tshark(tshark_path, pcap)
    assert http_messages(without_d, port) == http_messages(with_d, port)
    assert tshark_frames(without_d, port) == tshark_frames(with_d, port) == trace_frames(trace)

    # It is that heuristic: turned off, tshark sees plain TCP and no WebSocket at all.
    no_heuristic = run_tshark(tshark_path, pcap, "--disable-heuristic", "http_tcp")
    assert not [layers for layers in no_heuristic if "http" in layers or "websocket" in layers]

    # And a port that another dissector claims wins over the heuristic: the same
    # session on Redis's port 6379 is read as Redis (RESP), not HTTP -- which is
    # why wslab tells users to pass -d tcp.port==PORT,http.
    claimed = tshark_tcp_ports(tshark_path)
    assert claimed.get(6379) == "resp"
    on_redis_port = tmp_path / "redis-port.pcap"
    trace.to_pcap(on_redis_port, server_port=6379)
    misread = run_tshark(tshark_path, on_redis_port)
    assert not [layers for layers in misread if "http" in layers or "websocket" in layers]
    assert any("resp" in layers for layers in misread)
    fixed = run_tshark(tshark_path, on_redis_port, "-d", "tcp.port==6379,http")
    assert tshark_frames(fixed, 6379) == trace_frames(trace)


def test_the_tshark_command_wslab_demo_prints_works(tshark_path, tmp_path, capsys):
    pcap = tmp_path / "demo.pcap"
    assert wslab_main(["demo", "--pcap", str(pcap)]) == 0
    printed = capsys.readouterr().out
    match = re.search(r"tshark -r (\S+) -d tcp\.port==(\d+),http", printed)
    assert match, printed
    assert match[1] == str(pcap)
    packets = run_tshark(tshark_path, match[1], "-d", f"tcp.port=={match[2]},http")
    port = int(match[2])
    assert [start for _, _, start, _, _ in http_messages(packets, port)] == ["GET /", "101"]
    assert [(sender, opcode, payload) for _, sender, opcode, _, _, payload, _, _ in tshark_frames(packets, port)] == [
        ("client", 1, b"Hello Server"), ("server", 1, b"Hello Client"), ("client", 8, None), ("server", 8, None)]
