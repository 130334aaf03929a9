"""No floods: past the threshold, one channel gets one digest for one poll."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from ml_connector.store.tables import outbox

from .world import World, add_invoices, block_text


async def test_500_new_invoices_give_one_digest(world: World) -> None:
    amounts = [Decimal(f"{100 + n}.25") for n in range(497)]
    amounts += [Decimal("12000.00"), Decimal("15000.00"), Decimal("30000.00")]
    keys = await add_invoices(world, amounts)
    outcome = await world.poll("ap_invoices")
    assert outcome.status == "succeeded" and outcome.records_read == 500
    # One digest for AP; the three over the approval limit stay separate messages there.
    assert outcome.messages_queued == 4
    assert outcome.details["streams"]["ap_invoices"]["digests"] == 1
    await world.deliver()

    [digest] = world.messages("ap")
    shown = block_text(digest)
    total = sum(amounts, Decimal("0"))
    assert digest["text"] == f"AP invoices: 500 new (500 AP invoices, USD {total:,.2f} in total)"
    assert "*500 AP invoices*" in shown
    assert f"USD {total:,.2f}" in shown
    # The largest first, then how many more.
    assert shown.index("USD 30,000.00") < shown.index("USD 15,000.00") < shown.index("USD 596.25")
    assert "… and 490 more" in shown
    assert len(world.messages("approvals")) == 3

    async with world.engine.connect() as conn:
        source = await conn.scalar(
            sa.select(outbox.c.source).where(outbox.c.kind == "sage100.ap_invoices.digest")
        )
    assert sorted(source["record_keys"]) == sorted(keys)  # the audit trail names every record

    assert (await world.poll("ap_invoices")).messages_queued == 0


async def test_threshold_is_per_channel_and_configurable(world: World) -> None:
    world.reconfigure(purchase_orders={"digest_threshold": 3})
    for _ in range(4):
        await world.agent.backend.add_purchase_order(warehouse="000", line_amounts=[5])
    for _ in range(3):
        await world.agent.backend.add_purchase_order(warehouse="002", line_amounts=[5])
    await world.poll("purchase_orders")
    await world.deliver()
    [digest] = world.messages("po")
    assert digest["text"].startswith("Purchase orders: 4 new")
    assert len(world.messages("wh002")) == 3  # exactly at the threshold: one by one
