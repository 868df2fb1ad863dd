"""The trace: everything a lab saw, as plain records on one clock.

A :class:`Trace` is a list of :class:`Record` objects. Each record carries the
time ``t`` (seconds since the lab started), the connection number ``conn`` and
one event: a decoded :class:`~wslab.decode.Handshake`, :class:`~wslab.decode.Frame`
or :class:`~wslab.decode.DecodeError`, a :class:`Tcp` event from the tap, a
:class:`State` change or a :class:`Note`. Attribute access falls through to the
event, so ``record.opcode`` works on a frame record (and completes in Jupyter);
typed code reads ``record.event``.

Traces are data: they convert to JSON-serialisable records, save and load, and
are drawn by :mod:`wslab.plot`; nothing here changes a trace after it is made.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import os
import typing
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ..protocol.decoder import AcceptCheck, DecodeError, Field, Frame, Handshake, close_code_name
from .notes import legacy_kind
from ..protocol.enums import ConnState, NoteKind, Opcode, RecordKind, Sender, TcpEvent
from ..protocol.problems import Problem

if TYPE_CHECKING:  # only for annotations: importing them here would load matplotlib with every trace
    from matplotlib.axes import Axes

    from ..diagnose import Findings

#: RFC 6455 §4 / §7: the states each endpoint goes through.
STATES = tuple(ConnState)


@dataclasses.dataclass(frozen=True)
class Tcp:
    """A TCP event seen by the tap.

    ``what`` is ``"connect"`` (client connected), ``"eof"`` (``sender`` half-closed:
    sent FIN) or ``"reset"`` (connection reset / aborted by ``sender``). ``note``
    says why, when the tap knows (e.g. an injected fault).
    """

    sender: Sender
    what: TcpEvent
    note: str = ""


@dataclasses.dataclass(frozen=True)
class State:
    """``sender`` (the endpoint) entered ``state`` because of ``cause``."""

    sender: Sender
    state: ConnState
    cause: str = ""


@dataclasses.dataclass(frozen=True)
class Note:
    """Something the lab itself did or observed (e.g. a fault it injected).

    ``kind`` says what, for code (the diagnosis); ``text`` says it for people.
    ``opcode`` is the frame's opcode for a :attr:`NoteKind.DROPPED` note.
    """

    sender: Sender
    text: str
    kind: NoteKind = NoteKind.INFO
    opcode: Opcode | None = None


Event = Handshake | Frame | DecodeError | Tcp | State | Note
E = TypeVar("E", Handshake, Frame, DecodeError, Tcp, State, Note, covariant=True)

KINDS: dict[type, RecordKind] = {
    Handshake: RecordKind.HANDSHAKE,
    Frame: RecordKind.FRAME,
    DecodeError: RecordKind.ERROR,
    Tcp: RecordKind.TCP,
    State: RecordKind.STATE,
    Note: RecordKind.NOTE,
}


@dataclasses.dataclass(frozen=True)
class Record(Generic[E]):
    """One event at time ``t`` on connection ``conn``.

    Attributes of the event (``sender``, ``opcode``, ``payload`` ...) can be read
    on the record directly, and ``dir(record)`` (Jupyter's completion) lists
    them; typed code reads them on :attr:`event`.
    """

    t: float
    conn: int
    event: E

    @property
    def kind(self) -> RecordKind:
        """``"handshake"``, ``"frame"``, ``"error"``, ``"tcp"``, ``"state"`` or ``"note"``."""
        return KINDS[type(self.event)]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "event":
            raise AttributeError(name)
        try:
            return getattr(self.event, name)
        except AttributeError:
            raise AttributeError(f"a {self.kind} record has no attribute {name!r}") from None

    def __dir__(self) -> list[str]:
        own = set(super().__dir__())
        return sorted(own | {f.name for f in dataclasses.fields(self.event)}
                      | {name for name in dir(type(self.event)) if not name.startswith("_")})

    def __repr__(self) -> str:
        # Short and stable to the millisecond: the full float and every field are one attribute away.
        return f"<Record t={self.t * 1000:.3f} ms conn={self.conn} {self.kind} {self.sender}: {describe(self)}>"


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Bytes the tap read in one go from ``sender`` at ``t``, at stream ``offset``."""

    t: float
    conn: int
    sender: Sender
    offset: int
    data: bytes


def preview(data: bytes | str | None, limit: int = 24) -> str:
    """A short, printable preview of a payload."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data[:limit // 2].hex(" ")
            return text + (" …" if len(data) > limit // 2 else "")
    text = repr(data[:limit])
    return text[:-1] + "…'" if len(data) > limit else text


def describe(record: Record) -> str:
    """One line saying what a record is, for tables, logs and diagrams."""
    e = record.event
    if isinstance(e, Frame):
        parts = [e.opcode]
        if not e.fin:
            parts.append("fin=0")
        if e.opcode == "CLOSE":
            if e.close_code is not None:
                parts.append(f"{e.close_code} ({close_code_name(e.close_code)})")
                if e.close_reason:
                    parts.append(repr(e.close_reason))
            else:
                parts.append("(no status)")
        elif e.payload:
            parts.append(preview(e.text if e.text is not None else e.payload))
        flags = [f"{e.length} B"] + (["masked"] if e.masked else []) + (["deflate"] if e.compressed else [])
        text = " ".join(parts) + f"  [{', '.join(flags)}]"
        if e.problems:
            text += "  ⚠ " + "; ".join(e.problems)
        return text
    if isinstance(e, Handshake):
        text = e.start_line
        if e.accept is not None:
            text += "  (accept ✓)" if e.accept.ok else "  (accept ✗)"
        if e.problems:
            text += "  ⚠ " + "; ".join(e.problems)
        return text
    if isinstance(e, DecodeError):
        return f"decode error at byte {e.offset}: {e.reason}"
    if isinstance(e, Tcp):
        return TCP_NAMES[e.what] + (f" — {e.note}" if e.note else "")
    if isinstance(e, State):
        return f"{e.sender} → {e.state}" + (f" ({e.cause})" if e.cause else "")
    if isinstance(e, Note):
        return e.text
    return repr(e)


ARROWS = {"client": "C → S", "server": "C ← S"}
#: How each TCP event reads in a table.
TCP_NAMES = {TcpEvent.CONNECT: "TCP connect", TcpEvent.EOF: "TCP FIN (half-close)", TcpEvent.RESET: "TCP reset"}


class Trace(Sequence[Record]):
    """An immutable, time-ordered sequence of records, with the chunks behind them.

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
               opcode: str | None = None) -> Trace:
        """Records matching every given criterion (chunks of ``conn`` are kept).

        ``kind`` is a :class:`RecordKind` (``"frame"``, ``"handshake"`` ...), ``sender``
        ``"client"`` or ``"server"``, ``opcode`` an :class:`Opcode` name (``"TEXT"`` ...,
        any case); anything else raises ValueError listing what is valid.
        """
        kind = _valid(RecordKind, kind, "kind")
        sender = _valid(Sender, sender, "sender")
        opcode = _valid(Opcode, opcode, "opcode")

        def keep(r: Record) -> bool:
            return ((kind is None or r.kind == kind) and (conn is None or r.conn == conn)
                    and (sender is None or r.sender == sender)
                    and (opcode is None or (r.kind == "frame" and r.opcode == opcode)))
        chunks = [c for c in self.chunks if conn is None or c.conn == conn]
        return Trace([r for r in self.records if keep(r)], chunks, started=self.started)

    @property
    def frames(self) -> Trace:
        """Only the frames."""
        return self.filter("frame")

    @property
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
        """Data messages in order (fragments joined), as text or bytes."""
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
                    data = b"".join(f.payload for f in frames)
                    if frames[0].compressed:  # payloads of a compressed message are cumulative
                        data = frames[-1].payload
                    out.append(data.decode("utf-8", "replace") if frames[0].opcode == "TEXT" else data)
        return out

    # -- tables and records -------------------------------------------------
    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(time, conn, direction, kind, description) strings, one per record."""
        return [(f"{r.t * 1000:9.3f}", str(r.conn), ARROWS.get(r.sender, r.sender) if r.kind != "state" else r.sender,
                 r.kind, describe(r)) for r in self.records]

    def table(self, *, states: bool = False) -> str:
        """A plain-text table (``states=True`` includes state changes)."""
        header = ("t (ms)", "conn", "dir", "kind", "what")
        rows = [row for row, r in zip(self.rows(), self.records) if states or r.kind != "state"]
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
        for (t, conn, direction, kind, what), r in zip(self.rows(), self.records):
            if r.kind == "state":
                continue
            rejected = r.kind == "handshake" and r.status not in (None, 101)  # a refused handshake (§4.4)
            bad = r.kind == "error" or getattr(r.event, "problems", ()) or rejected
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
                    value = _plain(value)
                row[f.name] = value.hex() if isinstance(value, bytes) else value
            out.append(row)
        return out

    # -- saving -------------------------------------------------------------
    def to_json(self) -> dict:
        """The whole trace as plain JSON data (see :func:`from_json`)."""
        return {"wslab_trace": VERSION, "started": self.started,
                "records": [{"t": r.t, "conn": r.conn, "event": _plain(r.event)} for r in self.records],
                "chunks": [_plain(c) for c in self.chunks]}

    def save(self, path: str | os.PathLike) -> None:
        """Write the trace to a JSON file; :func:`load` reads it back."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False)

    # -- other views --------------------------------------------------------
    def diagnose(self) -> Findings:
        """How each connection ended and what went wrong, in plain words (see :func:`wslab.diagnose.diagnose`)."""
        from ..diagnose import diagnose

        return diagnose(self)

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the sequence diagram; returns the matplotlib Axes (see :func:`wslab.plot.timeline`)."""
        from ..plot.timeline import timeline

        return timeline(self.records, ax=ax, **kwargs)

    def to_mermaid(self, *, conn: int | None = None, max_frames: int = 40) -> str:
        """The connection as a Mermaid ``sequenceDiagram`` (JupyterLab renders it in Markdown)."""
        from .mermaid import to_mermaid

        return to_mermaid(self if conn is None else self.filter(conn=conn), max_frames=max_frames)

    def to_pcap(self, path: str | os.PathLike, *, server_port: int = 8080) -> None:
        """Write a pcap capture of the recorded chunks (synthesised IPv4/TCP) for Wireshark/tshark."""
        from .pcap import write_pcap

        write_pcap(self.chunks, self.records, path, server_port=server_port, started=self.started or 0.0)


def _valid(enum: type, value: str | None, what: str) -> Any:
    """``value`` as a member of ``enum`` (None stays None), or ValueError listing the valid values."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(str(member) for member in enum)
        raise ValueError(f"unknown {what} {value!r}; {what}s: {valid}") from None


#: The version of the JSON format written by :meth:`Trace.to_json`. Version 2 gives
#: problems their code and rule, and notes their kind; version-1 files still load.
VERSION = 2

TYPES = {cls.__name__: cls for cls in (Handshake, Frame, DecodeError, AcceptCheck, Field, Tcp, State, Note, Chunk)}


def _plain(value: Any) -> Any:
    if isinstance(value, Problem):
        return {"type": "Problem", "code": value.code.value, "rule": value.rule, "text": value.text}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # an enum's value
    return value


@functools.cache
def _enum_fields(cls: type) -> dict[str, type]:
    """The fields of dataclass ``cls`` typed with one of our enums (``X`` or ``X | None``)."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        for arg in typing.get_args(hint) or (hint,):
            if isinstance(arg, type) and issubclass(arg, (Sender, Opcode, ConnState, TcpEvent, NoteKind)):
                out[name] = arg
    return out


def _unplain(value: Any, legacy: bool = False) -> Any:
    if isinstance(value, dict):
        if "hex" in value and len(value) == 1:
            return bytes.fromhex(value["hex"])
        if value.get("type") == "Problem":
            text = value["text"]
            if value["rule"] and text.endswith(f" ({value['rule']})"):
                text = text[: -len(value["rule"]) - 3]
            return Problem(value["code"], text, value["rule"])
        cls = TYPES[value["type"]]
        fields = {k: _unplain(v, legacy) for k, v in value.items() if k != "type"}
        for name, enum in _enum_fields(cls).items():
            if fields.get(name) is not None:
                fields[name] = enum(fields[name])
        if legacy:
            fields = _upgrade_v1(cls, fields)
        return cls(**fields)
    if isinstance(value, list):
        return tuple(_unplain(v, legacy) for v in value)
    return value


def _upgrade_v1(cls: type, fields: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had problems and notes as bare text: recognise their codes and kinds."""
    if cls in (Frame, Handshake):
        fields["problems"] = tuple(Problem.from_text(p) for p in fields.get("problems", ()))
    elif cls is DecodeError:
        fields["reason"] = Problem.from_text(fields["reason"])
    elif cls is Note:
        fields["kind"], fields["opcode"] = legacy_kind(fields["text"])
    return fields


def from_json(data: dict) -> Trace:
    """Rebuild a trace from :meth:`Trace.to_json` data (version 1 or 2)."""
    version = data.get("wslab_trace") if isinstance(data, dict) else None
    if version not in (1, VERSION):
        raise ValueError(f"not a wslab trace (missing 'wslab_trace': {VERSION})")
    legacy = version == 1
    return Trace([Record(r["t"], r["conn"], _unplain(r["event"], legacy)) for r in data["records"]],
                 [_unplain(c, legacy) for c in data["chunks"]], started=data.get("started"))


def load(path: str | os.PathLike) -> Trace:
    """Load a trace saved with :meth:`Trace.save`."""
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a wslab trace: not JSON ({exc})") from None
    return from_json(data)
