"""Fixtures for client tests against the gateway simulator.

A "process" here is what one ml-connector process owns: its own database engine, its own
transport (connections, per-company locks) and its own clients, sharing only the database and
the master key with the others, exactly as separate processes would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.intacct.gateway import (
    Credentials,
    IntacctClient,
    IntacctTransport,
    RequestSlots,
    RetryPolicy,
)
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.vault import Keyring, Vault

FAST_RETRIES = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


def credentials_for(sim: IntacctSimulator, entity: str | None = None) -> Credentials:
    c = sim.credentials
    return Credentials(
        sender_id=c.sender_id,
        sender_password=c.sender_password,
        company_id=c.company_id,
        user_id=c.user_id,
        user_password=c.user_password,
        entity_id=entity,
    )


@dataclass
class Process:
    engine: AsyncEngine
    transport: IntacctTransport
    vault: Vault
    clients: list[IntacctClient] = field(default_factory=list)

    def client(
        self, sim: IntacctSimulator, *, entity: str | None = None, **options: Any
    ) -> IntacctClient:
        options.setdefault("retry", FAST_RETRIES)
        client = IntacctClient(
            credentials_for(sim, entity),
            engine=self.engine,
            vault=self.vault,
            transport=self.transport,
            gateway_url=sim.url,
            **options,
        )
        self.clients.append(client)
        return client


@pytest.fixture
async def sim() -> AsyncIterator[IntacctSimulator]:
    simulator = IntacctSimulator(seed=11, gl_entries=3000)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def processes(database: Any) -> AsyncIterator[Callable[[], Process]]:
    """A factory of processes on the test database (all share one master key)."""
    keyring = Keyring.generate()
    made: list[Process] = []

    def make() -> Process:
        engine = database.engine()
        process = Process(
            engine=engine,
            transport=IntacctTransport(RequestSlots(engine, limit=2), timeout=20),
            vault=Vault(engine, keyring),
        )
        made.append(process)
        return process

    yield make
    for process in made:
        for client in process.clients:
            await client.close()
        await process.transport.close()


@pytest.fixture(scope="module", params=["compiled", "python"])
def record_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a parser test module once with each record loop (records.py): the compiled one
    where it was built, and the Python reference."""
    from ml_connector.intacct.gateway import parse, records

    if request.param == "compiled" and not records.COMPILED:
        pytest.skip("compiled record loop not built")
    chosen = records.take_records if request.param == "compiled" else records.take_records_python
    saved = parse.take_records
    parse.take_records = chosen
    try:
        yield request.param
    finally:
        parse.take_records = saved
