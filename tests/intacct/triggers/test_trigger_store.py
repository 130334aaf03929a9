"""The trigger tables across processes: each queued read is claimed by one worker, a key is
accepted once, an event during a read queues the record again (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from ml_connector.intacct import trigger_store
from ml_connector.intacct.trigger_auth import Verified
from ml_connector.intacct.trigger_events import RecordRef


def delivery(key: str, token: str | None = None, digest: str = "d") -> trigger_store.Delivery:
    form = "jwt" if token is not None else "secret"
    return trigger_store.Delivery("books", key, digest, Verified(form, token, 2e9))


async def test_two_processes_claim_each_read_once(database: Any) -> None:
    first, second = database.engine(), database.engine()
    refs = [RecordRef("APPYMT", str(n)) for n in range(40)]
    for n in range(0, 40, 4):
        got = await trigger_store.accept(
            first, delivery(f"k{n}", f"t{n}"), refs[n : n + 4], now=100.0, coalesce=1.0
        )
        assert got == "accepted"
    claimed: Counter[str] = Counter()

    async def worker(engine: Any, owner: str) -> None:
        while True:
            batch = await trigger_store.claim(engine, owner=owner, now=102.0, lease=60, limit=3)
            if not batch:
                return
            claimed.update(item.ref.key for item in batch)
            await asyncio.sleep(0)
            await trigger_store.finish(engine, owner, batch, coalesce=1.0)

    await asyncio.gather(worker(first, "a"), worker(second, "b"))
    assert claimed == Counter(ref.key for ref in refs)


async def test_keys_and_tokens_across_processes(database: Any) -> None:
    first, second = database.engine(), database.engine()
    ref = [RecordRef("GLBATCH", "7")]
    answers = await asyncio.gather(
        trigger_store.accept(first, delivery("same", "t1"), ref, now=1.0, coalesce=1.0),
        trigger_store.accept(second, delivery("same", "t2"), ref, now=1.0, coalesce=1.0),
    )
    assert sorted(answers) == ["accepted", "duplicate"]
    # The winner's token is bound to its key: with any other key or body it is a replay.
    token = "t1" if answers[0] == "accepted" else "t2"
    reuse = await trigger_store.accept(second, delivery("other", token), ref, now=2, coalesce=1)
    assert reuse == "replayed"
    changed = await trigger_store.accept(
        second, delivery("same", token, "x"), ref, now=2, coalesce=1
    )
    assert changed == "replayed"
    # The plain form is never retried by Intacct: the same body again is a replay.
    assert (
        await trigger_store.accept(first, delivery("body:1"), ref, now=3, coalesce=1) == "accepted"
    )
    assert (
        await trigger_store.accept(second, delivery("body:1"), ref, now=3, coalesce=1) == "replayed"
    )


async def test_events_coalesce_and_an_event_during_a_read_reads_again(engine: Any) -> None:
    ref = [RecordRef("GLBATCH", "9")]
    for n in range(5):
        await trigger_store.accept(
            engine, delivery(f"k{n}", f"t{n}"), ref, now=10.0 + n / 10, coalesce=2.0
        )
    assert await trigger_store.claim(engine, owner="a", now=11.0, lease=60, limit=10) == []
    (item,) = await trigger_store.claim(engine, owner="a", now=12.0, lease=60, limit=10)
    assert (item.events, item.first_event_at) == (5, 10.0)
    await trigger_store.accept(engine, delivery("late", "t9"), ref, now=12.5, coalesce=2.0)
    await trigger_store.finish(engine, "a", [item], coalesce=2.0)
    assert await trigger_store.claim(engine, owner="a", now=14.0, lease=60, limit=10) == []
    (again,) = await trigger_store.claim(engine, owner="a", now=14.6, lease=60, limit=10)
    assert again.first_event_at == 12.5
    await trigger_store.finish(engine, "a", [again], coalesce=2.0)
    assert await trigger_store.next_due(engine) is None


async def test_a_dead_workers_claim_expires(engine: Any) -> None:
    await trigger_store.accept(
        engine, delivery("k", "t"), [RecordRef("VENDOR", "1")], now=0, coalesce=0
    )
    assert len(await trigger_store.claim(engine, owner="dead", now=1, lease=5, limit=5)) == 1
    assert await trigger_store.claim(engine, owner="b", now=3, lease=5, limit=5) == []
    assert len(await trigger_store.claim(engine, owner="b", now=7, lease=5, limit=5)) == 1
