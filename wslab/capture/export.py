"""Saving and loading traces as JSON (versioned: version 3 now; version-1 and 2 files still load)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import tempfile
import typing
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ..protocol.enums import ConnState, NoteKind, Opcode, Sender, TcpEvent
from ..protocol.events import AcceptCheck, DecodeError, Field, Frame, Handshake
from ..protocol.problems import Problem
from .notes import legacy_kind
from .records import Chunk, Note, Record, State, Tcp

if TYPE_CHECKING:
    from .trace import Trace


def to_json(trace: Trace) -> dict[str, Any]:
    """The whole trace as plain JSON data (see :func:`from_json`)."""
    return {"wslab_trace": VERSION, "started": trace.started,
            "records": [record_data(r) for r in trace.records],
            "chunks": [plain(c) for c in trace.chunks]}


def record_data(record: Record) -> dict[str, Any]:
    """One record as plain JSON data: ``t``, ``conn`` and its event."""
    return {"t": record.t, "conn": record.conn, "event": plain(record.event)}


def _write_json(trace: Trace, f: IO[str]) -> None:
    """:func:`to_json`'s document, written an item at a time (each with the C encoder: json.dump's
    pure-Python one is ten times slower, and one big string would double the memory)."""
    dumps = functools.partial(json.dumps, ensure_ascii=True)
    f.write(f'{{"wslab_trace": {VERSION}, "started": {dumps(trace.started)}, "records": [')
    for i, r in enumerate(trace.records):
        f.write(("," if i else "") + dumps(record_data(r)))
    f.write('], "chunks": [')
    for i, c in enumerate(trace.chunks):
        f.write(("," if i else "") + dumps(plain(c)))
    f.write("]}")


def save(trace: Trace, path: str | os.PathLike[str]) -> None:
    """Write ``trace`` to a JSON file; :func:`load` reads it back.

    Atomic: the JSON goes to a temporary file in the same folder, is flushed to disk
    and then replaces ``path`` in one step, so an interrupted save leaves the old file
    whole. Any text saves, lone surrogates included (JSON ``\\udcff`` escapes).
    """
    write_atomic(path, lambda f: _write_json(trace, f))


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[str]], Any]) -> None:
    """Call ``write`` on a temporary text file next to ``path``, fsync it, then ``os.replace`` ``path``."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # mkstemp makes it 0o600: keep the old file's mode, or a usual one
            os.chmod(temp, os.stat(target).st_mode & 0o7777 if os.path.exists(target) else 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


#: The version of the JSON format written by :meth:`Trace.to_json`. Version 2 gives
#: problems their code and rule, and notes their kind; version 3 leaves out of a frame
#: what its ``wire`` holds (``fields``, ``masked_payload``, ``mask``). Older files still load.
VERSION = 3
#: Frame fields worked out from ``wire`` when loaded, so not saved.
_FRAME_DERIVED = frozenset({"fields", "masked_payload", "mask"})


@functools.cache
def _saved_fields(cls: type) -> tuple[str, ...] | None:
    """The names of the fields saved of dataclass ``cls`` (None: not a dataclass)."""
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls) if not (cls is Frame and f.name in _FRAME_DERIVED))

TYPES = {cls.__name__: cls for cls in (Handshake, Frame, DecodeError, AcceptCheck, Field, Tcp, State, Note, Chunk)}


def plain(value: Any) -> Any:
    kind: type = type(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, Problem):
        return {"type": "Problem", "code": value.code.value, "rule": value.rule, "text": value.text}
    names = _saved_fields(kind)
    if names is not None:
        return {"type": kind.__name__, **{name: plain(getattr(value, name)) for name in names}}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
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
        if cls is Frame and "fields" not in fields:  # version 3: worked out from the wire when read
            return Frame._lazy(fields)
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


def from_json(data: dict[str, Any]) -> Trace:
    """Rebuild a trace from :meth:`Trace.to_json` data (version 1 or 2)."""
    version = data.get("wslab_trace") if isinstance(data, dict) else None
    if version not in (1, 2, VERSION):
        raise ValueError(f"not a wslab trace (missing 'wslab_trace': {VERSION})")
    legacy = version == 1
    from .trace import Trace  # the Trace class sits above its records and their JSON

    return Trace([Record(r["t"], r["conn"], _unplain(r["event"], legacy)) for r in data["records"]],
                 [_unplain(c, legacy) for c in data["chunks"]], started=data.get("started"))


def jsonl_header(started: float | None) -> str:
    """The first line of a trace streamed as JSON lines (``Lab(record_to=PATH)``)."""
    return json.dumps({"wslab_trace": VERSION, "started": started, "stream": "jsonl"})


def jsonl_record(record: Record) -> str:
    return json.dumps(record_data(record), ensure_ascii=True)


def jsonl_chunk(chunk: Chunk) -> str:
    return json.dumps({"chunk": plain(chunk)}, ensure_ascii=True)


def _load_jsonl(f: IO[str], header: dict[str, Any]) -> Trace:
    """The rest of a JSON-lines trace; a last line cut short (the lab was killed mid-write) is left out."""
    from .trace import Trace

    legacy = header.get("wslab_trace") == 1
    records, chunks = [], []
    lines = f.read().split("\n")
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:
                break
            raise ValueError(f"line {number + 2} of a wslab trace is not JSON") from None
        if "chunk" in item:
            chunks.append(_unplain(item["chunk"], legacy))
        else:
            records.append(Record(item["t"], item["conn"], _unplain(item["event"], legacy)))
    return Trace(records, chunks, started=header.get("started"))


def load(path: str | os.PathLike[str]) -> Trace:
    """Load a trace saved with :meth:`Trace.save`, or streamed to disk with ``Lab(record_to=PATH)``."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
        try:
            header = json.loads(first)
        except json.JSONDecodeError:
            header = None
        if isinstance(header, dict) and header.get("stream") == "jsonl":
            return _load_jsonl(f, header)
        try:
            data = json.loads(first + f.read())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a wslab trace: not JSON ({exc})") from None
    return from_json(data)


__all__ = ["VERSION", "from_json", "jsonl_chunk", "jsonl_header", "jsonl_record", "load", "plain", "save", "to_json",
           "write_atomic"]
