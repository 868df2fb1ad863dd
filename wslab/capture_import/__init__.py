"""Traces from files made outside a lab: packet captures and browsers' HAR exports.

* :func:`load_pcap` -- a pcap/pcapng capture (Wireshark, tshark, tcpdump,
  dumpcap): TCP reassembled, WebSocket connections found by their handshake on
  any port and decoded byte for byte, like the lab's tap does.
It returns a :class:`~wslab.trace.Trace`, so tables, ``plot()``,
``explain()`` and ``diagnose()`` work on them as on a lab's trace.
"""

from .connections import load_pcap

__all__ = ["load_pcap"]
