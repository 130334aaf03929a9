"""TLS on both ends of the agent link: AEAD suites only, private keys kept private."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ml_connector.sage100.errors import Sage100AuthError
from ml_connector.sage100.tls import client_ssl_context
from ml_connector_agent.certs import server_ssl_context
from ml_connector_agent.testing import RunningAgent


def test_the_agent_offers_aead_suites_only(agent: RunningAgent) -> None:
    certs = agent.certs
    ctx = server_ssl_context(certs.agent_cert, certs.agent_key, certs.ca_cert)
    ciphers = ctx.get_ciphers()
    assert ciphers
    assert all(c["aead"] for c in ciphers), [c["name"] for c in ciphers if not c["aead"]]
    assert not any("CBC" in c["name"] or "CBC" in c["description"] for c in ciphers)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_the_connector_refuses_a_client_key_readable_by_others(
    agent: RunningAgent, tmp_path: Path
) -> None:
    key = tmp_path / "connector.key"
    key.write_bytes(agent.client_key.read_bytes())
    key.chmod(0o644)
    with pytest.raises(Sage100AuthError, match="readable by group or others .*chmod 600"):
        client_ssl_context(agent.ca_file, agent.client_cert, key)
    key.chmod(0o600)
    client_ssl_context(agent.ca_file, agent.client_cert, key)
