"""The Sage 100 messages against the oracle, through the real pipeline and the demo agent.

Hypothesis writes AP invoices (credit memos as negative amounts, zero amounts, holds),
purchase orders with negative (returned) lines, and GL journal registers whose lines carry
negative, zero and one-sided amounts, balanced or not, up to hundreds of lines; the demo
agent's back end stores them in its Sage 100 tables; the pipeline polls every stream over
mTLS and queues its messages; every money figure of each message (a record's own message or
a channel's digest, blocks and fallback text) must equal :mod:`tests.oracle.reference`'s.

The agent starts once for the module; its clock moves ten minutes per example, so a poll
reads only that example's records (the cursor stays where the last poll left it).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.config import Config, parse_config
from ml_connector.pipeline import RunContext
from ml_connector.sage100.agent_client.client import RetryPolicy
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault
from ml_connector_agent.demo_data import SeedCounts
from ml_connector_agent.testing import RunningAgent, running_agent

from . import reference as oracle
from .test_intacct_oracle import block_text

EXAMPLES = int(os.environ.get("MLC_ORACLE_EXAMPLES", "300"))
THRESHOLD = 4  # more events than this for one channel in one poll make a digest
SHOWN = 10  # items a digest lists
TOP_ACCOUNTS = 4
CURRENCY = "USD"
ACCOUNTS = ["1000", "1200", "2000", "4000", "5000", "6000"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    agent: RunningAgent
    clock: Clock
    pipeline: Sage100Pipeline
    config: Config
    vault: Vault
    engine: Any
    accounts: dict[str, str]  # AccountKey -> Account
    vendors: list[tuple[str, str]]
    runs: int = 0

    async def poll(self) -> list[dict[str, Any]]:
        self.runs += 1
        ctx = RunContext(
            engine=self.engine, vault=self.vault, config=self.config, pipeline="sage100",
            run_id=self.runs, trigger="manual",
        )  # fmt: skip
        outcome = await self.pipeline.run(ctx)
        assert outcome.status == "succeeded", outcome.error
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(outbox).where(outbox.c.run_id == self.runs))
            return [{"kind": r.kind, "source": r.source, "message": r.message} for r in rows]


CLIENT_KEY = "sage100.client_key"


def _config(directory: Path, agent: RunningAgent) -> Config:
    streams = {
        name: {"channel": f"C{n:09d}", "digest_threshold": THRESHOLD}
        for n, name in enumerate(["ap_invoices", "purchase_orders", "gl_postings"], start=1)
    }
    streams["gl_accounts"] = {"channel": "C000000009"}
    data = {
        "timezone": "America/Chicago",
        "slack": {"workspaces": {"default": {}}},
        "connections": {
            "erp": {
                "type": "sage100", "agent_url": agent.url, "company": agent.companies[0],
                "auth": "mtls", "ca_file": str(agent.ca_file),
                "cert_file": str(agent.client_cert), "client_key": CLIENT_KEY,
                "timeout": 5.0,
            }
        },
        "pipelines": {"sage100": {"type": "sage100", "connection": "erp", "streams": streams}},
    }  # fmt: skip
    path = directory / "ml-connector.toml"
    path.write_text(json.dumps(data))
    return parse_config(data, path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    directory = tmp_path_factory.mktemp("sage100-oracle")
    clock = Clock()
    context = running_agent(
        directory / "agent", seed=SeedCounts(vendors=4, ap_invoices=0, purchase_orders=0,
                                             gl_registers=0), clock=clock,
    )  # fmt: skip

    async def start() -> World:
        agent = await context.__aenter__()
        accounts = {}
        for account in ACCOUNTS:
            key = await agent.backend.add_gl_account(account, f"Account {account}")
            accounts[key] = account
        engine = make_engine(f"sqlite:///{directory / 'oracle.db'}")
        await migrate(engine)
        vault = Vault.ephemeral(engine)
        # The client key lives in the vault, never in a file the connector reads (#18).
        await vault.set(CLIENT_KEY, agent.client_key.read_text())
        config = _config(directory, agent)
        retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=5)
        pipeline = Sage100Pipeline("sage100", config, retry=retry)
        vendors = await agent.backend._run(None, lambda s: s.vendors())
        made = World(loop, agent, clock, pipeline, config, vault, engine, accounts, vendors)
        await made.poll()  # past the seeded records
        return made

    made = loop.run_until_complete(start())
    yield made

    async def stop() -> None:
        await made.pipeline.aclose()
        await made.engine.dispose()
        await context.__aexit__(None, None, None)

    loop.run_until_complete(stop())
    loop.close()


# -- the source data -----------------------------------------------------------------------

cents = st.one_of(st.just(0), st.integers(1, 10**8), st.integers(-(10**6), -1)).map(
    lambda n: Decimal(n).scaleb(-2)
)
invoice = st.tuples(cents, st.booleans())  # amount, on hold
order = st.lists(cents, min_size=1, max_size=6)  # line amounts (negative: returned)


@st.composite
def register(draw: st.DrawFn) -> list[tuple[int, Decimal, Decimal]]:
    count = draw(st.integers(40, 120)) if draw(st.integers(0, 14)) == 0 else draw(st.integers(1, 8))
    lines = []
    for _ in range(count):
        amount = draw(cents)
        debit = draw(st.booleans())
        lines.append((draw(st.integers(0, len(ACCOUNTS) - 1)), amount if debit else Decimal(0),
                      Decimal(0) if debit else amount))  # fmt: skip
    if draw(st.integers(0, 3)) > 0:  # mostly balanced
        net = sum((d - c for _, d, c in lines), Decimal(0))
        if net:
            lines.append((0, Decimal(0), net) if net > 0 else (0, -net, Decimal(0)))
    return lines


sources = st.tuples(
    st.lists(invoice, max_size=7), st.lists(order, max_size=6), st.lists(register(), max_size=6)
)


# -- the property ------------------------------------------------------------------------------


def figures(message: dict[str, Any]) -> tuple[list[str], list[str]]:
    return (
        oracle.figures_in(block_text(message), [CURRENCY]),
        oracle.figures_in(message["text"], [CURRENCY]),
    )


async def load(
    world: World,
    invoices: list[tuple[Decimal, bool]],
    orders: list[list[Decimal]],
    registers: list[list[tuple[int, Decimal, Decimal]]],
) -> tuple[dict[str, Decimal], dict[str, Decimal], dict[str, list[dict[str, Any]]]]:
    world.clock.now += timedelta(minutes=10)
    backend = world.agent.backend
    keys = list(world.accounts)
    ap, po, gl = {}, {}, {}
    for n, (amount, hold) in enumerate(invoices):
        vendor = world.vendors[n % len(world.vendors)]
        ap[await backend.add_ap_invoice(vendor=vendor, amount=amount, hold=hold)] = amount
    for n, lines in enumerate(orders):
        vendor = world.vendors[n % len(world.vendors)]
        po[await backend.add_purchase_order(vendor=vendor, line_amounts=lines)] = sum(
            lines, Decimal(0)
        )
    for lines in registers:
        rows = [(keys[i], d, c) for i, d, c in lines]
        journal, number, _ = await backend.add_gl_register(lines=rows)
        gl[f"{journal}-{number}"] = [
            {"Account": world.accounts[k], "DebitAmount": d, "CreditAmount": c} for k, d, c in rows
        ]
    return ap, po, gl


def register_digest(registers: dict[str, list[dict[str, Any]]]) -> list[str]:
    sides = {
        key: (
            sum((x["DebitAmount"] for x in lines), Decimal(0)),
            sum((x["CreditAmount"] for x in lines), Decimal(0)),
        )
        for key, lines in registers.items()
    }
    blocks = [
        oracle.show(sum((d for d, _ in sides.values()), Decimal(0)), CURRENCY),
        oracle.show(sum((c for _, c in sides.values()), Decimal(0)), CURRENCY),
    ]
    ranked = sorted(
        sides, key=lambda k: (0 if sides[k][0] != sides[k][1] else 1,
                              -max(abs(sides[k][0]), abs(sides[k][1])), k)
    )  # fmt: skip
    for key in ranked[:SHOWN]:
        d, c = sides[key]
        blocks += [oracle.show(d, CURRENCY), oracle.show(c, CURRENCY)]
        if d != c:
            blocks.append(oracle.show(abs(d - c), CURRENCY))
    return blocks


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sources)
def test_every_sage100_figure_equals_the_oracle(
    world: World,
    source: tuple[
        list[tuple[Decimal, bool]], list[list[Decimal]], list[list[tuple[int, Decimal, Decimal]]]
    ],
) -> None:
    invoices, orders, registers = source
    ap, po, gl = world.loop.run_until_complete(load(world, invoices, orders, registers))
    queued = world.loop.run_until_complete(world.poll())
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in queued:
        by_kind.setdefault(item["kind"], []).append(item)

    for stream, amounts in (("ap_invoices", ap), ("purchase_orders", po)):
        if len(amounts) > THRESHOLD:
            (digest,) = by_kind[f"sage100.{stream}.digest"]
            assert sorted(digest["source"]["record_keys"]) == sorted(amounts)
            expected = oracle.record_digest(
                sorted(amounts.items()), CURRENCY, ap=stream == "ap_invoices", shown=SHOWN
            )
            assert figures(digest["message"]) == expected
            continue
        singles = {
            m["source"]["record_key"]: m for m in by_kind.get(f"sage100.{stream}.created", [])
        }
        assert set(singles) == set(amounts)
        for key, amount in amounts.items():
            shown = oracle.show(amount, CURRENCY)
            assert figures(singles[key]["message"]) == ([shown, shown], [shown])
            if stream == "ap_invoices":
                name = oracle.invoice_title(amount)
                assert f"New AP {name}" in singles[key]["message"]["text"]

    if len(gl) > THRESHOLD:
        (digest,) = by_kind["sage100.gl_postings.digest"]
        assert figures(digest["message"])[0] == register_digest(gl)
    else:
        singles = {
            m["source"]["record_key"]: m for m in by_kind.get("sage100.gl_postings.created", [])
        }
        assert set(singles) == set(gl)
        for key, lines in gl.items():
            assert figures(singles[key]["message"]) == oracle.register(
                lines, CURRENCY, top=TOP_ACCOUNTS
            )
