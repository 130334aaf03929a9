"""TLS on both ends of the agent link: AEAD suites only, private keys kept private."""

from __future__ import annotations

import ssl

from ml_connector_agent.certs import server_ssl_context
from ml_connector_agent.testing import RunningAgent


def test_the_agent_offers_aead_suites_only(agent: RunningAgent) -> None:
    certs = agent.certs
    ctx = server_ssl_context(
        certs.agent_cert, certs.agent_key, certs.ca_cert, passphrase=agent.passphrase
    )
    ciphers = ctx.get_ciphers()
    assert ciphers
    assert all(c["aead"] for c in ciphers), [c["name"] for c in ciphers if not c["aead"]]
    assert not any("CBC" in c["name"] or "CBC" in c["description"] for c in ciphers)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
