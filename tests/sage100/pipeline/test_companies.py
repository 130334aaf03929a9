"""Several Sage 100 companies through one agent: lists, "*", per-company channels, pauses, and
the upgrade from `company = "ABC"` that must repost nothing (issue #22)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import pipeline_companies
from ml_connector.config import Config, parse_config
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.errors import ConfigError
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.schedule.configured import configured_schedules
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.store import companies as stored
from ml_connector.store import migrate
from ml_connector.store.tables import cursors, outbox, runs
from ml_connector.vault import Vault
from ml_connector_agent.testing import RunningAgent, running_agent

from .world import CHANNELS, CLIENT_KEY, FAST_RETRY, INTERVAL, SEED, MovableClock, World
from .world import streams_config as base_streams

XYZ_AP = "wh002"  # XYZ's own AP channel in these tests


def company_config(
    tmp_path: Path,
    agent: RunningAgent,
    slack: SlackSimulator,
    *,
    connection_company: str | None,
    **pipeline: Any,
) -> Config:
    streams = base_streams(slack)
    streams.pop("purchase_orders")
    streams["ap_invoices"].pop("routes")
    connection: dict[str, Any] = {
        "type": "sage100",
        "agent_url": agent.url,
        "auth": "mtls",
        "ca_file": str(agent.ca_file),
        "cert_file": str(agent.client_cert),
        "client_key": CLIENT_KEY,
        "timeout": 5.0,
    }
    if connection_company:
        connection["company"] = connection_company
    data = {
        "timezone": "America/Chicago",
        "slack": {"workspaces": {"default": {"api_base_url": slack.base_url}}},
        "connections": {"erp": connection},
        "pipelines": {
            "sage100": {"type": "sage100", "connection": "erp", "streams": streams, **pipeline}
        },
    }
    path = tmp_path / "ml-connector.toml"
    path.write_text(json.dumps(data))
    return parse_config(data, path)


@pytest.fixture
async def two(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    """A world whose agent serves ABC and XYZ."""
    clock = MovableClock()
    async with (
        running_agent(
            tmp_path / "agent", mode="mtls", clock=clock, seed=SEED, companies=["ABC", "XYZ"]
        ) as agent,
        SlackSimulator(channels=CHANNELS, post_interval=INTERVAL, history_interval=0.2) as slack,
    ):
        gateway = ClientGateway(
            {"default": SlackClient(slack.bot_token, base_url=slack.base_url, timeout=2.0)}
        )
        world = World(
            tmp_path=tmp_path,
            engine=engine,
            agent=agent,
            slack=slack,
            clock=clock,
            config=company_config(tmp_path, agent, slack, connection_company="ABC"),
            vault=Vault.ephemeral(engine),
            gateway=gateway,
        )
        await world.vault.set(CLIENT_KEY, agent.client_key.read_text())
        try:
            yield world
        finally:
            for pipeline in world.pipelines:
                await pipeline.aclose()
            await gateway.aclose()
        assert not slack.refused, f"the Slack simulator refused: {dict(slack.refused)}"


def runner(world: World) -> PipelineRunner:
    pipeline = Sage100Pipeline("sage100", world.config, retry=FAST_RETRY)
    world.pipelines.append(pipeline)
    return PipelineRunner(
        world.engine, world.vault, world.config, {"sage100": pipeline}, owner="test"
    )


def per_company(world: World, **pipeline: Any) -> Config:
    return company_config(
        world.tmp_path,
        world.agent,
        world.slack,
        connection_company=None,
        company={"XYZ": {"streams": {"ap_invoices": {"channel": world.slack.channel_id(XYZ_AP)}}}},
        **pipeline,
    )


async def invoice(world: World, company: str, amount: str) -> str:
    return await world.agent.backend.add_ap_invoice(company=company, amount=Decimal(amount))


async def cursor_keys(world: World) -> set[tuple[str, str]]:
    async with world.engine.connect() as conn:
        rows = await conn.execute(sa.select(cursors.c.pipeline, cursors.c.stream))
        return {(r.pipeline, r.stream) for r in rows}


async def dedupe_keys(world: World) -> list[str]:
    async with world.engine.connect() as conn:
        return list(await conn.scalars(sa.select(outbox.c.dedupe_key).order_by(outbox.c.id)))


def footers(world: World, channel: str) -> list[str]:
    return [json.dumps(m.get("blocks")) for m in world.messages(channel)]


async def test_a_list_of_companies_posts_each_to_its_own_channel(two: World) -> None:
    two.config = per_company(two, companies=["ABC", "XYZ"])
    run = runner(two)
    await invoice(two, "ABC", "120.00")
    await invoice(two, "XYZ", "340.00")
    outcome = await run.run("sage100", "manual", stream="ap_invoices")
    assert outcome.status == "succeeded", outcome.error
    await two.deliver()
    [abc] = footers(two, "ap")
    [xyz] = footers(two, XYZ_AP)
    assert "company ABC" in abc and "120.00" in abc
    assert "company XYZ" in xyz and "340.00" in xyz
    # Each company has its own cursor, run and dedupe keys.
    assert {("sage100@ABC", "ap_invoices"), ("sage100@XYZ", "ap_invoices")} <= await cursor_keys(
        two
    )
    async with two.engine.connect() as conn:
        names = set(await conn.scalars(sa.select(runs.c.pipeline)))
    assert names == {"sage100@ABC.ap_invoices", "sage100@XYZ.ap_invoices"}
    keys = await dedupe_keys(two)
    assert [k.split(":")[1] for k in keys] == ["sage100@ABC", "sage100@XYZ"]
    # The schedules are per company and stream too.
    assert {s.name for s in configured_schedules(two.config)} == {
        f"sage100@{c}.{s}"
        for c in ("ABC", "XYZ")
        for s in ("ap_invoices", "gl_postings", "gl_accounts")
    }


async def test_star_polls_every_company_the_agent_serves(two: World) -> None:
    two.config = per_company(two, companies="*")
    assert configured_schedules(two.config) == []  # the agent's list is not known yet
    run = runner(two)
    assert [c.code for c in await run.companies("sage100")] == ["ABC", "XYZ"]
    await invoice(two, "XYZ", "77.00")
    outcome = await run.run("sage100", "manual", stream="ap_invoices")
    assert outcome.status == "succeeded", outcome.error
    await two.deliver()
    assert len(two.messages(XYZ_AP)) == 1 and two.messages("ap") == []
    served = {"sage100": run.directory.served_lists()["sage100"]}
    assert len(configured_schedules(two.config, served)) == 6


async def test_a_company_the_agent_does_not_serve_fails_alone(two: World) -> None:
    two.config = per_company(two, companies=["ABC", "QQQ"])
    run = runner(two)
    await invoice(two, "ABC", "10.00")
    outcome = await run.run("sage100", "manual", stream="ap_invoices")
    assert outcome.status == "partial"
    assert "QQQ" in (outcome.error or "")
    await two.deliver()
    assert len(two.messages("ap")) == 1


async def test_pause_keeps_the_cursor_and_resume_misses_and_reposts_nothing(two: World) -> None:
    two.config = per_company(two, companies=["ABC", "XYZ"])
    run = runner(two)
    assert (await run.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    async with two.engine.begin() as conn:
        await stored.pause(conn, "sage100", "XYZ", note="month end")
    before = await two.cursor_of("sage100@XYZ")
    two.clock.advance(minutes=5)
    await invoice(two, "ABC", "1.00")
    held = await invoice(two, "XYZ", "2.00")
    paused = await run.run("sage100", "manual", stream="ap_invoices")
    assert "paused, not polled: XYZ" in paused.summary
    one = await run.run_one(
        "sage100",
        "manual",
        stream="ap_invoices",
        company=(await run.companies("sage100", "XYZ"))[0],
    )
    assert one.status == "failed" and "companies resume sage100 XYZ" in (one.error or "")
    await two.deliver()
    assert len(two.messages("ap")) == 1 and two.messages(XYZ_AP) == []
    assert await two.cursor_of("sage100@XYZ") == before  # nothing read while paused
    # Long after the overlap window, XYZ resumes from its cursor: the invoice is still found.
    two.clock.advance(hours=3)
    async with two.engine.begin() as conn:
        assert await stored.resume(conn, "sage100", "XYZ") is not None
    assert (await run.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    assert (await run.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    await two.deliver()
    [posted] = two.messages(XYZ_AP)
    assert held in json.dumps(posted["blocks"])
    assert len(two.messages("ap")) == 1


def _drop_everything(connection: sa.Connection) -> None:
    meta = sa.MetaData()
    meta.reflect(connection)
    meta.drop_all(connection)
    connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


async def test_upgrading_from_one_company_reposts_nothing_and_keeps_its_keys(two: World) -> None:
    """An existing database — at the schema before companies (0004), written with
    `company = "ABC"` on the connection — is upgraded, and the config gains
    `companies = ["ABC", "XYZ"]`: ABC reads on from its cursor under the same names, so
    nothing is reposted and nothing missed."""
    async with two.engine.begin() as conn:
        await conn.run_sync(_drop_everything)
    assert await migrate(two.engine, target="0004")
    await two.vault.set(CLIENT_KEY, two.agent.client_key.read_text())
    first = await invoice(two, "ABC", "5.00")
    # What the pipeline wrote before it knew companies: its one company, its own name.
    [abc] = pipeline_companies(two.config, "sage100")
    assert abc.key == "sage100"
    old = Sage100Pipeline("sage100", two.config, retry=FAST_RETRY)
    two.pipelines.append(old)
    assert (await two.poll("ap_invoices", pipeline=old, company=abc)).status == "succeeded"
    await two.deliver()
    keys_before = await dedupe_keys(two)
    assert keys_before and all(k.startswith("sage100:sage100:ap_invoices:") for k in keys_before)
    assert await cursor_keys(two) == {("sage100", "ap_invoices")}
    cursor_before = await two.cursor_of("sage100")
    assert await migrate(two.engine)  # the upgrade: 0004 → head

    two.config = company_config(
        two.tmp_path,
        two.agent,
        two.slack,
        connection_company="ABC",
        companies=["ABC", "XYZ"],
        company={"XYZ": {"streams": {"ap_invoices": {"channel": two.slack.channel_id(XYZ_AP)}}}},
    )
    upgraded = runner(two)
    assert {s.name for s in configured_schedules(two.config)} >= {"sage100.ap_invoices"}
    # The same window again (within the overlap): the old record is not posted twice.
    assert (await upgraded.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    await two.deliver()
    assert await dedupe_keys(two) == keys_before
    assert await two.cursor_of("sage100") == cursor_before
    # New records of ABC continue under the old keys; XYZ starts its own.
    second = await invoice(two, "ABC", "6.00")
    await invoice(two, "XYZ", "7.00")
    two.clock.advance(minutes=1)
    assert (await upgraded.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    await two.deliver()
    ap = [json.dumps(m["blocks"]) for m in two.messages("ap")]
    assert len(ap) == 2 and first in ap[0] and second in ap[1]
    assert len(two.messages(XYZ_AP)) == 1
    new_keys = (await dedupe_keys(two))[len(keys_before) :]
    assert sorted(k.split(":")[1] for k in new_keys) == ["sage100", "sage100@XYZ"]
    async with two.engine.connect() as conn:
        assert set(await conn.scalars(sa.select(runs.c.pipeline))) == {
            "sage100.ap_invoices",
            "sage100@XYZ.ap_invoices",
        }


async def test_a_pipeline_needs_companies_when_its_connection_names_none(
    two: World, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        company_config(tmp_path, two.agent, two.slack, connection_company=None)
    assert caught.value.problems == [
        f"{tmp_path / 'ml-connector.toml'}: pipelines.sage100.companies: required key is "
        "missing (connection 'erp' names no company): list the company codes, e.g. "
        'companies = ["ABC"], or "*" for every company the agent serves'
    ]
    with pytest.raises(ConfigError) as either:
        company_config(tmp_path, two.agent, two.slack, connection_company=None, companies="ABC")
    assert [p.split(": ", 1)[1] for p in either.value.problems] == [
        'pipelines.sage100.companies: expected a list like ["ABC"] or "*", got \'ABC\''
    ]
    with pytest.raises(ConfigError) as bad:
        company_config(
            tmp_path,
            two.agent,
            two.slack,
            connection_company=None,
            companies=["ABC", "TOOLONG"],
            company={"XYZ": {"streams": {"ap_invoices": {"channel": "general"}}}},
        )
    assert [p.split(": ", 1)[1] for p in bad.value.problems] == [
        "pipelines.sage100.companies.1: expected a three-character Sage 100 "
        "company code like ABC, got 'TOOLONG'",
        "pipelines.sage100.company.XYZ.streams.ap_invoices.channel: expected a Slack channel id "
        "like C0123ABCD, got 'general'",
    ]


async def test_a_company_added_from_the_cli_is_polled_with_its_settings(two: World) -> None:
    """`companies add` stores the company; the runner (as `serve` each minute) reloads the
    stored companies and polls it, posting to its own channel."""
    run = runner(two)  # the file names ABC only
    async with two.engine.begin() as conn:
        await stored.save_settings(
            conn,
            "sage100",
            "XYZ",
            {"streams": {"ap_invoices": {"channel": two.slack.channel_id(XYZ_AP)}}},
        )
    assert [c.code for c in await run.companies("sage100")] == ["ABC"]
    await run.directory.load_stored()
    assert [(c.code, c.key) for c in await run.companies("sage100")] == [
        ("ABC", "sage100"),
        ("XYZ", "sage100@XYZ"),
    ]
    await invoice(two, "XYZ", "9.00")
    assert (await run.run("sage100", "manual", stream="ap_invoices")).status == "succeeded"
    await two.deliver()
    assert len(two.messages(XYZ_AP)) == 1


async def test_a_stream_one_company_disables_runs_for_the_others(two: World) -> None:
    two.config = company_config(
        two.tmp_path,
        two.agent,
        two.slack,
        connection_company=None,
        companies=["ABC", "XYZ"],
        company={"XYZ": {"streams": {"gl_accounts": {"enabled": False}}}},
    )
    run = runner(two)
    assert (await run.run("sage100", "manual", stream="gl_accounts")).status == "succeeded"
    async with two.engine.connect() as conn:
        assert set(await conn.scalars(sa.select(runs.c.pipeline))) == {"sage100@ABC.gl_accounts"}
    with pytest.raises(ConfigError, match="no enabled stream 'gl_accounts'"):
        await run.run("sage100", "manual", stream="gl_accounts", company="xyz")
    assert {s.name for s in configured_schedules(two.config)} == {
        "sage100@ABC.ap_invoices",
        "sage100@ABC.gl_postings",
        "sage100@ABC.gl_accounts",
        "sage100@XYZ.ap_invoices",
        "sage100@XYZ.gl_postings",
    }
