"""``wss://`` for the lab: a certificate made at run time, and the encrypted leg recorded too.

A TLS lab is two taps in a row, composed rather than rewritten::

    client ==TLS==> front tap (records the encrypted bytes) ==TLS==> tap (terminates TLS,
    records the decrypted bytes, as mitmproxy does) --ws://--> server

The tap terminates TLS with ``asyncio.start_server(ssl=...)`` and so still sees
and decodes every frame; the front tap is a plain :class:`~wslab._runtime.tap.Tap`
with a recorder of its own, so its trace holds only TLS records -- what a
network observer or a proxy relaying ``CONNECT`` sees (RFC 6455 §1.5, §4.1).

One difference from ``ws://`` shows in traces: asyncio's TLS transports cannot half-close, so when
the server sends its FIN the tap closes the client's TLS connection (``close_notify``, then FIN)
rather than passing a half-close on; a client that had more to send after the server's FIN can't.

The certificate comes from ``trustme``: a throwaway CA made in memory for this
lab only, never installed anywhere. The lab's own clients trust it through
:attr:`Certificates.client`; other Python clients can use the same context.
"""

from __future__ import annotations

import asyncio
import ssl

from .faults import Faults
from .recorder import Recorder
from .tap import Limits, Tap


class Certificates:
    """A throwaway CA and a server certificate for ``host``, with the SSL contexts that use them.

    Attributes:
        server: the context the tap terminates TLS with (certificate and key).
        client: a client context that trusts the CA (and only it).
        fingerprint: the server certificate's SHA-256 fingerprint, hex.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        try:
            import trustme
        except ImportError:  # pragma: no cover - trustme is in the notebooks extra
            raise ImportError("Lab(tls=True) makes its certificate with trustme: pip install trustme") from None
        self.ca = trustme.CA(organization_name="wslab throwaway CA")
        self.cert = self.ca.issue_cert(host, "localhost")
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(self.server)
        self.client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(self.client)
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        leaf = x509.load_pem_x509_certificate(self.cert.cert_chain_pems[0].bytes())
        self.fingerprint = leaf.fingerprint(hashes.SHA256()).hex()

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM (for a client outside Python: ``curl --cacert``, Node's ``ca``)."""
        return bytes(self.ca.cert_pem.bytes())


class EncryptedLeg:
    """The front tap: a plain recording relay in front of the TLS-terminating tap.

    Its :attr:`recorder` holds the encrypted bytes only, on the same clock as the lab's.
    It injects no faults (faults act on the decrypted leg, where frames are).
    """

    def __init__(self, upstream: tuple[str, int], recorder: Recorder) -> None:
        self.recorder = recorder
        # TLS bytes never make an HTTP head: the front waits for none (the inner tap does, decrypted).
        self.tap = Tap(upstream, recorder, Faults(), redact=False, limits=Limits(handshake_timeout=None))

    async def start(self, host: str, port: int) -> int:
        return await self.tap.start(host, port)

    def inner_port(self, client_port: int) -> int | None:
        """The port the TLS-terminating tap sees for the client on ``client_port`` (None: not yet). On the loop."""
        found = self.tap.find(client_port=client_port)
        return found.upstream_port if found is not None else None

    async def wait_inner_port(self, client_port: int, timeout: float) -> int | None:
        """:meth:`inner_port`, waiting up to ``timeout`` s for the front to accept and connect onwards."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found = await self.tap.wait_for(client_port=client_port, timeout=timeout)
        while found is not None and found.upstream_port is None and not found.done.is_set():
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.005)  # open_connection to the inner tap is under way
        return found.upstream_port if found is not None else None

    async def stop(self) -> None:
        await self.tap.stop()


__all__ = ["Certificates", "EncryptedLeg"]
