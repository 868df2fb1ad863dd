"""Traces from files made outside a lab: packet captures and browsers' HAR exports.

* :func:`load_pcap` -- a pcap/pcapng capture (Wireshark, tshark, tcpdump,
  dumpcap): TCP reassembled, WebSocket connections found by their handshake on
  any port and decoded byte for byte, like the lab's tap does.
* :func:`load_har` -- a HAR exported by a browser's DevTools: the handshake and
  the messages, message by message (no masks, control frames or close codes).

Both return a :class:`~wslab.trace.Trace`, so tables, ``plot()``,
``explain()`` and ``diagnose()`` work on them as on a lab's trace.
"""

from .connections import load_pcap
from .har import load_har

__all__ = ["load_har", "load_pcap"]
