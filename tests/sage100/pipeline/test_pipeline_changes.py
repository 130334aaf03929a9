"""Exactness of polling: edits during a read, shared stamps, updates judged by shown fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from ml_connector.sage100.agent_client.client import RecordPage, Sage100Client

from ..agents import agent_ssl
from .world import World, add_invoices, block_text, mentioning


class EditingClient(Sage100Client):
    """Plays a Sage 100 user who edits a record right after the connector read page one."""

    def __init__(self, *args: Any, edit: Callable[[RecordPage], Awaitable[None]], **kw: Any):
        super().__init__(*args, **kw)
        self._edit = edit
        self.pages_read = 0

    async def page(self, *args: Any, **kwargs: Any) -> RecordPage:
        page = await super().page(*args, **kwargs)
        self.pages_read += 1
        if self.pages_read == 1:
            await self._edit(page)
        return page


async def test_invoice_edited_during_a_poll_is_posted_once_with_its_new_values(
    world: World,
) -> None:
    keys = await add_invoices(world, [Decimal(f"{100 + n}.00") for n in range(5)])
    edited: list[str] = []

    async def edit(page: RecordPage) -> None:
        key = page.records[0]["record_key"]
        world.clock.advance(minutes=1)  # the edit stamps the record a minute later
        await world.agent.backend.update_ap_invoice(key, InvoiceAmt=Decimal("777.00"))
        edited.append(key)

    agent = world.agent
    client = EditingClient(
        agent.url,
        ssl_context=agent_ssl(agent),
        edit=edit,
    )
    pipeline = world.pipeline(client=client, page_size=2)
    try:
        outcome = await world.poll("ap_invoices", pipeline=pipeline)
    finally:
        await client.close()
    assert outcome.status == "succeeded", outcome.error
    # The edited invoice came back on a later page at its new stamp: read 6 times, posted once.
    assert outcome.records_read == 6 and outcome.messages_queued == 5
    await world.deliver()
    for key in keys:
        assert len(mentioning(world, "ap", key)) == 1, key
    [message] = mentioning(world, "ap", edited[0])
    assert "USD 777.00" in block_text(message) and message["text"].startswith("New AP invoice")

    second = world.pipeline()
    assert (await world.poll("ap_invoices", pipeline=second)).messages_queued == 0


async def test_records_sharing_a_stamp_are_each_posted_once(world: World) -> None:
    # The clock stands still: every record below carries the same one-second stamp.
    first = await add_invoices(world, [Decimal("10.00"), Decimal("20.00"), Decimal("30.00")])
    accounts = await world.agent.backend.account_keys()
    balanced = [(accounts[0], Decimal("5.00"), 0), (accounts[1], 0, Decimal("5.00"))]
    await world.agent.backend.add_gl_register(lines=balanced)
    pipeline = world.pipeline(page_size=2)  # pages split inside one stamp
    assert (await world.poll(pipeline=pipeline)).messages_queued == 4

    # Committed late with the very same stamp as records already read.
    later = await add_invoices(world, [Decimal("40.00"), Decimal("50.00")])
    journal, register, _ = await world.agent.backend.add_gl_register(lines=balanced)
    outcome = await world.poll(pipeline=pipeline)
    assert outcome.messages_queued == 3, outcome.summary
    assert (await world.poll(pipeline=pipeline)).messages_queued == 0
    await world.deliver()
    for key in first + later:
        assert len(mentioning(world, "ap", key)) == 1, key
    assert len(world.messages("gl")) == 2
    assert len(mentioning(world, "gl", f"GL register {journal}-{register} posted")) == 1


async def test_updates_post_only_when_a_shown_field_changes(world: World) -> None:
    [key] = await add_invoices(world, [Decimal("1000.00")])
    await world.poll("ap_invoices")

    world.clock.advance(minutes=5)
    await world.agent.backend.update_ap_invoice(key, Comment="called the vendor", TermsCode="02")
    quiet = await world.poll("ap_invoices")
    assert quiet.status == "succeeded" and quiet.messages_queued == 0

    world.clock.advance(minutes=5)
    await world.agent.backend.update_ap_invoice(key, InvoiceAmt=Decimal("1250.00"))
    loud = await world.poll("ap_invoices")
    assert loud.messages_queued == 1
    await world.deliver()
    created, updated = world.messages("ap")
    assert created["text"].startswith("New AP invoice")
    assert "amount USD 1,000.00 → USD 1,250.00" in updated["text"]
    assert "*Amount*: USD 1,000.00 → USD 1,250.00" in block_text(updated)
    assert "Hold" not in updated["text"]  # only what changed is named


async def test_a_change_within_the_same_second_is_still_seen(world: World) -> None:
    """Stamps have one-second resolution; the fingerprint, not the stamp, decides."""
    [key] = await add_invoices(world, [Decimal("500.00")])
    await world.poll("ap_invoices")
    await world.agent.backend.update_ap_invoice(key, HoldPayment="Y")  # clock has not moved
    outcome = await world.poll("ap_invoices")
    assert outcome.messages_queued == 1
    await world.deliver()
    assert "hold No → On hold" in world.texts("ap")[-1]


async def test_posting_an_invoice_and_changing_an_account_are_updates(world: World) -> None:
    backend = world.agent.backend
    [key] = await add_invoices(world, [Decimal("75.00")])
    account = await backend.add_gl_account("6900-00-00", "Temporary")
    await world.poll()
    world.clock.advance(minutes=3)
    assert await backend.post_ap_invoices([key]) == [key]
    await backend.change_gl_account(account, Status="D")
    outcome = await world.poll()
    assert outcome.messages_queued == 2
    await world.deliver()
    assert "status Entry (unposted) → Posted" in world.texts("ap")[-1]
    deleted = world.messages("gl")[-1]
    assert "GL account 6900-00-00 deleted" in block_text(deleted)
    assert "status Active (A) → Deleted (D)" in deleted["text"]
