"""Which events become the timeline's rows, and what each row shows (its label, colour, detail)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..capture.notes import FAULT
from ..capture.records import Note, Record, Tcp
from ..protocol import DecodeError, Frame, Handshake, Problem, ProblemCode, close_code_name
from .style import ARROW_AT, COLORS, CONTROL_OPCODES, DATA_OPCODES, GREY, MAX_CHARS
from .text import clean, cut, first_fitting, fit, fmt_bytes, fmt_dt, wrap


def _payload_preview(frame: Frame) -> tuple[str, bool]:
    """The payload as text (without quotes) and True, or as hex bytes and False."""
    text = frame.text
    if text is None and frame.opcode != "BINARY":
        try:
            text = frame.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None and all(c.isprintable() or c in "\n\t" for c in text[:MAX_CHARS]):
        return clean(text), True
    data = frame.payload[:32]
    return " ".join(f"{b:02x}" for b in data) + (" …" if len(frame.payload) > 32 else ""), False


def _frame_family(frame: Frame) -> str:
    if frame.problems:
        return "error"
    if frame.opcode == "CLOSE":
        return "close"
    if frame.opcode in CONTROL_OPCODES:
        return "control"
    if frame.opcode in DATA_OPCODES:
        return "data"
    return "error"  # reserved opcodes


def _quoted(head: str, text: str) -> str:
    return f'{head} "{text}"'


def _frame_label(frame: Frame, width_pt: float, size: float) -> str:
    """``TEXT "Hello Server" (12 B, masked)``, ``CLOSE 1000 (normal closure)``, ``PING`` ..."""
    op = frame.opcode
    head = str(op)
    if not frame.fin:
        head += " fin=0"
    elif op == "CONTINUATION":
        head += " fin=1"
    if op == "CLOSE":
        if frame.close_code is None:
            return cut(f"{head} (no status code)", width_pt, size)
        code = frame.close_code
        name = close_code_name(code)
        heads = [f"{head} {code} ({name})", f"{head} {code}"]
        if not frame.close_reason:
            return first_fitting(heads, width_pt, size)
        reason = clean(frame.close_reason)
        for h in heads:
            label, kept = fit(functools.partial(_quoted, h), reason, width_pt, size)
            if kept >= min(len(reason), 10):
                return label
        return label
    preview, is_text = _payload_preview(frame) if frame.payload or frame.text else ("", True)

    def make(tail: str) -> Callable[[str], str]:
        if is_text:
            return lambda s: f'{head} "{s}"{tail}'
        return lambda s: f"{head} {s}{tail}"

    if op in CONTROL_OPCODES:
        return head if not frame.payload else fit(make(""), preview, width_pt, size)[0]
    flags = [fmt_bytes(frame.length)] + (["masked"] if frame.masked else []) + (["deflate"] if frame.compressed else [])
    # On narrow lanes, drop the flags before cutting the payload to a stub.
    for tail in (f" ({', '.join(flags)})", f" ({flags[0]})", ""):
        label, kept = fit(make(tail), preview, width_pt, size)
        if kept >= min(len(preview), 12):
            return label
    return label


def _problems_text(problems: Sequence[str]) -> str | None:
    if not problems:
        return None
    return "⚠ " + "; ".join(problems)


@dataclasses.dataclass
class Item:
    """One row of the diagram: an event, or a group of collapsed frames."""

    key: int                      # index of its first record
    conn: int
    kind: str                     # handshake, frame, group, error, tcp, note
    records: list[Record]
    top: float = 0.0
    height: float = 1.0
    gap: float = 0.0              # rows of to-scale time above it (proportional time)

    @property
    def y(self) -> float:
        """Where the arrow is drawn."""
        return self.top + ARROW_AT


def select(records: Sequence[Record], max_frames: int | None) -> tuple[list[Item], int, int]:
    """Rows to draw (without positions), the number of frames drawn one by one, and all frames."""
    frame_idx = [i for i, r in enumerate(records) if r.kind == "frame"]
    total = len(frame_idx)
    collapsed: set[int] = set()
    if max_frames is not None and total > max_frames:
        must: set[int] = set()
        by_conn: dict[int, list[int]] = {}
        for i in frame_idx:
            by_conn.setdefault(records[i].conn, []).append(i)
            f = records[i].event
            if f.opcode == "CLOSE" or f.problems or (f.opcode not in DATA_OPCODES | CONTROL_OPCODES):
                must.add(i)
        for idx in by_conn.values():
            must.update((idx[0], idx[-1]))
        control = {i for i in frame_idx if records[i].event.opcode in CONTROL_OPCODES} - must
        if len(must) + len(control) <= max_frames:  # else pings and pongs are collapsed too
            must |= control
        rest = [i for i in frame_idx if i not in must]
        budget = max(0, max_frames - len(must))
        head, tail = budget - budget // 2, budget // 2  # the start and the end of the conversation
        keep = set(rest[:head]) | set(rest[len(rest) - tail:] if tail else ())
        collapsed = set(rest) - keep

    items: list[Item] = []
    open_runs: dict[int, Item] = {}
    for i, r in enumerate(records):
        if i in collapsed:
            run = open_runs.get(r.conn)
            if run is None:
                run = open_runs[r.conn] = Item(i, r.conn, "group", [])
                items.append(run)
            run.records.append(r)
            continue
        open_runs.pop(r.conn, None)  # anything else on this connection ends a run
        if r.kind != "state":
            items.append(Item(i, r.conn, r.kind, [r]))

    # A "group" of one frame saves no room: show it as a frame if the budget allows.
    shown = total - len(collapsed)
    for item in items:
        if item.kind == "group" and len(item.records) == 1 and (max_frames is None or shown < max_frames):
            item.kind = "frame"
            shown += 1
    items.sort(key=lambda it: it.key)
    return items, shown, total


def row_labels(items: Sequence[Item], records: Sequence[Record], labels: Sequence[str] | None) -> list[str]:
    """The label of each row: ``labels`` has one per event (record that is not a state change)."""
    if labels is None:
        return [""] * len(items)
    if isinstance(labels, str):
        raise TypeError("labels: expected a list of strings, one per event, got a single string")
    labels = [str(text) for text in labels]
    events = [r for r in records if r.kind != "state"]
    if len(labels) != len(events):
        raise ValueError(
            f"labels: got {len(labels)} labels for {len(events)} events; give one per event (every record whose "
            f"kind is not 'state', in time order, after conn=), with '' for events that need no label")
    by_record = {id(r): text for r, text in zip(events, labels, strict=False)}
    out = []
    for item in items:
        texts = [by_record.get(id(r), "") for r in item.records]
        out.append(", ".join(dict.fromkeys(text for text in texts if text)))
    return out


def conn_filter(records: Sequence[Record], conn: int | Iterable[int] | None) -> list[Record]:
    recs = sorted(records, key=lambda r: r.t)
    if conn is None:
        return recs
    wanted = {conn} if isinstance(conn, int) else set(conn)
    return [r for r in recs if r.conn in wanted]


@dataclasses.dataclass
class Spec:
    """How to draw one row."""

    draw: str                     # "arrow", "mark" or "note"
    sender: str
    label: str
    color: str
    gid: str
    legend: tuple[str, ...] = ()  # legend entries this row needs
    style: str = "-|>"
    lw: float = 1.5
    ls: Any = "-"
    weight: str = "normal"
    marker: str = "x"
    detail: list[str] = dataclasses.field(default_factory=list)
    detail_color: str = GREY
    note_lines: int = 1           # lines in a note's box


def spec(item: Item, width_pt: float, size: float) -> Spec:
    """Label, colours and detail lines of a row, fitted to ``width_pt``."""
    r = item.records[0]
    e = r.event
    dashed = (0, (4, 3))
    detail: str | None = None
    if item.kind == "group":
        spec = _group_spec(item, width_pt, size)
        detail = spec.detail[0]
    elif isinstance(e, Frame):
        fam = _frame_family(e)
        spec = Spec("arrow", e.sender, _frame_label(e, width_pt, size), COLORS[fam], "frame", (fam,),
                     lw=1.8 if fam in ("close", "error") else 1.5, weight="bold" if fam == "close" else "normal")
        detail = _problems_text(e.problems)
    elif isinstance(e, Handshake):
        spec, detail = _handshake_spec(e, width_pt, size)
    elif isinstance(e, Tcp):
        detail = e.note or None
        if e.what == "connect":
            spec = Spec("arrow", "client", "TCP connect", COLORS["tcp"], "tcp", ("tcp",), ls=dashed, lw=1.3)
        elif e.what == "eof":
            spec = Spec("arrow", e.sender, "FIN", COLORS["tcp"], "tcp", ("tcp",), ls=dashed, lw=1.3, weight="bold")
        elif e.what == "reset" and (e.note or "").startswith(FAULT):
            # The lab's cut resets BOTH TCP connections (client-tap and tap-server): one two-headed arrow, and
            # no second caption (the fault's note is the row above).
            spec = Spec("arrow", e.sender, "✂ RST to both peers (the lab cut TCP)", COLORS["error"], "tcp",
                         ("tcp", "error"), style="<|-|>", ls=dashed, lw=1.8, weight="bold")
            detail = None
        elif e.what == "reset":
            spec = Spec("arrow", e.sender, "RST (connection reset)", COLORS["error"], "tcp", ("tcp", "error"),
                         ls=dashed, lw=1.6, weight="bold")
        else:
            spec = Spec("mark", e.sender, f"{e.sender} closed its socket", COLORS["tcp"], "tcp", ("tcp",),
                         marker="x", weight="bold")
    elif isinstance(e, DecodeError):
        spec = Spec("mark", e.sender, f"decode error at byte {e.offset}", COLORS["error"], "error", ("error",),
                     marker="X", weight="bold")
        detail = e.reason
    elif isinstance(e, Note):
        # A note wraps onto up to three lines in its box; the row grows as for an arrow's detail.
        lines = wrap(f"✎ {clean(e.text)}", width_pt, size, max_lines=3)
        spec = Spec("note", e.sender, "\n".join(lines), COLORS["note"], "note", note_lines=len(lines))
    else:  # pragma: no cover - unknown event types are shown by name
        spec = Spec("note", "client", cut(type(e).__name__, width_pt, size), COLORS["note"], "note")
    spec.detail = wrap(clean(detail), width_pt, size) if detail else []
    if detail and (detail.startswith("⚠") or isinstance(e, DecodeError) or (isinstance(e, Tcp) and e.what == "reset")):
        spec.detail_color = COLORS["error"]
    return spec


def _handshake_spec(h: Handshake, width_pt: float, size: float) -> tuple[Spec, str | None]:
    problems = list(h.problems)
    if h.sender == "client":
        upgrade = h.header("Upgrade")
        line = f"{h.method or '?'} {h.path or '?'}"
        candidates = [f"{line}  Upgrade: {upgrade}", f"{line}  (Upgrade)", line] if upgrade else \
            [f"{line}  (no Upgrade header)", line]
        bad = bool(problems) or not upgrade
    else:
        line = f"{h.status} {h.reason}" if h.status is not None else h.start_line
        candidates = [line, str(h.status)]
        if h.accept is not None and not h.accept.ok:
            problems.insert(0, Problem(ProblemCode.ACCEPT_MISMATCH, "Sec-WebSocket-Accept does not match the key",
                                       "RFC 6455 §4.2.2"))
        bad = h.status != 101 or bool(problems)
    detail = _problems_text(problems)
    if detail is None and h.body:
        try:
            body = h.body.decode("utf-8")
        except UnicodeDecodeError:
            body = h.body.decode("latin-1")
        detail = f'body: "{body.strip()}"'
    spec = Spec("arrow", h.sender, first_fitting(candidates, width_pt, size),
                 COLORS["error"] if bad else COLORS["handshake"], "handshake",
                 ("handshake", "error") if bad else ("handshake",), lw=2.0, weight="bold")
    return spec, detail


def _group_spec(item: Item, width_pt: float, size: float) -> Spec:
    frames = [r.event for r in item.records]
    n = len(frames)
    ops = {f.opcode for f in frames}
    fam = "control" if ops <= CONTROL_OPCODES else "data"
    op = next(iter(ops)) + " " if len(ops) == 1 else ("data " if ops <= DATA_OPCODES else "")
    senders = {f.sender for f in frames}
    n_cs = sum(f.sender == "client" for f in frames)
    size_b = fmt_bytes(sum(f.length for f in frames))
    if senders == {"client"}:
        direction, style, sender = "client→server", "-|>", "client"
    elif senders == {"server"}:
        direction, style, sender = "server→client", "-|>", "server"
    else:
        direction, style, sender = "both ways", "<|-|>", "client"
    plural = "s" if n != 1 else ""
    label = first_fitting([f"… {n} {op}frame{plural} {direction} ({size_b}) …", f"… {n} {op}frame{plural} ({size_b}) …",
                            f"… {n} frame{plural} …"], width_pt, size)
    span = fmt_dt(item.records[-1].t - item.records[0].t)[1:]
    if len(senders) > 1:
        detail = f"{n_cs} client→server + {n - n_cs} server→client, in {span}"
    else:
        detail = f"not drawn one by one; sent in {span}"
    return Spec("arrow", sender, label, COLORS[fam], "group", (fam,), style=style, lw=2.4, ls=(0, (1.5, 1.5)),
                 weight="bold", detail=[detail])


__all__ = ["Item", "Spec", "conn_filter", "row_labels", "select", "spec"]
