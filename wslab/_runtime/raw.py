"""A raw TCP client for hand-made bytes: handshakes and frames, right or wrong.

``lab.raw()`` opens a plain socket through the lab's tap. Nothing is checked
on the way out: send any bytes, a handshake with any header missing or wrong,
a frame built field by field. What the server sends back is decoded with
wslab's own decoder, and the tap records and explains both directions::

    with lab.raw() as raw:
        raw.handshake()                              # a correct Upgrade request
        raw.send_frame("TEXT", "Hello", mask=None)   # RFC 6455 §5.1: clients must mask
        raw.read_close()                             # (1002, 'incorrect masking')

Every read waits at most ``timeout`` seconds, so a silent server never hangs
a notebook cell.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..protocol import DecodeError, Event, Frame, Handshake, StreamDecoder, build_frame

#: RFC 6455 §1.3's sample nonce; its Sec-WebSocket-Accept is ``s3pPLMBiTxaQ9kYGzzhZRbK+xOo=``.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: RFC 6455 §5.7's sample masking key (the "Hello" examples).
SAMPLE_MASK = b"\x37\xfa\x21\x3d"

Headers = Mapping[str, "str | None"] | Iterable[tuple[str, "str | None"]]


class Through(Protocol):
    """What a raw client needs from the lab it goes through (a :class:`~wslab.Lab`)."""

    @property
    def port(self) -> int | None: ...

    @property
    def running(self) -> bool: ...

    def _client_conn(self, port: int, timeout: float) -> int | None: ...

    def _settle_client(self, port: int | None) -> None: ...


class RawClient:
    """A plain TCP connection through a lab's tap, for hand-made bytes.

    Writing: :meth:`send` (any bytes), :meth:`handshake` (an Upgrade request,
    correct unless told otherwise), :meth:`send_frame`, :meth:`send_close`.
    Reading: :meth:`recv` (raw bytes), :meth:`read_frame`, :meth:`read_frames`,
    :meth:`read_close` (the server's bytes decoded by wslab). Ending:
    :meth:`close` (``reset=True`` vanishes with an RST), or use ``with``.

    Attributes:
        conn: this connection's number in the lab's trace.
        response: the server's handshake response, once read.
        events: everything decoded from the server so far.
        received: every byte received from the server so far.
        closed: the server has closed (or reset) the TCP connection.
    """

    def __init__(self, lab: Through, *, timeout: float = 2.0) -> None:
        if not lab.running or lab.port is None:
            raise RuntimeError("the lab is not running; call lab.start() or use 'with Lab(...) as lab:'")
        self.lab = lab
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = lab.port
        self.sock = socket.create_connection((self.host, lab.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local_address = self.sock.getsockname()
        self.decoder = StreamDecoder("server", http=True)
        self.response: Handshake | None = None
        self.events: list[Event] = []
        self.received = bytearray()
        self.closed = False
        self.reset = False
        self._pending: deque[Event] = deque()
        self._recv_pos = 0
        self.conn = self._find_conn()

    def _find_conn(self) -> int:
        conn = self.lab._client_conn(self.local_address[1], self.timeout)
        if conn is None:
            self.sock.close()
            raise TimeoutError(f"the lab's tap did not accept this connection within {self.timeout} s")
        return conn

    # -- writing -------------------------------------------------------------
    def send(self, data: bytes | str) -> None:
        """Send ``data`` as is (a str is UTF-8 encoded)."""
        self.sock.sendall(data.encode("utf-8") if isinstance(data, str) else bytes(data))

    def request(self, path: str = "/", *, headers: Headers | None = None, omit: Iterable[str] = (),
                method: str = "GET", version: str = "HTTP/1.1", key: str = SAMPLE_KEY) -> bytes:
        """The bytes of an opening handshake request (RFC 6455 §4.1), without sending them.

        The default is a correct request. ``headers`` adds or replaces headers
        (a value of None removes one), ``omit`` removes headers by name, and
        ``method``, ``version`` and ``key`` change the rest.
        """
        fields: list[tuple[str, str | None]] = [
            ("Host", f"{self.host}:{self.port}"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        changes = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        for name, value in changes:
            index = next((i for i, (have, _) in enumerate(fields) if have.lower() == name.lower()), None)
            if index is None:
                fields.append((name, value))
            else:
                fields[index] = (name, value)
        dropped = {name.lower() for name in omit}
        lines = [f"{method} {path} {version}"]
        lines += [f"{name}: {value}" for name, value in fields if value is not None and name.lower() not in dropped]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def handshake(self, path: str = "/", *, headers: Headers | None = None, omit: Iterable[str] = (),
                  method: str = "GET", version: str = "HTTP/1.1", key: str = SAMPLE_KEY,
                  timeout: float | None = None) -> Handshake | None:
        """Send an opening handshake request and return the server's response.

        Arguments are those of :meth:`request`: by default a correct request,
        which any of them can break, e.g. ``headers={"Sec-WebSocket-Version": "8"}``,
        ``omit=["Upgrade"]``, ``method="POST"``, ``version="HTTP/1.0"``.

        Returns the decoded response (``.status``, ``.headers``, ``.body``,
        ``.accept``, ``.problems``), or None if the server closed the connection
        without answering. Raises TimeoutError if nothing came in ``timeout`` s.
        """
        self.decoder.key = key
        self.send(self.request(path, headers=headers, omit=omit, method=method, version=version, key=key))
        return self.read_response(timeout)

    def read_response(self, timeout: float | None = None) -> Handshake | None:
        """The server's handshake response (after a request sent with :meth:`send`), or None at EOF."""
        if self.response is not None:
            return self.response
        def final(event: Event) -> bool:  # not an interim 1xx response like 100 Continue
            return isinstance(event, Handshake) and event.status is not None and (
                event.status == 101 or event.status >= 200)

        event = self._next(final, timeout)
        self.response = event  # type: ignore[assignment]
        return self.response

    def send_frame(self, opcode: str | int, payload: bytes | str = b"", *, mask: bytes | None = SAMPLE_MASK,
                   **options: Any) -> bytes:
        """Build one frame with :func:`~wslab.protocol.build.build_frame`, send it and return its bytes.

        Client frames are masked (RFC 6455 §5.1) with a fixed key by default;
        ``mask=None`` sends it unmasked. ``options`` are ``build_frame``'s:
        ``fin``, ``rsv1``, ``rsv2``, ``rsv3``, ``length`` (lie about the length),
        ``length_bits`` (7, 16 or 64).
        """
        data = build_frame(opcode, payload, mask=mask, **options)
        self.send(data)
        return data

    def send_close(self, code: int | None = 1000, reason: str = "", *, mask: bytes | None = SAMPLE_MASK) -> bytes:
        """Send a Close frame with ``code`` and ``reason`` (``code=None``: no status, an empty body)."""
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        return self.send_frame("CLOSE", payload, mask=mask)

    # -- reading -------------------------------------------------------------
    def _fill(self, timeout: float | None) -> bool:
        """Read once from the socket (waiting at most ``timeout``); False on timeout or if closed."""
        if self.closed:
            return False
        self.sock.settimeout(self.timeout if timeout is None else max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except (ConnectionError, OSError):
            data, self.reset = b"", True
        if not data:
            self.closed = True
            events = self.decoder.eof()
        else:
            self.received += data
            events = self.decoder.feed(data)
        self.events += events
        self._pending.extend(events)
        return True

    def _next(self, wanted: Any, timeout: float | None) -> Event | None:
        """The next pending event that ``wanted(event)`` accepts; None at EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while self._pending:
                event = self._pending.popleft()
                if wanted(event):
                    return event
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0 or (not self._fill(left) and not self.closed):
                raise TimeoutError(f"nothing from the server in {self.timeout if timeout is None else timeout} s")

    def recv(self, timeout: float | None = None) -> bytes:
        """The bytes received since the last ``recv()``, waiting for some if there are none.

        Returns ``b""`` once the server has closed the connection. Raises
        TimeoutError if nothing arrives within ``timeout`` s. The bytes are
        decoded too: :meth:`read_frame` still returns the frames they carry.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._recv_pos == len(self.received) and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._fill(left) and not self.closed):
                raise TimeoutError(f"nothing from the server in {self.timeout if timeout is None else timeout} s")
        data = bytes(self.received[self._recv_pos :])
        self._recv_pos = len(self.received)
        return data

    def read_frame(self, timeout: float | None = None) -> Frame | None:
        """The server's next frame, or None if the connection ended first.

        Raises TimeoutError if no frame arrives within ``timeout`` s.
        """
        return self._next(lambda e: isinstance(e, Frame), timeout)  # type: ignore[return-value]

    def read_frames(self, count: int | None = None, *, timeout: float | None = None) -> list[Frame]:
        """The server's next frames: ``count`` of them, or all until it closes TCP.

        Stops early, without raising, when ``timeout`` s pass: this returns what
        came in time.
        """
        frames: list[Frame] = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while count is None or len(frames) < count:
            try:
                frame = self.read_frame(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
            if frame is None:
                break
            frames.append(frame)
        return frames

    def read_close(self, timeout: float | None = None) -> tuple[int, str]:
        """Read up to the server's Close frame and return its ``(code, reason)``.

        As websockets reports it: ``1005`` if the Close frame had no status
        code, ``1006`` if TCP ended without a Close frame (RFC 6455 §7.1.5).
        Raises TimeoutError if neither happens within ``timeout`` s.
        """
        frame = self._next(lambda e: isinstance(e, Frame) and e.opcode == "CLOSE", timeout)
        if frame is None:
            return 1006, ""
        assert isinstance(frame, Frame)
        return (1005 if frame.close_code is None else frame.close_code), frame.close_reason or ""

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the server closes TCP; True if it did within ``timeout`` s."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._fill(left)
        return True

    @property
    def errors(self) -> list[DecodeError]:
        """Bytes from the server that wslab could not decode."""
        return [e for e in self.events if isinstance(e, DecodeError)]

    # -- ending --------------------------------------------------------------
    def send_eof(self) -> None:
        """Half-close: send a TCP FIN, and keep reading."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self, *, reset: bool = False) -> None:
        """Close the socket (``reset=True``: abruptly, with an RST, like a client that vanishes)."""
        if self.sock.fileno() < 0:
            return
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.lab._settle_client(self.local_address[1])  # the trace then holds the end of this connection

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed by the server" if self.closed else ("closed" if self.sock.fileno() < 0 else "open")
        status = f", response {self.response.status}" if self.response is not None else ""
        return (f"<RawClient conn {self.conn} to {self.host}:{self.port}, {state}{status}, "
                f"{len(self.received)} bytes in>")
