"""TLS on both ends of the agent link: AEAD suites only, private keys kept private."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from yarl import URL

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


# -- real handshakes: what a client offering only old or CBC suites gets ------------------------

CBC_SUITES = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA"


def _client(agent: RunningAgent, *, ciphers: str, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers exactly ``version`` and ``ciphers`` (security level 0, so OpenSSL
    itself does not drop them on this side)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(agent.ca_file))
    ctx.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _permissive_server(agent: RunningAgent) -> ssl.SSLContext:
    """The agent's own certificate with everything allowed: the control that shows the client
    above really offers what it claims, so a refusal is the agent's doing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.load_cert_chain(agent.certs.agent_cert, agent.certs.agent_key, password=agent.passphrase)
    return ctx


async def _handshake(url: str, ctx: ssl.SSLContext) -> tuple[str, str]:
    """(protocol, cipher) of a completed handshake; ssl.SSLError if it is refused."""
    parsed = URL(url)
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(parsed.host, parsed.port, ssl=ctx), 10
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        cipher = ssl_object.cipher()
        return ssl_object.version(), cipher[0]
    finally:
        writer.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("ciphers", "version"),
    [
        pytest.param(CBC_SUITES, ssl.TLSVersion.TLSv1_2, id="cbc-suites-tls1.2"),
        pytest.param("ECDHE-ECDSA-AES128-SHA", ssl.TLSVersion.TLSv1_1, id="tls1.1"),
    ],
)
async def test_cbc_suites_and_tls_1_1_are_refused_in_the_handshake(
    key_agent: RunningAgent, ciphers: str, version: ssl.TLSVersion
) -> None:
    client = _client(key_agent, ciphers=ciphers, version=version)
    control = await asyncio.start_server(
        lambda r, w: w.close(), "127.0.0.1", 0, ssl=_permissive_server(key_agent)
    )
    port = control.sockets[0].getsockname()[1]
    try:
        try:
            accepted = await _handshake(f"https://127.0.0.1:{port}", client)
        except ssl.SSLError as exc:
            pytest.skip(f"this OpenSSL cannot offer {version.name} with {ciphers}: {exc}")
        assert accepted[0] == version.name.replace("_", ".")  # TLSv1_1 -> "TLSv1.1"
    finally:
        control.close()
        await control.wait_closed()
    # The agent ends the handshake: an alert (SSLError) or, for TLS 1.1, a reset.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await _handshake(key_agent.url, client)


async def test_a_modern_client_gets_an_aead_suite(key_agent: RunningAgent) -> None:
    protocol, cipher = await _handshake(
        key_agent.url,
        _client(key_agent, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", version=ssl.TLSVersion.TLSv1_2),
    )
    assert (protocol, cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
