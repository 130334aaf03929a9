"""A private CA, the agent's server certificate and the connector's client certificate.

For customers without a PKI of their own: ``agent init-certs`` makes all three with
``cryptography``. The CA signs both leaves, the agent trusts client certificates from that
CA only, and the connector trusts that CA only for this agent (never the system store).
Keys are ECDSA P-256 and written with mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    ca_key: Path
    agent_cert: Path
    agent_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ml-connector"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = "ml-connector Sage 100 agent CA", *, days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    common_name: str,
    *,
    server: bool,
    hostnames: list[str] | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 825,
) -> Issued:
    """A leaf for the agent (``server``, with SANs) or for the connector (client auth)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    end = not_after or start + timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server:
        names: list[x509.GeneralName] = []
        for host in hostnames or []:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def default_hostnames() -> list[str]:
    names = ["127.0.0.1", "localhost"]
    for host in (socket.gethostname(), socket.getfqdn()):
        if host and host not in names:
            names.append(host)
    return names


def write_pem(issued: Issued, cert_path: Path, key_path: Path) -> None:
    cert_path.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    data = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def init_certs(out: Path, *, hostnames: list[str] | None = None) -> CertPaths:
    """Write ca.pem/ca.key, agent.pem/agent.key and connector.pem/connector.key into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        ca_cert=out / "ca.pem",
        ca_key=out / "ca.key",
        agent_cert=out / "agent.pem",
        agent_key=out / "agent.key",
        client_cert=out / "connector.pem",
        client_key=out / "connector.key",
    )
    ca = make_ca()
    write_pem(ca, paths.ca_cert, paths.ca_key)
    agent = issue(
        ca, "ml-connector Sage 100 agent", server=True, hostnames=hostnames or default_hostnames()
    )
    write_pem(agent, paths.agent_cert, paths.agent_key)
    client = issue(ca, "ml-connector", server=False)
    write_pem(client, paths.client_cert, paths.client_key)
    return paths


def load_ca(cert_path: Path, key_path: Path) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: expected an EC private key")
    return Issued(cert, key)


AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """TLS 1.2+ with forward-secret AEAD suites only; with ``client_ca`` every connection
    must present a certificate it signed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites (1.3's are all AEAD already): ECDHE with AES-GCM or ChaCha20-Poly1305;
    # no CBC (with SHA-1 or SHA-256 MACs), no static RSA key exchange.
    ctx.set_ciphers(AEAD_CIPHERS)
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx
