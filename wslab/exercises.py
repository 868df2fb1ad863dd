"""Checks for the notebooks' exercises, and the student versions of the notebooks.

Each ``check_*`` function takes what the student wrote (usually a function),
runs it on real inputs, and either prints a short "✓ ..." line, or raises
:class:`ExerciseError` saying what was expected, what the student's code
produced and a hint. A function whose body is still ``raise
NotImplementedError()`` gets a message that says so. In IPython the error shows
as that message alone, not as a traceback through wslab's code.

The teacher versions of the notebooks (``solutions/``) are nbgrader source
notebooks: each exercise is a solution cell, its answer between nbgrader's
``### BEGIN SOLUTION`` and ``### END SOLUTION`` markers, followed by a locked,
autograded test cell that imports its check and calls it. :func:`make_release`
(``python -m wslab release``) writes the student versions (``notebooks/``) the
way ``nbgrader generate_assignment`` would, without nbgrader.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import functools
import linecache
import logging
import os
import socket
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .capture.trace import Trace
from .protocol import GUID, Frame, build_frame, close_payload, decode_bytes

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class ExerciseError(AssertionError):
    """The student's answer is not right yet; the message says why.

    In IPython (a notebook) it shows as its message alone: no traceback through
    wslab's code. When the student's own code raised, the lines of their code
    it went through follow the message.
    """

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback; nbgrader and nbval see an ordinary error output
        # (ename ExerciseError, evalue the message, these lines as its traceback).
        try:
            return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}", *_where_it_raised(self.__cause__)]
        except Exception:  # never let the renderer hide the message
            return [f"{type(self).__name__}: {self}"]


# Where the student's code is not: wslab, the standard library and installed packages (websockets, asyncio...).
_NOT_STUDENT = tuple(os.path.normcase(os.path.realpath(p)) + os.sep for p in {
    os.path.dirname(__file__), *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))})


def _where_it_raised(exc: BaseException | None, limit: int = 3) -> list[str]:
    """The last lines of the student's own code that ``exc`` went through, named as IPython names cells."""
    if exc is None or isinstance(exc, NotImplementedError):
        return []
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<")
              and not os.path.normcase(os.path.realpath(f.filename)).startswith(_NOT_STUDENT)]
    if not frames:
        return []
    lines = [f"  {type(exc).__name__} was raised in your code:"]
    for frame in frames[-limit:]:
        line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        lines.append(f"    {_cell_name(frame.filename)}, line {frame.lineno}, in {frame.name}"
                     + (f"\n      {line}" if line else ""))
    return lines


def _cell_name(filename: str) -> str:
    """``Cell In[7]`` for a notebook cell's code (as IPython's tracebacks say), else the file name."""
    try:
        from IPython import get_ipython

        label = get_ipython().compile.format_code_name(filename)
        if label:
            return " ".join(label)
    except Exception:
        pass
    return filename


def _hint(hint: str) -> Callable[[Callable], Callable]:
    """Every ExerciseError the decorated check raises ends with a hint: its own, or this one."""
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return check(*args, **kwargs)
            except ExerciseError as exc:
                if "\n  hint: " not in str(exc):
                    exc.args = (f"{exc}\n  hint: {hint}",)
                raise
        return checked
    return decorate


#: What a student must do to an exercise whose solution is still nbgrader's stub.
_REPLACE = ("  replace `# YOUR CODE HERE` and `raise NotImplementedError()` with your code, run that cell, "
            "then run the check again.")


def _call(name: str, fn: Callable, *args: Any, expected: Any = None) -> Any:
    """Call the student's ``fn``; turn every failure into an ExerciseError that helps."""
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__} {fn!r}")
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = _run(result)
        return result
    except NotImplementedError:
        call = f"{name}({', '.join(_short(a) for a in args)})"
        wanted = f"\n  expected: {call} == {_short(expected, 120)}" if expected is not None else ""
        raise ExerciseError(f"{name}: not written yet — it still raises NotImplementedError.{wanted}\n{_REPLACE}") from None
    except ExerciseError:
        raise
    except Exception as exc:
        args_text = ", ".join(_short(a) for a in args)
        wanted = f"\n  expected: {_short(expected, 120)}" if expected is not None else ""
        raise ExerciseError(f"{name}: calling it with ({args_text}) raised {type(exc).__name__}: {exc}{wanted}") from exc


class _Watch:
    """Wrap a student's hook or handler that a server calls, noting why it failed.

    The server still sees the exception (websockets answers 500 for a hook, closes
    with 1011 for a handler); :meth:`check` then turns the first failure into an
    ExerciseError that tells the student what happened and what was expected.
    websockets' own log of that exception (a traceback on stderr) is dropped: the
    check reports it, and nbgrader scores 0 for any stderr in a test cell anyway.
    A check must call :meth:`check` once its lab has stopped (every handler is done).
    """

    def __init__(self, name: str, fn: Callable, expected: str, what: str = "handler") -> None:
        if not callable(fn):
            raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__} {fn!r}")
        self.name, self.fn, self.expected, self.what = name, fn, expected, what
        self.failures: list[tuple[str, Exception]] = []
        _drop_logs_of_reported_exceptions()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, NotImplementedError):
            message = (f"{self.name}: not written yet — it still raises NotImplementedError.\n"
                       f"  expected: {self.expected}\n{_REPLACE}")
        elif not type(exc).__module__.startswith("websockets"):  # a closed connection is not the student's bug
            message = (f"{self.name}: your {self.what} raised {type(exc).__name__}: {exc}\n"
                       f"  expected: {self.expected}")
        else:
            return
        exc._wslab_reported = True  # type: ignore[attr-defined]
        self.failures.append((message, exc))

    def wrap(self) -> Callable:
        fn = self.fn

        if inspect.iscoroutinefunction(fn):
            async def watched(*args):
                try:
                    return await fn(*args)
                except Exception as exc:
                    self._failed(exc)
                    raise
            return watched

        def watched_sync(*args):
            try:
                return fn(*args)
            except Exception as exc:
                self._failed(exc)
                raise
        return watched_sync

    def check(self) -> None:
        if self.failures:
            message, exc = self.failures[0]
            raise ExerciseError(message) from exc


class _DropReported(logging.Filter):
    """Drops a log record whose exception a check reports itself (see :class:`_Watch`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, "_wslab_reported", False)


_drop_reported = _DropReported()


def _drop_logs_of_reported_exceptions() -> None:
    # websockets logs "connection handler failed" / "process_request failed" on this logger.
    logger = logging.getLogger("websockets.server")
    if _drop_reported not in logger.filters:
        logger.addFilter(_drop_reported)


def _run(awaitable) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coro(awaitable))
    # Inside a running loop (a notebook cell): run on a helper thread's loop.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _as_coro(awaitable)).result(30)


async def _as_coro(awaitable):
    return await awaitable


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, Trace):  # its record count depends on how TCP split the bytes; frames and connections don't
        text = f"<Trace: {len(value.frames)} frames, {len(value.connections)} connection(s)>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expect(name: str, case: str, got: Any, expected: Any, hint: str = "") -> None:
    if got != expected:
        message = f"{name}: for {case}\n  expected: {_short(expected, 200)}\n  you gave: {_short(got, 200)}"
        raise ExerciseError(message + (f"\n  hint: {hint}" if hint else ""))


def _ok(message: str) -> None:
    # Returns None: a check's True would show as "Out: True" under every exercise
    # (and nbval runs cells without history, so a trailing ';' can't hide it).
    print(f"✓ {message}")


# -- 00 start here --------------------------------------------------------------
@_hint("loop over trace.frames and keep frames with sender == 'server' and opcode == 'TEXT' (a TEXT frame's "
       "payload is UTF-8 text, RFC 6455 §5.6)")
def check_server_messages(fn: Callable) -> None:
    """``fn(trace)`` returns the texts of the server's TEXT frames, in order."""
    from .lab import Lab

    with Lab("echo", seed=0) as lab:
        with lab.connect_sync() as ws:
            for text in ("Hello Server", "how are you?"):
                ws.send(text)
                ws.recv()
        trace = lab.trace
    expected = [f.text for f in trace.frames if f.sender == "server" and f.opcode == "TEXT"]
    got = _call("server_messages", fn, trace, expected=expected)
    _expect("server_messages", "a trace of two exchanges", list(got) if got is not None else got, expected,
            "loop over trace.frames and keep frames with sender == 'server' and opcode == 'TEXT'")
    return _ok(f"server_messages found {expected}")


# -- 01 handshake -----------------------------------------------------------------
@_hint("base64( SHA-1( key + GUID ) ) — hash the raw 20-byte digest, not its hex (RFC 6455 §4.2.2)")
def check_accept_key(fn: Callable) -> None:
    """``fn(key)`` computes Sec-WebSocket-Accept (RFC 6455 §4.2.2)."""
    cases = ["dGhlIHNhbXBsZSBub25jZQ==", base64.b64encode(bytes(range(16))).decode(), "x3JJHMbDL1EzLkh9GBhXDw=="]
    for key in cases:
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        _expect("accept", f"key {key!r}", _call("accept", fn, key, expected=expected), expected,
                "base64( SHA-1( key + GUID ) ) — hash the raw 20-byte digest, not its hex")
    return _ok("accept matches RFC 6455 §1.3: dGhlIHNhbXBsZSBub25jZQ== → s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@_hint("a GET line, then Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key and "
       "Sec-WebSocket-Version: 13, each line ending in \\r\\n, then an empty line (RFC 6455 §4.1)")
def check_upgrade_request(fn: Callable) -> None:
    """``fn(host, path, key)`` returns the bytes of a valid Upgrade request; a real server must answer 101."""
    from .lab import Lab

    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with Lab("echo") as lab:
        host = f"127.0.0.1:{lab.port}"
        request = _call("upgrade_request", fn, host, "/chat", key,
                        expected="b'GET /chat HTTP/1.1\\r\\nHost: ...\\r\\n...\\r\\n\\r\\n' that a server answers with 101")
        if isinstance(request, str):
            request = request.encode()
        if not isinstance(request, bytes):
            raise ExerciseError(f"upgrade_request: expected bytes, you gave {type(request).__name__}")
        if not request.endswith(b"\r\n\r\n"):
            raise ExerciseError("upgrade_request: an HTTP head ends with an empty line: b'\\r\\n\\r\\n' (RFC 9112 §2.1)")
        with socket.create_connection(("127.0.0.1", lab.port), timeout=3) as sock:
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if not status.startswith("HTTP/1.1 101"):
        body = answer.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace").strip()
        raise ExerciseError(f"upgrade_request: the server should answer 101 Switching Protocols\n"
                            f"  it answered: {status}\n  and said: {body}")
    return _ok("a real websockets server accepted your request with 101 Switching Protocols")


@_hint("return connection.respond(HTTPStatus.UNAUTHORIZED, 'missing token\\n') to refuse, None to go on (a "
       "server may answer the handshake with any HTTP status, RFC 6455 §4.2.2)")
def check_token_gate(fn: Callable) -> None:
    """``fn(connection, request)`` is a ``process_request`` hook: 401 without ``?token=secret``, accept with it."""
    from .lab import Lab
    from websockets.exceptions import InvalidStatus

    watch = _Watch("token_gate", fn, "401 for clients without ?token=secret, None (go on) for the others", "hook")
    with Lab("echo", process_request=watch.wrap()) as lab:
        try:
            with lab.connect_sync("/?token=secret") as ws:
                ws.send("Hello Server")
                ws.recv(timeout=3)
        except InvalidStatus as exc:
            watch.check()
            raise ExerciseError(f"token_gate: a client with ?token=secret should get in (101), but got "
                                f"{exc.response.status_code}") from None
        for path in ("/", "/?token=wrong"):
            try:
                with lab.connect_sync(path):
                    pass
            except InvalidStatus as exc:
                watch.check()
                if exc.response.status_code == 500:
                    raise ExerciseError("token_gate: the server answered 500: your function raised an exception "
                                        "(the server log above shows it)") from None
                _expect("token_gate", f"a client connecting to {path!r}", exc.response.status_code, 401,
                        "return connection.respond(HTTPStatus.UNAUTHORIZED, 'missing token\\n')")
            else:
                raise ExerciseError(f"token_gate: a client connecting to {path!r} got in; it should get 401")
    watch.check()
    return _ok("without the token: 401; with ?token=secret: 101 and the echo works")


# -- 02 messages ------------------------------------------------------------------
@_hint("byte i of the result is data[i] ^ mask[i % 4] (RFC 6455 §5.3)")
def check_unmask(fn: Callable) -> None:
    """``fn(mask, data)`` unmasks (or masks) data with a 4-byte key (RFC 6455 §5.3)."""
    cases = [(bytes.fromhex("37fa213d"), bytes.fromhex("7f9f4d5158")), (b"\x00\x00\x00\x00", b"same"),
             (bytes.fromhex("a1b2c3d4"), bytes(range(10)))]
    for mask, data in cases:
        expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        _expect("unmask", f"mask {mask.hex(' ')} and data {data.hex(' ')}", _call("unmask", fn, mask, data, expected=expected), expected,
                "byte i of the result is data[i] ^ mask[i % 4]")
    return _ok("unmask turns 7f 9f 4d 51 58 with key 37 fa 21 3d into b'Hello' (RFC 6455 §5.7)")


@_hint("FIN is bit 0b10000000 of byte 0, the opcode its low 4 bits; MASK is the top bit of byte 1, the "
       "length its low 7 bits (RFC 6455 §5.2)")
def check_parse_header(fn: Callable) -> None:
    """``fn(two_bytes)`` returns dict(fin=, opcode=, masked=, length=) from a frame's first two bytes."""
    cases = [bytes([0x81, 0x05]), bytes([0x01, 0x83]), bytes([0x88, 0x82]), bytes([0x82, 0x7E]), bytes([0x89, 0x00])]
    for head in cases:
        expected = {"fin": bool(head[0] & 0b10000000), "opcode": head[0] & 0b00001111,
                    "masked": bool(head[1] & 0b10000000), "length": head[1] & 0b01111111}
        got = _call("parse_header", fn, head, expected=expected)
        if isinstance(got, dict):
            got = {k: (bool(v) if k in ("fin", "masked") else v) for k, v in got.items()}
        _expect("parse_header", f"bytes {head.hex(' ')}", got, expected,
                "FIN is bit 0b10000000 of byte 0, the opcode its low 4 bits; MASK is the top bit of byte 1")
    return _ok("parse_header reads FIN, opcode, MASK and the 7-bit length like RFC 6455 §5.2")


@_hint("byte 0 is FIN | opcode 0x1; byte 1 is MASK (0x80) | length, lengths over 125 use 126 + a 16-bit "
       "length; then the mask, then the masked payload (RFC 6455 §5.2, §5.3)")
def check_text_frame(fn: Callable) -> None:
    """``fn(text, mask)`` builds a masked client TEXT frame; wslab's decoder must read it back."""
    for text, mask in [("Hello Server", bytes.fromhex("37fa213d")), ("x" * 200, bytes(4)), ("", bytes.fromhex("01020304"))]:
        expected = build_frame("TEXT", text.encode(), mask=mask)
        wire = _call("text_frame", fn, text, mask, expected=expected)
        if wire != expected:
            given = bytes(wire) if isinstance(wire, (bytes, bytearray)) else None
            frames = [f for f in decode_bytes(given, "client") if isinstance(f, Frame)] if given else []
            what = str(frames[0]) if frames else "nothing wslab can decode"
            problems = "".join(f"\n    - {p}" for p in (frames[0].problems if frames else ()))
            shown = f"{given[:16].hex(' ')}{' …' if len(given) > 16 else ''}" if given is not None else repr(wire)
            raise ExerciseError(f"text_frame: for {_short(text)} with mask {mask.hex(' ')}\n"
                                f"  expected: {expected[:16].hex(' ')}{' …' if len(expected) > 16 else ''}\n"
                                f"  you gave: {shown}\n"
                                f"  wslab reads yours as: {what}{problems}\n"
                                f"  hint: byte 1 is MASK (0x80) | length; lengths over 125 use 126 + a 16-bit length (§5.2)")
    return _ok("text_frame builds frames byte-for-byte like RFC 6455 §5.2, including the 16-bit length")


# -- 03 closing --------------------------------------------------------------------
@_hint("2-byte big-endian code (struct.pack('!H', code)) + UTF-8 reason (RFC 6455 §5.5.1)")
def check_close_body(fn: Callable) -> None:
    """``fn(code, reason)`` returns a Close frame's payload (RFC 6455 §5.5.1)."""
    for code, reason in [(1000, ""), (1001, "bye"), (4000, "déjà vu")]:
        _expect("close_body", f"code {code} and reason {reason!r}", _call("close_body", fn, code, reason, expected=close_payload(code, reason)),
                close_payload(code, reason), "2-byte big-endian code (struct.pack('!H', code)) + UTF-8 reason")
    return _ok("close_body packs the code and the reason like RFC 6455 §5.5.1")


@_hint("the first 2 bytes are the big-endian code, the rest the UTF-8 reason (RFC 6455 §5.5.1); an empty "
       "payload is reported as 1005 (§7.1.5)")
def check_read_close(fn: Callable) -> None:
    """``fn(payload)`` returns (code, reason); an empty payload means 1005 (RFC 6455 §7.1.5)."""
    for code, reason in [(1000, ""), (1001, "going away"), (1011, "oops")]:
        _expect("read_close", f"payload {close_payload(code, reason).hex(' ')}",
                _call("read_close", fn, close_payload(code, reason), expected=(code, reason)), (code, reason))
    _expect("read_close", "an empty payload", _call("read_close", fn, b"", expected=(1005, "")), (1005, ""),
            "RFC 6455 §7.1.5: no status code in the Close frame is reported as 1005")
    return _ok("read_close reads codes and reasons, and 1005 for an empty Close")


@_hint("answer with await ws.send(...), then await ws.close(4000, 'bye') (RFC 6455 §7.1.2)")
def check_polite_handler(fn: Callable) -> None:
    """``fn`` is a server handler that answers the first message, then closes with 4000 'bye'."""
    from websockets.exceptions import ConnectionClosed

    from .lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("polite: expected an `async def` handler taking the connection")
    watch = _Watch("polite", fn, "answer the first message, then `await ws.close(4000, 'bye')`")
    with Lab(watch.wrap()) as lab:
        try:
            with lab.connect_sync() as ws:
                ws.send("Hello Server")
                for _ in range(2):
                    ws.recv(timeout=3)
        except ConnectionClosed:
            pass  # what we want: the server closed
        except TimeoutError:
            watch.check()
            raise ExerciseError("polite: the server never closed the connection") from None
        trace = lab.trace
    watch.check()
    closes = [(f.close_code, f.close_reason) for f in trace.frames if f.opcode == "CLOSE" and f.sender == "server"]
    _expect("polite", "the server's Close frame", closes[:1], [(4000, "bye")],
            "await ws.close(4000, 'bye') after you answered")
    return _ok("the server closed with 4000 'bye', and the client answered the Close")


# -- 04 chat ---------------------------------------------------------------------
@_hint("count frames with sender == 'client' and opcode == 'TEXT' (RFC 6455 §5.6), keyed by frame.conn")
def check_per_connection(fn: Callable) -> None:
    """``fn(trace)`` returns {conn: number of TEXT frames the client sent}."""
    from .lab import Lab

    with Lab("chat") as lab:
        with lab.connect_sync() as a, lab.connect_sync() as b:
            a.send("one")
            a.recv(2)
            b.recv(2)
            for text in ("two", "three"):
                b.send(text)
                a.recv(2)
                b.recv(2)
        trace = lab.trace
    expected = {1: 1, 2: 2}
    _expect("per_connection", "a chat where client 1 sent one message and client 2 two", _call("per_connection", fn, trace, expected=expected),
            expected, "count frames with sender == 'client' and opcode == 'TEXT', keyed by frame.conn")
    return _ok("per_connection counts each client's messages")


@_hint("the handler's first await ws.recv() is the name; then for each message, broadcast f'{name}: "
       "{message}' to every connected client")
def check_named_chat(fn: Callable) -> None:
    """``fn()`` makes a chat handler; clients send their name first, then messages go out as 'name: text'."""
    from websockets.exceptions import ConnectionClosed

    from .lab import Lab

    expected = "the first message is the name; then broadcast 'name: text' to every client"
    watch = _Watch("named_chat", _call("named_chat", fn, expected=expected), expected)
    with Lab(watch.wrap()) as lab:
        a, b = lab.connect_sync(), lab.connect_sync()
        try:
            a.send("ada")
            b.send("bob")
            time.sleep(0.1)
            a.send("hi")
            got = b.recv(timeout=3), a.recv(timeout=3)
        except (TimeoutError, ConnectionClosed):
            watch.check()
            raise ExerciseError("named_chat: nobody received 'hi' within 3 s") from None
        finally:
            for ws in (a, b):
                try:
                    ws.close()
                except ConnectionClosed:
                    pass
    watch.check()
    _expect("named_chat", "ada saying 'hi'", got, ("ada: hi", "ada: hi"), "broadcast f'{name}: {message}' to every client")
    return _ok("named_chat sends 'ada: hi' to everyone")


# -- 05 websocket vs http -------------------------------------------------------------
@_hint("2 bytes, +2 if length > 125, +8 instead if length > 65535, +4 if masked (RFC 6455 §5.2)")
def check_frame_overhead(fn: Callable) -> None:
    """``fn(length, masked)`` returns the header size in bytes of a frame with that payload length."""
    for length in (0, 125, 126, 65535, 65536):
        for masked in (False, True):
            expected = len(build_frame("BINARY", bytes(length), mask=b"\0\0\0\0" if masked else None)) - length
            _expect("frame_overhead", f"length={length}, masked={masked}", _call("frame_overhead", fn, length, masked, expected=expected),
                    expected, "2 bytes, +2 if length > 125, +8 instead if length > 65535, +4 if masked (§5.2)")
    return _ok("frame_overhead: 2 to 14 bytes, against hundreds for an HTTP request")


# -- 06 asyncio in jupyter ---------------------------------------------------------------
@_hint("open the n connections concurrently: asyncio.gather() runs several coroutines at once")
def check_concurrent_hellos(fn: Callable) -> None:
    """``fn(url, n)`` is ``async``: opens n clients at once, each sends 'Hello Server', returns the replies."""
    from .lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("hellos: expected an `async def` function (use asyncio.gather inside it)")
    with Lab("echo") as lab:
        replies = _call("hellos", fn, lab.url, 3, expected=["Hello Client"] * 3)
        trace = lab.trace
    _expect("hellos", "3 clients", list(replies) if replies is not None else None, ["Hello Client"] * 3)
    opens = [r.t for r in trace.handshakes if r.sender == "server"]
    closes = [r.t for r in trace.frames if r.opcode == "CLOSE" and r.sender == "client"]
    if len(opens) == 3 and len(closes) == 3 and max(opens) > min(closes):
        raise ExerciseError("hellos: the clients ran one after another; open them concurrently with asyncio.gather")
    return _ok("three clients were open at the same time")


# -- student versions -------------------------------------------------------------------
#: nbgrader's stub for a Python solution region (``ClearSolutions.code_stub``), and what it puts in a solution cell.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
#: The tag that tells nbval, nbclient and JupyterLab's Run All that a cell fails on purpose.
RAISES = "raises-exception"


def _nbgrader(cell: dict, key: str) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get(key, False))


def _clear_solution_regions(source: str, stub: str) -> tuple[str, int]:
    """nbgrader's ``ClearSolutions``: each region becomes ``stub``, indented like its BEGIN line."""
    lines, regions, inside = [], 0, False
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line:
            if inside:
                raise ValueError(f"nested BEGIN SOLUTION in:\n{source}")
            inside, regions = True, regions + 1
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + stub_line for stub_line in stub.split("\n")]
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"BEGIN SOLUTION without END SOLUTION in:\n{source}")
    return "\n".join(lines), regions


def release(nb: dict) -> int:
    """Turn a teacher's notebook (nbformat 4, as a dict) into its student version, in place.

    What ``nbgrader generate_assignment`` does with its default settings, minus the
    gradebook: every solution region becomes nbgrader's stub (a solution cell with no
    region is replaced whole), solution cells can't be deleted, test cells can't be
    edited or deleted, and every output is cleared. The nbgrader metadata stays, so
    the student version is a valid nbgrader release (Validate works on it; autograde
    finds its cells by grade_id). One addition: the autograded test cells are tagged
    ``raises-exception``, since with the stubs they fail on purpose (nbval, nbclient
    and JupyterLab's Run All then go on to the next cell). Returns the number of
    solution cells.
    """
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise ValueError(f"only Python notebooks have a code stub, not {language}")
    nb.get("metadata", {}).pop("celltoolbar", None)
    solutions = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        is_solution, is_grade = _nbgrader(cell, "solution"), _nbgrader(cell, "grade")
        stub = CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB
        cleared, regions = _clear_solution_regions(source, stub)
        if regions and not is_solution:
            raise ValueError(f"a solution region in a cell that is not a solution cell:\n{source}")
        if is_solution:
            solutions += 1
            cell["source"] = cleared if regions else stub
        metadata = cell.setdefault("metadata", {})
        metadata.pop("execution", None)  # nbclient's timestamps of the teacher's run
        if is_solution:
            metadata["deletable"] = False
        elif is_grade or _nbgrader(cell, "locked"):
            metadata["deletable"] = metadata["editable"] = False
        if is_grade and not is_solution and cell["cell_type"] == "code" and RAISES not in metadata.get("tags", []):
            metadata["tags"] = [*metadata.get("tags", []), RAISES]
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return solutions


def make_release(path: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the student version of the teacher's notebook ``path`` to ``out`` (see :func:`release`).

    Returns the number of solution cells. The student version has no outputs: execute it
    (``python -m wslab notebooks``) to store the outputs a student sees on a repository browser.
    """
    import nbformat

    if Path(out).resolve() == Path(path).resolve():
        raise ValueError(f"{out} is the teacher's notebook itself: write the student version elsewhere")
    nb = nbformat.read(path, as_version=4)
    solutions = release(nb)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return solutions


# -- 00 start here: added checks ------------------------------------------------------
@_hint("loop with `async for message in ws:` and await ws.send(message.upper()) for each message (RFC 6455 "
       "§5.6: a TEXT frame each way)")
def check_shout_handler(fn: Callable) -> None:
    """``fn`` is a server handler that answers every message with the same text in capitals."""
    from websockets.exceptions import ConnectionClosed

    from .lab import Lab

    watch = _Watch("shout", fn, "answer each message with message.upper(), e.g. 'Hello Server' → 'HELLO SERVER'")
    with Lab(watch.wrap()) as lab:
        got = []
        try:
            with lab.connect_sync() as ws:
                for text in ("Hello Server", "how are you?"):
                    ws.send(text)
                    got.append(ws.recv(timeout=3))
        except (ConnectionClosed, TimeoutError) as exc:
            watch.check()
            what = "closed the connection" if isinstance(exc, ConnectionClosed) else "did not answer within 3 s"
            raise ExerciseError(f"shout: after {len(got)} answer(s) {got!r} the server {what}; "
                                "it should answer every message (loop: `async for message in ws:`)") from None
    watch.check()
    _expect("shout", "the messages 'Hello Server' and 'how are you?'", got, ["HELLO SERVER", "HOW ARE YOU?"],
            "await ws.send(message.upper()) for each message")
    return _ok("your handler answered 'HELLO SERVER' and 'HOW ARE YOU?'")


# -- more checks for 05 and 06 ------------------------------------------------------------
@_hint("for i in range(5): await ws.send(f'update {i:03d}'); then return: websockets closes with 1000 (RFC "
       "6455 §7.4.1)")
def check_push_handler(fn: Callable) -> None:
    """``fn`` is a server handler that pushes ``update 000`` … ``update 004`` unasked, then closes normally."""
    from websockets.exceptions import ConnectionClosed

    from .lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("push: expected an `async def` handler taking the connection")
    expected = [f"update {i:03d}" for i in range(5)]
    got: list[str | bytes] = []
    watch = _Watch("push", fn, "a client receives 'update 000' … 'update 004' without asking, then the server closes")
    with Lab(watch.wrap(), seed=5) as lab:
        with lab.connect_sync() as ws:
            try:
                while len(got) <= len(expected):
                    got.append(ws.recv(timeout=3))
            except ConnectionClosed:
                pass
            except TimeoutError:
                watch.check()
                raise ExerciseError(f"push: the client received {_short(got, 120)}, then nothing for 3 s, and "
                                    "the server did not close: return from the handler (or await ws.close()) "
                                    "after the fifth update") from None
        trace = lab.trace
    watch.check()
    _expect("push", "the messages a client receives without asking", got, expected,
            "for i in range(5): await ws.send(f'update {i:03d}')")
    closes = [f.close_code for f in trace.frames if f.opcode == "CLOSE"]
    _expect("push", "the first Close frame's code", closes[:1], [1000],
            "return from the handler: websockets then closes with 1000 (RFC 6455 §7.4.1)")
    sizes = {len(f.wire) for f in trace.frames if f.sender == "server" and f.opcode == "TEXT"}
    return _ok(f"5 updates pushed without a single request, {'/'.join(map(str, sorted(sizes)))} B each on the wire "
               "(a 2-byte header + the 10-byte payload, RFC 6455 §5.2)")


#: How long :func:`slow_shout` blocks, seconds.
SLOW = 0.3


class _Overlap:
    """Counts :func:`slow_shout` calls and how many ran at the same time (for check_no_blocking)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = self.running = self.peak = 0

    def reset(self) -> None:
        with self.lock:
            self.calls = self.running = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1


_slow_calls = _Overlap()


def slow_shout(text: str) -> str:
    """A slow *blocking* call (think: a database query): sleeps 0.3 s, returns ``text.upper()``."""
    with _slow_calls:
        time.sleep(SLOW)
    return text.upper()


@_hint("run the blocking call in a worker thread, so the event loop keeps serving: reply = await "
       "asyncio.to_thread(slow_shout, message)")
def check_no_blocking(fn: Callable) -> None:
    """``fn`` is an async handler answering each message with ``slow_shout(message)`` without blocking its loop."""
    from websockets.exceptions import ConnectionClosed

    from .lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("no_blocking: expected an `async def` handler taking the connection")
    watch = _Watch("no_blocking", fn, "clients sending 'one' and 'two' both get slow_shout(message) back, together")
    _slow_calls.reset()
    with Lab(watch.wrap()) as lab:
        with lab.connect_sync() as a, lab.connect_sync() as b:
            a.send("one")
            b.send("two")
            try:
                replies = (a.recv(timeout=5), b.recv(timeout=5))
            except (ConnectionClosed, TimeoutError) as exc:
                watch.check()
                what = "closed the connection" if isinstance(exc, ConnectionClosed) else "did not answer in 5 s"
                raise ExerciseError(f"no_blocking: the server {what}; answer each message with "
                                    "await ws.send(...)") from None
    watch.check()
    _expect("no_blocking", "clients sending 'one' and 'two'", replies, ("ONE", "TWO"),
            "reply with what slow_shout(message) returns")
    # Counted, not timed: a handler that blocks its loop can never have two slow_shout calls running at once.
    if _slow_calls.calls < 2:
        raise ExerciseError("no_blocking: slow_shout was not called for each message: call "
                            "slow_shout(message), don't upper-case the text yourself")
    if _slow_calls.peak < 2:
        raise ExerciseError("no_blocking: the two clients were answered one after the other: slow_shout blocked "
                            "the server's event loop.\n"
                            "  hint: run it in a worker thread: reply = await asyncio.to_thread(slow_shout, message)")
    return _ok("both clients were answered together: the slow call ran in a thread and the loop kept serving")


# -- 03 closing: added check -------------------------------------------------------------
#: The connections :func:`check_close_codes` records, in order: how each one ends, and the code
#: the client reports (RFC 6455 §7.1.5, §7.4.1).
CLOSE_CASES = (
    ("the client sends Close 1000 and the server answers", 1000),
    ("the server closes with 4000 'maintenance'", 4000),
    ("the client sends a Close frame with no body, and the server echoes it", 1005),
    ("the lab cuts TCP: no Close frame at all", 1006),
    ("the client sends a TEXT frame that is not UTF-8", 1007),
)

_CLOSE_HINTS = {
    1005: "the server's Close frame has no status code (frame.close_code is None): RFC 6455 §7.1.5 reports 1005",
    1006: "the server sent no Close frame before TCP ended: RFC 6455 §7.1.5 reports 1006",
}


@_hint("the code in the server's Close frame (frame.close_code); 1005 if it has none, 1006 if it sent none "
       "(RFC 6455 §7.1.5)")
def check_close_codes(fn: Callable) -> None:
    """``fn(trace)`` returns ``{conn: code}``: the close code each connection's client reports.

    That is the code in the server's Close frame; 1005 if that frame has no
    status code, 1006 if the server sent no Close frame (RFC 6455 §7.1.5).
    """
    from .lab import Lab

    with Lab("echo", seed=3, close_timeout=0.3) as lab:
        with lab.raw() as raw:
            raw.handshake()
            raw.send_close(1000)
            raw.read_close()
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            lab.disconnect(raw, 4000, "maintenance")
            raw.read_close()
            raw.send_close(4000, "maintenance")
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("CLOSE")
            raw.read_close()
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            lab.cut(raw)
            raw.wait_closed()
        with lab.raw() as raw:
            raw.handshake()
            raw.send_frame("TEXT", b"caf\xc3")
            raw.read_close()
            raw.wait_closed()
        trace = lab.trace
    expected = {conn: code for conn, (_, code) in zip(trace.connections, CLOSE_CASES)}
    got = _call("close_codes", fn, trace, expected=expected)
    if not isinstance(got, dict):
        raise ExerciseError(f"close_codes: expected a dict {{conn: code}}, like {_short(expected, 120)}\n"
                            f"  you gave: {_short(got, 120)}")
    for (conn, code), (case, _) in zip(expected.items(), CLOSE_CASES):
        _expect("close_codes", f"connection {conn} ({case})", got.get(conn), code,
                _CLOSE_HINTS.get(code, "the code in the server's Close frame: frame.close_code"))
    extra = sorted(set(got) - set(expected))
    if extra:
        raise ExerciseError(f"close_codes: the trace has connections {sorted(expected)}, but you also gave {extra}")
    return _ok("close_codes reports 1000, 4000, 1005, 1006 and 1007, as the client does (RFC 6455 §7.1.5)")


# -- 07 wss and security -------------------------------------------------------------------
#: The one origin :func:`check_origin_gate` lets in (the chat page's own), and the ones it must keep out.
CHAT_ORIGIN = "http://chat.example"
_FOREIGN_ORIGINS = ("http://evil.example", "http://chat.example.evil.example", "https://chat.example", None)


@_hint("origin = request.headers.get('Origin'); if origin != CHAT_ORIGIN: return connection.respond(403, "
       "'forbidden origin\\n'); else return None (RFC 6455 §10.2)")
def check_origin_gate(fn: Callable) -> None:
    """``fn(connection, request)`` is a ``process_request`` hook: 403 unless ``Origin`` is exactly :data:`CHAT_ORIGIN`.

    A missing ``Origin`` is refused too: this chat is for its own page only (RFC 6455 §10.2).
    """
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    from .lab import Lab

    watch = _Watch("origin_gate", fn, f"403 unless the Origin header is exactly {CHAT_ORIGIN!r}, None (go on) for it",
                   "hook")

    def status(lab: Lab, origin: str | None) -> int:
        """The status the server answers a client sending ``origin`` (101: it joined and chatted)."""
        try:
            with lab.connect_sync(origin=origin) as ws:
                ws.send("Hello Server")
                ws.recv(timeout=3)
        except InvalidStatus as exc:
            watch.check()
            if exc.response.status_code == 500:
                raise ExerciseError("origin_gate: the server answered 500: your function raised an exception "
                                    "(the server log above shows it)") from None
            return int(exc.response.status_code)
        except InvalidHandshake:
            watch.check()
            raise ExerciseError("origin_gate: the server sent no valid HTTP response: return "
                                "connection.respond(...) to refuse, or None to let the handshake go on") from None
        return 101

    with Lab("chat", process_request=watch.wrap()) as lab:
        got = status(lab, CHAT_ORIGIN)
        if got != 101:
            raise ExerciseError(f"origin_gate: the chat's own page (Origin: {CHAT_ORIGIN}) should get in (101), "
                                f"but got {got}")
        for origin in _FOREIGN_ORIGINS:
            case = f"Origin: {origin}" if origin else "no Origin header"
            got = status(lab, origin)
            if got == 101:
                raise ExerciseError(f"origin_gate: a client sending {case} joined the chat; it should get 403 "
                                    f"(compare the whole header with {CHAT_ORIGIN!r}: no prefixes, no other scheme)")
            _expect("origin_gate", f"a client sending {case}", got, 403,
                    "return connection.respond(HTTPStatus.FORBIDDEN, 'forbidden origin\\n')")
    watch.check()
    return _ok(f"{CHAT_ORIGIN} joins; evil.example, look-alike origins and no Origin at all get 403")


#: (code, reason, what the WebSocket API's close() does): WHATWG WebSockets standard, close() method.
BROWSER_CLOSE_CASES = (
    (None, "", True),
    (1000, "", True),
    (1000, "bye", True),
    (3000, "", True),
    (4999, "x" * 123, True),
    (4000, "é" * 61 + "x", True),  # 123 bytes of UTF-8
    (1001, "", False),  # going away: a browser sends it when the page goes, a script may not
    (1011, "", False),
    (2999, "", False),
    (5000, "", False),
    (1000, "x" * 124, False),
    (4000, "é" * 62, False),  # 62 characters, 124 bytes
)


@_hint("True if code is None or 1000 or 3000 <= code <= 4999, and len(reason.encode('utf-8')) <= 123")
def check_browser_close(fn: Callable) -> None:
    """``fn(code, reason)``: would a browser's ``ws.close(code, reason)`` send a Close frame (True) or throw (False)?"""
    for code, reason, expected in BROWSER_CLOSE_CASES:
        shown = reason if len(reason) < 8 else f"{reason[:3]}… ({len(reason.encode())} bytes)"
        got = _call("browser_close", fn, code, reason, expected=expected)
        hint = ("the code must be 1000 or 3000–4999 (or left out)" if code not in (None, 1000)
                and not 3000 <= code <= 4999 else "the reason's UTF-8 bytes, not its characters, count: at most 123")
        _expect("browser_close", f"close({code}, {shown!r})", got, expected, hint)
    return _ok("close() accepts 1000 and 3000–4999 with a reason of at most 123 UTF-8 bytes, and nothing else")
