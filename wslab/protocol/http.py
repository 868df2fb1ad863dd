"""HTTP/1.1 heads (RFC 9112) and the opening handshake's rules (RFC 6455 §4, RFC 7692 §7).

The one HTTP parser in wslab: the decoder reads recorded heads with it, and the
comparison's tiny HTTP server and client (notebook 05) read theirs with it too.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re

from .build import check_accept
from .deflate import DeflateParams, parse_deflate
from .enums import Sender
from .events import AcceptCheck, Handshake
from .problems import Problem
from .problems import ProblemCode as P
from .render import elide

Headers = tuple[tuple[str, str], ...]

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) (\S+) (HTTP/\d+\.\d+)")
_STATUS_LINE = re.compile(r"(HTTP/\d+\.\d+) (\d{3})(?: ([^\r\n]*))?")
_HEADER_LINE = re.compile(rf"({_TOKEN}):[ \t]*([^\r\n]*?)[ \t]*")
#: A byte that cannot be part of a start line (before its CRLF).
NOT_START_LINE = re.compile(rb"[^\x20-\x7e\r]")
_HTTP_VERSION = re.compile(r"HTTP/(\d+)\.(\d+)")
METHOD_START = re.compile(rb"[A-Z]{3,16} ")


def values(headers: Headers, name: str) -> list[str]:
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]


def tokens(headers: Headers, name: str) -> set[str]:
    """Comma-separated tokens of every ``name`` header, lowercased."""
    return {token.strip().lower() for value in values(headers, name) for token in value.split(",")}


def version_at_least_11(version: str) -> bool:
    match = _HTTP_VERSION.fullmatch(version)
    return match is not None and (int(match[1]), int(match[2])) >= (1, 1)


def upgrade_problems(headers: Headers, section: str) -> list[Problem]:
    problems: list[Problem] = []
    upgrade = values(headers, "Upgrade")
    if not upgrade:
        problems.append(Problem(P.MISSING_UPGRADE, "missing Upgrade header", f"RFC 6455 {section}"))
    elif "websocket" not in tokens(headers, "Upgrade"):
        problems.append(Problem(P.UPGRADE_NOT_WEBSOCKET,
                                f"Upgrade header {', '.join(upgrade)!r} does not contain websocket",
                                f"RFC 6455 {section}"))
    connection = values(headers, "Connection")
    if not connection:
        problems.append(Problem(P.MISSING_CONNECTION, "missing Connection header", f"RFC 6455 {section}"))
    elif "upgrade" not in tokens(headers, "Connection"):
        problems.append(Problem(P.CONNECTION_NOT_UPGRADE,
                                f"Connection header {', '.join(connection)!r} does not contain Upgrade",
                                f"RFC 6455 {section}"))
    return problems


def request_problems(method: str, version: str, headers: Headers) -> list[Problem]:
    """RFC 6455 §4.2.1: what the server must find in the client's request."""
    if not values(headers, "Upgrade") and not any(k.lower().startswith("sec-websocket-") for k, _ in headers):
        return []  # plain HTTP (a browser fetching the chat page), not a WebSocket handshake
    problems: list[Problem] = []
    if method != "GET":
        problems.append(Problem(P.METHOD_NOT_GET, f"request method is {method}, must be GET", "RFC 6455 §4.2.1"))
    if not version_at_least_11(version):
        problems.append(Problem(P.HTTP_VERSION_TOO_OLD, f"{version} request, must be HTTP/1.1 or later",
                                "RFC 6455 §4.2.1"))
    if not values(headers, "Host"):
        problems.append(Problem(P.MISSING_HOST, "missing Host header", "RFC 6455 §4.2.1"))
    problems += upgrade_problems(headers, "§4.2.1")
    keys = values(headers, "Sec-WebSocket-Key")
    if not keys:
        problems.append(Problem(P.MISSING_KEY, "missing Sec-WebSocket-Key header", "RFC 6455 §4.2.1"))
    else:
        try:
            ok = len(base64.b64decode(keys[0].encode("ascii"), validate=True)) == 16
        except (ValueError, binascii.Error, UnicodeEncodeError):
            ok = False
        if not ok:
            problems.append(Problem(P.BAD_KEY, f"Sec-WebSocket-Key {keys[0]!r} is not base64 of 16 bytes",
                                    "RFC 6455 §4.2.1"))
        if len(keys) > 1:
            problems.append(Problem(P.DUPLICATE_KEY, "more than one Sec-WebSocket-Key header", "RFC 6455 §11.3.1"))
    versions = values(headers, "Sec-WebSocket-Version")
    if not versions:
        problems.append(Problem(P.MISSING_VERSION, "missing Sec-WebSocket-Version header", "RFC 6455 §4.2.1"))
    elif versions[0].strip() != "13":
        problems.append(Problem(P.UNSUPPORTED_VERSION, f"Sec-WebSocket-Version is {versions[0]!r}, must be 13",
                                "RFC 6455 §4.2.1"))
    return problems


def not_offered(request: Headers, response: Headers) -> list[Problem]:
    """RFC 6455 §4.1: the response may only pick extensions and a subprotocol the client offered."""
    def names(headers: Headers) -> list[str]:
        return [item.split(";")[0].strip().lower()
                for value in values(headers, "Sec-WebSocket-Extensions") for item in value.split(",")
                if item.strip()]

    problems: list[Problem] = []
    offered = set(names(request))
    for name in names(response):
        if name not in offered:
            problems.append(Problem(P.EXTENSION_NOT_OFFERED, f"extension {name!r} was not offered in the request",
                                    "RFC 6455 §4.1"))
    protocols = {p.strip() for value in values(request, "Sec-WebSocket-Protocol") for p in value.split(",")}
    for chosen in values(response, "Sec-WebSocket-Protocol"):
        if chosen.strip() not in protocols:
            problems.append(Problem(P.SUBPROTOCOL_NOT_OFFERED, f"subprotocol {chosen!r} was not offered in the request",
                                    "RFC 6455 §4.1"))
    return problems


@dataclasses.dataclass(frozen=True)
class Head:
    """A parsed HTTP head: the start line and the headers, in wire order.

    Attributes:
        start_line: ``GET /path HTTP/1.1`` or ``HTTP/1.1 101 Switching Protocols``.
        headers: (name, value) pairs as sent.
        version: ``HTTP/1.1``.
        method, path: a request's.
        status, reason: a response's.
    """

    start_line: str
    headers: Headers
    version: str
    method: str | None = None
    path: str | None = None
    status: int | None = None
    reason: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return next(iter(values(self.headers, name)), None)

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection open unless ``Connection: close`` (RFC 9112 §9.3)."""
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"

    def handshake(self, sender: Sender, offset: int, raw: bytes, *, body: bytes = b"",
                  accept: AcceptCheck | None = None, problems: tuple[Problem, ...] = ()) -> Handshake:
        """The :class:`~wslab.protocol.events.Handshake` this head is, sent by ``sender`` at ``offset``."""
        return Handshake(sender, offset, raw, self.start_line, self.headers, self.version, method=self.method,
                         path=self.path, status=self.status, reason=self.reason, body=body, accept=accept,
                         problems=problems)


def start_line_problem(line: bytes, sender: Sender) -> Problem | None:
    """Why ``line`` isn't a request line (client) or a status line (server), or None."""
    text = line.decode("latin-1")
    printable = NOT_START_LINE.search(line) is None
    if sender is Sender.CLIENT:
        if printable and _REQUEST_LINE.fullmatch(text):
            return None
        return Problem(P.MALFORMED_REQUEST_LINE, f"malformed HTTP request line {elide(text)!r}", "RFC 9112 §3")
    if printable and _STATUS_LINE.fullmatch(text):
        return None
    return Problem(P.MALFORMED_STATUS_LINE, f"malformed HTTP status line {elide(text)!r}", "RFC 9112 §4")


def parse_head(head: bytes, sender: Sender) -> Head | Problem:
    """Parse a whole head (through the blank line) sent by ``sender``; a Problem if it is not HTTP/1.x."""
    lines = head.removesuffix(b"\r\n\r\n").decode("latin-1").split("\r\n")
    reason = start_line_problem(lines[0].encode("latin-1"), sender)
    if reason:
        return reason
    headers = []
    for line in lines[1:]:
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            return Problem(P.MALFORMED_HEADER_LINE, f"malformed HTTP header line {elide(line)!r}", "RFC 9112 §5")
        headers.append((match[1], match[2]))
    if sender is Sender.CLIENT:
        match = _REQUEST_LINE.fullmatch(lines[0])
        assert match is not None
        return Head(lines[0], tuple(headers), match[3], method=match[1], path=match[2])
    match = _STATUS_LINE.fullmatch(lines[0])
    assert match is not None
    return Head(lines[0], tuple(headers), match[1], status=int(match[2]), reason=match[3] or "")


def response_problems(head: Head, key: str | None, request: Handshake | None
                      ) -> tuple[list[Problem], AcceptCheck | None, dict[str, DeflateParams] | None]:
    """A 101 response checked (RFC 6455 §4.1): its problems, the accept check, permessage-deflate agreed."""
    headers = head.headers
    problems: list[Problem] = []
    if not version_at_least_11(head.version):
        problems.append(Problem(P.HTTP_VERSION_TOO_OLD, f"{head.version} response, must be HTTP/1.1 or later",
                                "RFC 6455 §4.1"))
    problems += upgrade_problems(headers, "§4.1")
    got = head.header("Sec-WebSocket-Accept")
    accept = None
    if key is not None:
        try:
            accept = check_accept(key, got)
        except UnicodeEncodeError:
            problems.append(Problem(P.KEY_NOT_ASCII, "Sec-WebSocket-Key is not ASCII: cannot check "
                                    "Sec-WebSocket-Accept", "RFC 6455 §4.1"))
    if got is None:
        problems.append(Problem(P.MISSING_ACCEPT, "missing Sec-WebSocket-Accept header", "RFC 6455 §4.1"))
    elif accept is not None and not accept.ok:
        problems.append(Problem(P.ACCEPT_MISMATCH, f"Sec-WebSocket-Accept {got!r} does not match the key: "
                                f"expected {accept.expected!r}", "RFC 6455 §4.1"))
    if request is not None:
        problems += not_offered(request.headers, headers)
    negotiated = None
    extensions = ", ".join(values(headers, "Sec-WebSocket-Extensions"))
    if extensions:
        negotiated, deflate_problems = parse_deflate(extensions)
        problems += deflate_problems
    return problems, accept, negotiated


def rejection_body_length(head: Head, request: Handshake | None, problems: list[Problem]) -> int | None:
    """How many body bytes follow a rejection (None: until EOF), noting problems (RFC 6455 §4.4, RFC 9112 §6.3)."""
    headers = head.headers
    # §4.4 asks for the supported versions only when the client's version was refused.
    asked = values(request.headers, "Sec-WebSocket-Version") if request is not None else ["?"]
    if head.status == 426 and asked and asked[0].strip() != "13" and not values(headers, "Sec-WebSocket-Version"):
        problems.append(Problem(P.VERSIONS_NOT_LISTED, "426 response without Sec-WebSocket-Version listing "
                                "the supported versions", "RFC 6455 §4.4"))
    if head.status in (204, 304):
        return 0
    if values(headers, "Transfer-Encoding"):
        return None
    lengths = values(headers, "Content-Length")
    if not lengths:
        return None
    if lengths[0].strip().isdigit():
        return int(lengths[0].strip())
    problems.append(Problem(P.BAD_CONTENT_LENGTH, f"invalid Content-Length {lengths[0]!r}, reading the body "
                            "until EOF", "RFC 9112 §6.3"))
    return None


__all__ = ["METHOD_START", "NOT_START_LINE", "Head", "Headers", "not_offered", "parse_head", "rejection_body_length",
           "request_problems", "response_problems", "start_line_problem", "tokens", "upgrade_problems", "values",
           "version_at_least_11"]
