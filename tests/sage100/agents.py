"""Connector-side clients for a test agent (the agent package knows nothing of the connector).

The private key is read from the agent's folder here, in the test, and handed to the client as
PEM text, the way the connector gets it from the vault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_connector.sage100.agent_client.client import Sage100Client
from ml_connector.sage100.agent_client.tls import client_ssl_context
from ml_connector_agent.testing import RunningAgent

_AGENT = object()


def agent_ssl(
    agent: RunningAgent,
    *,
    ca_file: Path | None = None,
    client_cert: Path | object | None = _AGENT,
    client_key: Path | object | None = _AGENT,
) -> Any:
    cert = agent.client_cert if client_cert is _AGENT else client_cert
    key = agent.client_key if client_key is _AGENT else client_key
    assert cert is None or isinstance(cert, Path)
    assert key is None or isinstance(key, Path)
    return client_ssl_context(
        ca_file or agent.ca_file, cert, key.read_text() if key is not None else None
    )


def client_for(
    agent: RunningAgent,
    *,
    ca_file: Path | None = None,
    client_cert: Path | object | None = _AGENT,
    client_key: Path | object | None = _AGENT,
    api_key: str | object | None = _AGENT,
    **kwargs: Any,
) -> Sage100Client:
    """A client with this agent's CA, client certificate, key and API key, unless overridden."""
    ssl_context = agent_ssl(agent, ca_file=ca_file, client_cert=client_cert, client_key=client_key)
    key = agent.api_key if api_key is _AGENT else api_key
    assert key is None or isinstance(key, str)
    return Sage100Client(agent.url, ssl_context=ssl_context, api_key=key, **kwargs)
