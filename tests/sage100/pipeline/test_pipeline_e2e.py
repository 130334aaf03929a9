"""End to end: demo agent over mTLS → pipeline → outbox → delivery → Slack simulator."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .world import World, block_text


async def test_new_invoice_po_and_register_reach_their_channels_once(world: World) -> None:
    backend = world.agent.backend
    vendor_key = await backend.add_vendor("Acme <Supply> & Co.")
    division, vendor_no = vendor_key.split("-")
    invoice = await backend.add_ap_invoice(
        vendor=(division, vendor_no),
        amount=Decimal("1250.50"),
        invoice_no="INV-1001",
        invoice_date=date(2026, 11, 20),
        due_days=30,
        hold=True,
    )
    po = await backend.add_purchase_order(
        vendor=(division, vendor_no), warehouse="001", line_amounts=[Decimal("100.00"), 250]
    )
    accounts = await backend.account_keys()
    journal, register, _ = await backend.add_gl_register(
        lines=[
            (accounts[0], Decimal("500.00"), 0),
            (accounts[1], Decimal("120.00"), 0),
            (accounts[2], 0, Decimal("600.00")),
        ]
    )

    outcome = await world.poll()
    assert outcome.status == "succeeded", outcome.error
    await world.deliver()

    [ap] = world.messages("ap")
    assert ap["text"].startswith("New AP invoice INV-1001 from Acme")
    shown = block_text(ap)
    for expected in (
        "Acme &lt;Supply&gt; &amp; Co.",  # escaped, never markup
        vendor_key,
        "INV-1001",
        "USD 1,250.50",
        "2026-11-20",  # invoice date
        "2026-12-20",  # due date
        "On hold",
        "Entry (unposted), batch 00001",
        f"<https://erp.example/ABC/ap/{invoice}|{invoice}>",
    ):
        assert expected in shown, expected
    assert "CST" in shown or "CDT" in shown  # the stamp is shown in the pipeline's zone

    [po_message] = world.messages("po")
    shown = block_text(po_message)
    for expected in (f"New purchase order {po}", "USD 350.00", "*Lines*\n2", "New (N)", "001"):
        assert expected in shown, expected

    [gl] = world.messages("gl")
    shown = block_text(gl)
    assert f"GL register {journal}-{register} posted" in shown
    assert "*3 lines*" in shown
    assert "debits USD 620.00" in shown and "credits USD 600.00" in shown
    assert "Out of balance: debits exceed credits by USD 20.00" in gl["text"]
    assert "Largest accounts" not in shown and "*Accounts*" in shown

    assert world.messages("approvals") == []  # 1,250.50 is under the approval limit
    assert world.messages("wh002") == []

    again = await world.poll()
    assert again.status == "succeeded" and again.messages_queued == 0
    await world.deliver()
    assert world.total_posted() == 3


async def test_routes_send_to_warehouse_and_approvals_channels(world: World) -> None:
    backend = world.agent.backend
    big = await backend.add_ap_invoice(amount=Decimal("25000.00"))
    small = await backend.add_ap_invoice(amount=Decimal("99.00"))
    po_002 = await backend.add_purchase_order(warehouse="002", line_amounts=[10])
    po_000 = await backend.add_purchase_order(warehouse="000", line_amounts=[10])
    assert (await world.poll()).status == "succeeded"
    await world.deliver()
    ap = "\n".join(world.texts("ap"))
    assert big in "\n".join(block_text(m) for m in world.messages("ap"))
    assert small in "\n".join(block_text(m) for m in world.messages("ap"))
    assert len(world.messages("ap")) == 2, ap
    [approval] = world.messages("approvals")
    assert big in block_text(approval)
    assert [po_002 in block_text(m) for m in world.messages("wh002")] == [True]
    assert [po_000 in block_text(m) for m in world.messages("po")] == [True]
