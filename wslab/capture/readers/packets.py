"""Read a pcap or pcapng file into TCP segments.

The file formats are read by ``dpkt`` (pcap, nanosecond pcap and pcapng, from
Wireshark, tshark, tcpdump or dumpcap); so are the link layers this module
accepts -- Ethernet (with VLAN tags), Linux cooked captures (SLL, SLL2), BSD
loopback (NULL, LOOP) and raw IP -- and IPv4, IPv6 and TCP. Packets that are
not TCP over IP (ARP, UDP, ICMP ...) are skipped; so are IPv4 fragments.

dpkt's pcapng reader uses the link type of the file's first interface for
every packet: a pcapng file that mixes link types (``dumpcap -i eth0 -i lo``)
is not read correctly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import struct

from .reassembly import Segment

#: Link types (https://www.tcpdump.org/linktypes.html) and their names.
LINK_TYPES = {0: "NULL (BSD loopback)", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
              108: "LOOP (OpenBSD loopback)", 113: "Linux cooked (SLL)", 228: "raw IPv4", 229: "raw IPv6",
              276: "Linux cooked v2 (SLL2)"}


@dataclasses.dataclass
class Capture:
    """What :func:`read_capture` found: TCP segments in capture order, and what it could not read."""

    link_type: int
    first_time: float | None = None  # capture time of the first packet, any protocol
    segments: list[Segment] = dataclasses.field(default_factory=list)
    packets: int = 0
    unreadable: int = 0  # packets whose link/IP/TCP headers did not parse
    truncated: int = 0  # TCP segments cut short by the snapshot length: their bytes are missing
    cut_short: str = ""  # why the file ended early (a partly written last packet), if it did


class NotACapture(ValueError):
    """The file is not a pcap or pcapng capture that can be read."""


def read_capture(path: str | os.PathLike) -> Capture:
    """All TCP segments in the capture at ``path``, sorted by capture time (stable)."""
    import dpkt  # only when a capture is read

    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        try:
            reader = dpkt.pcap.UniversalReader(f)
        except (ValueError, dpkt.Error) as exc:
            raise NotACapture(_not_a_capture(path, head, exc)) from None
        link_type = reader.datalink()
        if link_type not in LINK_TYPES:
            raise NotACapture(f"{os.fspath(path)}: link type {link_type} is not supported (wslab reads "
                              f"{', '.join(sorted(set(LINK_TYPES.values())))}); save the capture from an "
                              "Ethernet or loopback interface, or as Linux cooked ('any')")
        capture = Capture(link_type)
        packets = iter(reader)
        while True:
            try:
                t, frame = next(packets)
            except StopIteration:
                break
            except (dpkt.Error, ValueError, struct.error) as exc:  # a partly written last packet
                capture.cut_short = f"the file ends in the middle of a packet ({type(exc).__name__})"
                break
            t = float(t)
            capture.packets += 1
            if capture.first_time is None:
                capture.first_time = t
            try:
                segment = _segment(dpkt, link_type, t, frame, capture)
            except (dpkt.Error, ValueError, IndexError, struct.error):
                capture.unreadable += 1
                continue
            if segment is not None:
                capture.segments.append(segment)
    capture.segments.sort(key=lambda s: s.t)
    return capture


def _not_a_capture(path: str | os.PathLike, head: bytes, exc: Exception) -> str:
    name = os.fspath(path)
    if head[:1] in (b"{", b"["):
        return (f"{name}: a JSON file, not a pcap or pcapng capture: use wslab.load() for a saved trace "
                "or wslab.load_har() for a browser's HAR export")
    if not head:
        return f"{name}: an empty file, not a pcap or pcapng capture"
    return f"{name}: not a pcap or pcapng capture (it starts with {head.hex(' ')}; dpkt: {exc})"


def _ip_layer(dpkt, link_type: int, frame: bytes):
    """The IPv4 or IPv6 packet inside a link-layer frame, or None (not IP)."""
    if link_type == 1:
        payload = dpkt.ethernet.Ethernet(frame).data
    elif link_type == 113:
        payload = dpkt.sll.SLL(frame).data
    elif link_type == 276:
        payload = dpkt.sll2.SLL2(frame).data
    elif link_type in (0, 108):  # a 4-byte address family, in either byte order: look at the IP version instead
        payload = _raw_ip(dpkt, frame[4:])
    else:
        payload = _raw_ip(dpkt, frame)
    return payload if isinstance(payload, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _raw_ip(dpkt, data: bytes):
    version = data[0] >> 4 if data else 0
    if version == 4:
        return dpkt.ip.IP(data)
    if version == 6:
        return dpkt.ip6.IP6(data)
    return None


def _segment(dpkt, link_type: int, t: float, frame: bytes, capture: Capture) -> Segment | None:
    ip = _ip_layer(dpkt, link_type, frame)
    if ip is None:
        return None
    if isinstance(ip, dpkt.ip.IP):
        if ip.offset or ip.mf:  # a fragment: TCP over IPv4 fragments is rare, and not reassembled here
            return None
        expected = (ip.len - ip.hl * 4) if ip.len else None  # 0: TCP segmentation offload, take what's there
    else:
        expected = (ip.plen - sum(h.length for h in ip.all_extension_headers)) if ip.plen else None
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP):
        return None
    data = bytes(tcp.data)
    flags = tcp.flags
    if expected is not None and len(tcp) < expected:  # cut by the snapshot length: the bytes aren't there
        capture.truncated += 1
        data, flags = b"", flags & ~dpkt.tcp.TH_FIN
    src = (str(ipaddress.ip_address(ip.src)), tcp.sport)
    dst = (str(ipaddress.ip_address(ip.dst)), tcp.dport)
    return Segment(t, src, dst, tcp.seq, tcp.ack if flags & dpkt.tcp.TH_ACK else None,
                   syn=bool(flags & dpkt.tcp.TH_SYN), fin=bool(flags & dpkt.tcp.TH_FIN),
                   rst=bool(flags & dpkt.tcp.TH_RST), data=data)
