"""TCP stream reassembly: segments in capture order in, each direction's bytes in stream order out.

Sans-I/O and small on purpose. :class:`HalfStream` is one direction of a TCP
connection; :class:`TcpConnection` is both directions, keyed by endpoint. They
turn segments -- out of order, retransmitted, overlapping -- into
:class:`Delivery` events:

* ``"data"``: the next bytes of the stream, at the stream ``offset`` (0 = the
  first byte after the SYN), available at ``t``: the capture time of the segment
  that made them contiguous.
* ``"fin"``: the sender's FIN, once every byte before it was delivered.
* ``"syn"``: the connection opening (the first SYN or SYN-ACK seen).
* ``"rst"``: a reset (immediately).
* ``"gap"``: ``size`` bytes at ``offset`` that the capture never got (the peer
  acknowledged them, or the capture ended with later bytes waiting). Delivery
  goes on after the hole.

Bytes seen first win where segments overlap (as in Wireshark's default).
Sequence numbers wrap around 2**32; offsets don't.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

MOD = 1 << 32
Endpoint = tuple[str, int]  # (IP address, port)


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What one direction made available: data, a FIN, a reset or a hole (see the module docstring)."""

    kind: Literal["syn", "data", "fin", "rst", "gap"]
    t: float
    offset: int = 0
    data: bytes = b""
    size: int = 0


class HalfStream:
    """One direction of a TCP connection, reassembled.

    Attributes:
        origin: the sequence number of stream offset 0 (None until a segment was seen).
        start_seen: the SYN was captured, so offset 0 is the very first byte sent.
        next: stream offset of the next byte to deliver.
        ended: the FIN was delivered.
    """

    def __init__(self) -> None:
        self.origin: int | None = None
        self.start_seen = False
        self.next = 0
        self.ended = False
        self._pending: dict[int, tuple[float, bytes]] = {}  # out-of-order bytes by offset
        self._fin: tuple[int, float] | None = None  # offset and capture time of the FIN

    def offset(self, seq: int) -> int:
        """The stream offset of sequence number ``seq`` (the one nearest to :attr:`next`)."""
        assert self.origin is not None
        delta = (seq - self.origin - self.next) % MOD
        if delta >= MOD // 2:
            delta -= MOD
        return self.next + delta

    def segment(self, t: float, seq: int, data: bytes = b"", *, syn: bool = False, fin: bool = False) -> list[Delivery]:
        """A segment from this direction's sender, captured at ``t``."""
        if syn:
            seq = (seq + 1) % MOD  # the SYN takes one sequence number; data (if any) follows it
            if not self.start_seen:
                if self.origin is not None and self.next:  # bytes seen before the SYN: not this connection's start
                    return []
                self.origin, self.start_seen = seq, True
        if self.origin is None:  # the capture starts mid-connection
            self.origin = seq
        if self.ended:
            return []
        at = self.offset(seq)
        out = self._data(t, at, data) if data else []
        if fin and self._fin is None:
            self._fin = (at + len(data), t)
        return out + self._finish(t)

    def acked(self, t: float, ack: int) -> list[Delivery]:
        """The peer acknowledged everything before ``ack``: bytes it got that the capture didn't are a gap."""
        if self.origin is None or self.ended:
            return []
        upto = self.offset(ack)
        if self._fin is not None and upto > self._fin[0]:
            upto = self._fin[0]  # the FIN's own sequence number
        out: list[Delivery] = []
        while upto > self.next:
            out += self._skip(t, upto)
        return out + self._finish(t)

    def close(self) -> list[Delivery]:
        """The capture ended: report the holes before bytes still waiting, deliver those bytes and the FIN."""
        out: list[Delivery] = []
        while self._pending and not self.ended:
            first = min(self._pending)
            out += self._skip(self._pending[first][0], first)
        if self._fin is not None and not self.ended and self._fin[0] > self.next:
            out += self._skip(self._fin[1], self._fin[0])
        return out + self._finish(self._fin[1] if self._fin else 0.0)

    # -- machinery ---------------------------------------------------------------
    def _data(self, t: float, at: int, data: bytes) -> list[Delivery]:
        end = at + len(data)
        if end <= self.next:  # a retransmission of bytes already delivered
            return []
        if at < self.next:  # overlaps what was delivered: keep only the new bytes
            data, at = data[self.next - at:], self.next
        if at > self.next:  # out of order: wait for the bytes before it
            self._hold(t, at, data)
            return []
        return self._deliver(t, bytearray(data))

    def _hold(self, t: float, at: int, data: bytes) -> None:
        """Keep the bytes of ``data`` that no waiting segment already holds (waiting segments never overlap)."""
        pieces = [(at, data)]
        for start, (_, held) in self._pending.items():
            end = start + len(held)
            kept = []
            for p_at, piece in pieces:
                p_end = p_at + len(piece)
                if p_end <= start or p_at >= end:
                    kept.append((p_at, piece))
                    continue
                if p_at < start:
                    kept.append((p_at, piece[: start - p_at]))
                if p_end > end:
                    kept.append((end, piece[end - p_at:]))
            pieces = kept
        for p_at, piece in pieces:
            self._pending[p_at] = (t, piece)

    def _deliver(self, t: float, data: bytearray) -> list[Delivery]:
        """``data`` starts at :attr:`next`: deliver it with every waiting segment it makes contiguous."""
        start = self.next
        self.next += len(data)
        while True:
            ready = [at for at in self._pending if at <= self.next]
            if not ready:
                break
            for at in sorted(ready):
                _, more = self._pending.pop(at)
                if at + len(more) > self.next:
                    data += more[self.next - at:]
                    self.next = at + len(more)
        return [Delivery("data", t, start, bytes(data))] if data else []

    def _skip(self, t: float, upto: int) -> list[Delivery]:
        """Declare the bytes from :attr:`next` to ``upto`` (or the next waiting segment) missing."""
        end = min([upto, *[at for at in self._pending if at > self.next]])
        gap = Delivery("gap", t, self.next, size=end - self.next)
        self.next = end
        return [gap, *self._deliver(t, bytearray())]

    def _finish(self, t: float) -> list[Delivery]:
        if self._fin is not None and not self.ended and self.next >= self._fin[0]:
            self.ended = True
            self._pending.clear()
            return [Delivery("fin", max(t, self._fin[1]))]
        return []


@dataclasses.dataclass(frozen=True)
class Segment:
    """One captured TCP segment (what :mod:`.packets` reads from a capture file)."""

    t: float
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int | None  # None without the ACK flag
    syn: bool = False
    fin: bool = False
    rst: bool = False
    data: bytes = b""


class TcpConnection:
    """Both directions of one TCP connection, fed :class:`Segment` objects in capture order.

    Attributes:
        ends: the two endpoints, the first packet's sender first.
        opener: the endpoint that sent the SYN (None until a SYN or SYN-ACK is seen).
        isn: the initial sequence number of the first SYN seen (to tell a new
            connection on the same ports from a retransmitted SYN).
        reset: a RST was seen; the connection is over.
    """

    def __init__(self, first: Segment) -> None:
        self.ends: tuple[Endpoint, Endpoint] = (first.src, first.dst)
        self.halves = {first.src: HalfStream(), first.dst: HalfStream()}
        self.isn: int | None = first.seq if first.syn and first.ack is None else None
        self.reset = False
        self.opener: Endpoint | None = None

    @property
    def over(self) -> bool:
        """Reset, or both FINs delivered."""
        return self.reset or all(h.ended for h in self.halves.values())

    def is_new_connection(self, segment: Segment) -> bool:
        """``segment`` is a SYN opening a new connection on these same ports (the old one is over or replaced)."""
        if not segment.syn or segment.ack is not None:
            return False
        return (self.isn is None and any(h.next for h in self.halves.values())) or (
            self.isn is not None and segment.seq != self.isn)

    def packet(self, segment: Segment) -> list[tuple[Endpoint, Delivery]]:
        """Deliveries this segment causes, each with the endpoint whose bytes they are."""
        if self.reset:
            return []
        src, dst = segment.src, segment.dst
        if segment.rst:
            self.reset = True
            return [(src, Delivery("rst", segment.t))]
        out: list[tuple[Endpoint, Delivery]] = []
        if segment.syn and self.opener is None:
            self.opener = src if segment.ack is None else dst
            out.append((self.opener, Delivery("syn", segment.t)))
        if segment.ack is not None:  # what the peer sent before this ACK comes first
            out += [(dst, d) for d in self.halves[dst].acked(segment.t, segment.ack)]
        out += [(src, d) for d in self.halves[src].segment(segment.t, segment.seq, segment.data,
                                                           syn=segment.syn, fin=segment.fin)]
        return out

    def close(self) -> list[tuple[Endpoint, Delivery]]:
        """The capture ended."""
        if self.reset:
            return []
        return [(end, d) for end in self.ends for d in self.halves[end].close()]
