"""Command line: ``python -m wslab demo``, ``serve``, and for the notebooks ``release`` and ``notebooks``."""

from __future__ import annotations

import argparse
import sys
import time

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
    """A standalone tapped server that prints every frame as it crosses the wire."""
    def show(record: Record) -> None:
        if record.kind != "state" or args.states:
            arrow = {"client": "→", "server": "←"}.get(record.sender, " ")
            print(f"{record.t * 1000:10.1f} ms  #{record.conn}  {arrow}  {describe(record)}", flush=True)

    lab = Lab(args.handler, port=args.port, host=args.host)
    lab.recorder.listeners.append(show)
    lab.start()
    try:
        print(f"wslab {args.handler} server: {lab.url}", flush=True)
        print(f"chat page: {lab.local_http_url}   (Ctrl-C stops)", flush=True)
        # Under JupyterHub/Binder (or with WSLAB_BROWSER_URL) a browser elsewhere needs another URL.
        try:
            elsewhere = lab.http_url
        except NoBrowserURL as exc:
            print(f"from a browser elsewhere: none. {exc}", flush=True)
        else:
            if elsewhere != lab.local_http_url:
                print(f"from a browser elsewhere: {elsewhere}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping (open connections get 1001 going away)")
    finally:
        lab.stop()
    return 0


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
