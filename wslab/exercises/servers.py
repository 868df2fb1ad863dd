"""Checks for handlers the student writes and traces they read (notebooks 00, 04–06): chat, push, no blocking."""

from __future__ import annotations

import contextlib
import inspect
import itertools
import threading
import time
from collections.abc import Callable

from ._support import (
    ExerciseError,
    _call,
    _expect,
    _hint,
    _ok,
    _short,
    _Watch,
)


# -- 00 start here --------------------------------------------------------------
@_hint("loop over trace.frames and keep frames with sender == 'server' and opcode == 'TEXT' (a TEXT frame's "
       "payload is UTF-8 text, RFC 6455 §5.6)")
def check_server_messages(fn: Callable) -> None:
    """``fn(trace)`` returns the texts of the server's TEXT frames, in order."""
    from ..lab import Lab

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


# -- 04 chat ---------------------------------------------------------------------
@_hint("count frames with sender == 'client' and opcode == 'TEXT' (RFC 6455 §5.6), keyed by frame.conn")
def check_per_connection(fn: Callable) -> None:
    """``fn(trace)`` returns {conn: number of TEXT frames the client sent}."""
    from ..lab import Lab

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

    from ..lab import Lab

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
                with contextlib.suppress(ConnectionClosed):
                    ws.close()
    watch.check()
    _expect("named_chat", "ada saying 'hi'", got, ("ada: hi", "ada: hi"), "broadcast f'{name}: {message}' to every client")
    return _ok("named_chat sends 'ada: hi' to everyone")


# -- 06 asyncio in jupyter ---------------------------------------------------------------
@_hint("open the n connections concurrently: asyncio.gather() runs several coroutines at once")
def check_concurrent_hellos(fn: Callable) -> None:
    """``fn(url, n)`` is ``async``: opens n clients at once, each sends 'Hello Server', returns the replies."""
    from ..lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("hellos: expected an `async def` function (use asyncio.gather inside it)")
    with Lab("echo") as lab:
        replies = _call("hellos", fn, lab.url, 3, expected=["Hello Client"] * 3)
        trace = lab.trace
    _expect("hellos", "3 clients", list(replies) if replies is not None else None, ["Hello Client"] * 3)
    # One after another: each client sent its request only after the one before had sent its Close.
    requests = {r.conn: r.t for r in trace.handshakes if r.sender == "client"}
    closes = {r.conn: r.t for r in trace.frames if r.opcode == "CLOSE" and r.sender == "client"}
    spans = sorted((requests[c], closes[c]) for c in requests if c in closes)
    if len(spans) == 3 and all(later[0] > earlier[1] for earlier, later in itertools.pairwise(spans)):
        raise ExerciseError("hellos: the clients ran one after another; open them concurrently with asyncio.gather")
    return _ok("three clients were open at the same time")


# -- 00 start here: added checks ------------------------------------------------------
@_hint("loop with `async for message in ws:` and await ws.send(message.upper()) for each message (RFC 6455 "
       "§5.6: a TEXT frame each way)")
def check_shout_handler(fn: Callable) -> None:
    """``fn`` is a server handler that answers every message with the same text in capitals."""
    from websockets.exceptions import ConnectionClosed

    from ..lab import Lab

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

    from ..lab import Lab

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

    from ..lab import Lab

    if not inspect.iscoroutinefunction(fn):
        raise ExerciseError("no_blocking: expected an `async def` handler taking the connection")
    watch = _Watch("no_blocking", fn, "clients sending 'one' and 'two' both get slow_shout(message) back, together")
    _slow_calls.reset()
    with Lab(watch.wrap()) as lab, lab.connect_sync() as a, lab.connect_sync() as b:
        try:  # a handler that fails at once may close the connection before the clients send
            a.send("one")
            b.send("two")
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
