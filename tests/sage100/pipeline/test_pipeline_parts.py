"""A large read is committed in parts, so a backlog never sits in memory whole."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ml_connector.sage100.agent_client.client import Sage100Client

from .world import World, add_invoices, mentioning


async def test_a_large_read_is_committed_in_parts_and_each_record_posted_once(
    world: World,
) -> None:
    world.reconfigure(ap_invoices={"digest_threshold": 1000})
    keys = await add_invoices(world, [Decimal(f"{n}.10") for n in range(1, 61)])
    pipeline = world.pipeline(page_size=10, window_records=25)
    outcome = await world.poll("ap_invoices", pipeline=pipeline)
    assert outcome.status == "succeeded", outcome.error
    stream = outcome.details["streams"]["ap_invoices"]
    # 3 pages (30 records) pass the 25-record limit twice; the empty rest is the third part.
    assert (stream["read"], stream["queued"], stream["parts"]) == (60, 60, 3)
    assert (await world.poll("ap_invoices", pipeline=pipeline)).messages_queued == 0
    await world.deliver()
    for key in keys:
        assert len(mentioning(world, "ap", key)) == 1, key
    assert len(world.messages("ap")) == 60


async def test_an_agent_lost_mid_read_keeps_the_parts_already_committed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.reconfigure(ap_invoices={"digest_threshold": 1000})
    keys = await add_invoices(world, [Decimal(f"{n}.20") for n in range(1, 51)])
    real_page = Sage100Client.page
    pages = 0

    async def page_then_lock(self: Sage100Client, *args: Any, **kwargs: Any) -> Any:
        nonlocal pages
        pages += 1
        if pages == 5:  # after two parts of 20 are committed: locked past every retry
            await world.agent.backend.inject_locks(10_000)
        return await real_page(self, *args, **kwargs)

    monkeypatch.setattr(Sage100Client, "page", page_then_lock)
    pipeline = world.pipeline(page_size=10, window_records=20)
    failed = await world.poll("ap_invoices", pipeline=pipeline)
    assert failed.status == "failed"
    assert failed.details["streams"]["ap_invoices"]["queued"] == 40
    cursor = await world.cursor("ap_invoices")
    assert cursor is not None

    await world.agent.backend.inject_locks(0)
    healed = await world.poll("ap_invoices", pipeline=pipeline)
    assert healed.status == "succeeded", healed.error
    assert healed.messages_queued == 10
    await world.deliver()
    for key in keys:
        assert len(mentioning(world, "ap", key)) == 1, key
