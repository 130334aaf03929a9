"""A private CA, the agent's server certificate and the connector's client certificate.

For customers without a PKI of their own: ``agent init-certs`` makes all three with
``cryptography``. The CA signs both leaves, the agent trusts client certificates from that
CA only, and the connector trusts that CA only for this agent (never the system store).
Keys are ECDSA P-256, written with mode 0600 and, given a passphrase, encrypted as PKCS#8
(``BestAvailableEncryption``: AES-256-CBC with a scrypt/PBKDF2-derived key). The agent refuses
a key file that others can read, and an expired certificate, naming the file and the date.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ml_connector_agent.errors import ConfigError

PrivateKey = ec.EllipticCurvePrivateKey

#: The common name of the connector's client certificate (``init``, ``renew-certs``).
CLIENT_NAME = "ml-connector"


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
    #: What was found and fixed on the way (a replaced key file that others could read).
    notes: tuple[str, ...] = ()


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
        # A server certificate without a SAN fails every client's host name check, and
        # cryptography >= 51 refuses to build an empty SubjectAlternativeName: loopback by default.
        names: list[x509.GeneralName] = []
        for host in hostnames or default_hostnames():
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


def write_private(path: Path, data: bytes) -> str | None:
    """Write ``data`` readable by the owner only (0600 from the first byte on POSIX).

    An existing file is removed first, never rewritten in place: ``O_CREAT`` keeps an
    existing file's mode, so a key written over a 0644 file would be readable by everyone
    until a later chmod. Returns a note saying so when the file it replaced was open to
    others, for the command to print.
    """
    note = None
    try:
        old_mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        old_mode = None
    if old_mode is not None:
        if os.name == "posix" and old_mode & 0o077:
            note = (
                f"{path} was readable by other users (mode {old_mode:o}); the new key in it "
                "is readable by its owner only (600)"
            )
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if os.name == "posix":
        os.chmod(path, 0o600)  # whatever the umask took away, exactly 0600
    return note


def write_pem(
    issued: Issued, cert_path: Path, key_path: Path, *, passphrase: bytes | None = None
) -> str | None:
    """The certificate and its key (0600); returns :func:`write_private`'s note."""
    cert_path.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    data = issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return write_private(key_path, data)


def check_key_file(path: Path) -> None:
    """Refuse a private key file that anyone but its owner can read (POSIX mode bits).

    On Windows the mode bits say nothing about the ACL; ``agent init`` restricts the folder
    with icacls instead (docs/agent-windows.md).
    """
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"private key {path} cannot be read: {exc.strerror or exc}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"private key {path} can be read by other users (mode {mode & 0o777:o}): "
            f"run `chmod 600 {path}`"
        )


def certificate_subject(der: bytes) -> str | None:
    """The RFC 4514 subject of a DER certificate (as a peer presents it), None if unreadable."""
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


def client_subject(name: str = CLIENT_NAME) -> str:
    """The RFC 4514 subject ``issue`` gives a client certificate named ``name``."""
    return _name(name).rfc4514_string()


def shown_subject(subject: str | None) -> str:
    """A subject for a log line: the peer chose it, so no control characters, bounded."""
    if subject is None:
        return "(none)"
    return ascii(subject)[1:-1][:200]


def load_private_key(path: Path, passphrase: bytes | None) -> PrivateKey:
    check_key_file(path)
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:
        raise ConfigError(
            f"private key {path} is encrypted and no passphrase was given (set the "
            "environment variable named by tls.key_passphrase_env)"
            if passphrase is None
            else f"private key {path} is not encrypted but a passphrase was given"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"private key {path}: wrong passphrase or not a PEM key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path}: expected an EC private key")
    return key


def load_certificate(path: Path, what: str, *, now: datetime | None = None) -> x509.Certificate:
    """A PEM certificate; an expired one is refused naming the file and the date."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is not a PEM certificate") from exc
    if cert.not_valid_after_utc <= (now or datetime.now(UTC)):
        raise ConfigError(
            f"{what} {path} expired on {cert.not_valid_after_utc:%Y-%m-%d}: run "
            "`ml-connector-agent renew-certs`"
        )
    return cert


#: ``check`` warns this long before a certificate in use expires.
EXPIRY_WARNING = timedelta(days=30)


def expiry_warning(cert: x509.Certificate, path: Path, now: datetime | None = None) -> str | None:
    left = cert.not_valid_after_utc - (now or datetime.now(UTC))
    if left > EXPIRY_WARNING:
        return None
    return (
        f"certificate {path} expires on {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} "
        "days): run `ml-connector-agent renew-certs`"
    )


def init_certs(
    out: Path,
    *,
    hostnames: list[str] | None = None,
    passphrase: bytes | None = None,
    force: bool = False,
) -> CertPaths:
    """Write ca.pem/ca.key, agent.pem/agent.key and connector.pem/connector.key into ``out``.

    Refuses to replace any of them without ``force``: a new CA silently voids every
    certificate the old one signed (the connector's and the agent's), and renew-certs is
    the way to new certificates from the same CA.
    """
    paths = CertPaths(
        ca_cert=out / "ca.pem",
        ca_key=out / "ca.key",
        agent_cert=out / "agent.pem",
        agent_key=out / "agent.key",
        client_cert=out / "connector.pem",
        client_key=out / "connector.key",
    )
    existing = [
        p
        for p in (
            paths.ca_cert,
            paths.ca_key,
            paths.agent_cert,
            paths.agent_key,
            paths.client_cert,
            paths.client_key,
        )
        if p.exists()
    ]
    if existing and not force:
        names = ", ".join(p.name for p in existing)
        raise ConfigError(
            f"{out} already holds {names}: a new CA would make every certificate the old "
            "one signed (the connector's, the agent's) stop working. Use "
            "`ml-connector-agent renew-certs` for new certificates from the same CA, or "
            "--force to replace the CA and all of them"
        )
    out.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    notes = [write_pem(ca, paths.ca_cert, paths.ca_key, passphrase=passphrase)]
    agent = issue(
        ca, "ml-connector Sage 100 agent", server=True, hostnames=hostnames or default_hostnames()
    )
    notes.append(write_pem(agent, paths.agent_cert, paths.agent_key, passphrase=passphrase))
    client = issue(ca, CLIENT_NAME, server=False)
    # The connector's key is handed over once and moved into the connector's vault
    # (`ml-connector secrets set sage100.client_key < client.key`): it is not encrypted with
    # the agent's passphrase, which the connector host never learns.
    notes.append(write_pem(client, paths.client_cert, paths.client_key))
    return replace(paths, notes=tuple(n for n in notes if n))


def server_names(cert: x509.Certificate) -> list[str]:
    """The SANs of a server certificate, as ``issue`` takes them."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in sans if isinstance(n, x509.DNSName | x509.IPAddress)]


def load_ca(cert_path: Path, key_path: Path, passphrase: bytes | None = None) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return Issued(cert, load_private_key(key_path, passphrase))


AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


def server_ssl_context(
    cert: Path, key: Path, client_ca: Path | None, *, passphrase: bytes | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ with forward-secret AEAD suites only; with ``client_ca`` every connection
    must present a certificate it signed."""
    load_private_key(key, passphrase)  # refuses an open file, names a missing passphrase
    load_certificate(cert, "agent certificate")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites (1.3's are all AEAD already): ECDHE with AES-GCM or ChaCha20-Poly1305;
    # no CBC (with SHA-1 or SHA-256 MACs), no static RSA key exchange.
    ctx.set_ciphers(AEAD_CIPHERS)
    ctx.load_cert_chain(cert, key, password=passphrase)
    if client_ca is not None:
        load_certificate(client_ca, "client CA file")  # an expired CA is refused by name
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx
