"""Broken rules, as typed values: a :class:`Problem` is a code, the rule and the text.

The decoder reports every violation it finds as a :class:`Problem`. A problem
*is* its text (``str`` subclass), so it prints, compares and joins like the
sentence it always was -- ``"client frame not masked (RFC 6455 §5.1)"`` --
while code that reasons about it (the diagnosis, the plots) matches its
:attr:`~Problem.code`, never its wording::

    problem.code is ProblemCode.UNMASKED_CLIENT_FRAME
    problem.rule == "RFC 6455 §5.1"
"""

from __future__ import annotations

import re

from .enums import StrEnum


class ProblemCode(StrEnum):
    """Every rule the decoder checks, one code each."""

    # Frames (RFC 6455 §5, RFC 7692).
    UNMASKED_CLIENT_FRAME = "unmasked-client-frame"
    MASKED_SERVER_FRAME = "masked-server-frame"
    RESERVED_BIT = "reserved-bit"
    RSV1_NOT_FIRST_DATA_FRAME = "rsv1-not-first-data-frame"
    RESERVED_OPCODE = "reserved-opcode"
    CONTROL_FRAME_TOO_LONG = "control-frame-too-long"
    FRAGMENTED_CONTROL_FRAME = "fragmented-control-frame"
    LENGTH_MSB_SET = "length-msb-set"
    CLOSE_PAYLOAD_ONE_BYTE = "close-payload-one-byte"
    INVALID_CLOSE_CODE = "invalid-close-code"
    CLOSE_REASON_NOT_UTF8 = "close-reason-not-utf8"
    DATA_AFTER_CLOSE = "data-after-close"
    ORPHAN_CONTINUATION = "orphan-continuation"
    INTERLEAVED_MESSAGE = "interleaved-message"
    INFLATE_FAILED = "inflate-failed"
    INFLATED_TOO_LARGE = "inflated-too-large"
    INVALID_UTF8 = "invalid-utf8"
    # The opening handshake (RFC 6455 §4, RFC 7692 §7).
    METHOD_NOT_GET = "method-not-get"
    HTTP_VERSION_TOO_OLD = "http-version-too-old"
    MISSING_HOST = "missing-host"
    MISSING_UPGRADE = "missing-upgrade"
    UPGRADE_NOT_WEBSOCKET = "upgrade-not-websocket"
    MISSING_CONNECTION = "missing-connection"
    CONNECTION_NOT_UPGRADE = "connection-not-upgrade"
    MISSING_KEY = "missing-key"
    BAD_KEY = "bad-key"
    DUPLICATE_KEY = "duplicate-key"
    MISSING_VERSION = "missing-version"
    UNSUPPORTED_VERSION = "unsupported-version"
    KEY_NOT_ASCII = "key-not-ascii"
    MISSING_ACCEPT = "missing-accept"
    ACCEPT_MISMATCH = "accept-mismatch"
    EXTENSION_NOT_OFFERED = "extension-not-offered"
    SUBPROTOCOL_NOT_OFFERED = "subprotocol-not-offered"
    DEFLATE_UNKNOWN_PARAMETER = "deflate-unknown-parameter"
    DEFLATE_BAD_PARAMETER = "deflate-bad-parameter"
    VERSIONS_NOT_LISTED = "versions-not-listed"
    BAD_CONTENT_LENGTH = "bad-content-length"
    BODY_TOO_LARGE = "body-too-large"
    TRUNCATED_BODY = "truncated-body"
    # Bytes that could not be decoded (DecodeError.reason).
    MALFORMED_REQUEST_LINE = "malformed-request-line"
    MALFORMED_STATUS_LINE = "malformed-status-line"
    MALFORMED_START_LINE = "malformed-start-line"
    MALFORMED_HEADER_LINE = "malformed-header-line"
    HEAD_TOO_LARGE = "head-too-large"
    TRUNCATED_HEAD = "truncated-head"
    TRUNCATED_FRAME = "truncated-frame"
    FRAME_TOO_LARGE = "frame-too-large"
    DECODER_CRASHED = "decoder-crashed"
    #: A problem read from a file whose text matches no known rule.
    UNKNOWN = "unknown"


class Problem(str):
    """One broken rule: the sentence, plus its :attr:`code` and :attr:`rule`.

    ``str(problem)`` is the text as it always read, with the rule in brackets
    at its end when there is one: ``"fragmented control frame (RFC 6455 §5.5)"``.

    Attributes:
        code: which rule, as a :class:`ProblemCode`.
        rule: the rule's reference, e.g. ``"RFC 6455 §5.5"`` (``""`` for a decoder limit).
    """

    code: ProblemCode
    rule: str

    def __new__(cls, code: ProblemCode, text: str, rule: str = "") -> Problem:
        self = super().__new__(cls, f"{text} ({rule})" if rule else text)
        self.code = ProblemCode(code)
        self.rule = rule
        return self

    @property
    def text(self) -> str:
        """The sentence, as a plain ``str``."""
        return str.__str__(self)

    def __repr__(self) -> str:  # as the plain sentence: frames print as they always did
        return repr(self.text)

    def __reduce__(self) -> tuple[object, ...]:
        text = self.text
        if self.rule and text.endswith(f" ({self.rule})"):
            text = text[: -len(self.rule) - 3]
        return (Problem, (self.code, text, self.rule))

    @classmethod
    def from_text(cls, text: str) -> Problem:
        """A problem recognised from its text alone: only for traces saved before problems had codes."""
        if isinstance(text, Problem):
            return text
        match = _RULE_AT_END.search(text)
        rule = match[1] if match else ""
        body = text[: match.start()] if match else text
        code = next((code for pattern, code in _LEGACY if pattern.search(text)), ProblemCode.UNKNOWN)
        return cls(code, body, rule)


_RULE_AT_END = re.compile(r" \((RFC \d+ §[\d.]+)\)$")

#: How version-1 traces worded each problem (the text had no code then).
_LEGACY: list[tuple[re.Pattern[str], ProblemCode]] = [(re.compile(p), c) for p, c in [
    (r"^client frame not masked", ProblemCode.UNMASKED_CLIENT_FRAME),
    (r"^server frame masked", ProblemCode.MASKED_SERVER_FRAME),
    (r"^RSV1 set on a ", ProblemCode.RSV1_NOT_FIRST_DATA_FRAME),
    (r"^RSV[123] set without", ProblemCode.RESERVED_BIT),
    (r"^reserved opcode", ProblemCode.RESERVED_OPCODE),
    (r"^control frame payload of", ProblemCode.CONTROL_FRAME_TOO_LONG),
    (r"^fragmented control frame", ProblemCode.FRAGMENTED_CONTROL_FRAME),
    (r"^64-bit payload length", ProblemCode.LENGTH_MSB_SET),
    (r"^close frame payload of 1 byte", ProblemCode.CLOSE_PAYLOAD_ONE_BYTE),
    (r"^invalid close code", ProblemCode.INVALID_CLOSE_CODE),
    (r"^close reason is not valid UTF-8", ProblemCode.CLOSE_REASON_NOT_UTF8),
    (r"^data frame after a close frame", ProblemCode.DATA_AFTER_CLOSE),
    (r"^continuation frame with no message", ProblemCode.ORPHAN_CONTINUATION),
    (r"^new data frame while a fragmented", ProblemCode.INTERLEAVED_MESSAGE),
    (r"^decompression failed", ProblemCode.INFLATE_FAILED),
    (r"^decompressed payload exceeds", ProblemCode.INFLATED_TOO_LARGE),
    (r"^invalid UTF-8 in a text message", ProblemCode.INVALID_UTF8),
    (r"^request method is", ProblemCode.METHOD_NOT_GET),
    (r"^\S+ (request|response), must be HTTP/1.1", ProblemCode.HTTP_VERSION_TOO_OLD),
    (r"^missing Host header", ProblemCode.MISSING_HOST),
    (r"^missing Upgrade header", ProblemCode.MISSING_UPGRADE),
    (r"^Upgrade header .* does not contain", ProblemCode.UPGRADE_NOT_WEBSOCKET),
    (r"^missing Connection header", ProblemCode.MISSING_CONNECTION),
    (r"^Connection header .* does not contain", ProblemCode.CONNECTION_NOT_UPGRADE),
    (r"^missing Sec-WebSocket-Key", ProblemCode.MISSING_KEY),
    (r"^Sec-WebSocket-Key .* is not base64", ProblemCode.BAD_KEY),
    (r"^more than one Sec-WebSocket-Key", ProblemCode.DUPLICATE_KEY),
    (r"^missing Sec-WebSocket-Version", ProblemCode.MISSING_VERSION),
    (r"^Sec-WebSocket-Version is", ProblemCode.UNSUPPORTED_VERSION),
    (r"^Sec-WebSocket-Key is not ASCII", ProblemCode.KEY_NOT_ASCII),
    (r"^missing Sec-WebSocket-Accept", ProblemCode.MISSING_ACCEPT),
    (r"^Sec-WebSocket-Accept .* does not match", ProblemCode.ACCEPT_MISMATCH),
    (r"^extension .* was not offered", ProblemCode.EXTENSION_NOT_OFFERED),
    (r"^subprotocol .* was not offered", ProblemCode.SUBPROTOCOL_NOT_OFFERED),
    (r"^unknown permessage-deflate parameter", ProblemCode.DEFLATE_UNKNOWN_PARAMETER),
    (r"RFC 7692 §7\.1\.[12]", ProblemCode.DEFLATE_BAD_PARAMETER),
    (r"^426 response without", ProblemCode.VERSIONS_NOT_LISTED),
    (r"^invalid Content-Length", ProblemCode.BAD_CONTENT_LENGTH),
    (r"^body (of \d+ bytes not read|cut at)", ProblemCode.BODY_TOO_LARGE),
    (r"^truncated body", ProblemCode.TRUNCATED_BODY),
    (r"^malformed HTTP request line", ProblemCode.MALFORMED_REQUEST_LINE),
    (r"^malformed HTTP status line", ProblemCode.MALFORMED_STATUS_LINE),
    (r"^malformed HTTP start line", ProblemCode.MALFORMED_START_LINE),
    (r"^malformed HTTP header line", ProblemCode.MALFORMED_HEADER_LINE),
    (r"^HTTP head too large", ProblemCode.HEAD_TOO_LARGE),
    (r"^truncated HTTP head", ProblemCode.TRUNCATED_HEAD),
    (r"^truncated frame", ProblemCode.TRUNCATED_FRAME),
    (r"^frame too large", ProblemCode.FRAME_TOO_LARGE),
    (r"^(internal decoder error|decoder crashed)", ProblemCode.DECODER_CRASHED),
]]


__all__ = ["Problem", "ProblemCode"]
