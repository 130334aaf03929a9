"""mTLS and API keys, through the real client against a real agent on loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from yarl import URL

from ml_connector.errors import CredentialsError
from ml_connector.sage100.agent_client.client import RetryPolicy, Sage100AuthError, Sage100Client
from ml_connector.sage100.agent_client.tls import client_ssl_context
from ml_connector_agent.auth import append_key, new_key, revoke_key
from ml_connector_agent.certs import init_certs, issue, load_ca, make_ca, write_pem
from ml_connector_agent.config import load_config
from ml_connector_agent.errors import ConfigError
from ml_connector_agent.server import build_ssl, start_agent
from ml_connector_agent.testing import RunningAgent

from .agents import client_for

NO_RETRY = RetryPolicy(attempts=1)


async def test_right_client_certificate_gets_data(agent: RunningAgent) -> None:
    async with client_for(agent) as client:
        page = await client.page("ABC", "ap-invoices", limit=5)
        health = await client.health()
    assert len(page.records) == 5
    assert health.companies == ["ABC"]
    assert health.backend == "demo"
    assert health.peer_subject is not None and "Sage 100 agent" in health.peer_subject
    assert health.peer_not_after is not None and health.peer_not_after > datetime.now(UTC)


async def test_without_client_certificate_the_handshake_fails(agent: RunningAgent) -> None:
    async with client_for(agent, client_cert=None, client_key=None, retry=NO_RETRY) as client:
        with pytest.raises(Sage100AuthError, match="TLS handshake"):
            await client.page("ABC", "ap-invoices")


async def test_certificate_from_another_ca_fails(agent: RunningAgent, tmp_path: Path) -> None:
    other = init_certs(tmp_path / "other")
    async with client_for(
        agent, client_cert=other.client_cert, client_key=other.client_key, retry=NO_RETRY
    ) as client:
        with pytest.raises(Sage100AuthError, match="TLS handshake"):
            await client.page("ABC", "ap-invoices")


async def test_expired_client_certificate_fails(agent: RunningAgent, tmp_path: Path) -> None:
    ca = load_ca(agent.certs.ca_cert, agent.certs.ca_key, agent.passphrase)
    start = datetime.now(UTC) - timedelta(days=30)
    expired = issue(
        ca, "old connector", server=False, not_before=start, not_after=start + timedelta(days=1)
    )
    write_pem(expired, tmp_path / "old.pem", tmp_path / "old.key")
    async with client_for(
        agent, client_cert=tmp_path / "old.pem", client_key=tmp_path / "old.key", retry=NO_RETRY
    ) as client:
        with pytest.raises(Sage100AuthError, match="TLS handshake"):
            await client.page("ABC", "ap-invoices")


async def test_agent_certificate_from_an_untrusted_ca_is_refused(
    agent: RunningAgent, tmp_path: Path
) -> None:
    stranger = make_ca("someone else")
    write_pem(stranger, tmp_path / "ca.pem", tmp_path / "ca.key")
    async with client_for(agent, ca_file=tmp_path / "ca.pem", retry=NO_RETRY) as client:
        with pytest.raises(Sage100AuthError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.page("ABC", "ap-invoices")


async def test_api_key_wrong_revoked_and_rotated(key_agent: RunningAgent) -> None:
    old_key = key_agent.api_key
    assert old_key is not None
    async with client_for(key_agent, client_cert=None, client_key=None) as client:
        assert (await client.page("ABC", "gl-accounts", limit=1)).records

    async with client_for(
        key_agent, client_cert=None, client_key=None, api_key="s100_wrong"
    ) as bad:
        with pytest.raises(Sage100AuthError, match="401") as caught:
            await bad.page("ABC", "gl-accounts")
    assert isinstance(caught.value, CredentialsError)
    assert "s100_wrong" not in str(caught.value)

    rotated = new_key()
    append_key(key_agent.config_path, rotated.entry)
    old_id = load_config(key_agent.config_path).api_keys[0].id
    revoke_key(key_agent.config_path, old_id)
    await asyncio.sleep(1.1)  # the running agent re-reads its key ring at most once a second
    async with client_for(key_agent, client_cert=None, client_key=None, api_key=rotated.key) as new:
        assert (await new.page("ABC", "gl-accounts", limit=1)).records
    async with client_for(key_agent, client_cert=None, client_key=None, api_key=old_key) as revoked:
        with pytest.raises(Sage100AuthError, match="401"):
            await revoked.page("ABC", "gl-accounts")


async def test_missing_bearer_is_401_with_challenge(key_agent: RunningAgent) -> None:
    async with client_for(key_agent, client_cert=None, client_key=None, api_key=None) as client:
        with pytest.raises(Sage100AuthError) as caught:
            await client.health()
    assert caught.value.http_status == 401
    assert caught.value.code == "unauthorized"


async def test_key_with_bytes_that_are_not_utf8_is_401(key_agent: RunningAgent) -> None:
    """aiohttp decodes such a header with surrogates; the key check must refuse, not crash."""
    url = URL(key_agent.url)
    context = client_ssl_context(key_agent.ca_file, None, None)
    reader, writer = await asyncio.open_connection(url.host, url.port, ssl=context)
    try:
        writer.write(
            b"GET /v1/health HTTP/1.1\r\nHost: agent\r\n"
            b"Authorization: Bearer s100_\xff\xfe\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"401"


async def test_plain_http_is_refused_without_insecure_dev(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'companies = ["ABC"]\n[server]\nhost = "127.0.0.1"\n[auth]\nmode = "api_key"\n'
    )
    append_key(config, new_key().entry)
    with pytest.raises(ConfigError) as caught:
        build_ssl(load_config(config), insecure_dev=False)
    assert any("HTTPS only" in p for p in caught.value.problems)
    assert build_ssl(load_config(config), insecure_dev=True) is None


async def test_insecure_dev_only_on_loopback(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABC"]\n[server]\nhost = "0.0.0.0"\n')
    append_key(config, new_key().entry)
    with pytest.raises(ConfigError, match="loopback"):
        build_ssl(load_config(config), insecure_dev=True)


async def test_insecure_dev_serves_plain_http_but_still_wants_a_key(tmp_path: Path) -> None:
    config_path = tmp_path / "agent.toml"
    config_path.write_text(
        'companies = ["ABC"]\n[server]\nhost = "127.0.0.1"\nport = 0\n'
        '[backend.demo]\ndata_dir = "data"\n'
    )
    made = new_key()
    append_key(config_path, made.entry)
    config = load_config(config_path)
    server, backend = await start_agent(config, config_path=config_path, insecure_dev=True)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        async with Sage100Client(server.url, api_key=made.key) as client:
            assert (await client.health()).auth == "api_key"
        async with Sage100Client(server.url, retry=NO_RETRY) as anonymous:
            with pytest.raises(Sage100AuthError):
                await anonymous.health()
    finally:
        await server.stop()
        await backend.close()


def test_keys_are_stored_only_as_hashes(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABC"]\n')
    made = new_key()
    append_key(config, made.entry)
    text = config.read_text()
    assert made.key not in text
    assert made.entry.hash in text
    assert made.key not in repr(made)


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABCD"]\n[auth]\nmode = "password"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = "\n".join(caught.value.problems)
    assert "agent.toml: companies" in text
    assert "auth.mode" in text


async def test_failed_keys_are_logged_and_slowed_per_peer(
    key_agent: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    import aiohttp

    from ml_connector_agent.auth import FailureThrottle

    url = f"{key_agent.url}/v1/health"
    context = client_ssl_context(key_agent.ca_file, None, None)
    wrong = "s100_" + "W" * 43
    statuses: list[int] = []
    caplog.set_level("WARNING", logger="ml_connector_agent.app")
    async with aiohttp.ClientSession() as session:
        for _ in range(FailureThrottle().limit + 2):
            async with session.get(
                url, ssl=context, headers={"Authorization": f"Bearer {wrong}"}
            ) as resp:
                statuses.append(resp.status)
                body = await resp.json()
                retry_after = resp.headers.get("Retry-After")
        # Even the right key waits out the lockout: guessing gains nothing from it.
        async with session.get(
            url, ssl=context, headers={"Authorization": f"Bearer {key_agent.api_key}"}
        ) as resp:
            assert resp.status == 429
    limit = FailureThrottle().limit
    assert statuses == [401] * limit + [429, 429]
    assert body["error"] == "too_many_failed_authentications"
    assert retry_after is not None and 1 <= int(retry_after) <= 60
    failures = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(failures) == limit
    assert "127.0.0.1" in failures[0] and "s100_WWW…" in failures[0]
    assert all(wrong not in line for line in failures)


def test_the_throttle_forgets_after_its_window() -> None:
    from ml_connector_agent.auth import FailureThrottle

    now = [0.0]
    throttle = FailureThrottle(limit=3, window=10, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("p") is None
        throttle.failed("p")
    assert throttle.retry_after("p") == 10
    assert throttle.retry_after("q") is None
    now[0] = 10.5
    assert throttle.retry_after("p") is None
    throttle.failed("p")
    throttle.succeeded("p")
    assert throttle.retry_after("p") is None
