"""Explain, in plain words, how each connection in a trace ended and what went wrong.

Sans-I/O: :func:`diagnose` reads a :class:`~wslab.capture.trace.Trace` (from a lab or
loaded from a file) and returns :class:`Finding` records; it never touches a
socket. It reads what crossed the wire -- handshakes, frames and their
``problems``, TCP events -- and the notes the lab leaves when it injects a
fault or a handler raises, and puts them together the way a teacher would::

    connection 3: the server closed with 1002 (protocol error) because the client
    sent an unmasked TEXT frame -- RFC 6455 §5.1 requires clients to mask

Close codes 1005 and 1006 never cross the wire (RFC 6455 §7.1.5, §7.4.1): they
are what each endpoint reports when a Close frame had no status code, or when
TCP ended with no Close frame at all. The findings say so.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Iterable
from typing import Literal

from .capture.notes import HANDLER_RAISED
from .capture.trace import Chunk, Record, Trace
from .protocol import DecodeError, Frame, close_code_name
from .protocol.enums import NoteKind, Opcode
from .protocol.problems import Problem
from .protocol.problems import ProblemCode as P

Severity = Literal["info", "warning", "error"]
OTHER = {"client": "server", "server": "client"}
ARROW = {"client": "client → server", "server": "server → client"}
#: Decode errors that say a stream stopped in the middle of something (a cut lands there).
_TRUNCATED = frozenset({P.TRUNCATED_HEAD, P.TRUNCATED_FRAME})
#: Which problems in a request explain a refusal with this status (RFC 6455 §4.2.1, §4.4).
_REFUSALS: dict[int, frozenset[P]] = {
    405: frozenset({P.METHOD_NOT_GET}),
    505: frozenset({P.HTTP_VERSION_TOO_OLD}),
    426: frozenset({P.MISSING_UPGRADE, P.UPGRADE_NOT_WEBSOCKET, P.MISSING_CONNECTION, P.CONNECTION_NOT_UPGRADE}),
    400: frozenset({P.MISSING_KEY, P.BAD_KEY, P.DUPLICATE_KEY, P.MISSING_VERSION, P.UNSUPPORTED_VERSION,
                    P.MISSING_HOST}),
}
#: A peer that ends TCP within this long after its own Close did not wait for an answer.
_AT_ONCE = 0.05


@dataclasses.dataclass(frozen=True)
class Finding:
    """One explanation about one connection.

    Attributes:
        conn: the connection number in the trace.
        t: when (seconds on the trace's clock) the thing explained happened.
        severity: ``"info"`` (all is well), ``"warning"`` or ``"error"``.
        text: the explanation, in plain words.
        rule: the rule involved, e.g. ``"RFC 6455 §5.1"`` (may be empty).
    """

    conn: int
    t: float
    severity: Severity
    text: str
    rule: str = ""

    def __str__(self) -> str:
        mark = {"info": "✓", "warning": "⚠", "error": "✗"}.get(self.severity, "·")
        rule = f" [{self.rule}]" if self.rule and self.rule not in self.text else ""
        return f"{mark} connection {self.conn} at {_ms(self.t)}: {self.text}{rule}"


class Findings(list[Finding]):
    """A list of :class:`Finding` that prints as text and as an HTML table in Jupyter."""

    def about(self, conn: int) -> Findings:
        """Only the findings about connection ``conn``."""
        return Findings(f for f in self if f.conn == conn)

    @property
    def text(self) -> str:
        """All findings' text, one per line (handy for ``in`` checks)."""
        return "\n".join(f.text for f in self)

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self) if self else "no connections in the trace"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colours = {"info": "#e6f4ea", "warning": "#fff8e1", "error": "#fce8e6"}
        rows = "".join(
            f'<tr style="background:{colours.get(f.severity, "#ffffff")}">'
            f'<td style="text-align:right">{f.conn}</td><td style="text-align:right">{html.escape(_ms(f.t))}</td>'
            f"<td>{f.severity}</td><td style=\"text-align:left\">{html.escape(f.text)}</td>"
            f"<td>{html.escape(f.rule)}</td></tr>"
            for f in self
        )
        return ("<table><thead><tr><th>conn</th><th>t</th><th>severity</th><th>what happened</th>"
                f"<th>rule</th></tr></thead><tbody>{rows}</tbody></table>")


def diagnose(trace: Trace | Iterable[Record]) -> Findings:
    """Explain how each connection of ``trace`` ended, and every broken rule on the way.

    Returns :class:`Findings`, ordered by connection then time: at least one
    finding per connection (its ending, or that it is still open).
    """
    if not isinstance(trace, Trace):
        trace = Trace(trace)
    records: dict[int, list[Record]] = {}
    chunks: dict[int, list[Chunk]] = {}
    for record in trace.records:
        records.setdefault(record.conn, []).append(record)
    for chunk in trace.chunks:
        chunks.setdefault(chunk.conn, []).append(chunk)
    findings = Findings()
    for conn in sorted(records):
        findings += sorted(_Connection(conn, records[conn], chunks.get(conn, [])).explain(), key=lambda f: f.t)
    return findings


# ---------------------------------------------------------------------------
# Words.
# ---------------------------------------------------------------------------


def _ms(t: float) -> str:
    return f"{t * 1000:.1f} ms"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _rule(problem: str) -> str:
    return problem.rule if isinstance(problem, Problem) else Problem.from_text(problem).rule


def _code(code: int | None) -> str:
    if code is None:
        return "no status code (reported as 1005)"
    return f"{code} ({close_code_name(code)})"


def _quote(text: str, limit: int = 80) -> str:
    text = text.strip().splitlines()[0] if text.strip() else ""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _because(record: Record) -> tuple[str, str]:
    """Why ``record`` (a frame, handshake or decode error with a problem) broke a rule, and the rule."""
    e = record.event
    if isinstance(e, DecodeError):
        return f"the {e.sender}'s bytes at offset {e.offset} could not be decoded: {e.reason}", _rule(e.reason)
    problem = e.problems[0]
    rule = _rule(problem)
    if not isinstance(e, Frame):
        return f"the {e.sender}'s handshake: {problem}", rule
    return _frame_because(record, e, problem, rule), rule


def _frame_because(record: Record, e: Frame, problem: Problem, rule: str) -> str:
    """A frame's first broken rule, in words: matched on the problem's code, never its text."""
    who, op = e.sender, e.opcode
    match problem.code:
        case P.UNMASKED_CLIENT_FRAME:
            return f"the client sent an unmasked {op} frame — RFC 6455 §5.1 requires clients to mask"
        case P.MASKED_SERVER_FRAME:
            return f"the server sent a masked {op} frame — RFC 6455 §5.1 forbids servers to mask"
        case P.RESERVED_OPCODE:
            return (f"the {who} sent a frame with the reserved opcode 0x{e.opcode_value:X} — RFC 6455 §5.2 defines "
                    "no meaning for it, so the receiver must fail the connection")
        case P.RESERVED_BIT | P.RSV1_NOT_FIRST_DATA_FRAME:
            bits = ", ".join(name for name, on in (("RSV1", e.rsv1), ("RSV2", e.rsv2), ("RSV3", e.rsv3)) if on)
            return f"the {who} set {bits}, a reserved bit no negotiated extension defines — RFC 6455 §5.2"
        case P.CONTROL_FRAME_TOO_LONG:
            return (f"the {who}'s {op} frame carries {e.length} bytes, and control frames carry at most 125 "
                    "— RFC 6455 §5.5")
        case P.FRAGMENTED_CONTROL_FRAME:
            return f"the {who} fragmented a {op} frame (FIN=0) — RFC 6455 §5.5 forbids fragmenting control frames"
        case P.INVALID_UTF8:
            return (f"the {who}'s text message is not valid UTF-8 — RFC 6455 §8.1 makes the receiver fail "
                    "the connection (with 1007)")
        case P.INVALID_CLOSE_CODE:
            return f"the {who}'s Close frame carries the code {e.close_code}, which may not be sent — {rule}"
    return f"the {who}'s {op} frame at {_ms(record.t)} broke a rule: {problem}"


# ---------------------------------------------------------------------------
# One connection.
# ---------------------------------------------------------------------------


class _Connection:
    """What one connection's records say, and the findings that explain them."""

    def __init__(self, conn: int, records: list[Record], chunks: list[Chunk]) -> None:
        self.conn = conn
        self.records = records
        self.sent = {"client": 0, "server": 0}
        for chunk in chunks:
            self.sent[chunk.sender] += len(chunk.data)
        self.request = self._first(lambda r: r.kind == "handshake" and r.sender == "client")
        self.response = self._first(lambda r: r.kind == "handshake" and r.sender == "server"
                                    and r.status is not None and (r.status == 101 or r.status >= 200))
        self.closes: dict[str, Record] = {}
        self.ends: dict[str, Record] = {}
        for r in records:
            if r.kind == "frame" and r.opcode == "CLOSE":
                self.closes.setdefault(r.sender, r)
            elif r.kind == "tcp" and r.what in ("eof", "reset", "close"):
                self.ends.setdefault(r.sender, r)
        self.notes = [r for r in records if r.kind == "note"]
        self.cut = self._note(NoteKind.CUT)
        self.stopped = self._note(NoteKind.LAB_STOPPED)
        self.stopping = self._note(NoteKind.SERVER_STOPPING)
        self.raised = self._note(NoteKind.HANDLER_RAISED)
        self.disconnect = self._note(NoteKind.DISCONNECT)
        self.cited: set[int] = set()  # ids of records an explanation already names
        self.start = records[0].t if records else 0.0

    def _first(self, wanted: Callable[[Record], bool]) -> Record | None:
        return next((r for r in self.records if wanted(r)), None)

    def _note(self, kind: NoteKind) -> Record | None:
        return self._first(lambda r: r.kind == "note" and r.event.kind is kind)

    def finding(self, t: float, severity: Severity, text: str, rule: str = "") -> Finding:
        return Finding(self.conn, t, severity, text, rule)

    def explain(self) -> list[Finding]:
        if self.notes and all(r.kind in ("note", "state") for r in self.records):
            # Known only from notes (a capture's TLS or non-WebSocket connection): they say it all.
            return [self.finding(r.t, "info" if r.event.kind is NoteKind.NOT_WEBSOCKET else "warning", r.text)
                    for r in self.notes]
        if self.response is not None and self.response.status != 101:
            out = [self._rejected()]
        elif self.response is None:
            out = [self._unanswered()]
        else:
            out = self._ending()
        return out + self._other_problems()

    # -- the opening handshake -------------------------------------------------
    def _rejected(self) -> Finding:
        resp, req = self.response, self.request
        assert resp is not None
        status = f"{resp.status} {resp.reason}".strip()
        self.cited.add(id(resp))
        if req is not None:
            self.cited.add(id(req))
        if req is not None and 200 <= resp.status < 300 and req.header("Upgrade") is None:
            return self.finding(resp.t, "info", f"a plain HTTP request ({req.method} {req.path}), answered "
                                f"{status}: not a WebSocket connection")
        if req is not None and req.header("Upgrade") is None and req.header("Sec-WebSocket-Key") is None:
            # No Upgrade, no key: never an attempt at a WebSocket (a browser fetching a page or its icon).
            what = (" — a browser asking for the page's icon" if req.path.split("?")[0].endswith("/favicon.ico")
                    else "")
            return self.finding(resp.t, "info", f"a plain HTTP request ({req.method} {req.path}{what}), answered "
                                f"{status}: not a WebSocket connection, so not a failed one (no Upgrade header)",
                                "RFC 6455 §4.1")
        why, rule = self._refusal(req, resp)
        said = resp.body.decode("utf-8", "replace") if resp.body else ""
        text = f"handshake rejected: {status} — {why}"
        if said:
            text += f" (the server said {_quote(said)})"
        return self.finding(resp.t, "error", text, rule)

    def _refusal(self, req: Record | None, resp: Record) -> tuple[str, str]:
        status = resp.status
        problems: list[Problem] = list(req.problems) if req is not None else []

        def problem(*codes: P) -> Problem | None:
            return next((p for p in problems if p.code in codes), None)

        if status == 426 and problem(P.UNSUPPORTED_VERSION):
            version = req.header("Sec-WebSocket-Version") if req is not None else "?"
            offered = resp.header("Sec-WebSocket-Version")
            tail = f"; the server speaks {offered}" if offered else ""
            return f"Sec-WebSocket-Version {version} is not 13{tail}", "RFC 6455 §4.4"
        if status in _REFUSALS and (p := problem(*_REFUSALS[status])):
            return p, _rule(p)
        if status == 431 and req is not None:
            longest = max((len(f"{k}: {v}") for k, v in req.headers), default=0)
            return (f"the request's head is too large for the server (its longest header line has {longest} "
                    f"bytes; it has {len(req.headers)} headers)", "RFC 6585 §5")
        if status == 403:
            origin = req.header("Origin") if req is not None else None
            if origin is not None:
                return f"the server does not accept the Origin {origin!r}", "RFC 6455 §4.2.2"
            return "the server requires an Origin header and the request has none", "RFC 6455 §4.2.2"
        if status == 404 and req is not None:
            return f"the server has nothing to serve at the path {req.path!r}", ""
        if status == 503:
            return "the server is shutting down", ""
        if status == 500:
            return "the server's code failed while handling the handshake", ""
        if problems:
            return problems[0], _rule(problems[0])
        return "the server refused the request", ""

    def _unanswered(self) -> Finding:
        req = self.request
        end = min(self.ends.values(), key=lambda r: r.t) if self.ends else None
        ender = self.cut or self.stopped
        torn = ""
        if ender is not None and req is None and self.sent["client"]:
            torn = f", while the client was still sending its request ({self.sent['client']} bytes, no blank line yet)"
            for r in self.records:  # the truncated head is the cut's doing, not the client's
                if r.kind == "error" and r.reason.code in _TRUNCATED and r.t >= ender.t:
                    self.cited.add(id(r))
        if self.cut is not None:
            return self.finding(self.cut.t, "error", "the lab cut the TCP connection during the opening "
                                f"handshake (fault injected at {_ms(self.cut.t)}){torn}: no response, no WebSocket")
        if self.stopped is not None:
            return self.finding(self.stopped.t, "warning", f"the lab stopped before the opening handshake "
                                f"finished{torn}")
        if end is None:
            return self.finding(self.records[-1].t, "info", "still in the opening handshake: no response yet")
        waited = _duration(end.t - self.start)
        if end.sender == "server":
            if req is None:
                error = self._first(lambda r: r.kind == "error" and r.sender == "client"
                                    and r.reason.code is not P.TRUNCATED_HEAD)
                if error is not None:
                    self.cited.add(id(error))
                    return self.finding(end.t, "error", f"the client's bytes are not an HTTP request "
                                        f"({error.reason}); the server closed the connection {waited} after it "
                                        "opened, without answering", _rule(error.reason))
                for r in self.records:
                    if r.kind == "error" and r.sender == "client" and r.reason.code is P.TRUNCATED_HEAD:
                        self.cited.add(id(r))
                sent = self.sent["client"]
                what = (f"the client sent {sent} bytes of an HTTP request but never finished it (no blank line "
                        "ended the head)") if sent else "the client connected but sent nothing"
                return self.finding(end.t, "error", f"{what}; the server gave up after {waited} and closed TCP "
                                    "without answering — websockets' open_timeout", "websockets open_timeout")
            self.cited.add(id(req))
            extra = f" (the request: {req.problems[0]})" if req.problems else ""
            return self.finding(end.t, "error", f"the server closed the connection without answering the "
                                f"request{extra}", _rule(req.problems[0]) if req.problems else "")
        how = "reset TCP" if end.what == "reset" else "closed TCP"
        return self.finding(end.t, "warning", f"the client {how} before the opening handshake finished")

    # -- an open connection's end ------------------------------------------------
    def _ending(self) -> list[Finding]:
        out = self._data_after_close()
        if not self.closes:
            return [*out, self._no_close()]
        first = min(self.closes.values(), key=lambda r: r.t)
        self.cited.add(id(first))
        closer, peer = first.sender, OTHER[first.sender]
        code = first.close_code
        reason = f" {first.close_reason!r}" if first.close_reason else ""
        answer = self.closes.get(peer)
        if answer is not None:
            self.cited.add(id(answer))
        after, completed = self._after_close(first, closer, peer, answer)
        severity: Severity = "error"
        rule = _rule(" ".join(first.problems))
        if first.problems:
            text, rule = _because(first)
        elif code == 1000 and completed:
            severity = "info"
            text = f"closed normally: the {closer} sent Close {_code(code)}{reason}"
        elif code == 1000:
            severity = "warning"
            text = f"the {closer} closed with {_code(code)}{reason}"
        elif code == 1001:
            severity = "info" if completed else "warning"
            why = ("the server is shutting down" + (" (the lab was stopped)" if self._stopped_before(first) else "")
                   if closer == "server" else "the client is leaving (e.g. a page closed)")
            text = f"the {closer} is going away (1001){reason}: {why}"
        elif code == 1011:
            text, rule = self._internal_error(first, closer, peer)
        elif code in (1002, 1007) and self._clean(peer, first.t):
            severity = "warning"
            text = (f"the {closer} closed with {_code(code)}{reason}, but every frame the {peer} sent before it "
                    f"decoded cleanly here: the {closer}'s verdict disagrees with wslab's decoder (a rule the "
                    f"decoder does not check, or a bug on the {closer}'s side) — not evidence against the {peer}")
            rule = "RFC 6455 §7.4.1"
        elif code in (1002, 1003, 1007, 1008, 1009, 1010):
            because, rule = self._culprit(first, closer, peer)
            text = f"the {closer} closed with {_code(code)}{reason} because {because}"
        else:
            severity = "info" if completed and code is not None and code >= 3000 else "warning"
            text = f"the {closer} closed with {_code(code)}{reason}"
        if self.disconnect is not None and closer == "server" and self.disconnect.t <= first.t:
            text += " — the lab asked the server to close"
        return [*out, self.finding(first.t, severity, text + after, rule)]

    def _clean(self, sender: str, until: float) -> bool:
        """Whether ``sender`` sent frames before ``until`` and they all decoded without a problem."""
        sent = [r for r in self.records if r.t <= until and r.sender == sender and r.kind in ("frame", "error")]
        return bool(sent) and not any(r.kind == "error" or r.problems for r in sent)

    def _stopped_before(self, close: Record) -> bool:
        return self.stopping is not None and self.stopping.t <= close.t

    def _internal_error(self, first: Record, closer: str, peer: str) -> tuple[str, str]:
        if "keepalive ping timeout" in (first.close_reason or ""):
            ping = next((r for r in reversed(self.records) if r.kind == "frame" and r.sender == closer
                         and r.opcode == "PING" and r.t <= first.t), None)
            at = f" at {_ms(ping.t)}" if ping is not None else ""
            text = f"1011 keepalive ping timeout: the {closer}'s PING{at} got no PONG within ping_timeout"
            since = ping.t if ping is not None else self.start
            dropped = next((r for r in self.notes if r.sender == peer and r.event.kind is NoteKind.DROPPED
                            and r.event.opcode is Opcode.PONG and since <= r.t <= first.t), None)
            if dropped is not None:
                text += f" — the {peer} answered, but the lab dropped its PONG at {_ms(dropped.t)}"
            elif self._paused(peer, since, first.t):
                text += f" — the lab was holding every byte {ARROW[peer]} (paused)"
            return text, "RFC 6455 §5.5.2"
        if self.raised is not None:
            return (f"the {closer} closed with 1011 (internal error) because its handler raised an exception: "
                    f"{self.raised.text[len(HANDLER_RAISED):]}"), ""
        reason = f" {first.close_reason!r}" if first.close_reason else ""
        return f"the {closer} closed with 1011 (internal error){reason}: something failed inside the {closer}", ""

    def _culprit(self, first: Record, closer: str, peer: str) -> tuple[str, str]:
        code = first.close_code
        bad = next((r for r in reversed(self.records) if r.t <= first.t and r.sender == peer and (
            r.kind == "error" or (r.kind == "frame" and r.problems))), None)
        if code == 1009:
            big = next((r for r in reversed(self.records) if r.t <= first.t and r.sender == peer
                        and r.kind == "frame" and r.opcode in ("TEXT", "BINARY", "CONTINUATION")), None)
            if bad is not None and bad.kind == "error":
                self.cited.add(id(bad))
                return f"{_because(bad)[0]} — over the {closer}'s max_size", _rule(bad.reason)
            if big is not None:
                self.cited.add(id(big))
                return (f"the {peer}'s {big.opcode} frame of {big.length} bytes is over the {closer}'s max_size "
                        "(a message too big to accept)"), ""
            return f"a message from the {peer} was over the {closer}'s max_size", ""
        if bad is not None:
            self.cited.add(id(bad))
            return _because(bad)
        said = f" (it said {first.close_reason!r})" if first.close_reason else ""
        return f"of something the {peer} sent{said}", ""

    def _paused(self, sender: str, since: float, until: float) -> bool:
        """Whether the lab held ``sender``'s bytes (paused) at some time between ``since`` and ``until``."""
        paused = False
        for note in self.notes:
            if note.t > until:
                break
            kind = note.event.kind
            if note.sender == sender and kind is NoteKind.PAUSE:
                paused = True
            elif (note.sender == sender and kind is NoteKind.RESUME) or kind is NoteKind.FAULTS_CLEARED:
                if note.t > since and paused:
                    return True
                paused = False
        return paused

    def _after_close(self, first: Record, closer: str, peer: str, answer: Record | None) -> tuple[str, bool]:
        """What happened after the first Close, and whether the closing handshake completed."""
        end = self.ends.get(closer)
        peer_end = self.ends.get(peer)
        if answer is not None:
            if end is not None and end.t - answer.t > _AT_ONCE and self._paused(peer, first.t, end.t):
                return (f"; close timeout: the {peer} answered at {_ms(answer.t)}, but the lab held its Close "
                        f"({ARROW[peer]} paused), so the {closer} dropped TCP {_duration(end.t - first.t)} after "
                        f"its Close (its close_timeout) and reports 1006"), False
            said = f" {answer.close_reason!r}" if answer.close_reason else ""
            what = "an empty Close (no status code, reported as 1005)" if answer.close_code is None else \
                f"Close {_code(answer.close_code)}"
            return f"; the {peer} answered with {what}{said}", True
        if self.cut is not None and self.cut.t >= first.t:
            return f"; then the lab cut TCP at {_ms(self.cut.t)} before the {peer} answered", False
        if end is not None and end.t >= first.t:
            waited = end.t - first.t
            if waited <= _AT_ONCE:
                return (f"; the {closer} closed TCP at once without waiting for an answer "
                        "(failing the connection, RFC 6455 §7.1.7)"), False
            return (f"; close timeout: the {closer} sent Close at {_ms(first.t)} and the {peer} never answered; "
                    f"the {closer} dropped TCP {_duration(waited)} later (its close_timeout) and reports 1006"), False
        if peer_end is not None and peer_end.t >= first.t:
            return f"; the {peer} dropped TCP without answering the Close", False
        return f"; the {peer} has not answered yet", False

    def _data_after_close(self) -> list[Finding]:
        out = []
        for r in self.records:
            if r.kind == "frame" and any(p.code is P.DATA_AFTER_CLOSE for p in r.problems):
                self.cited.add(id(r))
                other = OTHER[r.sender]
                out.append(self.finding(r.t, "warning", f"the {r.sender} sent {r.opcode} after its own Close frame "
                                        f"— RFC 6455 §5.5.1 forbids data after Close; the {other} ignores it",
                                        "RFC 6455 §5.5.1"))
        return out

    def _no_close(self) -> Finding:
        if self.cut is not None:
            text = ("1006 abnormal closure: no Close frame was seen; TCP was cut by the lab "
                    f"(fault injected at {_ms(self.cut.t)})")
            torn = [r for r in self.records if r.kind == "error" and r.t >= self.cut.t and r.reason.code in _TRUNCATED]
            for r in torn:
                self.cited.add(id(r))
                text += f"; it landed in the middle of a {r.sender} frame ({r.reason})"
            return self.finding(self.cut.t, "error", text, "RFC 6455 §7.1.5")
        if self.stopped is not None:
            return self.finding(self.stopped.t, "warning", "1006 abnormal closure: the lab stopped and cut TCP "
                                "before any Close frame", "RFC 6455 §7.1.5")
        if self._note(NoteKind.MESSAGE_LEVEL) is not None:
            return self.finding(self.records[-1].t, "info", "how the connection ended is not in a HAR: it keeps "
                                "messages only, no Close frames and no TCP")
        if not self.ends:
            return self.finding(self.records[-1].t, "info", "open: no Close frame yet")
        end = min(self.ends.values(), key=lambda r: r.t)
        how = "reset TCP" if end.what == "reset" else "closed TCP"
        return self.finding(end.t, "error", f"1006 abnormal closure: the {end.sender} {how} at {_ms(end.t)} "
                            "without a Close frame, as if it vanished", "RFC 6455 §7.1.5")

    # -- the rest ------------------------------------------------------------------
    def _other_problems(self) -> list[Finding]:
        out = []
        opened = self.response is not None and self.response.status == 101
        for r in self.records:
            if id(r) in self.cited:
                continue
            if r.kind == "error":
                out.append(self.finding(r.t, "warning", _because(r)[0], _rule(r.reason)))
            elif r.kind == "frame" and r.problems:
                text, rule = _because(r)
                out.append(self.finding(r.t, "warning", text, rule))
            elif r.kind == "handshake" and r.problems and opened:
                out.append(self.finding(r.t, "warning", f"the {r.sender}'s handshake: {r.problems[0]}",
                                        _rule(r.problems[0])))
        return out


__all__ = ["Finding", "Findings", "diagnose"]
