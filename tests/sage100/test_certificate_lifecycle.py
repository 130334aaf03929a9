"""Certificate lifecycle on the connector side: ``check``, the status page, ``/mlc status``,
``ml-connector status`` and the dashboard warn 30 days before the CA, the client certificate or
the agent's certificate (as the agent presents it in the handshake) expires; an expired one is
refused naming the file (or the agent) and the date. Short-lived certificates are made with
``cryptography``, nobody waits."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import Config, Sage100Connection, parse_config
from ml_connector.pipeline import RunContext
from ml_connector.runtime.check import check_sage100
from ml_connector.sage100.agent_client.client import Sage100Client
from ml_connector.sage100.agent_client.credentials import agent_credentials
from ml_connector.sage100.agent_client.errors import Sage100AuthError
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.sim.slack import SlackSimulator
from ml_connector.status import gather_status
from ml_connector.vault import Vault
from ml_connector.web.dashboard.data import gather_dashboard
from ml_connector.web.replies import status_message
from ml_connector.web.status import templates
from ml_connector_agent.certs import Issued, issue, load_ca, write_pem
from ml_connector_agent.testing import RunningAgent, running_agent

from .pipeline.world import CLIENT_KEY, make_config, streams_config

DAY = timedelta(days=1)


def now() -> datetime:
    return datetime.now(UTC)


def short_ca(ca: Issued, days: int) -> x509.Certificate:
    """The same CA (same key and subject, so it still verifies its leaves), ending sooner."""
    start = now() - timedelta(days=max(1, -days + 1))
    return (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now() + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def the_ca(agent: RunningAgent) -> Issued:
    return load_ca(agent.certs.ca_cert, agent.certs.ca_key, agent.passphrase)


@asynccontextmanager
async def agent_with_certs(
    directory: Path, *, agent_days: int | None = None
) -> AsyncIterator[RunningAgent]:
    """A demo agent whose own certificate, if ``agent_days`` is given, ends that soon."""
    if agent_days is not None:
        async with running_agent(directory, seed=None) as first:  # makes the folder once
            ca = the_ca(first)
        soon = issue(
            ca, "agent", server=True, hostnames=["127.0.0.1", "localhost"], days=agent_days
        )
        write_pem(
            soon,
            first.certs.agent_cert,
            first.certs.agent_key,
            passphrase=first.passphrase,
        )
    async with running_agent(directory, seed=None) as agent:
        yield agent


def config_for(tmp_path: Path, agent: RunningAgent, slack: SlackSimulator, **files: Path) -> Config:
    base = make_config(tmp_path, agent, slack, streams_config(slack))
    data: dict[str, Any] = base.model_dump(mode="json", exclude={"source"})
    data["connections"]["erp"].update({k: str(v) for k, v in files.items()})
    return parse_config(data, tmp_path / "ml-connector.toml")


def connection(config: Config) -> Sage100Connection:
    found = config.connections["erp"]
    assert isinstance(found, Sage100Connection)
    return found


async def test_every_view_warns_30_days_before_each_certificate_expires(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with (
        agent_with_certs(tmp_path / "agent", agent_days=20) as agent,
        SlackSimulator(channels=["ap", "po", "gl", "approvals", "wh002"]) as slack,
    ):
        ca = the_ca(agent)
        ca_file = tmp_path / "ca-short.pem"
        ca_file.write_bytes(short_ca(ca, 25).public_bytes(serialization.Encoding.PEM))
        client = issue(ca, "ml-connector", server=False, days=10)
        client_cert, client_key = tmp_path / "client.pem", tmp_path / "client.key"
        write_pem(client, client_cert, client_key)
        config = config_for(tmp_path, agent, slack, ca_file=ca_file, cert_file=client_cert)
        vault = Vault.ephemeral(engine)
        await vault.set(CLIENT_KEY, client_key.read_text())

        # Nothing recorded yet: the views say the agent's certificate has not been seen.
        before = await gather_status(config, engine)
        assert [c.state(now()) for c in before.certificates] == [
            "expiring",
            "expiring",
            "not seen",
        ]

        [checked] = await check_sage100("erp", connection(config), config, vault, engine=engine)
        assert checked.ok and checked.warning, checked
        assert f"CA certificate {ca_file} expires on" in checked.hint
        assert f"client certificate {client_cert} expires on" in checked.hint
        assert f"agent certificate of {agent.url}" in checked.hint
        assert checked.hint.count("renew-certs") == 3

        status = await gather_status(config, engine)
        assert [(c.what, c.state(now())) for c in status.certificates] == [
            ("CA certificate", "expiring"),
            ("client certificate", "expiring"),
            ("agent certificate", "expiring"),
        ]
        agent_seen = status.certificates[2]
        assert agent_seen.certificate is not None and agent_seen.seen_at is not None
        assert 19 <= agent_seen.certificate.days_left(now()) <= 20
        warnings = status.certificate_warnings()
        assert len(warnings) == 3 and all(w.startswith("erp: ") for w in warnings)

        page = (
            templates()
            .get_template("status.html")
            .render(status=status, when=str, zone="UTC", cert_now=now())
        )
        assert "Sage 100 certificates" in page and page.count('class="cert-expiring"') == 3
        assert str(client_cert) in page

        reply = status_message(status, ZoneInfo("UTC"))
        text = str(reply)
        assert "Certificates" in text and text.count("renew-certs") == 3

        dashboard = await gather_dashboard(config, engine, status)
        [source] = dashboard.sources
        assert source.attention
        assert "client certificate expiring" in source.detail
        assert "agent certificate expiring" in source.detail


async def test_a_run_records_the_agent_certificate_for_the_status_views(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The CLI status runs in another process: what the pipeline saw is in the database."""
    async with (
        running_agent(tmp_path / "agent", seed=None) as agent,
        SlackSimulator(channels=["ap", "po", "gl", "approvals", "wh002"]) as slack,
    ):
        config = config_for(tmp_path, agent, slack)
        vault = Vault.ephemeral(engine)
        await vault.set(CLIENT_KEY, agent.client_key.read_text())
        pipeline = Sage100Pipeline("sage100", config)
        ctx = RunContext(engine, vault, config, "sage100", 1, "manual", stream="gl_accounts")
        try:
            outcome = await pipeline.run(ctx)
        finally:
            await pipeline.aclose()
        assert outcome.status == "succeeded", outcome.error
        status = await gather_status(config, engine)
        seen = status.certificates[-1]
        assert seen.what == "agent certificate" and seen.state(now()) == "ok"
        assert seen.certificate is not None and seen.certificate.days_left(now()) > 700
        assert seen.seen_at is not None and abs(seen.seen_at - clock.now()) < 60
        assert status.certificate_warnings() == []


async def test_expired_ca_or_client_certificate_is_refused_naming_file_and_date(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with (
        running_agent(tmp_path / "agent", seed=None) as agent,
        SlackSimulator(channels=["ap", "po", "gl", "approvals", "wh002"]) as slack,
    ):
        ca = the_ca(agent)
        vault = Vault.ephemeral(engine)
        start = now() - 10 * DAY
        gone = issue(ca, "ml-connector", server=False, not_before=start, not_after=start + DAY)
        cert, key = tmp_path / "old.pem", tmp_path / "old.key"
        write_pem(gone, cert, key)
        await vault.set(CLIENT_KEY, key.read_text())
        config = config_for(tmp_path, agent, slack, cert_file=cert)
        with pytest.raises(Sage100AuthError) as caught:
            await agent_credentials(connection(config), config, vault)
        day = f"{start + DAY:%Y-%m-%d}"
        assert f"client certificate {cert} expired on {day}" in str(caught.value)
        [checked] = await check_sage100("erp", connection(config), config, vault)
        assert not checked.ok and f"{cert} expired on {day}" in checked.detail

        old_ca = tmp_path / "old-ca.pem"
        old_ca.write_bytes(short_ca(ca, -2).public_bytes(serialization.Encoding.PEM))
        config = config_for(tmp_path, agent, slack, ca_file=old_ca)
        [checked] = await check_sage100("erp", connection(config), config, vault)
        expired_on = f"{now() - 2 * DAY:%Y-%m-%d}"
        assert not checked.ok and f"CA certificate {old_ca} expired on {expired_on}" in (
            checked.detail
        )
        status = await gather_status(config, engine)
        assert status.certificates[0].state(now()) == "expired"
        assert any("expired on" in w for w in status.certificate_warnings())


async def test_an_agent_serving_an_expired_certificate_is_refused_with_its_date(
    tmp_path: Path,
) -> None:
    """The agent refuses to start with one (its own test); an agent that kept running past
    the date is refused in the handshake, and the message gives the certificate's end date."""
    async with running_agent(tmp_path / "agent", seed=None) as agent:
        ca = the_ca(agent)
    start = now() - 30 * DAY
    gone = issue(
        ca,
        "agent",
        server=True,
        hostnames=["127.0.0.1"],
        not_before=start,
        not_after=start + 3 * DAY,
    )
    cert, key = tmp_path / "gone.pem", tmp_path / "gone.key"
    write_pem(gone, cert, key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.load_verify_locations(cafile=str(agent.ca_file))
        async with Sage100Client(f"https://127.0.0.1:{port}", ssl_context=client_ctx) as client:
            with pytest.raises(Sage100AuthError) as caught:
                await client.health()
    finally:
        server.close()
        await server.wait_closed()
    message = str(caught.value)
    assert f"expired on {start + 3 * DAY:%Y-%m-%d}" in message, message
    assert "agent's certificate" in message and "renew-certs" in message


def test_cli_status_lists_the_certificates_and_warns(tmp_path: Path) -> None:
    """``ml-connector status`` (its own process in real use) reads the same snapshot."""
    import logging

    import structlog
    from typer.testing import CliRunner

    from ml_connector.cli.init import example_config
    from ml_connector.cli.main import app
    from ml_connector_agent.certs import make_ca

    ca = make_ca(days=9)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    config = tmp_path / "ml-connector.toml"
    config.write_text(
        example_config().replace(
            '# ca_file = "sage100/ca.pem"', f'ca_file = "{ca_file.as_posix()}"', 1
        )
    )
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        runner = CliRunner()
        env = {"MLC_CONFIG": None, "MLC_MASTER_KEY": None, "COLUMNS": "250"}
        made = runner.invoke(app, ["init", "--dir", str(tmp_path)], env=env)
        assert made.exit_code == 0, made.stdout + made.stderr
        result = runner.invoke(app, ["status", "--config", str(config)], env=env)
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    out = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 0, out
    assert "Sage 100 certificates" in out
    assert "expiring" in out and f"expires on {ca.cert.not_valid_after_utc:%Y-%m-%d}" in out
    assert "not seen" in out  # the agent's own, until a check or a run records it
