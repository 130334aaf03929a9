"""The connector's TLS settings toward one Sage 100 agent.

Only the CA configured for that agent is trusted (never the system store): a certificate
from any other CA, a wrong host name or an expired certificate fails the handshake. The
client certificate, when given, is presented on every connection for mTLS.
"""

from __future__ import annotations

import ssl
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from ml_connector.sage100.errors import Sage100AuthError


def client_ssl_context(
    ca_file: Path, client_cert: Path | None = None, client_key: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_key is not None:
        refuse_open_key_file(client_key)
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
        if client_cert is not None:
            ctx.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise Sage100AuthError(
            f"cannot load the agent's CA or the client certificate: {exc}"
        ) from exc
    return ctx


def refuse_open_key_file(path: Path) -> None:
    """A private key readable by group or others is a key anyone on the machine may copy."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # the load below names the missing file
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Sage100AuthError(
            f"{path}: the client key is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )


def describe_peer(der: bytes) -> tuple[str, datetime]:
    """Subject (RFC 4514) and expiry of the agent's certificate, for ``check``."""
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.not_valid_after_utc.astimezone(UTC)
