"""Running the pipeline: config checks, stream selection, --since/--until, API-key agents."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import parse_config
from ml_connector.errors import ConfigError
from ml_connector.pipeline import RunContext
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.sim.slack import SlackSimulator
from ml_connector.vault import Vault
from ml_connector_agent.testing import running_agent

from .world import FAST_RETRY, World, add_invoices, make_config, mentioning, streams_config


async def test_a_misspelt_route_or_link_is_a_config_error_naming_the_key(world: World) -> None:
    world.reconfigure(
        purchase_orders={
            "routes": [
                {
                    "when": [{"field": "Warehouse", "op": "eq", "value": "002"}],
                    "channel": world.slack.channel_id("wh002"),
                }
            ],
            "record_link": "https://erp/po/{PONumber}",
        }
    )
    with pytest.raises(ConfigError) as caught:
        Sage100Pipeline("sage100", world.config)
    assert caught.value.problems == [
        "pipelines.sage100.streams.purchase_orders.routes[0].when[0].field: 'Warehouse' is not "
        "a field of purchase orders; expected one of APDivisionNo, OrderStatus, OrderType, "
        "PurchaseOrderDate, PurchaseOrderNo, VendorName, VendorNo, WarehouseCode, event, "
        "line_count, order_total, record_key, stamp",
        "pipelines.sage100.streams.purchase_orders.record_link: unknown placeholder {PONumber}; "
        "expected any of APDivisionNo, OrderStatus, OrderType, PurchaseOrderDate, "
        "PurchaseOrderNo, VendorName, VendorNo, WarehouseCode, company, event, line_count, "
        "order_total, record_key, stamp",
    ]


async def test_stream_selection(world: World) -> None:
    world.reconfigure(gl_accounts={"enabled": False})
    unknown = await world.poll("vendors")
    assert unknown.status == "failed"
    assert unknown.error == (
        "pipeline sage100 has no stream 'vendors' "
        "(configured: ap_invoices, purchase_orders, gl_postings, gl_accounts)"
    )
    disabled = await world.poll("gl_accounts", pipeline=world.pipeline())
    assert disabled.status == "failed" and "disabled in the config" in (disabled.error or "")
    everything = await world.poll(pipeline=world.pipelines[-1])
    assert everything.status == "succeeded"
    assert set(everything.details["streams"]) == {"ap_invoices", "purchase_orders", "gl_postings"}
    assert await world.cursor("gl_accounts") is None


async def test_since_and_until_read_a_chosen_window_then_polling_resumes(world: World) -> None:
    [new] = await add_invoices(world, [Decimal("9.99")])
    zone = ZoneInfo("America/Chicago")
    now = world.clock.now  # the agent's wall-clock (naive local) time
    history = await world.poll(
        "ap_invoices",
        since=now - timedelta(days=40),
        until=(now - timedelta(minutes=30)).replace(tzinfo=zone),  # aware: converted
    )
    assert history.status == "succeeded"
    # The seeded month of invoices (some also to approvals), not the new one.
    assert history.records_read == 8 and history.details["streams"]["ap_invoices"]["events"] == 8
    regular = await world.poll("ap_invoices")
    assert regular.messages_queued == 1
    again = await world.poll("ap_invoices", since=now - timedelta(days=40))
    assert again.messages_queued == 0  # a re-read window posts nothing twice
    await world.deliver()
    assert len(world.messages("ap")) == 9
    assert len(mentioning(world, "ap", new)) == 1


async def test_api_key_agent_with_the_key_in_the_vault(engine: AsyncEngine, tmp_path: Path) -> None:
    async with (
        running_agent(tmp_path / "agent", mode="api_key", seed=None) as agent,
        SlackSimulator(channels=["ap", "po", "gl", "approvals", "wh002"]) as slack,
    ):
        base = make_config(tmp_path, agent, slack, streams_config(slack))
        data: dict[str, Any] = base.model_dump(mode="json", exclude={"source"})
        data["connections"]["erp"].update(
            auth="api_key", api_key="sage100.agent_key", cert_file=None, client_key=None
        )
        config = parse_config(data, tmp_path / "ml-connector.toml")
        vault = Vault.ephemeral(engine)
        pipeline = Sage100Pipeline("sage100", config, retry=FAST_RETRY)
        ctx = RunContext(engine, vault, config, "sage100", 1, "manual", stream="ap_invoices")
        try:
            missing = await pipeline.run(ctx)
            assert missing.status == "failed"
            assert "sage100.agent_key" in (missing.error or "")
            assert agent.api_key is not None
            await vault.set("sage100.agent_key", agent.api_key)
            await agent.backend.add_vendor("Keyed Vendor")
            await agent.backend.add_ap_invoice(amount=Decimal("5.00"))
            ok = await pipeline.run(ctx)
            assert ok.status == "succeeded" and ok.messages_queued == 1, ok.error
            assert agent.api_key not in repr(pipeline)
        finally:
            await pipeline.aclose()
