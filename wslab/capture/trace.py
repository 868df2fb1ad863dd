"""The trace: everything a lab saw, as plain records on one clock.

A :class:`Trace` is a list of :class:`Record` objects. Each record carries the
time ``t`` (seconds since the lab started), the connection number ``conn`` and
one event: a decoded :class:`~wslab.protocol.events.Handshake`, :class:`~wslab.protocol.events.Frame`
or :class:`~wslab.protocol.events.DecodeError`, a :class:`Tcp` event from the tap, a
:class:`State` change or a :class:`Note`. Attribute access falls through to the
event, so ``record.opcode`` works on a frame record (and completes in Jupyter);
typed code reads ``record.event``.

Traces are data: they convert to JSON-serialisable records, save and load, and
are drawn by :mod:`wslab.plot`; nothing here changes a trace after it is made.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import html
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, overload

from ..protocol import render
from ..protocol.enums import Opcode, RecordKind, Sender
from . import export
from .export import from_json, load, plain
from .records import ARROWS, KINDS, STATES, TCP_NAMES, Chunk, Event, Note, Record, State, Tcp, describe

#: A payload's short preview, as the table shows it.
preview = render.preview

if TYPE_CHECKING:  # only for annotations: importing them here would load matplotlib with every trace
    from matplotlib.axes import Axes

    from ..diagnose import Findings
    from .mermaid import Mermaid



#: Rows a trace's HTML table shows at most: the first and the last half (like pandas' ``display.max_rows``).
HTML_ROWS = 200


def _row(r: Record) -> tuple[str, str, str, str, str]:
    """(time, conn, direction, kind, description) strings for one record."""
    return (f"{r.t * 1000:9.3f}", str(r.conn), ARROWS.get(r.sender, r.sender) if r.kind != "state" else r.sender,
            r.kind, describe(r))


class Trace(Sequence[Record]):
    """An immutable, time-ordered sequence of records, with the chunks behind them (views are computed once).

    Build one with :meth:`Lab.trace <wslab.Lab.trace>` or :func:`load`. Select with
    :meth:`filter`, the :attr:`frames` shortcut, or indexing; show it as a table
    (``print(trace)`` or just ``trace`` in Jupyter); save it with :meth:`save`.
    """

    def __init__(self, records: Iterable[Record] = (), chunks: Iterable[Chunk] = (), *,
                 started: float | None = None) -> None:
        self.records: tuple[Record, ...] = tuple(sorted(records, key=lambda r: r.t))
        self.chunks: tuple[Chunk, ...] = tuple(sorted(chunks, key=lambda c: c.t))
        #: Wall-clock time (Unix seconds) at t = 0, when known: captures get real dates.
        self.started = started

    # -- sequence -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Trace: ...

    def __getitem__(self, index: int | slice) -> Record | Trace:
        if isinstance(index, slice):
            return Trace(self.records[index], self.chunks, started=self.started)
        return self.records[index]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Trace) and self.records == other.records and self.chunks == other.chunks
                and self.started == other.started)

    # -- selection ----------------------------------------------------------
    def filter(self, kind: str | None = None, *, conn: int | None = None, sender: str | None = None,
               opcode: str | int | None = None) -> Trace:
        """Records matching every given criterion (chunks of ``conn`` are kept).

        ``kind`` is a :class:`RecordKind` (``"frame"``, ``"handshake"`` ...), ``sender``
        ``"client"`` or ``"server"``, ``opcode`` an :class:`Opcode` name (``"TEXT"`` ...,
        any case, or its 4-bit value); ``conn`` a connection number of this trace; anything else raises
        ValueError (or TypeError) listing what is valid.
        """
        kind = _valid(RecordKind, kind, "kind")
        sender = _valid(Sender, sender, "sender")
        if isinstance(opcode, int) and not isinstance(opcode, bool) and 0 <= opcode <= 15:
            opcode = Opcode.from_bits(opcode)
        opcode = _valid(Opcode, opcode, "opcode")
        if conn is not None:
            if isinstance(conn, bool) or not isinstance(conn, int):
                raise TypeError(f"conn is a connection number (an int), not {conn!r}; connections: "
                                f"{', '.join(map(str, self.connections)) or 'none'}")
            if self.records and conn not in self.connections:
                raise ValueError(f"no connection {conn} in this trace; connections: "
                                 f"{', '.join(map(str, self.connections))}")

        def keep(r: Record) -> bool:
            return ((kind is None or r.kind == kind) and (conn is None or r.conn == conn)
                    and (sender is None or r.sender == sender)
                    and (opcode is None or (r.kind == "frame" and r.opcode == opcode)))
        chunks = [c for c in self.chunks if conn is None or c.conn == conn]
        return Trace([r for r in self.records if keep(r)], chunks, started=self.started)

    @functools.cached_property
    def frames(self) -> Trace:
        """Only the frames."""
        return self.filter("frame")

    @functools.cached_property
    def handshakes(self) -> Trace:
        """Only the handshake requests and responses."""
        return self.filter("handshake")

    @property
    def errors(self) -> Trace:
        """Decode errors, and frames or handshakes that break an RFC rule."""
        return Trace([r for r in self.records if r.kind == "error"
                      or (r.kind in ("frame", "handshake") and r.problems)], self.chunks, started=self.started)

    @property
    def connections(self) -> list[int]:
        """Connection numbers, in order."""
        return sorted({r.conn for r in self.records})

    def messages(self, sender: str | None = None) -> list[str | bytes]:
        """Data messages in order (fragments joined), as text or bytes; ``sender`` as in :meth:`filter`."""
        sender = _valid(Sender, sender, "sender")
        out: list[str | bytes] = []
        parts: dict[tuple[int, str], list[Record]] = {}
        for r in self.frames:
            if sender is not None and r.sender != sender:
                continue
            if r.opcode in ("TEXT", "BINARY", "CONTINUATION"):
                key = (r.conn, r.sender)
                parts.setdefault(key, []).append(r)
                if r.fin:
                    frames = parts.pop(key)
                    data = b"".join(f.payload for f in frames)  # inflated per frame when compressed
                    out.append(data.decode("utf-8", "replace") if frames[0].opcode == "TEXT" else data)
        return out

    # -- tables and records -------------------------------------------------
    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(time, conn, direction, kind, description) strings, one per record."""
        return [_row(r) for r in self.records]

    def table(self, *, states: bool = False) -> str:
        """A plain-text table (``states=True`` includes state changes)."""
        header = ("t (ms)", "conn", "dir", "kind", "what")
        rows = [row for row, r in zip(self.rows(), self.records, strict=False) if states or r.kind != "state"]
        widths = [max(len(x[i]) for x in [header, *rows]) for i in range(4)]
        lines = ["  ".join(x[i].rjust(widths[i]) if i < 2 else x[i].ljust(widths[i]) for i in range(4)) + "  " + x[4]
                 for x in [header, *rows]]
        lines.insert(1, "-" * max(len(line) for line in lines))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<Trace: {len(self)} records, {len(self.frames)} frames, {len(self.connections)} connection(s)>"

    def _repr_html_(self) -> str:
        colours = {"frame": "#e8f0fe", "handshake": "#e6f4ea", "error": "#fce8e6", "tcp": "#f1f3f4",
                   "state": "#fff8e1", "note": "#fff8e1"}
        body = []
        shown: list[Record | None] = [r for r in self.records if r.kind != "state"]
        hidden = len(shown) - HTML_ROWS
        if hidden > 0:  # a notebook cell stays light; the text table has every row
            shown = [*shown[: HTML_ROWS // 2], None, *shown[-(HTML_ROWS // 2):]]
        for r in shown:
            if r is None:
                body.append(f'<tr><td colspan="5" style="text-align:center">… {hidden:,} more rows not shown: '
                            "<code>print(trace.table())</code> shows them all …</td></tr>")
                continue
            t, conn, direction, kind, what = _row(r)
            rejected = r.kind == "handshake" and r.status not in (None, 101)  # a refused handshake (§4.4)
            bad = r.kind == "error" or bool(getattr(r.event, "problems", ())) or rejected
            colour = "#fce8e6" if bad else colours[kind]
            body.append(f'<tr style="background:{colour}"><td style="text-align:right">{t}</td>'
                        f'<td>{conn}</td><td>{direction}</td><td>{kind}</td>'
                        f'<td style="text-align:left;font-family:monospace">{html.escape(what)}</td></tr>')
        return ('<table><thead><tr><th>t (ms)</th><th>conn</th><th>dir</th><th>kind</th><th>what</th></tr>'
                f'</thead><tbody>{"".join(body)}</tbody></table>')

    def to_records(self) -> list[dict]:
        """Flat, JSON-serialisable dicts, one per record (bytes as hex)."""
        out = []
        for r in self.records:
            row = {"t": r.t, "conn": r.conn, "kind": r.kind}
            for f in dataclasses.fields(r.event):
                value = getattr(r.event, f.name)
                if f.name in ("fields", "accept", "headers"):
                    value = plain(value)
                row[f.name] = value.hex() if isinstance(value, bytes) else value
            out.append(row)
        return out

    # -- saving -------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole trace as plain JSON data (see :func:`~wslab.capture.export.from_json`)."""
        return export.to_json(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the trace to a JSON file; :func:`load` reads it back."""
        export.save(self, path)

    # -- other views --------------------------------------------------------
    def diagnose(self) -> Findings:
        """How each connection ended and what went wrong, in plain words (see :func:`wslab.diagnose.diagnose`)."""
        from ..diagnose import diagnose

        return diagnose(self)

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the sequence diagram; returns the matplotlib Axes (see :func:`wslab.plot.timeline`: e.g.
        ``time="proportional"`` draws gaps to scale, ``names={1: "alice"}`` names the clients)."""
        from ..plot.timeline import timeline

        return timeline(self.records, ax=ax, **kwargs)

    def to_mermaid(self, *, conn: int | None = None, max_frames: int = 40) -> Mermaid:
        """The connection as a Mermaid ``sequenceDiagram``: a ``str`` of Mermaid source that, bare in a cell,
        shows the diagram (JupyterLab 4.1+) and the same sequence as plain text under it (every viewer)."""
        from .mermaid import to_mermaid

        return to_mermaid(self if conn is None else self.filter(conn=conn), max_frames=max_frames)

    def to_pcap(self, path: str | os.PathLike, *, server_port: int = 8080) -> None:
        """Write a pcap capture of the recorded chunks (synthesised IPv4/TCP) for Wireshark/tshark."""
        from .pcap import write_pcap

        write_pcap(self.chunks, self.records, path, server_port=server_port, started=self.started or 0.0)


def _valid(kind: type[enum.Enum], value: object, what: str) -> Any:
    """``value`` as a member of ``enum`` (None stays None), or ValueError listing the valid values."""
    if value is None:
        return None
    valid = [str(member) for member in kind]
    if not isinstance(value, str):
        raise TypeError(f"{what} is a string, not {value!r}; {what}s: {', '.join(valid)}")
    try:
        return kind(value)
    except ValueError:
        close = difflib.get_close_matches(value.strip().lower(), [v.lower() for v in valid], n=1, cutoff=0.6)
        hint = f" (did you mean {valid[[v.lower() for v in valid].index(close[0])]!r}?)" if close else ""
        raise ValueError(f"unknown {what} {value!r}{hint}; {what}s: {', '.join(valid)}") from None




__all__ = ["ARROWS", "KINDS", "STATES", "TCP_NAMES", "Chunk", "Event", "Note", "Record", "State", "Tcp", "Trace",
           "describe", "from_json", "load", "preview"]
