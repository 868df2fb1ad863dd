"""RFC 6455 wire decoder: bytes in, events out (sans-I/O).

Nothing here opens a socket, starts a thread or reads a clock. The tap feeds
recorded bytes in; tests feed bytes directly.

Events:

* :class:`Handshake` -- the HTTP Upgrade request (sent by the client) or the
  server's response (``101`` or a rejection with its body).
* :class:`Frame` -- one RFC 6455 §5.2 frame with every header field.
* :class:`DecodeError` -- bytes that could not be decoded, with the offset and
  the broken rule. Decoding of that direction stops there; the bytes are still
  relayed by the tap.

Decoders:

* :class:`StreamDecoder` -- one direction (``"client"`` or ``"server"``),
  fed bytes in arbitrary pieces.
* :class:`WireDecoder` -- one connection: both directions, sharing what the
  handshake negotiated (the key for Sec-WebSocket-Accept, permessage-deflate).
* :func:`decode_bytes` -- one-shot convenience for a complete byte string.

The events are in :mod:`~wslab.protocol.events`; the HTTP rules in
:mod:`~wslab.protocol.http`, the frame rules in :mod:`~wslab.protocol.frames`.
Encoders, for hand-crafting bytes (valid or not), are in :mod:`~wslab.protocol.build`.

The frame layout, RFC 6455 §5.2, which the code below reads literally::

      0                   1                   2                   3
      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
     +-+-+-+-+-------+-+-------------+-------------------------------+
     |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
     |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
     |N|V|V|V|       |S|             |   (if payload len==126/127)   |
     | |1|2|3|       |K|             |                               |
     +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
     |     Extended payload length continued, if payload len == 127  |
     + - - - - - - - - - - - - - - - +-------------------------------+
     |                               |Masking-key, if MASK set to 1  |
     +-------------------------------+-------------------------------+
     | Masking-key (continued)       |          Payload Data         |
     +-------------------------------- - - - - - - - - - - - - - - - +
"""


from __future__ import annotations

from collections.abc import Mapping

from .deflate import DeflateParams
from .enums import Sender, opcode_name
from .events import DecodeError, Event, Frame, Handshake
from .frames import MessageAssembler, close_body, fast_mask, frame_problems, frame_size
from .http import (
    METHOD_START,
    NOT_START_LINE,
    Head,
    parse_head,
    rejection_body_length,
    request_problems,
    response_problems,
    start_line_problem,
)
from .problems import Problem
from .problems import ProblemCode as P
from .render import as_bytes, plural

#: Largest HTTP head (request or response, through the blank line) accepted.
MAX_HEAD = 64 * 1024

#: Largest frame payload (and decompressed payload) a decoder buffers.
MAX_FRAME = 64 * 1024 * 1024


class StreamDecoder:
    """Decode one direction of a connection, from bytes fed in any pieces.

    ``sender`` is who sent the bytes. With ``http=True`` the stream starts with
    an HTTP head: a request from the client, a response from the server. After
    ``101 Switching Protocols`` (or the request) come frames; after any other
    status the response body (by Content-Length, else until EOF) and nothing
    more. With ``http=False`` the stream is frames from the first byte.

    ``deflate`` is this sender's permessage-deflate settings, if negotiated; a
    server-direction decoder sets it itself from a 101 response when not given.
    ``key`` is the request's Sec-WebSocket-Key, to check the server's accept;
    :attr:`request`, if set, is the whole request, to check that the response
    picks only extensions and a subprotocol the client offered.

    In a fragmented text message each frame's ``text`` holds the characters
    completed by that frame (a UTF-8 sequence may straddle two frames); in a
    compressed message each frame's ``payload`` is what inflating the message
    up to and including that frame yielded.

    :meth:`feed` and :meth:`eof` never raise. After a :class:`DecodeError` the
    direction stops decoding; bytes it ignores from then on (and after a
    rejection's body) are counted in :attr:`undecoded`.

    Attributes:
        offset: stream offset of the first byte not yet decoded.
        received: bytes fed so far.
        undecoded: bytes ignored because decoding stopped.
        state: ``"head"``, ``"body"``, ``"frames"``, ``"done"`` (rejection
            read), ``"error"`` or ``"eof"``.
        negotiated: permessage-deflate agreed in the 101 response, per sender.
    """

    def __init__(
        self,
        sender: Sender | str,
        *,
        http: bool = True,
        deflate: DeflateParams | None = None,
        key: str | None = None,
        max_head: int = MAX_HEAD,
        max_frame: int | None = MAX_FRAME,
    ) -> None:
        self.sender = Sender(sender)
        self.key = key
        self.request: Handshake | None = None
        self.max_head = max_head
        self.max_frame = max_frame
        self.state = "head" if http else "frames"
        self.offset = 0
        self._whole: bytes | None = None
        self.received = 0
        self.undecoded = 0
        self.negotiated: dict[str, DeflateParams] | None = None
        self._messages = MessageAssembler(deflate, max_frame)
        self._buf = bytearray()
        self._pos = 0  # start of undecoded bytes in _buf
        self._need = 0  # frames: don't look again until this many bytes are available
        self._scan = 0  # head: bytes already searched for the blank line
        self._start_checked = False
        self._pending: tuple[Head, bytes, list[Problem]] | None = None  # a rejection waiting for its body
        self._pending_offset = 0
        self._body_length: int | None = None

    # -- configuration -------------------------------------------------------
    @property
    def deflate(self) -> DeflateParams | None:
        """This sender's permessage-deflate settings (None: not negotiated)."""
        return self._messages.deflate

    @deflate.setter
    def deflate(self, params: DeflateParams | None) -> None:
        self._messages.deflate = params
        self._messages.reset_inflater()

    # -- public API ------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Decode ``data``, the next bytes of the stream; return complete events."""
        data = as_bytes(data)
        self.received += len(data)
        if self.state not in ("head", "body", "frames"):
            self.undecoded += len(data)
            return []
        # Bytes that arrive as one whole frame are kept as they came, not copied (a trace holds them once).
        self._whole = data if not self._avail() else None
        self._buf += data
        return self._run(eof=False)

    def eof(self) -> list[Event]:
        """The stream ended: finish a body read until EOF, report anything truncated."""
        if self.state not in ("head", "body", "frames"):
            return []
        return self._run(eof=True)

    @property
    def at_frame_boundary(self) -> bool:
        """Between two frames, with nothing buffered: the next byte fed starts a frame."""
        return self.state == "frames" and not self._avail()

    # -- machinery ---------------------------------------------------------------
    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _consume(self, n: int) -> bytes:
        whole, self._whole = self._whole, None
        if whole is not None and self._pos == 0 and len(whole) == n == len(self._buf):
            data = whole
        else:
            with memoryview(self._buf) as view:  # one copy, not two (a bytearray slice is a copy too)
                data = bytes(view[self._pos : self._pos + n])
        self._pos += n
        self.offset += n
        return data

    def _fail(self, reason: Problem) -> DecodeError:
        error = DecodeError(self.sender, self.offset, reason, bytes(self._buf[self._pos : self._pos + 64]))
        self._stop("error")
        return error

    def _stop(self, state: str) -> None:
        self.undecoded += self._avail()
        self._buf.clear()
        self._pos = 0
        self.state = state

    def _run(self, eof: bool) -> list[Event]:
        events: list[Event] = []
        try:
            while True:
                if self.state == "head":
                    progressed = self._step_head(events)
                elif self.state == "body":
                    progressed = self._step_body(events, eof)
                elif self.state == "frames":
                    progressed = self._step_frame(events)
                else:
                    break
                if not progressed:
                    break
            if eof and self.state in ("head", "frames"):
                if self._avail():
                    events.append(self._fail(self._truncated()))
                else:
                    self.state = "eof"
        except Exception as exc:  # safety net: a decoder bug must not stop the tap
            events.append(self._fail(Problem(P.DECODER_CRASHED, f"internal decoder error: {exc!r}")))
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return events

    def _truncated(self) -> Problem:
        """What a stream that ended here left unfinished."""
        avail = self._avail()
        if self.state == "head":
            return Problem(P.TRUNCATED_HEAD, f"truncated HTTP head: {plural(avail, 'byte')} without the blank "
                           "line that ends it", "RFC 9112 §2.1")
        header_length, total = self._measure()
        if total is None:
            need = header_length - avail
            return Problem(P.TRUNCATED_FRAME, f"truncated frame: needs at least {plural(need, 'more byte')} "
                           "to complete the header", "RFC 6455 §5.2")
        return Problem(P.TRUNCATED_FRAME,
                       f"truncated frame: needs {plural(total - avail, 'more byte')} (got {avail} of {total})")

    def _measure(self) -> tuple[int, int | None]:
        """(header length known so far, whole frame length or None if unknown yet)."""
        return frame_size(self._buf, self._pos, self._avail())

    # -- HTTP ----------------------------------------------------------------------
    def _step_head(self, events: list[Event]) -> bool:
        head = self._find_head(events)
        if head is None:
            return False
        parsed = parse_head(head, self.sender)
        if isinstance(parsed, Problem):
            events.append(self._fail(parsed))
            return False
        offset = self.offset
        self._consume(len(head))
        self._scan = 0
        self._start_checked = False
        if self.sender is Sender.CLIENT:
            assert parsed.method is not None
            problems = request_problems(parsed.method, parsed.version, parsed.headers)
            events.append(parsed.handshake(self.sender, offset, head, problems=tuple(problems)))
            self.state = "frames"
            return True
        status = parsed.status
        assert status is not None
        if status == 101:
            events.append(self._switching(parsed, head, offset))
            self.state = "frames"
            return True
        if 100 <= status < 200:  # interim response (e.g. 100 Continue): another head follows
            events.append(parsed.handshake(self.sender, offset, head))
            return True
        return self._rejection(parsed, head, offset, events)

    def _find_head(self, events: list[Event]) -> bytes | None:
        """The whole head once its blank line is in; None meanwhile (or after failing on a bad start)."""
        buf, pos = self._buf, self._pos
        avail = self._avail()
        end = buf.find(b"\r\n\r\n", pos + max(0, self._scan - 3))
        if end >= 0:
            head = bytes(buf[pos : end + 4])
            if len(head) > self.max_head:
                events.append(self._fail(self._head_too_large()))
                return None
            return head
        # Not yet: fail early on a start line that cannot be HTTP, rather than wait for max_head bytes.
        if not self._start_checked:
            line_end = buf.find(b"\r\n", pos + max(0, self._scan - 1))
            if line_end >= 0:
                self._start_checked = True
                reason = start_line_problem(bytes(buf[pos:line_end]), self.sender)
                if reason:
                    events.append(self._fail(reason))
                    return None
            else:
                bad = NOT_START_LINE.search(buf, pos + self._scan)
                if bad is not None:
                    line = bytes(buf[pos : max(bad.end(), pos + 40)]).partition(b"\r\n")[0]
                    events.append(self._fail(start_line_problem(line, self.sender) or Problem(
                        P.MALFORMED_START_LINE, "malformed HTTP start line", "RFC 9112 §2.1")))
                    return None
        self._scan = avail
        if avail > self.max_head:
            events.append(self._fail(self._head_too_large()))
        return None

    def _head_too_large(self) -> Problem:
        return Problem(P.HEAD_TOO_LARGE,
                       f"HTTP head too large: no blank line within {self.max_head} bytes (decoder limit)")

    def _switching(self, head: Head, raw: bytes, offset: int) -> Handshake:
        """A 101 response: check it (RFC 6455 §4.1) and pick up permessage-deflate."""
        problems, accept, negotiated = response_problems(head, self.key, self.request)
        if negotiated is not None:
            self.negotiated = negotiated
            if self.deflate is None:
                self.deflate = negotiated["server"]
        return head.handshake(self.sender, offset, raw, accept=accept, problems=tuple(problems))

    def _rejection(self, head: Head, raw: bytes, offset: int, events: list[Event]) -> bool:
        """Any final status but 101: read the body, then stop (RFC 6455 §4.1, §4.4)."""
        problems: list[Problem] = []
        length = rejection_body_length(head, self.request, problems)
        self._pending = (head, raw, problems)
        self._pending_offset = offset
        self._body_length = length
        if length is not None and self.max_frame is not None and length > self.max_frame:
            problems.append(Problem(P.BODY_TOO_LARGE, f"body of {length} bytes not read: over "
                                    f"max_frame={self.max_frame} (decoder limit)"))
            self._body_length = 0
        if self._body_length == 0:
            events.append(self._finish_body(b""))
            self._stop("done")
            return False
        self.state = "body"
        return True

    def _finish_body(self, body: bytes, *extra: Problem) -> Handshake:
        assert self._pending is not None
        head, raw, problems = self._pending
        self._pending = None
        return head.handshake(self.sender, self._pending_offset, raw + body, body=body, problems=(*problems, *extra))

    def _step_body(self, events: list[Event], eof: bool) -> bool:
        avail = self._avail()
        length = self._body_length
        if length is not None and avail >= length:
            events.append(self._finish_body(self._consume(length)))
        elif length is not None and eof:
            events.append(self._finish_body(self._consume(avail), Problem(
                P.TRUNCATED_BODY, f"truncated body: got {avail} of Content-Length {length} bytes", "RFC 9112 §6.3")))
        elif length is None and self.max_frame is not None and avail > self.max_frame:
            events.append(self._finish_body(self._consume(self.max_frame), Problem(
                P.BODY_TOO_LARGE, f"body cut at max_frame={self.max_frame} bytes (decoder limit)")))
        elif length is None and eof:
            events.append(self._finish_body(self._consume(avail)))
        else:
            return False
        self._stop("done")
        return False

    # -- frames --------------------------------------------------------------------
    def _step_frame(self, events: list[Event]) -> bool:
        if self._avail() < max(self._need, 2):
            return False
        header_length, total = self._measure()
        if total is None:
            self._need = header_length
            return False
        length = total - header_length
        if self.max_frame is not None and length > self.max_frame:
            if header_length >= 10 and length >> 63:
                reason = Problem(P.LENGTH_MSB_SET, f"64-bit payload length {length} has its most significant "
                                 "bit set", "RFC 6455 §5.2")
            else:
                reason = Problem(P.FRAME_TOO_LARGE, f"frame too large: payload length {length} exceeds "
                                 f"max_frame={self.max_frame} (decoder limit)")
            events.append(self._fail(reason))
            return False
        if self._avail() < total:
            self._need = total
            return False
        offset = self.offset
        wire = self._consume(total)
        self._need = 0
        events.append(self._make_frame(wire, offset))
        return True

    def _make_frame(self, wire: bytes, offset: int) -> Frame:
        """One whole frame's bytes as a :class:`Frame`, with every rule it breaks (RFC 6455 §5).

        The header layout (``Frame.fields``) and the payload as sent (``masked_payload``) are
        worked out from ``wire`` when first read (see :meth:`Frame.__getattr__`): most frames
        of a trace are never read that closely.
        """
        head1 = wire[0]
        head2 = wire[1]
        fin = bool(head1 & 0b10000000)
        rsv1 = bool(head1 & 0b01000000)
        rsv2 = bool(head1 & 0b00100000)
        rsv3 = bool(head1 & 0b00010000)
        opcode = head1 & 0b00001111
        masked = bool(head2 & 0b10000000)
        length = head2 & 0b01111111
        header_length, length_bits = 2, 7
        if length == 126:
            length, header_length, length_bits = int.from_bytes(wire[2:4], "big"), 4, 16
        elif length == 127:
            length, header_length, length_bits = int.from_bytes(wire[2:10], "big"), 10, 64
        sent: bytes | None = None  # the payload as sent
        if masked:
            key = wire[header_length : header_length + 4]
            header_length += 4
            payload = sent = fast_mask(wire[header_length:], key) if length else b""
        else:
            payload = sent = wire[header_length:]

        problems = frame_problems(self.sender, fin=fin, rsv=(rsv1, rsv2, rsv3), opcode=opcode, masked=masked,
                                  length=length, length_bits=length_bits, deflate=self.deflate)
        close_code, close_reason = close_body(payload, problems) if opcode == 0x8 else (None, None)
        compressed, text = False, None
        if opcode in (0x0, 0x1, 0x2):
            payload, compressed, text = self._messages.data_frame(opcode, fin, rsv1, payload, problems)
        if opcode == 0x8:
            self._messages.closed = True
        # Only what the frame cannot work out from ``wire`` later is given (see Frame.__getattr__).
        values = {"sender": self.sender, "offset": offset, "opcode": opcode_name(opcode), "length": length,
                  "wire": wire}
        if payload is not sent:  # inflated
            values["payload"] = payload
        if (text is not None) != (opcode == 0x1 and fin):  # else: a one-frame text message's payload decoded, or None
            values["text"] = text
        if compressed:
            values["compressed"] = True
        if opcode == 0x8:
            values["close_code"], values["close_reason"] = close_code, close_reason
        if problems:
            values["problems"] = tuple(problems)
        return Frame._lazy(values)


class WireDecoder:
    """Decode one connection, both directions, as the bytes are relayed.

    It owns a :class:`StreamDecoder` per direction (:attr:`client`,
    :attr:`server`), gives the request's Sec-WebSocket-Key to the server
    direction so the 101's ``accept`` is checked, and, when the 101 agrees on
    permessage-deflate, configures the client direction too (the server
    direction configures itself before decoding the frames that follow).

    ``deflate`` (``{"client": DeflateParams(...), "server": ...}``) presets
    compression, e.g. with ``http=False`` for a stream captured mid-connection.
    """

    def __init__(
        self,
        *,
        http: bool = True,
        deflate: Mapping[str, DeflateParams] | None = None,
        max_head: int = MAX_HEAD,
        max_frame: int | None = MAX_FRAME,
    ) -> None:
        deflate = deflate or {}
        self.client = StreamDecoder(Sender.CLIENT, http=http, deflate=deflate.get("client"),
                                    max_head=max_head, max_frame=max_frame)
        self.server = StreamDecoder(Sender.SERVER, http=http, deflate=deflate.get("server"),
                                    max_head=max_head, max_frame=max_frame)
        self.key: str | None = None

    def decoder(self, sender: Sender) -> StreamDecoder:
        """The decoder of bytes sent by ``sender``."""
        return self.client if sender == "client" else self.server

    def receive(self, sender: Sender, data: bytes) -> list[Event]:
        """Decode the next ``data`` sent by ``sender``."""
        events = self.decoder(sender).feed(data)
        self._observe(events)
        return events

    def eof(self, sender: Sender) -> list[Event]:
        """``sender`` finished sending (TCP FIN)."""
        events = self.decoder(sender).eof()
        self._observe(events)
        return events

    def _observe(self, events: list[Event]) -> None:
        for event in events:
            if not isinstance(event, Handshake):
                continue
            if event.sender == "client" and event.method is not None:
                self.key = event.header("Sec-WebSocket-Key")
                self.server.key = self.key
                self.server.request = event
            elif event.sender == "server" and event.status == 101:
                negotiated = self.server.negotiated
                if negotiated is not None and self.client.deflate is None:
                    self.client.deflate = negotiated["client"]


def decode_bytes(data: bytes, sender: Sender | str = Sender.CLIENT, *, deflate: DeflateParams | None = None,
           max_frame: int | None = MAX_FRAME) -> list[Event]:
    """Decode a complete byte string sent by ``sender``, in one go.

    The stream is read as HTTP first if it starts like a request (``GET ``...)
    for the client or a response (``HTTP/``) for the server, else as frames.
    The end of ``data`` is the end of the stream: a partial frame there is a
    :class:`DecodeError` ``"truncated frame: needs N more bytes ..."``.
    """
    data = as_bytes(data)
    sender = Sender(sender)
    if sender is Sender.CLIENT:
        http = METHOD_START.match(data) is not None
    else:
        http = data.startswith(b"HTTP/")
    decoder = StreamDecoder(sender, http=http, deflate=deflate, max_frame=max_frame)
    return decoder.feed(data) + decoder.eof()


__all__ = ["MAX_FRAME", "MAX_HEAD", "StreamDecoder", "WireDecoder", "decode_bytes"]
