"""The connector's TLS settings toward one Sage 100 agent.

Only the CA configured for that agent is trusted (never the system store): a certificate
from any other CA, a wrong host name or an expired certificate fails the handshake. The
client certificate, when given, is presented on every connection for mTLS.

The client's private key comes from the vault as PEM text, never from a plain file. Python's
``ssl`` module loads keys only from a path (``SSLContext.load_cert_chain``), so the key is
re-encrypted in memory as PKCS#8 under a random one-time password and handed to OpenSSL
through an anonymous in-memory file (``memfd_create`` on Linux) or, where that does not exist,
a 0600 temporary file removed as soon as it is loaded. Either way the bytes outside the
process are ciphertext whose password lived only in this function.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ml_connector.sage100.agent_client.errors import Sage100AuthError

#: ``check`` and the status page warn this long before a certificate in use expires.
EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class CertificateInUse:
    """A certificate the connector relies on, for expiry warnings."""

    what: str  # "CA", "client certificate", "agent certificate"
    where: str  # a path, or "the agent at URL"
    subject: str
    not_after: datetime

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days

    def expired(self, now: datetime) -> bool:
        return self.not_after <= now

    def warning(self, now: datetime) -> str | None:
        """None while more than 30 days are left; else what to do, naming file and date."""
        if self.expired(now):
            return f"{self.what} {self.where} expired on {self.not_after:%Y-%m-%d}: {RENEW_HINT}"
        if self.not_after - now > EXPIRY_WARNING:
            return None
        return (
            f"{self.what} {self.where} expires on {self.not_after:%Y-%m-%d} "
            f"({self.days_left(now)} days): {RENEW_HINT}"
        )


RENEW_HINT = "run `ml-connector-agent renew-certs` on the agent host and install the new files"


def inspect_certificate(path: Path, what: str) -> CertificateInUse:
    """A PEM certificate's subject and expiry, expired or not (the status views show both)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise Sage100AuthError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise Sage100AuthError(f"{what} {path} is not a PEM certificate") from exc
    return CertificateInUse(
        what, str(path), cert.subject.rfc4514_string(), cert.not_valid_after_utc
    )


def read_certificate(path: Path, what: str, *, now: datetime | None = None) -> CertificateInUse:
    """Load a PEM certificate; refuse one that has expired, naming the file and the date."""
    in_use = inspect_certificate(path, what)
    if in_use.expired(now or datetime.now(UTC)):
        raise Sage100AuthError(
            f"{what} {path} expired on {in_use.not_after:%Y-%m-%d}: {RENEW_HINT}"
        )
    return in_use


def _private_key(pem: str, secret_name: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError as exc:  # encrypted PEM and no password
        raise Sage100AuthError(
            f"secret {secret_name} holds an encrypted private key: store the key itself "
            "(the vault encrypts it)"
        ) from exc
    except (ValueError, UnicodeError) as exc:
        # never echo the value: it is (or is meant to be) a private key
        raise Sage100AuthError(f"secret {secret_name} is not a PEM private key") from exc


@contextlib.contextmanager
def _one_time_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from, gone when the block ends."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("ml-connector-client-key", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, name = tempfile.mkstemp(prefix="mlc-key-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def load_client_key(
    ctx: ssl.SSLContext, cert_file: Path, key_pem: str, *, secret_name: str
) -> None:
    """Load the client certificate (a file) and its private key (PEM text) into ``ctx``."""
    key = _private_key(key_pem, secret_name)
    password = secrets.token_bytes(32)
    sealed = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with _one_time_file(sealed) as path:
        try:
            ctx.load_cert_chain(str(cert_file), path, password=password)
        except ssl.SSLError as exc:
            raise Sage100AuthError(
                f"the private key in secret {secret_name} does not belong to the client "
                f"certificate {cert_file}"
            ) from exc
        except OSError as exc:
            raise Sage100AuthError(
                f"client certificate {cert_file} cannot be read: {exc.strerror or exc}"
            ) from exc


def client_ssl_context(
    ca_file: Path,
    client_cert: Path | None = None,
    client_key_pem: str | None = None,
    *,
    secret_name: str = "the client key",
) -> ssl.SSLContext:
    """Trust ``ca_file`` only; with a client certificate and key, present them (mTLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise Sage100AuthError(f"cannot load the agent's CA {ca_file}: {exc}") from exc
    if (client_cert is None) != (client_key_pem is None):
        raise Sage100AuthError("mTLS needs both the client certificate and its private key")
    if client_cert is not None and client_key_pem is not None:
        load_client_key(ctx, client_cert, client_key_pem, secret_name=secret_name)
    return ctx


def describe_peer(der: bytes) -> tuple[str, datetime]:
    """Subject (RFC 4514) and expiry of the agent's certificate, for ``check``."""
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.not_valid_after_utc.astimezone(UTC)
