"""A trace as a Mermaid ``sequenceDiagram`` (JupyterLab renders these in Markdown)."""

from __future__ import annotations

from collections.abc import Sequence

from .trace import Record, describe


def _text(text: str) -> str:
    # Mermaid ends a message at ';' or a newline and reads '#...;' as an entity.
    return text.replace("\n", " ").replace(";", ",").replace("#", "＃")


def to_mermaid(records: Sequence[Record], *, max_frames: int = 40) -> str:
    """Return Mermaid source for ``records``: one participant per client, one server.

    Frames beyond ``max_frames`` are summarised in a note, so the diagram stays readable.
    """
    conns = sorted({r.conn for r in records})
    lines = ["sequenceDiagram"]
    for conn in conns:
        name = f"client {conn}" if len(conns) > 1 else "client"
        lines.append(f"    participant C{conn} as {name}")
    lines.append("    participant S as server")
    frames = 0
    skipped = 0
    for r in records:
        c = f"C{r.conn}"
        arrow = f"{c}->>S" if r.sender == "client" else f"S->>{c}"
        if r.kind == "frame":
            frames += 1
            if frames > max_frames and r.opcode not in ("CLOSE",):
                skipped += 1
                continue
            if skipped:
                lines.append(f"    Note over {c},S: … {skipped} more frames …")
                skipped = 0
            style = "-)" if r.opcode in ("PING", "PONG") else "->>"
            arrow = f"{c}{style}S" if r.sender == "client" else f"S{style}{c}"
            lines.append(f"    {arrow}: {_text(describe(r))}")
        elif r.kind == "handshake":
            lines.append(f"    {arrow}: {_text(r.start_line)}")
        elif r.kind == "tcp":
            side = c if r.sender == "client" else "S"
            label = {"connect": "TCP connect", "eof": "TCP FIN", "close": "TCP close", "reset": "TCP reset"}[r.what]
            if r.what == "connect":
                lines.append(f"    {c}-->>S: {label}")
            else:
                lines.append(f"    Note over {side}: {label}")
        elif r.kind == "error":
            lines.append(f"    Note over {c},S: ⚠ {_text(describe(r))}")
        elif r.kind == "state" and r.state in ("OPEN", "CLOSED"):
            side = c if r.sender == "client" else "S"
            lines.append(f"    Note over {side}: {r.state}")
    if skipped:
        lines.append(f"    Note over C{conns[-1]},S: … {skipped} more frames …")
    return "\n".join(lines)
