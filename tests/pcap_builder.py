"""Hand-built captures for the load_pcap tests: TCP conversations as packets, on any link type, in pcap or pcapng.

dpkt builds the headers (the same library load_pcap reads them with; the
checks that matter -- what comes out of reassembly and decoding -- are wslab's).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import struct
from collections.abc import Iterable, Sequence

import dpkt

from wslab.decode import accept_key, build_frame, close_payload

SYN, ACK, FIN, RST, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


@dataclasses.dataclass
class Packet:
    """One TCP segment before it is given link and IP headers."""

    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    data: bytes = b""


def request(path: str = "/chat", extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def response(extra: str = "") -> bytes:
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(KEY)}\r\n{extra}\r\n").encode()


def article() -> list[tuple[str, bytes]]:
    """The article's lifecycle, as (sender, bytes) in order: handshake, two texts, a close each way."""
    return [("client", request()), ("server", response()),
            ("client", build_frame("TEXT", "Hello Server", mask=MASK)),
            ("server", build_frame("TEXT", "Hello Client")),
            ("client", build_frame("BINARY", bytes(range(200)) * 2, mask=MASK)),
            ("server", build_frame("BINARY", bytes(range(200)) * 2)),
            ("client", build_frame("CLOSE", close_payload(1000, "bye"), mask=MASK)),
            ("server", build_frame("CLOSE", close_payload(1000, "bye")))]


class Conversation:
    """A TCP connection's packets: the three-way handshake, data in segments of ``mss``, FINs or a RST."""

    def __init__(self, client=("10.0.0.1", 40001), server=("10.0.0.2", 8765), *, isn=(1000, 5000),
                 t=0.0, step=0.001, mss=100, handshake=True) -> None:
        self.ends = {"client": client, "server": server}
        self.seq = {"client": isn[0], "server": isn[1]}
        self.t, self.step, self.mss = t, step, mss
        self.packets: list[Packet] = []
        if handshake:
            self._add("client", SYN, seq_step=1, ack=0)
            self._add("server", SYN | ACK, seq_step=1)
            self._add("client", ACK)

    def _other(self, sender: str) -> str:
        return "server" if sender == "client" else "client"

    def _add(self, sender: str, flags: int, data: bytes = b"", *, seq_step: int = 0, ack: int | None = None) -> None:
        other = self._other(sender)
        self.packets.append(Packet(self.t, self.ends[sender], self.ends[other], self.seq[sender] % 2**32,
                                   (self.seq[other] if ack is None else ack) % 2**32, flags, data))
        self.seq[sender] += len(data) + seq_step
        self.t += self.step

    def send(self, sender: str, data: bytes) -> Conversation:
        for i in range(0, len(data), self.mss):
            self._add(sender, PSH | ACK, data[i:i + self.mss])
        self._add(self._other(sender), ACK)
        return self

    def talk(self, messages: Iterable[tuple[str, bytes]]) -> Conversation:
        for sender, data in messages:
            self.send(sender, data)
        return self

    def fin(self, sender: str) -> Conversation:
        self._add(sender, FIN | ACK, seq_step=1)
        self._add(self._other(sender), ACK)
        return self

    def reset(self, sender: str) -> Conversation:
        self._add(sender, RST | ACK)
        return self


def _ip(src: str, dst: str, tcp: dpkt.tcp.TCP):
    if ipaddress.ip_address(src).version == 6:
        return dpkt.ip6.IP6(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                            nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, plen=len(tcp), data=tcp)
    ip = dpkt.ip.IP(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                    p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
    ip.len = 20 + len(tcp)
    return ip


def frame(packet: Packet, link: str = "ethernet") -> bytes:
    """``packet`` with TCP, IP and ``link`` headers ("ethernet", "sll", "sll2", "null", "raw")."""
    tcp = dpkt.tcp.TCP(sport=packet.src[1], dport=packet.dst[1], seq=packet.seq, ack=packet.ack,
                       flags=packet.flags, win=65535, data=packet.data)
    tcp.off = 5
    ip = _ip(packet.src[0], packet.dst[0], tcp)
    kind = dpkt.ethernet.ETH_TYPE_IP6 if isinstance(ip, dpkt.ip6.IP6) else dpkt.ethernet.ETH_TYPE_IP
    if link == "ethernet":
        return bytes(dpkt.ethernet.Ethernet(src=b"\x02\0\0\0\0\x01", dst=b"\x02\0\0\0\0\x02", type=kind, data=ip))
    if link == "sll":
        return bytes(dpkt.sll.SLL(type=4, hrd=1, hlen=6, hdr=b"\x02\0\0\0\0\x01\0\0", ethtype=kind, data=ip))
    if link == "sll2":
        return bytes(dpkt.sll2.SLL2(ethtype=kind, intindex=1, hrd=1, type=4, hlen=6, hdr=b"\x02\0\0\0\0\x01\0\0",
                                    data=ip))
    if link == "null":  # BSD loopback: the address family in the capturing host's byte order
        family = 24 if kind == dpkt.ethernet.ETH_TYPE_IP6 else 2
        return struct.pack("<I", family) + bytes(ip)
    if link == "raw":
        return bytes(ip)
    raise ValueError(link)


LINK_TYPES = {"ethernet": dpkt.pcap.DLT_EN10MB, "sll": dpkt.pcap.DLT_LINUX_SLL, "sll2": 276,
              "null": dpkt.pcap.DLT_NULL, "raw": 101}


def write(path, packets: Sequence[Packet], *, link: str = "ethernet", fmt: str = "pcap",
          started: float = 1_700_000_000.0, snaplen: int = 262144) -> None:
    """Write ``packets`` (in list order) as a pcap (``fmt`` "pcap", "pcap-ns") or pcapng file at ``path``.

    pcap is written here byte by byte (so ``snaplen`` can cut packets as a short ``-s`` does); pcapng by dpkt.
    """
    frames = [(started + p.t, frame(p, link)) for p in packets]
    with open(path, "wb") as f:
        if fmt == "pcapng":
            writer = dpkt.pcapng.Writer(f, snaplen=snaplen, linktype=LINK_TYPES[link])
            for ts, data in frames:
                writer.writepkt(data, ts=ts)
            return
        nano = fmt == "pcap-ns"
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINK_TYPES[link]))
        for ts, data in frames:
            sec = int(ts)
            frac = round((ts - sec) * (1e9 if nano else 1e6))
            f.write(struct.pack("<IIII", sec, frac, min(len(data), snaplen), len(data)) + data[:snaplen])


def shuffled(packets: Sequence[Packet], seed: int = 1) -> list[Packet]:
    """Packets captured out of order: each flight of data segments (between the peer's ACKs) permuted, re-timed.

    Only within a flight: a capture point sees data before the peer can acknowledge it.
    """
    rng = random.Random(seed)
    out: list[Packet] = []
    flight: list[Packet] = []
    for packet in [*packets, None]:
        if packet is not None and packet.data and (not flight or flight[0].src == packet.src):
            flight.append(packet)
            continue
        rng.shuffle(flight)
        out += flight
        flight = [packet] if packet is not None and packet.data else []
        if packet is not None and not packet.data:
            out.append(packet)
    return retimed(out)


def retimed(packets: Sequence[Packet], step: float = 0.001) -> list[Packet]:
    """The same packets, their capture times increasing in list order."""
    return [dataclasses.replace(p, t=i * step) for i, p in enumerate(packets)]
