"""Lab(tls=True): wss:// through a tap that terminates TLS, and the encrypted leg recorded in front of it."""

from __future__ import annotations

import asyncio
import ssl
import struct
import subprocess

import pytest
import websockets.sync.client

import wslab
from wslab import Lab
from wslab.protocol.tls import tls_records

pytest.importorskip("trustme")


def stream(trace, sender, conn=1):
    return b"".join(c.data for c in trace.chunks if c.conn == conn and c.sender == sender)


@pytest.fixture(scope="module")
def wss_lab():
    """One article exchange over wss://, sync then asyncio; the lab stopped (everything settled)."""
    with Lab("echo", seed=1, tls=True) as lab:
        url = lab.url
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=5) == "Hello Client"

        async def hello():
            async with lab.connect() as ws:
                await ws.send("Hello Server")
                return await ws.recv()

        assert asyncio.run(hello()) == "Hello Client"
    return lab, url


def test_the_url_is_wss_and_the_decrypted_trace_shows_every_frame(wss_lab):
    lab, url = wss_lab
    assert url.startswith("wss://127.0.0.1:")
    trace = lab.trace
    assert trace.connections == [1, 2]
    for conn in (1, 2):
        texts = [(f.sender, f.opcode, f.text) for f in trace.frames if f.conn == conn]
        assert texts[:2] == [("client", "TEXT", "Hello Server"), ("server", "TEXT", "Hello Client")]
        assert [f.close_code for f in trace.frames if f.conn == conn and f.opcode == "CLOSE"] == [1000, 1000]
        kinds = [r.event.what.value for r in trace if r.conn == conn and r.kind == "tcp"]
        assert kinds[0] == "connect" and kinds.count("eof") == 2, kinds  # closed cleanly, no reset


def test_the_encrypted_leg_holds_only_tls_records(wss_lab):
    lab, _ = wss_lab
    encrypted = lab.encrypted_trace
    assert encrypted.connections == [1, 2]
    assert not encrypted.frames
    for conn in (1, 2):
        client, server = stream(encrypted, "client", conn), stream(encrypted, "server", conn)
        assert b"Hello" not in client + server and b"Upgrade" not in client + server
        records = {s: tls_records(data) for s, data in (("client", client), ("server", server))}
        assert sum(5 + r.length for r in records["client"]) == len(client)  # nothing but whole records
        assert sum(5 + r.length for r in records["server"]) == len(server)
        assert records["client"][0].name == "handshake" and records["server"][0].name == "handshake"
        assert {r.name for r in records["client"][1:]} <= {"change_cipher_spec", "application_data", "alert"}


def test_load_pcap_of_the_encrypted_leg_says_tls(wss_lab, tmp_path):
    lab, _ = wss_lab
    path = tmp_path / "wss.pcap"
    lab.encrypted_trace.to_pcap(path, server_port=443)
    loaded = wslab.load_pcap(path)
    assert not loaded.frames
    notes = [r.event.text for r in loaded if r.kind == "note"]
    assert len(notes) == 2 and all(n.startswith("TLS: encrypted") for n in notes), notes


def test_tshark_dissects_the_encrypted_leg_as_tls(wss_lab, tmp_path, tshark_path):
    lab, _ = wss_lab
    path = tmp_path / "wss.pcap"
    lab.encrypted_trace.to_pcap(path, server_port=8443)
    done = subprocess.run([tshark_path, "-r", str(path), "-d", "tcp.port==8443,tls", "-T", "fields",
                           "-e", "tls.record.content_type", "-e", "tls.record.opaque_type", "-Y", "tls"],  # TLS 1.3: opaque_type 23
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    types = {int(t) for line in done.stdout.split() for t in line.split(",")}
    assert {22, 23} <= types, done.stdout  # handshake and application data
    websocket = subprocess.run([tshark_path, "-r", str(path), "-d", "tcp.port==8443,tls", "-Y", "websocket || http"],
                               capture_output=True, text=True, timeout=60)
    assert websocket.returncode == 0 and not websocket.stdout.strip(), websocket.stdout


def test_other_clients_use_the_lab_s_ssl_context_and_others_are_refused():
    with Lab("echo", tls=True) as lab:
        assert isinstance(lab.ssl_context, ssl.SSLContext)
        with websockets.sync.client.connect(lab.url, ssl=lab.ssl_context, proxy=None) as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=5) == "Hello Client"
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's CAs don't know this lab's
            websockets.sync.client.connect(lab.url, ssl=ssl.create_default_context(), proxy=None, open_timeout=5)
        assert lab.certificates is not None and lab.certificates.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
        with pytest.raises(RuntimeError, match="plain TCP"):
            lab.raw()
    assert Lab().ssl_context is None
    with pytest.raises(RuntimeError, match="tls=True"):
        _ = Lab().encrypted_trace


def test_faults_and_lookups_act_on_the_decrypted_leg():
    with Lab("echo", tls=True, close_timeout=0.5) as lab:
        ws = lab.connect_sync()
        assert lab.conn_of(ws) == 1
        lab.drop("server", "TEXT")
        ws.send("Hello Server")
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
        lab.drop("server")
        lab.cut(ws)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv(timeout=5)
        lab.settle()
    notes = [r.event.text for r in lab.trace if r.kind == "note"]
    assert any("dropped this TEXT frame" in n for n in notes) and any("cut the TCP" in n for n in notes)


def test_a_restarted_tls_lab_keeps_its_port_and_certificate():
    lab = Lab("echo", tls=True).start()
    try:
        port, certificates = lab.port, lab.certificates
        lab.stop()
        lab.start()
        assert lab.port == port and lab.certificates is certificates
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            assert ws.recv(timeout=5) == "Hello Client"
    finally:
        lab.stop()
    assert lab.trace.connections == [1] and lab.encrypted_trace.connections == [1]


def tls_record(content_type, body):
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def test_tls_records_splits_a_stream_and_refuses_what_is_not_tls():
    data = tls_record(22, b"x" * 7) + tls_record(20, b"\x01") + tls_record(23, b"y" * 40)
    records = tls_records(data + tls_record(23, b"z" * 10)[:8])  # a cut-off record is left out
    assert [(r.offset, r.name, r.length) for r in records] == [(0, "handshake", 7), (12, "change_cipher_spec", 1),
                                                               (18, "application_data", 40)]
    assert str(records[2]) == "application_data [40 B]"
    with pytest.raises(ValueError, match=r"RFC 8446 §5\.1"):
        tls_records(b"GET / HTTP/1.1\r\n")
