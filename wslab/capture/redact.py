"""Keep secrets out of the trace: cookies, credentials and tokens in HTTP heads.

Through JupyterHub, Binder or jupyter-server-proxy, the browser's login cookies
(``jupyterhub-user-<name>``, ``_xsrf``, Jupyter's ``username-…``) ride along on
the chat page's handshake. A trace that holds them hands a working session to
whoever reads the saved file. So the tap records, decodes and shows the bytes
of each HTTP head with the *values* of these fields replaced, while the relay
still forwards the real bytes:

* ``Cookie``: each cookie's value (names kept);
* ``Set-Cookie``: the cookie's value (name and attributes kept);
* ``Authorization``, ``Proxy-Authorization``: the credentials (scheme kept);
* ``X-XSRFToken``, ``X-CSRFToken``, ``X-CSRF-Token``, ``X-Auth-Token``, ``X-API-Key``: the whole value;
* query parameters of the request target such as ``token``, ``_xsrf``, ``access_token``.

The replacement keeps the length: each secret byte becomes ``*`` on the wire
copy, so stream offsets, pcap sequence numbers and frame positions stay true.
Decoded views (:func:`mark`) show a run of them as ``<redacted: N bytes>``.

:class:`HeadRedactor` is sans-I/O: bytes in, the same number of bytes out, in any
chunking, one instance per direction of a connection.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from ..protocol import Handshake

#: Headers whose value is credentials, and how much of it is hidden.
SENSITIVE_HEADERS: dict[str, Literal["cookie", "set-cookie", "credentials", "all"]] = {
    "cookie": "cookie",
    "set-cookie": "set-cookie",
    "authorization": "credentials",
    "proxy-authorization": "credentials",
    "x-xsrftoken": "all",
    "x-csrftoken": "all",
    "x-csrf-token": "all",
    "x-auth-token": "all",
    "x-api-key": "all",
}
#: Query parameters of a request target whose value is hidden (compared case-insensitively).
SENSITIVE_QUERY = frozenset({
    "token", "access_token", "id_token", "auth", "auth_token", "_xsrf", "xsrf", "password", "passwd",
    "api_key", "apikey", "secret", "session", "sessionid", "jwt", "ticket",
})
#: Authorization schemes (RFC 9110 §11.4) kept in the clear, followed by one space.
SCHEMES = ("basic ", "bearer ", "digest ", "negotiate ", "ntlm ", "token ", "hoba ", "mutual ", "aws4-hmac-sha256 ")

STAR = ord("*")
#: Bytes of heads (and bodies between them) a direction may carry before the redactor stops reading.
MAX_HEADS = 256 * 1024
#: A longer header name or request target is not one we redact in.
MAX_LINE = 16 * 1024
_CR, _LF, _SP, _HT = 13, 10, 32, 9
_RUN = re.compile(r"\*+")
_SWITCHING = re.compile(rb"HTTP/\d(?:\.\d)? 101\b")


class HeadRedactor:
    """Redacts secrets in the HTTP heads of one direction of a connection.

    ``feed(data)`` returns ``data`` with secret bytes replaced by ``*``; same
    length, whatever the chunking. Once a WebSocket upgrade request (client) or
    a ``101`` (server) head has ended, the rest of the stream is frames and
    passes unchanged. :attr:`redacted` counts the bytes hidden so far.
    """

    def __init__(self, sender: str = "client") -> None:
        self.sender = sender
        self.done = False
        self.redacted = 0
        self._seen = 0
        self._line_no = 0       # line number within the current head
        self._line = bytearray()  # the current line so far (as read, unredacted), up to its value
        self._mode = "name"     # where we are in the current line
        self._rule: str | None = None
        self._scheme: bytes | None = b""  # an Authorization value's leading bytes while they may be a scheme
        self._upgrade = False   # this head asks for (client) or grants (server) the upgrade
        self._prev = 0          # the previous byte (for the blank line that ends a head)

    def feed(self, data: bytes) -> bytes:
        if self.done or not data:
            return data
        self._seen += len(data)
        out = None
        i, n = 0, len(data)
        while i < n and not self.done:
            if self._mode == "other" and self._line_no > 0:  # a value we don't hide: skip to its line's end
                j = data.find(b"\n", i)
                if j < 0:
                    self._prev = data[-1]
                    break
                i = max(i, j - 1)
            if self._hide(data[i]):
                if out is None:
                    out = bytearray(data)
                out[i] = STAR
                self.redacted += 1
            i += 1
        if self._seen > MAX_HEADS:
            self.done = True  # not HTTP (or a flood): what follows is not a head we can read
        return data if out is None else bytes(out)

    # One byte at a time: True when this byte is secret.
    def _hide(self, byte: int) -> bool:
        prev, self._prev = self._prev, byte
        if byte == _LF:
            self._end_line(blank=prev == _CR and self._mode == "name" and not self._line)
            return False
        if byte == _CR:
            return False
        if self._line_no == 0:
            return self._start_line(byte)
        mode = self._mode
        if mode == "name":
            if len(self._line) > MAX_LINE:
                self._mode = "other"
                return False
            if byte == ord(":"):
                name = self._line.decode("latin-1").strip().lower()
                self._rule = SENSITIVE_HEADERS.get(name)
                self._mode = "ows" if self._rule else "other"
                if name == "upgrade" and self.sender == "client":
                    self._mode = "watch"
            self._line.append(byte)
            return False
        if mode == "watch":  # the request's Upgrade value: does it ask for websocket?
            self._line.append(byte)
            return False
        if mode == "other":
            return False
        if mode == "ows":
            if byte in (_SP, _HT):
                return False
            self._mode = "value"
        return self._secret(byte)

    def _secret(self, byte: int) -> bool:
        rule = self._rule
        if rule == "all":
            return True
        if rule == "credentials":  # keep a known scheme (RFC 9110 §11.4), hide the credentials
            if self._scheme is not None:
                self._scheme += bytes([byte])
                lower = self._scheme.lower()
                if any(s.encode().startswith(lower) for s in SCHEMES):
                    if lower.decode("latin-1") in SCHEMES:
                        self._scheme = None  # the scheme and its space are out: the rest is secret
                    return False
                self._scheme = None
            return True
        # cookie: "name=value; name2=value2" (RFC 6265 §4.2.1); set-cookie: "name=value; Attr=…" (§4.1.1)
        if self._mode == "value":
            if byte == ord("="):
                self._mode = "cookie-value"
            return False
        if self._mode == "cookie-value":
            if byte == ord(";"):
                self._mode = "value" if rule == "cookie" else "attributes"
                return False
            return True
        return False  # set-cookie attributes

    def _start_line(self, byte: int) -> bool:
        # Request target's query (RFC 9112 §3.2): "?a=1&token=…&b" — hide the values of SENSITIVE_QUERY.
        line = self._line
        mode = self._mode
        if mode == "name":  # before the query
            if len(line) > MAX_LINE:
                self._mode = "after-target"
                return False
            line.append(byte)
            if byte == ord("?") and not line.startswith(b"HTTP/"):
                self._mode, self._line = "param", bytearray()
            return False
        if byte == _SP:  # end of the target
            self._mode = "after-target"
            return False
        if mode == "after-target":
            return False
        if byte in (ord("&"), ord(";"), ord("#")):
            self._mode, self._line = ("param", bytearray()) if byte != ord("#") else ("after-target", line)
            return False
        if mode == "param":
            if byte == ord("="):
                name = self._line.decode("latin-1").lower()
                self._mode = "param-secret" if name in SENSITIVE_QUERY else "param-value"
            else:
                self._line.append(byte)
            return False
        return mode == "param-secret"

    def _end_line(self, *, blank: bool) -> None:
        if self._line_no == 0 and self.sender == "server":
            self._upgrade = _SWITCHING.match(self._line) is not None
        elif self._mode == "watch" and b"websocket" in self._line.lower():
            self._upgrade = True
        if blank and self._line_no > 0:
            # The head is over. After an upgrade request or a 101 come frames (RFC 6455 §4.1, §4.2.2);
            # after anything else another head may follow (keep-alive, 1xx).
            if self._upgrade:
                self.done = True
            self._line_no, self._upgrade = 0, False
        else:
            self._line_no += 1
        self._line, self._mode, self._rule, self._scheme = bytearray(), "name", None, b""


def mark(text: str) -> str:
    """Show each run of ``*`` left by the redactor as ``<redacted: N bytes>``."""
    return _RUN.sub(lambda m: f"<redacted: {len(m.group())} bytes>", text)


def mark_handshake(handshake: Handshake) -> Handshake:
    """``handshake`` decoded from redacted bytes, with its hidden values shown as ``<redacted: N bytes>``.

    ``raw`` keeps the wire copy (``*`` for each hidden byte), so offsets and lengths stay true.
    """
    hidden = set(SENSITIVE_HEADERS)
    headers = tuple((name, mark(value) if name.lower() in hidden else value) for name, value in handshake.headers)
    path = handshake.path and mark(handshake.path)
    return dataclasses.replace(handshake, headers=headers, path=path, start_line=mark(handshake.start_line))
