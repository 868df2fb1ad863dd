"""The browser's address of a lab: the rules behind ``lab.http_url``.

A lab listens on ``127.0.0.1`` of the machine that runs the kernel. When that
is the student's own computer, ``http://127.0.0.1:PORT/`` is the chat page.
When the kernel runs elsewhere (JupyterHub, Binder, a remote JupyterLab) that
address is the *server's* loopback, which the student's browser can't reach:
the page has to come through a proxy on the Jupyter server's own origin, such
as jupyter-server-proxy's ``<base_url>proxy/<port>/``. The page (``chat.html``)
builds its WebSocket URL relative to wherever it was loaded from, so serving it
under a proxy's path is enough.

:func:`browser_url` decides, first rule that applies wins:

1. ``WSLAB_BROWSER_URL`` is set: a template for the URL of the lab's root,
   formatted like Dask's ``distributed.dashboard.link``: with every environment
   variable, plus ``{host}`` (``127.0.0.1``) and ``{port}`` (the lab's port).
   E.g. ``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/`` or
   ``https://lab.example.org/jupyter/proxy/{port}/``.
2. ``JUPYTERHUB_SERVICE_PREFIX`` is set (JupyterHub sets it in every user's
   server, and so in its kernels; Binder runs a hub): ``{prefix}proxy/{port}/``,
   a path on the hub's origin, which a link or an ``IFrame`` in the notebook
   resolves against the page the notebook is on. It needs jupyter-server-proxy
   in the user's Jupyter server (the ``notebooks`` extra has it).
3. ``google.colab`` is importable: there is no such URL. Colab's port proxy
   carries no WebSockets, so the page would load and never connect:
   :class:`NoBrowserURL` says so instead of returning a dead URL.
4. Otherwise: ``http://127.0.0.1:{port}/``, the lab itself (:func:`local_url`).

The lab's path (``/`` unless ``Lab(path=...)``) is appended to the URL of the
lab's root in every rule.
"""

from __future__ import annotations

import html
import importlib.util
import os
from collections.abc import Mapping

TEMPLATE_VARIABLE = "WSLAB_BROWSER_URL"
HUB_PREFIX_VARIABLE = "JUPYTERHUB_SERVICE_PREFIX"
LOCAL_HOST = "127.0.0.1"

COLAB_REASON = (
    "Google Colab can't show the lab's chat page: Colab's port proxy carries no WebSockets, so the page "
    "would load and never connect. Everything else in the lab works in Colab; to chat from your browser, "
    "run this notebook in JupyterLab (on your computer, JupyterHub or Binder)."
)


class NoBrowserURL(RuntimeError):
    """There is no URL at which the student's browser could use the lab (e.g. in Google Colab)."""


def local_url(port: int, path: str = "/") -> str:
    """``http://127.0.0.1:{port}{path}``: the lab itself, for a browser or client on the kernel's machine."""
    return f"http://{LOCAL_HOST}:{port}{path}"


def in_colab() -> bool:
    """True where ``google.colab`` is importable (a Google Colab runtime)."""
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no "google" package at all, or a broken one
        return False


def from_template(template: str, port: int, environ: Mapping[str, str] | None = None) -> str:
    """``template`` formatted with the environment plus ``host`` and ``port`` (as Dask formats its dashboard link).

    Raises :class:`ValueError` naming :data:`TEMPLATE_VARIABLE` if the template
    names a key that is neither ``host``, ``port`` nor a set environment
    variable, or is not a valid format string.
    """
    environ = os.environ if environ is None else environ
    keys = {**environ, "host": LOCAL_HOST, "port": port}
    try:
        url = template.format_map(keys)
    except KeyError as exc:
        raise ValueError(
            f"{TEMPLATE_VARIABLE}={template!r} names {{{exc.args[0]}}}, which is neither {{host}}, {{port}} "
            f"nor a set environment variable") from None
    except (IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"{TEMPLATE_VARIABLE}={template!r} is not a valid template ({exc}); use named fields only, "
            f"e.g. '{{{HUB_PREFIX_VARIABLE}}}proxy/{{port}}/'") from None
    if not url.strip():
        raise ValueError(f"{TEMPLATE_VARIABLE}={template!r} gives an empty URL")
    return url


def _join(root: str, path: str) -> str:
    """The lab's ``path`` under the URL of the lab's root."""
    return root.rstrip("/") + "/" + path.lstrip("/")


def browser_url(port: int, path: str = "/", environ: Mapping[str, str] | None = None) -> str:
    """The URL at which the student's browser finds the lab listening on ``port`` (see the module's rules).

    ``environ`` defaults to ``os.environ``. Raises :class:`ValueError` for a bad
    ``WSLAB_BROWSER_URL`` template and :class:`NoBrowserURL` in Google Colab.
    """
    environ = os.environ if environ is None else environ
    template = environ.get(TEMPLATE_VARIABLE, "")
    if template.strip():
        return _join(from_template(template, port, environ), path)
    prefix = environ.get(HUB_PREFIX_VARIABLE, "")
    if prefix.strip():
        return _join(f"{prefix.rstrip('/')}/proxy/{port}/", path)
    if in_colab():
        raise NoBrowserURL(COLAB_REASON)
    return local_url(port, path)


class PageFrame:
    """The lab's page in a notebook: a link and an ``<iframe>`` at the browser URL, or why there is none.

    Jupyter shows it through ``_repr_html_`` (no IPython import needed); a terminal gets its ``repr``.
    """

    def __init__(self, url: str | None, reason: str = "", height: int = 420) -> None:
        self.url, self.reason, self.height = url, reason, height

    def _repr_html_(self) -> str:
        if self.url is None:
            return f'<p style="padding:.5em;border-left:4px solid #b3261e">{html.escape(self.reason)}</p>'
        url = html.escape(self.url, quote=True)
        return (f'<a href="{url}" target="_blank">open the chat page in a new tab: {url}</a>\n'
                f'<iframe src="{url}" width="100%" height="{int(self.height)}" frameborder="0"></iframe>')

    def __repr__(self) -> str:
        return f"chat page: {self.url}" if self.url is not None else self.reason
