"""A trace's chunks as a pcap capture that Wireshark and tshark dissect.

The tap sees TCP payloads, not packets, so the packets are synthesised: an
Ethernet/IPv4/TCP three-way handshake per connection, one segment per recorded
chunk (split to fit), FINs where the tap saw end-of-stream, RSTs for resets.
Sequence numbers, lengths and checksums are correct, so Wireshark reassembles
the stream and dissects the HTTP Upgrade and every WebSocket frame.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from .trace import Chunk, Record

LINKTYPE_ETHERNET = 1
MSS = 1460 * 40  # loopback-sized segments; well under IPv4's 65535 limit
CLIENT_IP = bytes([127, 0, 0, 1])
SERVER_IP = bytes([127, 0, 0, 1])
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(src: tuple[bytes, int], dst: tuple[bytes, int], seq: int, ack: int, flags: int,
            payload: bytes = b"") -> bytes:
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp + payload)) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + tcp + payload


def write_pcap(chunks: Sequence[Chunk], records: Sequence[Record], path: str | os.PathLike, *,
               server_port: int = 8080, started: float = 0.0) -> None:
    """Write ``chunks`` (and the TCP events in ``records``) to a pcap file at ``path``.

    ``started`` is the wall-clock time (Unix seconds) of t = 0, so packets carry real dates.
    """
    packets: list[tuple[float, bytes]] = []
    conns = sorted({c.conn for c in chunks} | {r.conn for r in records if r.kind == "tcp"})
    for conn in conns:
        client = (CLIENT_IP, 40000 + conn % 20000)
        server = (SERVER_IP, server_port)
        ends = {"client": client, "server": server}
        seq = {"client": 1000, "server": 5000}
        events = [(c.t, "data", c.sender, c.data) for c in chunks if c.conn == conn]
        events += [(r.t, r.what, r.sender, b"") for r in records if r.conn == conn and r.kind == "tcp"]
        events.sort(key=lambda e: e[0])
        start = next((e[0] for e in events), 0.0)
        packets.append((start, _packet(client, server, seq["client"] - 1, 0, SYN)))
        packets.append((start, _packet(server, client, seq["server"] - 1, seq["client"], SYN | ACK)))
        packets.append((start, _packet(client, server, seq["client"], seq["server"], ACK)))
        for t, what, sender, data in events:
            other = "server" if sender == "client" else "client"
            src, dst = ends[sender], ends[other]
            if what == "data":
                for i in range(0, len(data), MSS):
                    piece = data[i:i + MSS]
                    packets.append((t, _packet(src, dst, seq[sender], seq[other], PSH | ACK, piece)))
                    seq[sender] += len(piece)
            elif what == "eof":
                packets.append((t, _packet(src, dst, seq[sender], seq[other], FIN | ACK)))
                seq[sender] += 1
                packets.append((t, _packet(dst, src, seq[other], seq[sender], ACK)))
            elif what == "reset":
                packets.append((t, _packet(src, dst, seq[sender], seq[other], RST | ACK)))
    packets.sort(key=lambda p: p[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535 + 14, LINKTYPE_ETHERNET))
        for t, packet in packets:
            t += started
            sec, usec = int(t), round((t - int(t)) * 1e6)
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            f.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)
