"""The simulator's Platform Triggers behave as Intacct documents: webhook deliveries carry a
JWT verifiable with the published JWKS and the trusted context, retry on 408/429/5xx after
10, 30 and 90 s (scaled), at most 4 attempts, repeating the idempotency key; plain triggers are
sent once."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.triggers import TriggerDefinition

SCALE = 0.004


class Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.seen: list[tuple[float, dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        loop_time = asyncio.get_running_loop().time()
        self.seen.append((loop_time, dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)


@pytest.fixture
async def sim() -> AsyncIterator[IntacctSimulator]:
    async with IntacctSimulator(gl_entries=40, vendors=20, payments=10, bills=4) as made:
        made.triggers.time_scale = SCALE
        yield made


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/hook"


def payment_of(sim: IntacctSimulator) -> int:
    value = sim.data.records("APPYMT")[0]["RECORDNO"]
    assert isinstance(value, int)
    return value


async def test_webhook_retries_on_intacct_schedule_with_the_same_key(sim: IntacctSimulator) -> None:
    receiver = Receiver([503, 429, 500, 503, 200])
    runner, url = await serve(receiver)
    try:
        template = '{"object": "APPYMT", "recordno": "{!APPYMT.RECORDNO!}"}'
        sim.triggers.define(TriggerDefinition("APPYMT", url, template, events=("set",)))
        recordno = payment_of(sim)
        sim.data.update("APPYMT", recordno, STATE="Declined")
        assert await sim.triggers.drain(10)
    finally:
        await runner.cleanup()
    assert len(receiver.seen) == 4  # at most 4 attempts: the fifth answer is never asked for
    times = [t for t, _, _ in receiver.seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, delay in zip(gaps, (10, 30, 90), strict=True):
        assert delay * SCALE <= gap < delay * SCALE + 0.5
    keys = {h["Idempotency-Key"] for _, h, _ in receiver.seen}
    assert len(keys) == 1
    assert {json.loads(b)["recordno"] for _, _, b in receiver.seen} == {str(recordno)}
    async with aiohttp.ClientSession() as session, session.get(sim.jwks_url) as response:
        jwks = jwt.PyJWKSet.from_dict(await response.json())
    ids = set()
    for _, headers, _ in receiver.seen:
        token = headers["Authorization"].removeprefix("Bearer ")
        kid = jwt.get_unverified_header(token)["kid"]
        claims: dict[str, Any] = jwt.decode(
            token, jwks[kid].key, algorithms=["RS256"], audience=sim.triggers.client_id,
            issuer=sim.triggers.issuer,
        )  # fmt: skip
        ids.add(claims["jti"])
        context = json.loads(base64.b64decode(headers["X-Trusted-Context"]))
        assert context["clientId"] == sim.triggers.client_id
    assert len(ids) == 4  # a fresh token per attempt
    assert [a.status for a in sim.triggers.attempts] == [503, 429, 500, 503]


async def test_no_retry_on_other_answers_nor_for_plain_triggers(sim: IntacctSimulator) -> None:
    receiver = Receiver([400, 503])
    runner, url = await serve(receiver)
    try:
        body = '{"object": "GLBATCH", "recordno": "{!GLBATCH.RECORDNO!}"}'
        sim.triggers.define(TriggerDefinition("GLBATCH", url, body, events=("add",)))
        sim.triggers.define(
            TriggerDefinition(
                "GLBATCH", url, body, events=("add",), headers={"X-Secret": "s"}, webhook=False
            )
        )
        sim.data.add_day(datetime.now() - timedelta(hours=1), batches=1, payments=0)
        assert await sim.triggers.drain(10)
    finally:
        await runner.cleanup()
    assert sorted(a.status or 0 for a in sim.triggers.attempts) == [400, 503]
    plain = [h for _, h, _ in receiver.seen if "X-Secret" in h]
    assert len(plain) == 1 and "Authorization" not in plain[0]
