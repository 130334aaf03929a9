"""The Intacct messages against the oracle, through the real pipeline and the simulators.

Hypothesis writes the source data (negative and zero amounts, reversals, four currencies with
0, 2 and 3 decimals, foreign-currency lines, closed and future periods, batches of hundreds
of lines, payment runs that share a name and a bank, declined and voided payments, vendors on
hold); it is loaded into the running Intacct simulator; the pipeline reads it over HTTP and
queues its messages; every money figure of the GL summary, the payment summary and each alert
(blocks and fallback text) must equal :mod:`tests.oracle.reference`'s, in order.

Cost: the simulators, the database and the pipeline start once for the module; an example
clears the simulator's records and the outbox and loads its own. One example in
``DELIVER_EVERY`` is also delivered through the Slack simulator and checked as posted.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.config import Config
from ml_connector.delivery import DeliverySettings, DeliveryWorker
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.intacct.gateway import RetryPolicy
from ml_connector.intacct.pipeline import IntacctPipeline
from ml_connector.pipeline import RunContext
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import cursors, delivery_attempts, outbox
from ml_connector.vault import Vault

from . import reference as oracle

EXAMPLES = int(os.environ.get("MLC_ORACLE_EXAMPLES", "300"))
DELIVER_EVERY = 15
ZONE = "America/Los_Angeles"
TOP = 5
MAX_ALERT_LINES = 10
MAX_RUNS = 10

# entity -> base currency; JPY has no minor unit, BHD three.
ENTITIES = {"100": "USD", "300": "CAD", "700": "JPY", "800": "BHD"}
ACCOUNTS = ["1000", "1200", "2000", "4000", "6000", "6100", "7000"]
VENDORS = {  # VENDORID -> (STATUS, ONHOLD, PAYMETHODKEY)
    "V1": ("active", False, "ACH"),
    "V2": ("active", False, "Printed Check"),
    "V3": ("active", False, "EFT"),
    "V4": ("active", True, "ACH"),
    "V5": ("inactive", False, "ACH"),
    "V6": ("active", False, None),
}
RUN_NAMES = {1: "Payments BOA", 2: "Payments BOA", 3: "Payments RBC", 4: "Manual"}


def company_now() -> datetime:
    return datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None, microsecond=0)


STAMP = company_now() - timedelta(hours=1)
TODAY = STAMP.date()
CLOSED_THROUGH = TODAY.replace(day=1) - timedelta(days=1)
DATES = {
    "current": TODAY,
    "closed": CLOSED_THROUGH.replace(day=10),
    "future": TODAY.replace(day=1) + timedelta(days=45),
}


def title(account: str) -> str:
    return f"Account {account}"


# -- the source data -----------------------------------------------------------------------


def amounts(currency: str, *, negative: bool = True) -> st.SearchStrategy[Decimal]:
    places = oracle.EXPONENTS[currency]
    low = -(10**7) if negative else 0
    units = st.one_of(st.just(0), st.integers(1, 10**9), st.integers(low, 10**4))
    return units.map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def batch_data(draw: st.DrawFn, *, unbalanced: bool = False) -> dict[str, Any]:
    """One GL batch; ``unbalanced`` makes sure it is off by at least one minor unit."""
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    base = ENTITIES[entity]
    trx = draw(st.sampled_from([base, base, "USD" if base != "USD" else "EUR"]))
    long = draw(st.integers(0, 14)) == 0
    count = draw(st.integers(60, 150)) if long else draw(st.integers(1, 6))
    when = draw(st.sampled_from(["current", "current", "current", "closed", "future"]))
    lines = []
    for _ in range(count):
        amount = draw(amounts(base))
        trx_amount = draw(amounts(trx)) if trx != base else amount
        lines.append(
            (draw(st.sampled_from([1, -1])), amount, trx_amount, draw(st.sampled_from(ACCOUNTS)))
        )
    if unbalanced or draw(st.integers(0, 4)) > 0:  # one line takes up the difference
        signed = sum((t * a for t, a, _, _ in lines), Decimal(0))
        if signed:
            side = -1 if signed > 0 else 1
            lines.append((side, abs(signed), abs(signed), "2000"))
    if unbalanced:
        units = draw(st.one_of(st.integers(1, 10**6), st.integers(-(10**6), -1)))
        off = Decimal(units).scaleb(-oracle.EXPONENTS[base])
        lines.append((1, off, off, "6000"))
    reversal = draw(st.integers(0, 5)) == 0
    if reversal:  # its reversal, as negative amounts on the same sides, in the same window
        return {"entity": entity, "trx": trx, "when": when, "lines": lines, "reverse": True}
    return {"entity": entity, "trx": trx, "when": when, "lines": lines, "reverse": False}


@st.composite
def payment_data(draw: st.DrawFn, *, exception: bool = False) -> dict[str, Any]:
    """One AP payment; ``exception`` makes it one that needs an alert (failed, or its vendor
    on hold, inactive or without a payment method)."""
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    base = ENTITIES[entity]
    currency = draw(st.sampled_from([base, base, "USD" if base != "USD" else "EUR"]))
    run = draw(st.sampled_from([1, 2, 3, 4, None]))
    return {
        "base": base,
        "currency": currency,
        "trx": draw(st.booleans()),
        "run": run,
        "state": draw(
            st.sampled_from(["Declined", "Voided", "Complete"])
            if exception
            else st.sampled_from(["Complete", "Complete", "Approved", "Declined", "Voided"])
        ),
        "method": draw(st.sampled_from(["ACH", "Printed Check", "EFT"])),
        "bank": draw(st.sampled_from(["BOA-OPER", "RBC-OPER"])),
        "vendor": draw(st.sampled_from(["V4", "V5", "V6"] if exception else sorted(VENDORS))),
        "amount": draw(amounts(currency, negative=False)),
    }


# Every example makes every message kind: a GL summary, a payment summary, at least one
# unbalanced-entry alert and at least one vendor exception (besides balanced batches and
# ordinary payments that must raise none), so N examples check each kind N times.
sources = st.tuples(
    st.tuples(batch_data(unbalanced=True), st.lists(batch_data(), max_size=5)).map(
        lambda b: [b[0], *b[1]]
    ),
    st.tuples(payment_data(exception=True), st.lists(payment_data(), max_size=13)).map(
        lambda p: [p[0], *p[1]]
    ),
)


# -- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    intacct: IntacctSimulator
    slack: SlackSimulator
    pipeline: IntacctPipeline
    config: Config
    vault: Vault
    engine: Any
    runs: int = 0
    checked: Counter[str] = field(default_factory=Counter)  # message kind -> examples


def _config(intacct: IntacctSimulator, slack: SlackSimulator) -> Config:
    c = intacct.credentials
    return Config.model_validate(
        {
            "slack": {"workspaces": {"default": {}}},
            "connections": {
                "books": {
                    "type": "intacct",
                    "gateway_url": intacct.url,
                    "sender_id": c.sender_id,
                    "sender_password": "intacct/sender",
                    "company_id": c.company_id,
                    "user_id": c.user_id,
                    "user_password": "intacct/user",
                }
            },
            "pipelines": {
                "intacct": {
                    "type": "intacct",
                    "connection": "books",
                    "timezone": ZONE,
                    "books_closed_through": CLOSED_THROUGH.isoformat(),
                    "channels": {
                        "gl": slack.channel_id("gl"),
                        "payments": slack.channel_id("payments"),
                        "alerts": slack.channel_id("alerts"),
                    },
                    "thresholds": {
                        "page_size": 100,
                        "top_accounts": TOP,
                        "top_payments": TOP,
                        "max_alert_lines": MAX_ALERT_LINES,
                    },
                }
            },
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    path: Path = tmp_path_factory.mktemp("oracle") / "oracle.db"

    async def start() -> World:
        intacct = IntacctSimulator(
            seed=3, entities=1, vendors=12, gl_entries=0, payments=0, bills=0, timezone=ZONE
        )
        await intacct.__aenter__()
        slack = SlackSimulator(
            channels=["gl", "payments", "alerts"], post_interval=0.0, post_burst=100
        )
        await slack.__aenter__()
        data = intacct.data
        data.clear()
        for account in ACCOUNTS:
            data.insert("GLACCOUNT", {"ACCOUNTNO": account, "TITLE": title(account),
                                      "STATUS": "active", "WHENMODIFIED": STAMP})  # fmt: skip
        engine = make_engine(f"sqlite:///{path}")
        await migrate(engine)
        vault = Vault.ephemeral(engine)
        await vault.set("intacct/sender", intacct.credentials.sender_password)
        await vault.set("intacct/user", intacct.credentials.user_password)
        config = _config(intacct, slack)
        retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
        pipeline = IntacctPipeline("intacct", config, retry=retry)
        return World(loop, intacct, slack, pipeline, config, vault, engine)

    made = loop.run_until_complete(start())
    yield made

    async def stop() -> None:
        await made.pipeline.aclose()
        await made.engine.dispose()
        await made.slack.__aexit__(None, None, None)
        await made.intacct.__aexit__(None, None, None)

    loop.run_until_complete(stop())
    loop.close()


def load(world: World, batches: list[dict[str, Any]], payments: list[dict[str, Any]]) -> None:
    data = world.intacct.data
    data.clear("GLBATCH", "GLENTRY", "APPYMT", "VENDOR")
    for vendor_id, (status, onhold, method) in VENDORS.items():
        data.insert("VENDOR", {"VENDORID": vendor_id, "NAME": f"Vendor {vendor_id}",
                               "STATUS": status, "ONHOLD": onhold, "PAYMETHODKEY": method,
                               "WHENMODIFIED": STAMP})  # fmt: skip
    for number, spec in enumerate(batches, start=1):
        written = [spec["lines"]]
        if spec["reverse"]:
            written.append([(t, -a, -x, acct) for t, a, x, acct in spec["lines"]])
        for lines in written:
            batch = data.insert("GLBATCH", {
                "BATCHNO": number, "BATCH_TITLE": f"Batch {number}", "JOURNAL": "GJ",
                "BATCH_DATE": DATES[spec["when"]], "STATE": "Posted", "WHENMODIFIED": STAMP,
                "MEGAENTITYID": spec["entity"], "MEGAENTITYNAME": f"Entity {spec['entity']}",
                "BASELOCATION_NO": spec["entity"], "RECORD_URL": "",
            })  # fmt: skip
            for line_no, (tr_type, amount, trx_amount, account) in enumerate(lines, start=1):
                data.insert("GLENTRY", {
                    "BATCHNO": batch["RECORDNO"], "LINE_NO": line_no, "TR_TYPE": tr_type,
                    "ENTRY_DATE": DATES[spec["when"]], "AMOUNT": amount,
                    "TRX_AMOUNT": trx_amount, "BASECURR": ENTITIES[spec["entity"]],
                    "CURRENCY": spec["trx"], "ACCOUNTNO": account,
                    "ACCOUNTTITLE": title(account), "LOCATION": spec["entity"], "ADJ": "F",
                    "DESCRIPTION": f"Line {line_no}", "WHENMODIFIED": STAMP,
                })  # fmt: skip
    for number, spec in enumerate(payments, start=1):
        run = spec["run"]
        data.insert("APPYMT", {
            "PRBATCHKEY": run, "PRBATCH": RUN_NAMES[run] if run else "Unbatched",
            "DOCNUMBER": f"D{number}", "RECORDID": f"D{number}", "STATE": spec["state"],
            "PAYMENTMETHOD": spec["method"], "FINANCIALENTITY": spec["bank"],
            "FINANCIALACCOUNTNAME": f"Bank {spec['bank']}", "VENDORID": spec["vendor"],
            "VENDORNAME": f"Vendor {spec['vendor']}",
            "TOTALENTERED": spec["amount"] if not spec["trx"] else spec["amount"] * 2,
            "TRX_TOTALENTERED": spec["amount"] if spec["trx"] else None,
            "BASECURR": spec["base"] if spec["trx"] else spec["currency"],
            "CURRENCY": spec["currency"], "WHENCREATED": TODAY, "WHENMODIFIED": STAMP,
        })  # fmt: skip


async def run_once(world: World, deliver: bool) -> list[dict[str, Any]]:
    """One pipeline run over the example's window; its queued (and maybe posted) messages."""
    async with world.engine.begin() as conn:
        for table in (outbox, delivery_attempts, cursors):
            await conn.execute(sa.delete(table))
    world.runs += 1
    ctx = RunContext(
        engine=world.engine,
        vault=world.vault,
        config=world.config,
        pipeline="intacct",
        run_id=world.runs,
        trigger="manual",
        since=STAMP - timedelta(seconds=1),
        until=STAMP + timedelta(seconds=1),
    )
    outcome = await world.pipeline.run(ctx)
    assert outcome.status == "succeeded", outcome.error
    async with world.engine.connect() as conn:
        rows = list(await conn.execute(sa.select(outbox).order_by(outbox.c.id)))
    queued = [{"kind": r.kind, "source": r.source, "message": r.message} for r in rows]
    if deliver:
        names = ("gl", "payments", "alerts")
        before = {n: len(world.slack.messages(world.slack.channel_id(n))) for n in names}
        client = SlackClient(world.slack.bot_token, base_url=world.slack.base_url, timeout=5)
        gateway = ClientGateway({"default": client})
        try:
            settings_ = DeliverySettings(post_interval=0.0, idle_poll=0.01, lease_seconds=5.0)
            assert await DeliveryWorker(world.engine, gateway, settings_).run_until_idle(timeout=30)
        finally:
            await gateway.aclose()
        channels = {"gl_summary": "gl", "payment_summary": "payments"}
        for name in names:
            # This example's posts, in the order they were queued (one worker, one channel).
            posted = world.slack.messages(world.slack.channel_id(name))[before[name] :]
            mine = [item for item in queued if channels.get(item["kind"], "alerts") == name]
            assert len(posted) == len(mine)
            for item, message in zip(mine, posted, strict=True):
                assert message["text"] == item["message"]["text"]
                blocks = [
                    {k: v for k, v in b.items() if k != "block_id"} for b in message["blocks"]
                ]
                assert blocks == item["message"]["blocks"]
                item["message"] = message  # the oracle judges what Slack holds
    return queued


def block_text(message: dict[str, Any]) -> str:
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                if not isinstance(value, str):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return "\n".join(texts)


CODES = [*ENTITIES.values(), "EUR"]


def figures(message: dict[str, Any]) -> tuple[list[str], list[str]]:
    return oracle.figures_in(block_text(message), CODES), oracle.figures_in(message["text"], CODES)


# -- the property ------------------------------------------------------------------------------


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sources)
def test_every_intacct_figure_equals_the_oracle(
    world: World, source: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    batches, payments = source
    load(world, batches, payments)
    deliver = world.runs % DELIVER_EVERY == 0
    queued = world.loop.run_until_complete(run_once(world, deliver))
    data = world.intacct.data
    entries = data.records("GLENTRY")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in queued:
        by_kind.setdefault(item["kind"], []).append(item)

    # GL summary
    if entries or data.records("GLBATCH"):
        (gl,) = by_kind["gl_summary"]
        blocks, fallback, counts = oracle.gl_summary(entries, top=TOP)
        assert figures(gl["message"]) == (blocks, fallback)
        text = block_text(gl["message"])
        assert f"({counts['lines']:,} line{'s' if counts['lines'] != 1 else ''})" in text
        assert ("entered in another currency" in text) == bool(counts["foreign"])
        closed = {e["BATCHNO"] for e in entries if e["ENTRY_DATE"] <= CLOSED_THROUGH}
        assert text.count("Dated in a closed period") == len(closed)
        world.checked["gl_summary"] += 1
    else:
        assert "gl_summary" not in by_kind

    # one alert per unbalanced batch, with its figures
    expected = {}
    for batch in data.records("GLBATCH"):
        lines = [e for e in entries if e["BATCHNO"] == batch["RECORDNO"]]
        if oracle.unbalanced(lines):
            expected[batch["RECORDNO"]] = oracle.unbalanced_alert(lines, max_lines=MAX_ALERT_LINES)
    alerts = {a["source"]["GLBATCH"][0]: a for a in by_kind.get("unbalanced_entry", [])}
    assert set(alerts) == set(expected)
    for recordno, (blocks, fallback) in expected.items():
        assert figures(alerts[recordno]["message"]) == (blocks, fallback)
    world.checked["unbalanced_entry"] += bool(expected)

    # payment summary and vendor exceptions
    paid = data.records("APPYMT")
    if paid:
        (summary,) = by_kind["payment_summary"]
        assert figures(summary["message"]) == oracle.payment_summary(
            paid, top=TOP, max_runs=MAX_RUNS
        )
        # Each run its own line, though two share a name and a bank.
        text = block_text(summary["message"])
        for p in paid:
            key = p["PRBATCHKEY"]
            label = f"{p['PRBATCH']} (run {key})" if key is not None else str(p["PRBATCH"])
            assert f"\n{label}: " in text, label
        world.checked["payment_summary"] += 1
    else:
        assert "payment_summary" not in by_kind
    wanted = oracle.vendor_alerts(paid, data.records("VENDOR"))
    exceptions = {a["source"]["APPYMT"][0]: a for a in by_kind.get("vendor_exception", [])}
    assert set(exceptions) == set(wanted)
    for recordno, amount in wanted.items():
        assert figures(exceptions[recordno]["message"]) == ([amount, amount], [amount])
    world.checked["vendor_exception"] += bool(wanted)


def test_each_message_kind_was_checked_in_every_example(world: World) -> None:
    """Runs after the property (file order): no kind was left to chance."""
    kinds = ("gl_summary", "payment_summary", "unbalanced_entry", "vendor_exception")
    assert {k: world.checked[k] for k in kinds} == dict.fromkeys(kinds, world.runs)
    assert world.runs >= EXAMPLES
