"""Sessions against the simulator: shared through the store, renewed early, replaced quietly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from ml_connector import clock
from ml_connector.intacct.gateway import (
    AuthenticationPermanentError,
    Credentials,
    IntacctClient,
    ReadByQuery,
)
from ml_connector.intacct.gateway.session import RENEW_MARGIN, renew_time
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.store.tables import intacct_sessions

if TYPE_CHECKING:
    from tests.intacct.conftest import Process

ACCOUNTS = ReadByQuery("GLACCOUNT", "", ["RECORDNO", "ACCOUNTNO", "TITLE"], pagesize=5)


def refreshes(reason: str) -> float:
    value = REGISTRY.get_sample_value("mlc_intacct_session_refreshes_total", {"reason": reason})
    return value or 0.0


async def test_session_is_shared_across_runs_and_processes(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    first = processes()
    async with first.client(sim) as client:
        assert (await client.call(ACCOUNTS)).count == 5
        await client.call(ACCOUNTS)
    assert sim.function_calls["getAPISession"] == 1

    # A restart of the same process, then another process with its own engine.
    await first.client(sim).call(ACCOUNTS)
    other = processes()
    await other.client(sim).call(ACCOUNTS)
    assert sim.function_calls["getAPISession"] == 1
    assert sim.function_calls["readByQuery"] == 4

    async with other.engine.connect() as conn:
        (row,) = (await conn.execute(sa.select(intacct_sessions))).all()
    session_id = other.vault.decrypt(row.session_ciphertext)
    assert row.key == f"{sim.credentials.company_id}|{sim.credentials.user_id}|"
    assert session_id not in row.session_ciphertext
    assert row.endpoint == sim.url
    assert session_id not in repr(await other.clients[0]._sessions.get())


async def test_entities_get_their_own_sessions(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    process = processes()
    top = process.client(sim)
    entity = process.client(sim, entity=sim.data.entity_ids()[0])
    await top.call(ACCOUNTS)
    await entity.call(ACCOUNTS)
    await entity.call(ACCOUNTS)
    assert sim.function_calls["getAPISession"] == 2


async def test_renewal_follows_the_reported_timeout(processes: Callable[[], Process]) -> None:
    # A company whose sessions last 10 minutes: renew well before that, not at 50 minutes.
    async with IntacctSimulator(seed=2, gl_entries=50, session_timeout=600) as sim:
        process = processes()
        before = clock.now()
        await process.client(sim).call(ACCOUNTS)
        async with process.engine.connect() as conn:
            expires_at = (await conn.execute(sa.select(intacct_sessions.c.expires_at))).scalar()
        assert expires_at is not None
        assert before + 600 - RENEW_MARGIN - 2 <= expires_at <= clock.now() + 600 - RENEW_MARGIN


def test_renew_time_takes_whichever_comes_first() -> None:
    assert renew_time(0, 0, 24 * 3600) == 50 * 60
    assert renew_time(0, 100, 600) == 100 + 600 - 60
    assert renew_time(0, 100, 20) == 100 + 20 - 2
    assert renew_time(0, 2000, None) == 50 * 60


async def test_renewed_before_expiry_without_a_refusal(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim, max_session_age=0.3)
    rejected = refreshes("rejected")
    await client.call(ACCOUNTS)
    await asyncio.sleep(0.4)
    await client.call(ACCOUNTS)
    assert sim.function_calls["getAPISession"] == 2
    assert refreshes("rejected") == rejected


async def test_expired_mid_run_is_replaced_without_the_caller_noticing(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    client = processes().client(sim)
    rejected = refreshes("rejected")
    seen: list[object] = []
    async for entry in client.read_by_query("GLENTRY", "", fields=["RECORDNO"], pagesize=500):
        seen.append(entry["RECORDNO"])
        if len(seen) in (500, 1500):
            sim.expire_sessions()
    assert len(seen) == len(set(seen)) == len(sim.data.records("GLENTRY"))
    assert refreshes("rejected") == rejected + 2
    assert sim.function_calls["getAPISession"] == 3


async def test_other_process_picks_up_the_replacement(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    one, two = processes().client(sim), processes().client(sim)
    await one.call(ACCOUNTS)
    await two.call(ACCOUNTS)
    sim.expire_sessions()
    await one.call(ACCOUNTS)  # replaces the session in the store
    await two.call(ACCOUNTS)  # refused once, then finds one's replacement
    assert sim.function_calls["getAPISession"] == 2


async def test_wrong_password_is_a_clear_permanent_error(
    sim: IntacctSimulator, processes: Callable[[], Process]
) -> None:
    process = processes()
    c = sim.credentials
    bad = Credentials(c.sender_id, c.sender_password, c.company_id, c.user_id, "wrong-password")
    client = IntacctClient(
        bad, engine=process.engine, vault=process.vault, transport=process.transport,
        gateway_url=sim.url,
    )  # fmt: skip
    process.clients.append(client)
    with pytest.raises(AuthenticationPermanentError) as caught:
        await client.call(ACCOUNTS)
    message = str(caught.value)
    assert f"{c.user_id}@{c.company_id}" in message and "XL03000006" in message
    assert "wrong-password" not in message and c.sender_password not in message
    assert sim.requests == 1  # a refused sign-in is not retried
