"""2,000 seeded requests as an attacker would send them, against the guarded server.

A third are forgeries of real requests (tampered body, wrong secret, stale or future
timestamp, missing or malformed headers, a signature of another body), a third are signed
but hostile (deep or broken JSON, huge, not UTF-8, odd forms), a third are genuine. Every
forgery must be refused and nothing it asked for done; no request may get a 5xx; none may
take 3 s or more.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from ml_connector.slack.signing import signed_headers
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import slack_events
from ml_connector.vault import Vault
from ml_connector.web import create_app
from ml_connector.web.app import app_runner

from .conftest import (
    ALLOWED_CHANNEL,
    ALLOWED_USER,
    SIGNING_REF,
    SIGNING_SECRET,
    TEAM_ID,
    FakeRunner,
    make_config,
)

REQUESTS = 2000
CONCURRENCY = 16
SLOWEST = 3.0


def genuine_event(rng: random.Random, n: int) -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": f"Ev{n:010d}",
            "event": {"type": rng.choice(["app_uninstalled", "tokens_revoked", "message"])},
        }
    ).encode()


def genuine_command(rng: random.Random, n: int) -> bytes:
    return urlencode(
        {
            "command": "/mlc",
            "text": rng.choice(["run intacct", "help", "nonsense", "run nothing"]),
            "user_id": ALLOWED_USER,
            "channel_id": ALLOWED_CHANNEL,
            "team_id": TEAM_ID,
            "trigger_id": str(n),
        }
    ).encode()


def hostile_body(rng: random.Random, path: str) -> bytes:
    choice = rng.randrange(7)
    if choice == 0:
        depth = rng.choice([65, 200, 1000, 5000])
        return b'{"type":"event_callback","a":' + b"[" * depth + b"]" * depth + b"}"
    if choice == 1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
    if choice == 2:
        return b'{"type":"event_callback","event_id":' + b"9" * rng.randrange(1, 5000) + b"}"
    if choice == 3:
        return json.dumps({"type": "url_verification", "challenge": [1, {"x": None}]}).encode()
    if choice == 4:
        return urlencode({"command": "/mlc", "text": "run " + "x" * 500, "user_id": ""}).encode()
    if choice == 5:
        return "\ud800\u202e<!channel>".encode("utf-8", "surrogatepass")
    return b"{" * rng.randrange(1, 70) + b'"a":1' + b"}" * rng.randrange(0, 70)


def forge(rng: random.Random, body: bytes, now: int) -> dict[str, str]:
    """Headers that must not verify for ``body``."""
    kind = rng.randrange(7)
    if kind == 0:  # signed with another secret
        return signed_headers("not-the-signing-secret", now, body)
    if kind == 1:  # stale, or in the future (400 s: still outside the window as the run goes on)
        return signed_headers(SIGNING_SECRET, now + rng.choice([-301, -86400, 400, 10**9]), body)
    if kind == 2:  # the signature of a different body
        return signed_headers(SIGNING_SECRET, now, body + b" ")
    if kind == 3:
        return {"X-Slack-Request-Timestamp": str(now)}
    if kind == 4:
        headers = signed_headers(SIGNING_SECRET, now, body)
        sig = headers["X-Slack-Signature"]
        headers["X-Slack-Signature"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        return headers
    if kind == 5:
        headers = signed_headers(SIGNING_SECRET, now, body)
        headers["X-Slack-Request-Timestamp"] = str(now + 1)
        return headers
    return {"X-Slack-Signature": "v1=" + "a" * 64, "X-Slack-Request-Timestamp": "now"}


async def test_two_thousand_hostile_requests(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    await migrate(engine)
    vault = Vault.ephemeral(engine)
    await vault.set(SIGNING_REF, SIGNING_SECRET)
    config = make_config()
    fake = FakeRunner()
    app = create_app(config, engine, vault, fake, freeze_gc=False)
    runner = app_runner(app, config)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    rng = random.Random(15)
    statuses: dict[str, list[int]] = {"forged": [], "hostile": [], "genuine": []}
    slowest = 0.0
    accepted: list[tuple[str, bytes, dict[str, str]]] = []
    slowest_request: list[object] = []
    queued: list[str] = []  # genuine runs answered "queued" (a busy database answers "busy")
    genuine_runs = 0
    forged_event_ids: set[str] = set()
    queue: asyncio.Queue[tuple[str, str, bytes, dict[str, str]]] = asyncio.Queue()
    now = int(time.time())
    for n in range(REQUESTS):
        path = rng.choice(["/slack/events", "/slack/commands"])
        content_type = (
            "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
        )
        kind = ("forged", "hostile", "genuine")[n % 3]
        if kind == "hostile":
            body = hostile_body(rng, path)
            headers = signed_headers(SIGNING_SECRET, now, body)
        else:
            body = (genuine_event if path.endswith("events") else genuine_command)(rng, n)
            if kind == "forged":
                headers = forge(rng, body, now)
                if path.endswith("events"):
                    forged_event_ids.add(f"Ev{n:010d}")
            else:
                headers = signed_headers(SIGNING_SECRET, now, body)
                genuine_runs += path.endswith("commands") and b"run+intacct" in body
        queue.put_nowait((kind, path, body, {"Content-Type": content_type, **headers}))

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal slowest
        while not queue.empty():
            kind, path, body, headers = queue.get_nowait()
            started = time.monotonic()
            async with http.post(base + path, data=body, headers=headers) as answer:
                content = await answer.read()
                if kind == "genuine" and b"Queued a run" in content:
                    queued.append(path)
                statuses[kind].append(answer.status)
                if kind == "forged" and answer.status != 401:
                    accepted.append((path, body[:120], headers))
            elapsed = time.monotonic() - started
            if elapsed > slowest:
                slowest = elapsed
                slowest_request[:] = [kind, path, body[:60], answer.status]

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        await asyncio.sleep(0.3)  # events are recorded after their answer
    finally:
        await runner.cleanup()
    async with engine.connect() as conn:
        recorded = set((await conn.execute(sa.select(slack_events.c.event_id))).scalars())
    await engine.dispose()
    every = [s for group in statuses.values() for s in group]
    assert len(every) == REQUESTS
    assert not [s for s in every if s >= 500], sorted(set(every))
    assert not accepted, accepted[:3]
    assert set(statuses["forged"]) == {401}, sorted(set(statuses["forged"]))
    assert not forged_event_ids & recorded
    assert set(statuses["genuine"]) == {200}
    # Every run answered "queued" started, and no other: none of the forged ones.
    assert len(fake.calls) == len(queued) and 0 < len(queued) <= genuine_runs
    assert slowest < SLOWEST, f"slowest answer {slowest:.2f} s: {slowest_request}"
