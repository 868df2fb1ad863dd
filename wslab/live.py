"""The live view: a notebook widget that follows a lab while frames cross the wire.

``lab.watch()`` shows, in the cell's output, the newest records as a table and
the sequence diagram of the latest connections, and keeps them up to date while
the kernel is free to run other cells (type in the chat page of notebook 04 and
watch the frames arrive). It is an `anywidget <https://anywidget.dev>`_ widget:

* the tap's recorder pokes it on every record (cheap: it sets an event); a
  worker thread redraws at most ``fps`` times a second, however busy the wire;
* it stops with the lab (and on :meth:`LiveView.stop`), showing the final state;
* where widgets don't render (nbval, an HTML export, a terminal) it shows the
  table as it was when displayed: ``text/html`` and ``text/plain`` fallbacks.

The view reads snapshots of the lab's records and never changes them.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import threading
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from .capture.records import Record
from .capture.trace import Trace

if TYPE_CHECKING:
    from .lab import Lab

_ESM = """
function render({ model, el }) {
  el.classList.add("wslab-live");
  const status = document.createElement("div");
  status.className = "wslab-live-status";
  const body = document.createElement("div");
  body.className = "wslab-live-body";
  const table = document.createElement("div");
  table.className = "wslab-live-table";
  const figure = document.createElement("img");
  figure.className = "wslab-live-figure";
  body.append(table, figure);
  el.append(status, body);
  const draw = () => {
    status.textContent = model.get("status");
    table.innerHTML = model.get("table_html");
    const png = model.get("png");
    figure.style.display = png ? "" : "none";
    if (png) figure.src = "data:image/png;base64," + png;
    figure.alt = model.get("alt");
  };
  for (const name of ["status", "table_html", "png", "alt"]) model.on("change:" + name, draw);
  draw();
}
export default { render };
"""

_CSS = """
.wslab-live { font: 14px system-ui, sans-serif; }
.wslab-live-status { font-weight: 600; margin: 0 0 .4rem; }
.wslab-live-body { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.wslab-live-table table { border-collapse: collapse; font-size: 13px; }
.wslab-live-table td, .wslab-live-table th { padding: 2px 8px; white-space: nowrap; }
.wslab-live-table td:last-child { white-space: normal; }
.wslab-live-figure { max-width: 100%; }
"""


def _snapshot(lab: Lab) -> list[Record]:
    return lab.recorder.snapshot()[0]


class LiveView(anywidget.AnyWidget):
    """A live table and sequence diagram of a lab's newest records (see :meth:`wslab.Lab.watch`)."""

    _esm = _ESM
    _css = _CSS
    status = traitlets.Unicode("").tag(sync=True)
    table_html = traitlets.Unicode("").tag(sync=True)
    png = traitlets.Unicode("").tag(sync=True)
    alt = traitlets.Unicode("").tag(sync=True)
    #: How many times the view was redrawn (a test can wait on it).
    updates = traitlets.Int(0)

    def __init__(self, lab: Lab, *, rows: int = 12, conns: int = 2, fps: float = 4.0, plot: bool = True) -> None:
        super().__init__()
        if rows < 1 or conns < 1 or not 0 < fps <= 30:
            raise ValueError("watch() needs rows >= 1, conns >= 1 and 0 < fps <= 30")
        self.lab, self.rows, self.conns, self.fps, self.plot = lab, rows, conns, fps, plot
        self._poked = threading.Event()
        self._stopped = threading.Event()
        self._drawn = -1  # how many records the last drawing showed
        self._render()
        lab.recorder.listeners.append(self._poke)
        self._worker = threading.Thread(target=self._run, daemon=True, name=f"wslab-live-{id(self):x}")
        self._worker.start()

    # -- the worker ----------------------------------------------------------
    def _poke(self, record: Record) -> None:  # called on whichever thread records (or reads): keep it cheap
        self._poked.set()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                # Wake on a new record, or now and then to notice that the lab stopped.
                self._poked.wait(0.5)
                if not self.lab.running:
                    break
                if self._poked.is_set():
                    self._poked.clear()
                    self._render()
                    self._stopped.wait(1.0 / self.fps)  # throttle: at most fps drawings a second
        finally:
            self._detach()
            self._render(final=True)

    def _detach(self) -> None:
        with contextlib.suppress(ValueError):
            self.lab.recorder.listeners.remove(self._poke)

    def stop(self) -> None:
        """Stop following the lab (the view keeps its last drawing). The lab's stop() does this too."""
        self._stopped.set()
        self._poked.set()
        if self._worker is not threading.current_thread():
            self._worker.join(5)

    @property
    def running(self) -> bool:
        """The view is still following its lab."""
        return self._worker.is_alive()

    # -- drawing -------------------------------------------------------------
    def _latest(self, records: list[Record]) -> tuple[Trace, Trace]:
        shown = [r for r in records if r.kind != "state"][-self.rows:]
        latest = sorted({r.conn for r in records})[-self.conns:]
        return Trace(shown), Trace([r for r in records if r.conn in latest])

    def _render(self, *, final: bool = False) -> None:
        records = _snapshot(self.lab)
        if len(records) == self._drawn and not final:
            return
        self._drawn = len(records)
        table, recent = self._latest(records)
        frames = sum(r.kind == "frame" for r in records)
        conns = len({r.conn for r in records})
        where = "stopped" if final or not self.lab.running else f"live at {self.lab.url}"
        self.status = (f"wslab lab {where}: {frames} frame{'s' * (frames != 1)} on "
                       f"{conns} connection{'s' * (conns != 1)}; newest {len(table)} events below")
        self.table_html = table._repr_html_() if len(table) else "<p>waiting for the first connection…</p>"
        if self.plot and len(recent):
            self.png, self.alt = _timeline_png(recent), _alt(recent)
        self.updates += 1

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict]:
        # JupyterLab shows the widget; nbval, HTML exports and terminals get the table as it is now.
        found = super()._repr_mimebundle_(**kwargs)  # anywidget: (data, metadata)
        data, metadata = found if isinstance(found, tuple) else (found or {}, {})
        bundle = dict(data)
        bundle["text/plain"] = self.status
        bundle["text/html"] = f"<div><p><b>{html.escape(self.status)}</b></p>{self.table_html}</div>"
        return bundle, metadata


def _timeline_png(trace: Trace) -> str:
    """The sequence diagram of ``trace``, drawn off pyplot (this runs on the view's thread)."""
    from matplotlib.figure import Figure

    events = sum(r.kind != "state" for r in trace)
    conns = len(trace.connections)
    figure = Figure(figsize=(min(12.0, 3.0 + 4.4 * conns), min(9.0, 2.2 + 0.32 * min(events, 24))),
                    layout="constrained")
    trace.plot(ax=figure.add_subplot(), max_frames=24)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _alt(trace: Trace) -> str:
    frames = [r for r in trace if r.kind == "frame"]
    last = f"; the newest: {frames[-1].sender} {frames[-1].opcode}" if frames else ""
    return f"Sequence diagram of connection(s) {', '.join(map(str, trace.connections))}: {len(frames)} frames{last}"
