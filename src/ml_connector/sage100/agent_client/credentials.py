"""The one place that turns a ``[connections.X]`` of type sage100 into a client for its agent.

``check``, ``run`` and ``serve`` all call :func:`agent_client`, so what ``check`` proves is what
the pipeline will send: the same TLS context (the agent's CA, the client certificate and the
vault-held private key) and the same ``Authorization`` header, chosen by ``auth`` alone:

=================  ==========================  ======================
``auth``           TLS client certificate      ``Authorization``
=================  ==========================  ======================
``mtls``           ``cert_file`` + vault key   none
``api_key``        none                        ``Bearer`` vault key
``mtls+api_key``   ``cert_file`` + vault key   ``Bearer`` vault key
=================  ==========================  ======================

The config cannot name a credential the mode does not send (config.py refuses it), so there is
no setting that ``check`` could use and ``run`` ignore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ml_connector.config import Config, Sage100Connection
from ml_connector.errors import SecretNotFoundError
from ml_connector.sage100.agent_client.client import Sage100Client
from ml_connector.sage100.agent_client.errors import Sage100AuthError
from ml_connector.sage100.agent_client.tls import (
    CertificateInUse,
    client_ssl_context,
    read_certificate,
)
from ml_connector.vault import Vault


def uses_client_cert(auth: str) -> bool:
    return auth in ("mtls", "mtls+api_key")


def uses_api_key(auth: str) -> bool:
    return auth in ("api_key", "mtls+api_key")


@dataclass(frozen=True)
class AgentCredentials:
    """What every request to one agent carries; the secrets are kept out of ``repr``."""

    options: dict[str, Any] = field(repr=False)
    certificates: tuple[CertificateInUse, ...]

    def warnings(self, now: datetime | None = None) -> list[str]:
        moment = now or datetime.now(UTC)
        return [w for c in self.certificates if (w := c.warning(moment)) is not None]


async def _secret(vault: Vault, name: str, what: str, stdin_hint: str = "") -> str:
    try:
        return await vault.get(name)
    except SecretNotFoundError as exc:
        raise Sage100AuthError(
            f"the {what} secret {name} is not stored: run `ml-connector secrets set {name}"
            f"{stdin_hint}`"
        ) from exc


async def agent_credentials(
    connection: Sage100Connection, config: Config, vault: Vault, *, now: datetime | None = None
) -> AgentCredentials:
    """TLS context and header for ``connection``; refuses expired certificates by name."""
    options: dict[str, Any] = {}
    certificates: list[CertificateInUse] = []
    if str(connection.agent_url).startswith("https://"):
        if connection.ca_file is None:
            raise Sage100AuthError(
                "ca_file is required for an https agent_url: the agent's CA (ca.pem from "
                "`ml-connector-agent init`) is the only certificate authority trusted"
            )
        ca_file = config.path(connection.ca_file)
        certificates.append(read_certificate(ca_file, "CA certificate", now=now))
        cert_file = key_pem = None
        if uses_client_cert(connection.auth):
            assert connection.cert_file is not None and connection.client_key is not None
            cert_file = config.path(connection.cert_file)
            certificates.append(read_certificate(cert_file, "client certificate", now=now))
            key_pem = await _secret(vault, connection.client_key, "client key", " < client.key")
        options["ssl_context"] = client_ssl_context(
            ca_file, cert_file, key_pem, secret_name=connection.client_key or ""
        )
    if uses_api_key(connection.auth):
        assert connection.api_key is not None
        options["api_key"] = await _secret(vault, connection.api_key, "API key")
    return AgentCredentials(options, tuple(certificates))


async def agent_client(
    connection: Sage100Connection, config: Config, vault: Vault, **kwargs: Any
) -> tuple[Sage100Client, AgentCredentials]:
    """A client for ``connection``'s agent; ``kwargs`` (retry, sleep …) pass through."""
    credentials = await agent_credentials(connection, config, vault)
    client = Sage100Client(
        str(connection.agent_url),
        timeout=connection.timeout,
        **credentials.options,
        **kwargs,
    )
    return client, credentials
