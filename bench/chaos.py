"""Chaos: three `serve` processes on PostgreSQL, faulty systems, random SIGKILLs.

The driver (this process) hosts the simulators with faults switched on — Intacct errors and
expired sessions, Sage 100 record locks, Slack 429s, 5xx and lost answers — and starts three
`ml-connector serve` processes sharing one PostgreSQL schema. For two minutes it adds source
records, starts on-demand `ml-connector run` processes every few seconds, and every few
seconds SIGKILLs a random process and starts it again. Then it lets the survivors finish and
counts:

- outbox level: every queued message must be in its channel exactly once (by the outbox id
  carried in the message metadata);
- source level: every AP invoice the driver created must appear in exactly one message.

Prints events, delivered, lost, duplicates, kills, faults injected; the goal is lost = 0 and
duplicates = 0.

    python bench/chaos.py                 # 2 minutes (needs MLC_TEST_POSTGRES_URL or --db)
    python bench/chaos.py --quick         # 30 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector.delivery.metadata import EVENT_TYPE
from ml_connector.runtime.demo import CHANNELS, TIMEZONE, config_text, local_now
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault, create_key_file, load_keyring
from ml_connector_agent.demo_data import SeedCounts
from ml_connector_agent.testing import running_agent

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def write_config(
    directory: Path, db_url: str, slack: SlackSimulator, intacct: IntacctSimulator, agent: Any
) -> Path:
    """The demo's config (both pipelines, every minute) on PostgreSQL, with short timeouts."""
    path = directory / "ml-connector.toml"
    path.write_text(
        config_text(
            slack,
            intacct,
            agent,
            cron="* * * * *",
            port=0,
            database_url=db_url,
            delivery={
                "post_interval": 0.2,
                "lease_seconds": 3,
                "history_interval": 2,
                "backoff_base": 0.2,
                "backoff_max": 2,
                "max_attempts": 50,
                "request_timeout": 2,
            },
        ),
        encoding="utf-8",
    )
    return path


class Fleet:
    """The processes under test: three `serve`s and short-lived `run`s."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config = config
        self.env = env
        self.serves: list[asyncio.subprocess.Process | None] = [None, None, None]
        self.runs: list[asyncio.subprocess.Process] = []
        self.kills = 0
        self.crashes = 0  # processes that exited on their own with an error

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ml_connector",
            *args,
            "--config",
            str(self.config),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def start_serve(self, n: int) -> None:
        self.serves[n] = await self.spawn("serve")

    async def start_run(self, pipeline: str) -> None:
        self.runs = [p for p in self.runs if p.returncode is None]
        self.runs.append(await self.spawn("run", pipeline))

    def count_crashes(self) -> None:
        for n, proc in enumerate(self.serves):
            if proc is not None and proc.returncode not in (None, -signal.SIGKILL):
                self.crashes += 1
                self.serves[n] = None

    async def kill_random(self, rng: random.Random) -> str:
        live_runs = [p for p in self.runs if p.returncode is None]
        if live_runs and rng.random() < 0.3:
            victim = rng.choice(live_runs)
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            self.kills += 1
            return "run"
        self.count_crashes()
        n = rng.randrange(3)
        proc = self.serves[n]
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            self.kills += 1
        await self.start_serve(n)
        return f"serve {n}"

    async def stop(self) -> None:
        for proc in [*self.serves, *self.runs]:
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.serves, *self.runs]:
            if proc is not None:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()


async def chaos(db_url: str, seconds: float, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    scoped_url = f"{db_url}?options=-csearch_path%3D{schema}"
    created_invoices: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlc-chaos-") as tmp:
            directory = Path(tmp)
            async with (
                SlackSimulator(
                    channels=list(dict.fromkeys(CHANNELS.values())),
                    post_interval=0.2,
                    history_interval=2.0,
                    seed=seed,
                ) as slack,
                IntacctSimulator(
                    seed=seed,
                    gl_entries=800,
                    vendors=40,
                    payments=40,
                    bills=60,
                    history_days=3,
                    timezone=TIMEZONE,
                ) as intacct,
                running_agent(
                    directory / "agent",
                    lock_attempts=1,
                    seed=SeedCounts(vendors=8, ap_invoices=0, purchase_orders=0, gl_registers=0),
                    clock=local_now,
                ) as agent,
            ):
                config = write_config(directory, scoped_url, slack, intacct, agent)
                create_key_file(directory / "data" / "master.key")
                engine = make_engine(scoped_url)
                await migrate(engine)
                vault = Vault(engine, load_keyring(directory / "data" / "master.key", environ={}))
                await vault.ensure_canary()
                await vault.set("slack.bot_token", slack.bot_token)
                await vault.set("intacct.sender_password", intacct.credentials.sender_password)
                await vault.set("intacct.user_password", intacct.credentials.user_password)
                await vault.set("sage100.client_key", agent.client_key.read_text())

                for kind in ("ratelimited", "http_503", "lost_answer", "drop"):
                    slack.faults.add(kind=kind, method="chat.postMessage", probability=0.06)
                intacct.faults.add("gw_0010", probability=0.1)
                intacct.faults.add("http_500", probability=0.1)
                planted = 0  # lock errors and session expiries the driver causes itself
                env = {k: v for k, v in os.environ.items() if k != "MLC_MASTER_KEY"}
                env["MLC_CONFIG"] = str(config)
                fleet = Fleet(config, env)
                for n in range(3):
                    await fleet.start_serve(n)
                deadline = time.monotonic() + seconds
                tick = 0
                while time.monotonic() < deadline:
                    await asyncio.sleep(2.0)
                    tick += 1
                    created_invoices.append(
                        await agent.backend.add_ap_invoice(
                            amount=Decimal(rng.randint(100, 99_999)) / 100
                        )
                    )
                    if tick % 3 == 0:
                        await agent.backend.add_purchase_order()
                        await agent.backend.inject_locks(1)
                        planted += 1
                    if tick % 5 == 0:
                        intacct.data.add_day(
                            datetime.now(intacct.data.timezone).replace(tzinfo=None),
                            batches=2,
                            payments=2,
                            unbalanced_batches=1,
                            declined_payments=1,
                        )
                    if tick % 7 == 0:
                        intacct.expire_sessions()
                        planted += 1
                    await fleet.start_run(rng.choice(["sage100", "sage100", "intacct"]))
                    if tick % 2 == 0:
                        await fleet.kill_random(rng)
                # Heal and let the fleet finish: one last run of each, then deliver.
                slack.faults.clear()
                intacct.faults.clear()
                await fleet.start_run("sage100")
                await fleet.start_run("intacct")
                settle = time.monotonic() + 120
                while time.monotonic() < settle:
                    await asyncio.sleep(1.0)
                    async with engine.connect() as conn:
                        waiting = await conn.scalar(
                            sa.select(sa.func.count()).where(
                                outbox.c.status.in_(["pending", "in_flight", "unknown", "held"])
                            )
                        )
                    runs_live = any(p.returncode is None for p in fleet.runs)
                    if not waiting and not runs_live:
                        break
                await fleet.stop()
                async with engine.connect() as conn:
                    rows = (await conn.execute(sa.select(outbox.c.id, outbox.c.status))).all()
                await engine.dispose()

                posted: Counter[int] = Counter()
                ap_texts: list[str] = []
                for name in dict.fromkeys(CHANNELS.values()):
                    for message in slack.messages(slack.channel_id(name)):
                        meta = message.get("metadata") or {}
                        if meta.get("event_type") == EVENT_TYPE:
                            posted[int(meta["event_payload"]["id"])] += 1
                        if name == CHANNELS["ap_invoices"]:
                            ap_texts.append(
                                str(message.get("text", "")) + str(message.get("blocks", ""))
                            )
                ids = {r.id for r in rows}
                invoice_hits = {
                    key: sum(key in text for text in ap_texts) for key in created_invoices
                }
                faults = (
                    sum(slack.faults.injected.values())
                    + sum(intacct.faults.injected.values())
                    + planted
                )
                return {
                    "source events (AP invoices created)": len(created_invoices),
                    "messages queued": len(ids),
                    "delivered": sum(1 for i in ids if posted[i] >= 1),
                    "lost (queued, never in channel)": sum(1 for i in ids if posted[i] == 0),
                    "duplicates (same outbox id twice)": sum(
                        c - 1 for c in posted.values() if c > 1
                    ),
                    "invoices never posted": sum(1 for h in invoice_hits.values() if h == 0),
                    "invoices posted twice": sum(1 for h in invoice_hits.values() if h > 1),
                    "kills": fleet.kills,
                    "serve crashes (not killed)": fleet.crashes,
                    "faults injected": faults,
                    "dead letters": sum(1 for r in rows if r.status == "dead"),
                }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 seconds instead of 120")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=os.environ.get("MLC_TEST_POSTGRES_URL", DEFAULT_DB))
    args = parser.parse_args()
    seconds = 30.0 if args.quick else args.seconds
    results = asyncio.run(chaos(args.db, seconds, args.seed))
    for key, value in results.items():
        print(f"{key:40} {value}")
    lost = results["lost (queued, never in channel)"] + results["invoices never posted"]
    dupes = results["duplicates (same outbox id twice)"] + results["invoices posted twice"]
    print(f"goal lost = 0 and duplicates = 0: {'met' if lost == 0 and dupes == 0 else 'MISSED'}")


if __name__ == "__main__":
    main()
