"""Intacct triggers end to end, on SQLite and PostgreSQL: the simulated company sends its
triggers (the templates ``ml-connector intacct triggers`` prints) to the real web server; the
trigger worker reads the records through the gateway simulator; alerts reach the Slack
simulator; the scheduled run that follows posts nothing twice and misses nothing.

Expected alerts come from the simulator's records (``DaySummary``), never from the code under
test.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.delivery import DeliveryWorker
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.intacct.pipeline import IntacctPipeline
from ml_connector.intacct.trigger_auth import secret_name
from ml_connector.intacct.trigger_definitions import DEFINITIONS
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.runtime.trigger_reads import TriggerReadWorker
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.triggers import TriggerDefinition
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.vault import Vault
from ml_connector.web import create_app

from .conftest import FAST_DELIVERY, FAST_RETRIES, an_hour_ago, config_for

SECRET_HEADER = "X-MLC-Trigger-Secret"


async def _fake_run(_name: str, _trigger: str) -> RunOutcome:
    return RunOutcome("succeeded")


@dataclass
class Service:
    """The web server, the trigger worker and the delivery worker of one `serve`."""

    engine: AsyncEngine
    vault: Vault
    intacct: IntacctSimulator
    slack: SlackSimulator
    config: Config
    pipeline: IntacctPipeline
    url: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    runs: int = 0

    @property
    def events_url(self) -> str:
        return f"{self.url}/intacct/events/books"

    async def start(self) -> None:
        client = SlackClient(self.slack.bot_token, base_url=self.slack.base_url, timeout=2.0)
        self.gateway = ClientGateway({"default": client})
        delivery = DeliveryWorker(self.engine, self.gateway, FAST_DELIVERY)
        reads = TriggerReadWorker(
            self.engine,
            self.vault,
            self.config,
            {self.pipeline.name: self.pipeline},
            owner=f"test-{uuid.uuid4().hex[:6]}",
            on_queued=delivery.wake,
            poll=0.2,
        )
        app = create_app(
            self.config,
            self.engine,
            self.vault,
            _fake_run,
            freeze_gc=False,
            on_trigger=reads.wake,
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.tasks = [
            asyncio.create_task(delivery.run(self.stop)),
            asyncio.create_task(reads.run(self.stop)),
        ]

    async def close(self) -> None:
        self.stop.set()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        await self.gateway.aclose()
        await self.pipeline.aclose()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def define_triggers(self, *, webhook: bool, headers: dict[str, str] | None = None) -> None:
        for item in DEFINITIONS:
            self.intacct.triggers.define(
                TriggerDefinition(
                    item.object,
                    self.events_url,
                    item.body,
                    events=tuple(e.lower() for e in item.events),
                    headers=headers or {},
                    webhook=webhook,
                )
            )

    async def scheduled_run(self) -> RunOutcome:
        self.runs += 1
        ctx = RunContext(
            engine=self.engine,
            vault=self.vault,
            config=self.config,
            pipeline=self.pipeline.name,
            run_id=self.runs,
            trigger="schedule",
        )
        return await self.pipeline.run(ctx)

    def alerts(self) -> list[dict[str, Any]]:
        return self.slack.messages(self.slack.channel_id("alerts"))

    async def until(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)


def trigger_config(intacct: IntacctSimulator, slack: SlackSimulator, **triggers: Any) -> Config:
    data = config_for(intacct, slack).model_dump(exclude_none=True, exclude={"source"})
    settings = {
        "client_id": intacct.triggers.client_id,
        "jwt_issuer": intacct.triggers.issuer,
        "jwks_url": intacct.jwks_url,
        "coalesce_seconds": 0.5,
        "max_body_bytes": 4096,
        "max_depth": 6,
    }
    settings.update(triggers)
    data["connections"]["books"]["triggers"] = settings
    return Config.model_validate(data)


@pytest.fixture
async def service(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack_sim: SlackSimulator
) -> AsyncIterator[Service]:
    intacct_sim.triggers.time_scale = 0.01
    vault = Vault.ephemeral(engine)
    await vault.set("intacct/sender", intacct_sim.credentials.sender_password)
    await vault.set("intacct/user", intacct_sim.credentials.user_password)
    config = trigger_config(intacct_sim, slack_sim)
    pipeline = IntacctPipeline("intacct", config, retry=FAST_RETRIES)
    made = Service(engine, vault, intacct_sim, slack_sim, config, pipeline)
    await made.start()
    yield made
    await made.close()


def alert_keys(messages: list[dict[str, Any]]) -> list[str]:
    """What each alert is about: ``unbalanced:<batch>`` or ``payment:<recordno>``."""
    keys = []
    for message in messages:
        text = json.dumps(message["blocks"])
        if "Unbalanced" in message["text"]:
            keys.append("unbalanced:" + re.findall(r"record (\d+)", text)[0])
        else:
            keys.append("payment:" + re.findall(r"record (\d+)", text)[0])
    return sorted(keys)


def expected_keys(day: Any) -> list[str]:
    found = [f"unbalanced:{n}" for n in day.unbalanced_batches]
    found += [f"payment:{n}" for n in day.declined_payments + day.onhold_payments]
    return sorted(found)


async def test_webhook_triggers_alert_at_once_and_the_schedule_posts_nothing_twice(
    service: Service,
) -> None:
    service.define_triggers(webhook=True)
    day = service.intacct.data.add_day(
        an_hour_ago(), batches=2, payments=2, unbalanced_batches=1, declined_payments=1,
        onhold_payments=1,
    )  # fmt: skip
    expected = expected_keys(day)
    await service.until(lambda: len(service.alerts()) >= len(expected))
    assert await service.intacct.triggers.drain()
    # A GL batch's events (its own and every line's) coalesced into one alert; every
    # delivery was acknowledged at the first attempt.
    await asyncio.sleep(0.8)
    assert alert_keys(service.alerts()) == expected
    attempts = service.intacct.triggers.attempts
    assert {a.status for a in attempts} == {200}
    assert len(attempts) == len(service.intacct.triggers.fired)

    outcome = await service.scheduled_run()
    assert outcome.status == "succeeded", outcome.error
    assert outcome.details["already_queued"] == len(expected)
    await service.until(lambda: len(service.slack.messages(service.slack.channel_id("gl"))) == 1)
    await asyncio.sleep(0.3)
    assert alert_keys(service.alerts()) == expected


async def test_plain_trigger_with_the_issued_secret(service: Service) -> None:
    await service.vault.set(secret_name("books"), "s3cret-issued-by-trigger-secret")
    service.define_triggers(
        webhook=False, headers={SECRET_HEADER: "s3cret-issued-by-trigger-secret"}
    )
    day = service.intacct.data.add_day(an_hour_ago(), batches=1, payments=1, declined_payments=1)
    await service.until(lambda: len(service.alerts()) == 1)
    assert alert_keys(service.alerts()) == expected_keys(day)
    assert {a.number for a in service.intacct.triggers.attempts} == {1}


async def test_faults_duplicates_reordering_and_deleted_records(service: Service) -> None:
    faults = service.intacct.triggers.faults
    faults.duplicate, faults.reorder, faults.delete, faults.reorder_delay = 1.0, 0.5, 0.5, 0.3
    service.define_triggers(webhook=True)
    day = service.intacct.data.add_day(
        an_hour_ago(), batches=2, payments=3, unbalanced_batches=2, declined_payments=3,
    )  # fmt: skip
    assert await service.intacct.triggers.drain()
    emitter = service.intacct.triggers
    assert emitter.deleted, "the fault mode deleted no record"
    # Every event was delivered twice (first attempts; a 503 under load is retried, as
    # Intacct does), and every event was acknowledged in the end.
    assert sum(1 for a in emitter.attempts if a.number == 1) == 2 * len(emitter.fired)
    assert {a.idempotency_key for a in emitter.attempts if a.status == 200} == {
        f.idempotency_key for f in emitter.fired
    }
    deleted = {f"{'unbalanced' if o == 'GLBATCH' else 'payment'}:{n}"
               for o, n in service.intacct.triggers.deleted}  # fmt: skip
    assert deleted & set(expected_keys(day)), "no alerted record was deleted"
    surviving = sorted(set(expected_keys(day)) - deleted)
    await service.until(lambda: len(service.alerts()) >= len(surviving))
    await asyncio.sleep(1.0)
    assert alert_keys(service.alerts()) == surviving
    outcome = await service.scheduled_run()
    assert outcome.status == "succeeded", outcome.error
    await asyncio.sleep(0.5)
    assert alert_keys(service.alerts()) == surviving


@dataclass
class Poster:
    url: str
    session: aiohttp.ClientSession

    async def post(
        self, body: bytes | str, headers: dict[str, str], *, path: str = ""
    ) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        async with self.session.post(self.url + path, data=data, headers=headers) as response:
            return response.status, await response.text()


def metric(text: str, outcome: str, reason: str = "") -> float:
    pattern = (
        r'^mlc_intacct_trigger_requests_total\{outcome="' + outcome + r'",reason="' + reason
        + r'"\} ([0-9.e+]+)$'
    )  # fmt: skip
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def reads_missing(text: str) -> float:
    found = re.search(
        r'^mlc_intacct_trigger_reads_total\{outcome="missing"\} ([0-9.e+]+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


async def test_bad_input_is_refused_and_counted_never_5xx(service: Service) -> None:
    sim = service.intacct.triggers
    batch = service.intacct.data.records("GLBATCH")[0]["RECORDNO"]
    body = json.dumps({"object": "GLBATCH", "recordno": str(batch)})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def headers(token: str | None = None, key: str | None = None, **extra: str) -> dict[str, str]:
        made = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token or sim.sign()}",
            "X-Trusted-Context": sim.trusted_context(),
            "Idempotency-Key": key or uuid.uuid4().hex,
        }
        made.update(extra)
        return made

    forged = jwt.encode(
        {"iss": sim.issuer, "aud": sim.client_id, "exp": int(time.time()) + 300},
        other_key,
        algorithm="RS256",
        headers={"kid": sim.kid},
    )
    replayed = sim.sign()
    async with aiohttp.ClientSession() as session:
        poster = Poster(service.events_url, session)
        async with session.get(f"{service.url}/metrics") as response:
            before = await response.text()
        assert (await poster.post(body, headers(replayed)))[0] == 200
        cases: list[tuple[str, int, str, dict[str, str], bytes | str]] = [
            ("forged", 401, "forged", headers(forged), body),
            ("expired", 401, "expired", headers(sim.sign(exp=int(time.time()) - 600)), body),
            ("wrong audience", 401, "wrong_audience", headers(sim.sign(aud="someone-else")), body),
            ("wrong issuer", 401, "wrong_issuer", headers(sim.sign(iss="https://evil")), body),
            ("no expiry", 401, "forged", headers(sim.sign(exp=None)), body),
            (
                "trusted context of another client",
                401,
                "wrong_client",
                headers(**{"X-Trusted-Context": sim.trusted_context("other-client")}),
                body,
            ),
            ("replayed token", 401, "replayed", headers(replayed), body),
            ("nothing", 401, "missing", {"Content-Type": "application/json"}, body),
            ("wrong secret", 401, "forged", {SECRET_HEADER: "guess"}, body),
            ("not JSON or XML", 400, "", headers(**{"Content-Type": "text/plain"}), "hello"),
            ("broken JSON", 400, "", headers(), "{"),
            ("too large", 400, "", headers(), " " * 5000 + body),
            ("too deep JSON", 400, "", headers(), "[" * 10 + body + "]" * 10),
            (
                "too deep XML",
                400,
                "",
                headers(**{"Content-Type": "application/xml"}),
                "<a>" * 10 + "</a>" * 10,
            ),
            (
                "entity XML",
                400,
                "",
                headers(**{"Content-Type": "application/xml"}),
                '<!DOCTYPE e [<!ENTITY x "y">]><event><object>GLBATCH</object></event>',
            ),
            ("unwatched object", 400, "", headers(), '{"object": "CUSTOMER", "recordno": "1"}'),
            (
                "unfilled parameter",
                400,
                "",
                headers(),
                '{"object": "APPYMT", "recordno": "{!APPYMT.RECORDNO!}"}',
            ),
        ]
        for name, status, _reason, request_headers, request_body in cases:
            got, text = await poster.post(request_body, request_headers)
            assert got == status, (name, got, text)
        unknown = await poster.post(body, headers(), path="x")
        assert unknown[0] == 404
        # A retry (same idempotency key, fresh token) is acknowledged and adds nothing.
        key = uuid.uuid4().hex
        assert (await poster.post(body, headers(key=key)))[0] == 200
        got, text = await poster.post(body, headers(key=key))
        assert (got, json.loads(text)["duplicate"]) == (200, True)
        # A record that no longer exists: accepted, read, nothing posted.
        gone = json.dumps({"object": "APPYMT", "recordno": "999999"})
        assert (await poster.post(gone, headers()))[0] == 200
        for _ in range(100):
            async with session.get(f"{service.url}/metrics") as response:
                after = await response.text()
            if reads_missing(after) > reads_missing(before):
                break
            await asyncio.sleep(0.05)
    for reason in ("forged", "expired", "wrong_audience", "wrong_issuer", "wrong_client",
                   "replayed", "missing"):  # fmt: skip
        expected = sum(1 for c in cases if c[1] == 401 and c[2] == reason)
        assert metric(after, "unauthorized", reason) - metric(before, "unauthorized", reason) == (
            expected
        ), reason
    assert metric(after, "bad_request") - metric(before, "bad_request") == 8
    assert metric(after, "duplicate") - metric(before, "duplicate") == 1
    assert reads_missing(after) - reads_missing(before) == 1
    await asyncio.sleep(1.5)
    assert service.alerts() == []


async def test_plain_trigger_replayed_body_is_refused(service: Service) -> None:
    await service.vault.set(secret_name("books"), "another-secret")
    payment = service.intacct.data.records("APPYMT")[0]["RECORDNO"]
    body = json.dumps({"object": "APPYMT", "recordno": str(payment)})
    headers = {"Content-Type": "application/json", SECRET_HEADER: "another-secret"}
    async with aiohttp.ClientSession() as session:
        poster = Poster(service.events_url, session)
        assert (await poster.post(body, headers))[0] == 200
        assert (await poster.post(body, headers))[0] == 401


async def test_vendor_put_on_hold_alerts_its_recent_payments(service: Service) -> None:
    """Payments the next scheduled run will judge (modified since its cursor) are judged at
    once against the vendor's new state; the scheduled run then posts them not again."""
    day = service.intacct.data.add_day(an_hour_ago(), batches=0, payments=2)
    service.define_triggers(webhook=True)
    paid = service.intacct.data.get("APPYMT", day.payments[0])
    assert paid is not None
    vendor_key = paid["VENDORKEY"]
    assert isinstance(vendor_key, int)
    service.intacct.data.update("VENDOR", vendor_key, ONHOLD=True)
    to_vendor = sorted(
        f"payment:{n}"
        for n in day.payments
        if (p := service.intacct.data.get("APPYMT", n)) and p["VENDORKEY"] == vendor_key
    )
    await service.until(lambda: len(service.alerts()) >= len(to_vendor))
    await asyncio.sleep(0.5)
    assert alert_keys(service.alerts()) == to_vendor
    assert "vendor on hold" in json.dumps(service.alerts()[0]["blocks"])
    outcome = await service.scheduled_run()
    assert outcome.status == "succeeded", outcome.error
    assert outcome.details["already_queued"] == len(to_vendor)
