"""A trace as a Mermaid ``sequenceDiagram`` (JupyterLab renders these in Markdown), with a plain-text twin.

Mermaid needs JavaScript: JupyterLab 4.1+ draws it, but nbconvert's HTML export loads it from a CDN
(blank offline) and other viewers show the source. So :func:`to_mermaid` returns a :class:`Mermaid`,
a ``str`` (the source, as before) that shows itself in Jupyter as the diagram *and* the same sequence
as plain text, one arrow per line, under it: something always reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .trace import Record, describe


def _text(text: str) -> str:
    # Mermaid ends a message at ';' or a newline and reads '#...;' as an entity.
    return text.replace("\n", " ").replace(";", ",").replace("#", "＃")


class Mermaid(str):
    """Mermaid source (a ``str``) that displays as the diagram with its plain-text version (:attr:`text`)."""

    @property
    def text(self) -> str:
        """The diagram as plain text: ``client → server: TEXT 'Hello Server' …``, one line per arrow or note."""
        names = dict(re.findall(r"^\s*participant (\w+) as (.+)$", self, re.M))
        out = []
        for line in self.splitlines()[1:]:
            line = line.strip()
            if arrow := re.match(r"^(\w+)-*[>)]+(\w+): (.*)$", line):
                a, b, label = arrow.groups()
                out.append(f"{names.get(a, a)} → {names.get(b, b)}: {label}")
            elif note := re.match(r"^Note over ([\w,]+): (.*)$", line):
                who = " ↔ ".join(names.get(n, n) for n in note.group(1).split(","))
                out.append(f"[{who}] {note.group(2)}")
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        return (f"```mermaid\n{self}\n```\n\n<details><summary>The same, as text</summary>\n\n"
                f"<pre>{html.escape(self.text)}</pre>\n\n</details>\n")

    def __repr__(self) -> str:
        return self.text


def to_mermaid(records: Sequence[Record], *, max_frames: int = 40) -> Mermaid:
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
    return Mermaid("\n".join(lines))
