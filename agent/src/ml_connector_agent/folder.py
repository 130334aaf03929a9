"""``ml-connector-agent init DIR`` and ``renew-certs``: a complete agent folder, and new leaves.

The folder::

    DIR/agent.toml            commented; every path relative to DIR, so DIR can move
    DIR/certs/ca.pem          the private CA (10 years)
    DIR/certs/ca.key          its key, PKCS#8 encrypted with the passphrase (keep it here or
                              offline; renew-certs needs it)
    DIR/certs/agent.pem/.key  the agent's server certificate (SANs from --host), key encrypted
    DIR/connector/            what to copy to the connector host, then delete here:
                              ca.pem, client.pem, client.key (0600)

The passphrase comes from the environment variable ``tls.key_passphrase_env`` names, or on
Windows from a file sealed with DPAPI for the service account (``--dpapi``). Private files are
0600 on POSIX; on Windows ``init`` prints the ``icacls`` line that does the same for DIR.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml_connector_agent.auth import append_key, new_key
from ml_connector_agent.certs import (
    CLIENT_NAME,
    CertPaths,
    client_subject,
    default_hostnames,
    init_certs,
    issue,
    load_ca,
    load_certificate,
    server_names,
    write_pem,
    write_private,
)
from ml_connector_agent.config import PASSPHRASE_ENV, load_config
from ml_connector_agent.errors import ConfigError
from ml_connector_agent.windows import Dpapi

Auth = str  # "mtls" | "api_key" | "mtls+api_key"

TEMPLATE = """# ml-connector Sage 100 agent, written by `ml-connector-agent init` on {made}.
# Paths are relative to this file's folder. Reference: docs/agent-windows.md.

# Sage 100 company codes the agent serves (three letters or digits each).
companies = [{companies}]

[server]
host = "{host}"          # 0.0.0.0: every interface; open the port in the firewall
port = {port}

[tls]
cert_file = "certs/agent.pem"
key_file = "certs/agent.key"        # PKCS#8, encrypted with the passphrase below
client_ca_file = "certs/ca.pem"     # client certificates must be signed by this CA (mtls)
# The passphrase of the keys: this environment variable ...
key_passphrase_env = "{passphrase_env}"
# ... or, on Windows, a DPAPI-sealed file readable only by the service account:
{dpapi_line}

[auth]
# "mtls" (client certificate), "api_key" (Authorization: Bearer) or "mtls+api_key" (both).
# The connector's `auth` must be the same.
mode = "{auth}"
# mtls: only client certificates with one of these subjects (RFC 4514) are accepted, even
# from the CA above; this one is the certificate `init` issued (renew-certs keeps it).
# Remove the line to accept any certificate the CA signed.
{subjects_line}

[locks]
# How long the agent itself waits out a Sage 100 record lock before answering 503.
attempts = 3
delay_seconds = 0.25
retry_after_seconds = 5

[backend]
kind = "{backend}"                  # "boi" (Business Object Interface), "odbc" or "demo"

[backend.demo]
data_dir = "demo-data"

[backend.odbc]
# edition = "providex"              # or "sqlserver" (Premium) with connection_string
# directory = 'C:\\Sage\\Sage 100\\MAS90'
# user = "connector"
# password_env = "SAGE100_PASSWORD"

[backend.boi]
# home = 'C:\\Sage\\Sage 100\\MAS90\\Home'
# user = "connector"
# password_env = "SAGE100_PASSWORD"

# API keys (hashes only) are appended below by `ml-connector-agent add-key`.
"""


@dataclass(frozen=True)
class AgentFolder:
    directory: Path
    config: Path
    certs: CertPaths
    api_key: str | None

    @property
    def handover(self) -> Path:
        return self.directory / "connector"


def _passphrase(passphrase: bytes | None, environ: dict[str, str] | None) -> bytes:
    if passphrase:
        return passphrase
    value = (os.environ if environ is None else environ).get(PASSPHRASE_ENV)
    if not value:
        raise ConfigError(
            f"set {PASSPHRASE_ENV} to the passphrase for the agent's private keys (or, on "
            "Windows, use --dpapi): the keys are never written unencrypted"
        )
    return value.encode("utf-8")


def init_folder(
    directory: Path,
    *,
    hosts: list[str] | None = None,
    companies: list[str] | None = None,
    auth: Auth = "mtls+api_key",
    backend: str = "boi",
    host: str = "0.0.0.0",
    port: int = 8443,
    passphrase: bytes | None = None,
    environ: dict[str, str] | None = None,
    dpapi: Dpapi | None = None,
    force: bool = False,
) -> AgentFolder:
    """Write a complete agent folder; refuses to overwrite an existing ``agent.toml``, and
    certificates left in ``certs/`` unless ``force`` (see :func:`init_certs`)."""
    config = directory / "agent.toml"
    if config.exists():
        raise ConfigError(f"{config} exists: this folder is already set up (see renew-certs)")
    dpapi_file = None
    if dpapi is not None:
        passphrase = passphrase or os.urandom(32).hex().encode()
        dpapi_file = Path("certs/passphrase.dpapi")
    secret = _passphrase(passphrase, environ)
    names = list(dict.fromkeys([*(hosts or []), *default_hostnames()]))
    directory.mkdir(parents=True, exist_ok=True)
    certs = init_certs(directory / "certs", hostnames=names, passphrase=secret, force=force)
    if dpapi is not None and dpapi_file is not None:
        write_private(directory / dpapi_file, dpapi.protect(secret))
    handover = directory / "connector"
    handover.mkdir(exist_ok=True)
    shutil.copyfile(certs.ca_cert, handover / "ca.pem")
    os.replace(certs.client_cert, handover / "client.pem")
    os.replace(certs.client_key, handover / "client.key")
    certs = CertPaths(
        certs.ca_cert,
        certs.ca_key,
        certs.agent_cert,
        certs.agent_key,
        handover / "client.pem",
        handover / "client.key",
        certs.notes,
    )
    # 0600 like the keys: it holds the API keys' hashes and names the key files.
    write_private(
        config,
        TEMPLATE.format(
            made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            companies=", ".join(f'"{c.upper()}"' for c in companies or ["ABC"]),
            host=host,
            port=port,
            passphrase_env=PASSPHRASE_ENV,
            dpapi_line=(
                f'key_passphrase_dpapi = "{dpapi_file.as_posix()}"'
                if dpapi_file
                else '# key_passphrase_dpapi = "certs/passphrase.dpapi"'
            ),
            auth=auth,
            subjects_line=(
                f"client_subjects = [{json.dumps(client_subject())}]"
                if auth in ("mtls", "mtls+api_key")
                else '# client_subjects = ["CN=ml-connector,O=ml-connector"]'
            ),
            backend=backend,
        ).encode("utf-8"),
    )
    api_key = None
    if auth in ("api_key", "mtls+api_key"):
        made = new_key()
        append_key(config, made.entry)
        api_key = made.key
    load_config(config)  # never leave a folder the agent could not read
    return AgentFolder(directory, config, certs, api_key)


def connector_lines(folder: AgentFolder, url: str, company: str, auth: Auth) -> list[str]:
    """The ``[connections.sage100]`` block to paste into the connector's config."""
    lines = [
        "[connections.sage100]",
        'type = "sage100"',
        f'agent_url = "{url}"',
        f'company = "{company}"',
        f'auth = "{auth}"',
        'ca_file = "sage100/ca.pem"',
    ]
    if auth in ("mtls", "mtls+api_key"):
        lines += ['cert_file = "sage100/client.pem"', 'client_key = "sage100.client_key"']
    if auth in ("api_key", "mtls+api_key"):
        lines.append('api_key = "sage100.api_key"')
    return lines


def renew_certs(
    config_path: Path, *, passphrase: bytes | None = None, environ: dict[str, str] | None = None
) -> CertPaths:
    """New agent and client certificates from the same CA, same names.

    The old client certificate stays valid until its own expiry (nothing is revoked), so the
    connector keeps working until its files are swapped; the agent serves the new server
    certificate from its next start, which the connector trusts through the same CA.
    """
    config = load_config(config_path)
    allowed = config.auth.client_subjects
    if allowed and client_subject() not in allowed:
        raise ConfigError(
            f"{config_path}: auth.client_subjects does not list {client_subject()}, the "
            "subject of the client certificate renew-certs issues: add it, or the agent would "
            "refuse the renewed certificate"
        )
    secret = _passphrase(passphrase, environ)
    tls = config.tls
    if tls.cert_file is None or tls.key_file is None or tls.client_ca_file is None:
        raise ConfigError(f"{config_path}: tls.cert_file, key_file and client_ca_file are needed")
    ca_cert = config.path(tls.client_ca_file)
    ca = load_ca(ca_cert, ca_cert.with_suffix(".key"), secret)
    load_certificate(ca_cert, "CA certificate")
    agent_cert = config.path(tls.cert_file)
    old = load_certificate(agent_cert, "agent certificate", now=datetime.min.replace(tzinfo=UTC))
    agent = issue(ca, "ml-connector Sage 100 agent", server=True, hostnames=server_names(old))
    notes = [write_pem(agent, agent_cert, config.path(tls.key_file), passphrase=secret)]
    handover = config.base_dir / "connector"
    handover.mkdir(exist_ok=True)
    client = issue(ca, CLIENT_NAME, server=False)
    notes.append(write_pem(client, handover / "client.pem", handover / "client.key"))
    shutil.copyfile(ca_cert, handover / "ca.pem")
    return CertPaths(
        ca_cert,
        ca_cert.with_suffix(".key"),
        agent_cert,
        config.path(tls.key_file),
        handover / "client.pem",
        handover / "client.key",
        tuple(n for n in notes if n),
    )
