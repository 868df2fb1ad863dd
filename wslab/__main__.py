"""Command line: ``python -m wslab demo``, ``serve``, and for the notebooks ``release`` and ``notebooks``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from . import browser, handlers
from ._runtime.printer import LinePrinter
from ._runtime.server import same_origin
from .browser import NoBrowserURL
from .capture.records import Record, describe
from .lab import Lab


def article_steps(records) -> list[str]:
    """Label each drawn event of the article's lifecycle with its step (1-9), for ``trace.plot(labels=...)``."""
    labels = []
    for r in records:
        if r.kind == "state":
            continue
        if r.kind == "handshake":
            labels.append("step 1" if r.sender == "client" else "steps 2, 3")
        elif r.kind == "frame" and r.opcode == "CLOSE":
            labels.append("step 7" if r.sender == "client" else "step 8")
        elif r.kind == "frame":
            labels.append("step 4" if r.sender == "client" else "steps 5, 6")
        elif r.kind == "tcp" and r.what != "connect":
            labels.append("step 9")
        else:
            labels.append("")
    return labels


def demo(args: argparse.Namespace) -> int:
    """The source article's lifecycle: send ``Hello Server``, read the answer, close."""
    with Lab("echo", seed=args.seed) as lab:
        print(f"lab listening at {lab.url} (tap) → websockets server on port {lab.server_port}\n")
        with lab.connect_sync() as ws:
            ws.send("Hello Server")
            print(f"client received: {ws.recv()!r}")
        trace = lab.trace
    print()
    print(trace.table())
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        ax = trace.plot(labels=article_steps(trace), title="The article's connection, step by step")
        from .plot.alt import alt_text

        ax.get_figure(root=True).savefig(args.png, dpi=args.dpi, bbox_inches="tight",  # type: ignore[union-attr]
                                         metadata={"Description": alt_text(ax)})
        print(f"\ntimeline saved to {args.png}")
    if args.pcap:
        trace.to_pcap(args.pcap, server_port=lab.port or 8080)
        print(f"capture saved to {args.pcap} (open it in Wireshark, or: "
              f"tshark -r {args.pcap} -d tcp.port=={lab.port},http)")
    if args.json:
        trace.save(args.json)
        print(f"trace saved to {args.json} (wslab.load() reads it back)")
    return 0


def serve(args: argparse.Namespace) -> int:
    """A standalone tapped server for a class, that prints every frame as it crosses the wire.

    It holds under load: lines are printed from a thread of their own (dropped and
    counted when the terminal is behind), keepalive pings are on, a client that
    doesn't read or sends too fast is closed (1008), only the page's own origin (and
    clients that send no Origin) may connect, the trace keeps a bounded start and end
    (``--save`` streams all of it to disk), and Ctrl-C stops it within a second.
    """
    printer = LinePrinter()

    def show(record: Record) -> None:
        if record.kind != "state" or args.states:
            arrow = {"client": "→", "server": "←"}.get(record.sender, " ")
            printer.say(f"{record.t * 1000:10.1f} ms  #{record.conn}  {arrow}  {describe(record)}")

    rate = args.rate or None
    write_limit = args.write_limit or None
    if args.handler == "chat":
        handler: Any = handlers.classroom_chat(rate=rate, write_limit=write_limit)
    elif args.handler == "echo":
        handler = handlers.limited_echo(rate)
    else:
        handler = args.handler
    port = args.port or free_port(args.host)
    origins = allowed_origins(port, args.allow_origin)
    lab = Lab(handler, port=port, host=args.host, ping_interval=args.ping_interval,
              ping_timeout=args.ping_interval, max_records=args.keep, record_to=args.save, close_timeout=1,
              process_request=None if origins is None else same_origin(origins))
    lab.recorder.listeners.append(show)
    # Ctrl-C sets an event rather than raising wherever the main thread happens to be (inside a
    # lock, say), so stopping always finds the printer and the lab in one piece.
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    lab.start()
    try:
        printer.say(f"wslab {args.handler} server: {lab.url}")
        printer.say(f"chat page: {lab.local_http_url}   (Ctrl-C stops)")
        # Under JupyterHub/Binder (or with WSLAB_BROWSER_URL) a browser elsewhere needs another URL.
        try:
            elsewhere = lab.http_url
        except NoBrowserURL as exc:
            printer.say(f"from a browser elsewhere: none. {exc}")
        else:
            if elsewhere != lab.local_http_url:
                printer.say(f"from a browser elsewhere: {elsewhere}")
        if origins is None:
            printer.say("origins allowed: any (a page from any site can join)")
        else:
            extra = "".join(", " + o for o in args.allow_origin)
            printer.say(f"origins allowed: this page's (also through a proxy such as JupyterHub's), clients "
                        f"that send no Origin{extra} "
                        "(--allow-origin ORIGIN for more, '*' for any)")
        if args.save:
            printer.say(f"every record is saved to {args.save} (wslab.load() reads it)")
        while not interrupted.wait(1):
            pass
        printer.say("stopping (open connections get 1001 going away)")
    finally:
        signal.signal(signal.SIGINT, previous)
        # Stop within a second whatever the clients do: the lab stops on a thread of its own,
        # and what it has not finished by then is left to the process's exit.
        stopper = threading.Thread(target=lab.stop, name="wslab-stop", daemon=True)
        stopper.start()
        stopper.join(0.8)
        lab.recorder.flush()
        printer.drain(0.1)
        if stopper.is_alive():
            os._exit(0)
    return 0


def free_port(host: str) -> int:
    """A port free on ``host`` now (so the page's origin is known before the lab starts)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def allowed_origins(port: int, extra: list[str]) -> list[Any] | None:
    """The origins a classroom server on ``port`` lets in besides its own page's (which
    :func:`~wslab._runtime.server.same_origin` recognises by the request's ``Host``, behind a
    proxy too): any host name on this port, the origin of ``WSLAB_BROWSER_URL`` when it names
    one, and ``extra``; None (any) with ``'*'``."""
    if "*" in extra:
        return None
    origins: list[Any] = [re.compile(rf"https?://[^/]+:{port}"), *extra]
    try:
        elsewhere = browser.browser_url(port, "/")
    except NoBrowserURL:
        return origins
    parts = urlsplit(elsewhere)
    if parts.scheme and parts.netloc:
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def notebooks(args: argparse.Namespace) -> int:
    """Re-execute notebooks in a fresh kernel each and store their outputs (what nbval compares)."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    for path in args.paths:
        started = time.monotonic()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
        nbformat.write(nb, path)
        print(f"{path}: executed in {time.monotonic() - started:.1f} s")
    return 0


def release(args: argparse.Namespace) -> int:
    """Write student versions of teacher notebooks: solutions replaced by nbgrader's stub."""
    from pathlib import Path

    from .exercises import make_release

    for path in args.paths:
        out = Path(args.out) / Path(path).name
        solutions = make_release(path, out)
        print(f"{out}: {solutions} solution(s) replaced by `# YOUR CODE HERE` / `raise NotImplementedError()`")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wslab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the article's Hello Server / Hello Client lifecycle and print the trace")
    p.add_argument("--png", help="save the timeline to this PNG file")
    p.add_argument("--pcap", help="save a capture for Wireshark/tshark")
    p.add_argument("--json", help="save the trace as JSON")
    p.add_argument("--seed", type=int, default=1, help="seed for reproducible keys and masks (default 1)")
    p.add_argument("--dpi", type=int, default=150)
    p.set_defaults(func=demo)
    p = sub.add_parser("serve", help="run a tapped server that prints frames live")
    p.add_argument("--handler", default="chat",
                   help="hello, article-chat, room (a broadcast room; also: chat), echo or silent (default chat)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--states", action="store_true", help="also print connection state changes")
    p.add_argument("--save", metavar="PATH", help="stream every record to PATH as JSON lines (wslab.load reads it)")
    p.add_argument("--keep", type=int, default=10_000, metavar="N",
                   help="records kept in memory: the start and the most recent part (default 10000)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept browsers from this origin, e.g. https://example.org ('*': any origin)")
    p.add_argument("--rate", type=float, default=20, metavar="N",
                   help="close (1008) a client sending more than N messages a second (default 20; 0: no limit)")
    p.add_argument("--write-limit", type=int, default=2**20, metavar="BYTES",
                   help="close (1008) a chat client that leaves more than BYTES unread (default 1 MiB; 0: no limit)")
    p.add_argument("--ping-interval", type=float, default=20, metavar="S",
                   help="keepalive: ping every S seconds, close if no pong within S (default 20)")
    p.set_defaults(func=serve)
    p = sub.add_parser("notebooks", help="re-execute notebooks and store their outputs")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=notebooks)
    p = sub.add_parser("release",
                       help="write student versions of teacher notebooks (solutions replaced by nbgrader's stub)")
    p.add_argument("paths", nargs="+", help="teacher notebooks, e.g. solutions/*.ipynb")
    p.add_argument("--out", default="notebooks", help="folder for the student notebooks (default notebooks/)")
    p.set_defaults(func=release)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        parser.exit(2, f"{parser.prog} {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
