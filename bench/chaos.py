"""Chaos: both pipelines under faults, on SQLite and PostgreSQL; every source event must reach
Slack exactly once.

The driver (this process) hosts the Slack and Intacct simulators with faults switched on
(Slack 429s, 5xx and lost answers; Intacct errors and expired sessions) and starts:

- the demo Sage 100 agent as its own process (so it can be SIGKILLed), on a fixed port and
  data folder; the driver plays the Sage 100 users by writing to the agent's demo tables;
- on SQLite, one ``ml-connector serve`` (its data folder on a small tmpfs); on PostgreSQL,
  three ``serve`` processes sharing one database of a PRIVATE PostgreSQL server this script
  starts (initdb + pg_ctl, free port, temp dir, data on a small tmpfs) and stops;
- on-demand ``ml-connector run`` processes every other tick, and every few ticks a SIGKILL of
  a ``serve`` that has been up 15 s (it is started again at once).

Every tick it adds source events: a Sage 100 AP invoice (some over the approvals threshold,
so they are posted in two channels), purchase orders, GL registers, new GL accounts and
changes to existing ones; Intacct GL batches (one unbalanced) and payments (one declined).
Mid-run it injects the faults: the agent killed and restarted on the same port and folder,
the disk filled and freed, PostgreSQL restarted (``pg_ctl restart -m fast``).

Then it heals the simulators, lets the fleet finish and counts (bench/chaos_count.py): every
message in every channel, with or without metadata, against every source event, matched by
content. Prints stream × database: expected, delivered, lost, duplicates; a line per fault with
when it happened and how long delivery took to resume; exits 1 unless lost = 0 and
duplicates = 0 (and no message is unexplained).

    python bench/chaos.py                   # SQLite then PostgreSQL, 60 s of chaos each
    python bench/chaos.py --seconds 300     # longer
    python bench/chaos.py --databases sqlite --quick
    python bench/chaos.py --calm            # no faults: the baseline to compare with
    python bench/chaos.py --plant           # proves the counting: must end lost 1, dupes 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import chaos_count as count
from chaos_count import Event, Report, Tally
from ml_connector.config import load_config
from ml_connector.runtime.demo import CHANNELS, TIMEZONE, config_text, local_now
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.dataset import DaySummary
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault, create_key_file, load_keyring
from ml_connector_agent.demo_data import DemoStore, connect

APPROVAL_THRESHOLD = Decimal(10000)  # demo.config_text's approvals route: InvoiceAmt >= 10000
STREAMS = ("ap_invoices", "purchase_orders", "gl_postings", "gl_accounts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- the systems the faults hit ------------------------------------------------------------------


class TinyDisk:
    """A tmpfs of ``size`` at ``path`` (root only); ``fill`` leaves it without a free byte."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        self.mounted = done.returncode == 0
        self.why = done.stderr.strip()

    def fill(self) -> None:
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                chunk = b"\0" * size
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, chunk)
        finally:
            os.close(fd)

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / "filler").unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


class PrivatePostgres:
    """A PostgreSQL server of the bench's own (never the shared one on 5432)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bin = Path(bins[-1]).parent if bins else None
        self.port = free_port()
        self.disk: TinyDisk | None = None
        self.data = directory / "pgdata"
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        opts = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        return subprocess.run(
            [*self.user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
             "-l", str(self.directory / "pg.log"), "-o", opts, *args],
            capture_output=True, text=True, check=False, timeout=90,
        )  # fmt: skip

    def start(self) -> str | None:
        """Init and start; None (with the reason printed) when this machine cannot."""
        if self.bin is None:
            print("  no initdb under /usr/lib/postgresql/*/bin: no private PostgreSQL")
            return None
        # The data folder on a tmpfs of its own, so the disk can be filled under PostgreSQL.
        self.disk = TinyDisk(self.directory / "pgdisk", "160m")
        if self.disk.mounted:
            self.data = self.disk.path / "pgdata"
        if self.user:
            shutil.chown(self.directory, "postgres")
            if self.disk.mounted:
                shutil.chown(self.disk.path, "postgres")
        done = subprocess.run(
            [*self.user, str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres", "--no-sync", "--wal-segsize=1"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            print(f"  initdb failed ({done.stderr.strip()[:200]}): no private PostgreSQL")
            return None
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("min_wal_size = 4MB\nmax_wal_size = 16MB\nmax_connections = 200\n")
        started = self._ctl("start")
        if started.returncode != 0:
            print(f"  pg_ctl start failed: {started.stderr.strip()[:200]}")
            return None
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def restart(self) -> bool:
        return self._ctl("restart", "-m", "fast").returncode == 0

    def ensure_up(self) -> None:
        if self._ctl("status").returncode != 0:
            self._ctl("start")

    def stop(self) -> None:
        if self.bin is not None and self.data.exists():
            self._ctl("stop", "-m", "fast")
        if self.disk is not None:
            self.disk.unmount()


class AgentProcess:
    """The demo Sage 100 agent in a process of its own (this script, ``--agent-child``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--agent-child", str(self.directory), str(self.port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        self.url = line.decode().strip()
        if not self.url.startswith("https://"):
            raise RuntimeError(f"the agent did not start: {line!r}")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()


async def agent_child(directory: Path, port: int) -> None:
    """Run the demo agent until SIGTERM; print its URL when it listens."""
    from ml_connector_agent.demo_data import SeedCounts
    from ml_connector_agent.testing import running_agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with running_agent(
        directory,
        lock_attempts=1,
        seed=SeedCounts(vendors=8, ap_invoices=0, purchase_orders=0, gl_registers=0),
        clock=local_now,
        port=port,
    ) as agent:
        print(agent.url, flush=True)
        n = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 7.0)
            n += 1
            if n % 2 == 0:  # another Sage 100 user holds a record now and then
                await agent.backend.inject_locks(1)


@dataclass
class AgentStandIn:
    """What demo.config_text reads of a running agent."""

    url: str
    companies: list[str]
    ca_file: Path
    client_cert: Path


# -- the source events ---------------------------------------------------------------------------


@dataclass
class Sources:
    """The source events the driver caused, as the source systems recorded them."""

    events: list[Event] = field(default_factory=list)
    gl_batches: int = 0
    gl_lines: int = 0
    payments: int = 0

    def tallies(self) -> list[Tally]:
        return [
            count.gl_batches("Intacct · GL summaries (batches)", CHANNELS["gl"], self.gl_batches),
            count.gl_lines("Intacct · GL summaries (lines)", CHANNELS["gl"], self.gl_lines),
            count.payments("Intacct · payment summaries", CHANNELS["payments"], self.payments),
        ]


class Sage100User:
    """Plays the Sage 100 users: writes straight into the demo agent's company file."""

    def __init__(self, data_file: Path, sources: Sources, rng: random.Random) -> None:
        self.store = DemoStore(connect(data_file), clock=local_now, seed=rng.randrange(1 << 30))
        self.sources = sources
        self.rng = rng
        # Accounts that predate the bench, each changed at most once (one change, one message).
        self.unchanged = self.store.account_keys()
        rng.shuffle(self.unchanged)
        self.accounts = 0

    def _txn(self, fn: Callable[[], Any]) -> Any:
        """One transaction, as Sage 100 writes a register: a read never sees half of it."""
        self.store.conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            self.store.conn.execute("ROLLBACK")
            raise
        self.store.conn.execute("COMMIT")
        return result

    def tick(self, n: int) -> None:
        events = self.sources.events
        amount = Decimal(self.rng.randint(100, 1_600_000)) / 100
        if n % 9 == 4:
            amount = -amount / 10  # a credit memo now and then
        key = self._txn(lambda: self.store.add_ap_invoice(amount=amount))
        number = key.split("-", 2)[2]
        events.append(count.ap_invoice("Sage 100 · AP invoices", CHANNELS["ap_invoices"], number))
        if amount >= APPROVAL_THRESHOLD:
            row = "Sage 100 · AP invoices, approvals route"
            events.append(count.ap_invoice(row, CHANNELS["approvals"], number))
        if n % 3 == 0:
            po = self._txn(self.store.add_purchase_order)
            row = "Sage 100 · purchase orders"
            events.append(count.purchase_order(row, CHANNELS["purchase_orders"], po))
        if n % 4 == 1:
            journal, register, _ = self._txn(lambda: self.store.add_gl_register(line_count=4))
            row = "Sage 100 · GL postings (registers)"
            events.append(count.gl_register(row, CHANNELS["gl_postings"], f"{journal}-{register}"))
        if n % 5 == 2:
            self.accounts += 1
            account = f"7{self.accounts:03d}-99-00"
            self._txn(lambda: self.store.add_gl_account(account, f"Bench account {self.accounts}"))
            row = "Sage 100 · GL accounts (new)"
            events.append(count.gl_account(row, CHANNELS["gl_postings"], account))
        if n % 5 == 4 and self.unchanged:
            account_key = self.unchanged.pop()
            found = self.store.conn.execute(
                "SELECT Account FROM GL_Account WHERE AccountKey = ?", (account_key,)
            ).fetchone()
            self._txn(lambda: self.store.change_gl_account(account_key, AccountDesc=f"Renamed {n}"))
            row = "Sage 100 · GL accounts (changed)"
            events.append(count.gl_account(row, CHANNELS["gl_postings"], str(found["Account"])))

    def tables_disagree(self) -> list[str]:
        """Where the agent's own tables hold a record the bench did not count (or the other
        way round): the seed holds no invoice, PO or register, so every one is the bench's."""
        conn = self.store.conn
        found = {
            "Sage 100 · AP invoices": {
                str(r[0])
                for r in conn.execute(
                    "SELECT InvoiceNo FROM AP_InvoiceHeader "
                    "UNION SELECT InvoiceNo FROM AP_OpenInvoice"
                )
            },
            "Sage 100 · purchase orders": {
                str(r[0])
                for r in conn.execute("SELECT PurchaseOrderNo FROM PO_PurchaseOrderHeader")
            },
            "Sage 100 · GL postings (registers)": {
                f"{r[0]}-{r[1]}"
                for r in conn.execute(
                    "SELECT DISTINCT SourceJournal, JournalRegisterNo FROM GL_DetailPosting"
                )
            },
            "Sage 100 · GL accounts (new)": {
                str(r[0])
                for r in conn.execute(
                    "SELECT Account FROM GL_Account WHERE Account LIKE '7___-99-00'"
                )
            },
        }
        return disagreements(found, self.sources.events)

    def close(self) -> None:
        self.store.conn.close()


def disagreements(found: dict[str, set[str]], events: list[Event]) -> list[str]:
    problems = []
    for row, keys in found.items():
        counted = {e.key for e in events if e.row == row}
        if keys != counted:
            problems.append(f"{row}: source holds {len(keys)}, the bench counted {len(counted)}")
    return problems


def intacct_disagrees(intacct: IntacctSimulator, sources: Sources, since: datetime) -> list[str]:
    """The simulator's own records modified since the bench began, against what it counted."""
    data = intacct.data

    def recent(name: str) -> list[dict[str, Any]]:
        return [r for r in data.records(name) if r["WHENMODIFIED"] >= since]  # type: ignore[operator]

    problems = []
    if len(recent("GLBATCH")) != sources.gl_batches:
        problems.append(
            f"Intacct GLBATCH: {len(recent('GLBATCH'))} new, counted {sources.gl_batches}"
        )
    if len(recent("APPYMT")) != sources.payments:
        problems.append(f"Intacct APPYMT: {len(recent('APPYMT'))} new, counted {sources.payments}")
    return problems


def intacct_day(intacct: IntacctSimulator, sources: Sources) -> None:
    """A day's postings in Intacct: two batches (one unbalanced more), three payments (one of
    them declined)."""
    data = intacct.data
    day: DaySummary = data.add_day(
        datetime.now(data.timezone).replace(tzinfo=None),
        batches=2,
        payments=2,
        unbalanced_batches=1,
        declined_payments=1,
    )
    sources.gl_batches += len(day.glbatches)
    sources.gl_lines += len(day.glentries)
    sources.payments += len(day.payments)
    alerts = CHANNELS["alerts"]
    for recordno in day.unbalanced_batches:
        batch = data.get("GLBATCH", recordno)
        assert batch is not None
        row = "Intacct · unbalanced-entry alerts"
        journal, batchno = str(batch["JOURNAL"]), str(batch["BATCHNO"])
        sources.events.append(count.unbalanced_batch(row, alerts, journal, batchno))
    for recordno in day.declined_payments:
        row = "Intacct · vendor-exception alerts"
        sources.events.append(count.vendor_exception(row, alerts, str(recordno)))


# -- the connector -------------------------------------------------------------------------------


class Fleet:
    """The processes under test: ``serve``s and short-lived ``run``s."""

    def __init__(self, config: Path, env: dict[str, str], serves: int, logs: Path) -> None:
        self.config = config
        self.env = env
        self.logs = logs  # each serve's output, for tracing a loss or a stall
        logs.mkdir(parents=True, exist_ok=True)
        self.serves: list[asyncio.subprocess.Process | None] = [None] * serves
        self.runs: list[asyncio.subprocess.Process] = []
        self.started = [0.0] * serves
        self.kills = 0
        self.crashes = 0  # serve processes that exited on their own

    async def spawn(self, *args: str, log_to: Path | None = None) -> asyncio.subprocess.Process:
        out = log_to.open("ab") if log_to is not None else None
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ml_connector", *args, "--config", str(self.config),
                env=self.env, stdout=out or asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT if out else asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            if out is not None:
                out.close()

    async def start_serve(self, n: int) -> None:
        self.serves[n] = await self.spawn("serve", log_to=self.logs / f"serve-{n}.log")
        self.started[n] = time.monotonic()

    async def start_run(self, pipeline: str, *, always: bool = False) -> None:
        self.runs = [p for p in self.runs if p.returncode is None]
        if always or len(self.runs) < 4:  # bounded: a stalled database must not pile them up
            self.runs.append(await self.spawn("run", pipeline, log_to=self.logs / "runs.log"))

    async def mend(self) -> None:
        """Count serves that died on their own, and start them again."""
        for n, proc in enumerate(self.serves):
            if proc is not None and proc.returncode not in (None, -signal.SIGKILL):
                self.crashes += 1
                log(f"serve {n} exited by itself (code {proc.returncode}); started again")
                await self.start_serve(n)

    async def kill_random(self, rng: random.Random, min_uptime: float) -> None:
        """SIGKILL a serve that has been up ``min_uptime`` seconds, and start it again.

        A serve killed before it is up (on a loaded machine it takes seconds to start) would
        never deliver anything: the bench would test restarts, not delivery under faults.
        """
        now = time.monotonic()
        ready = [
            n
            for n, proc in enumerate(self.serves)
            if proc is not None and proc.returncode is None and now - self.started[n] >= min_uptime
        ]
        if not ready:
            return
        n = rng.choice(ready)
        proc = self.serves[n]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.kills += 1
        await self.start_serve(n)

    def live_runs(self) -> bool:
        return any(p.returncode is None for p in self.runs)

    async def stop(self) -> None:
        procs = [p for p in [*self.serves, *self.runs] if p is not None]
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass
class Fault:
    name: str
    started: float  # time.time()
    ended: float
    note: str = ""

    def line(self, t0: float, posts: list[float]) -> str:
        after = [ts for ts in posts if ts > self.ended]
        resumed = f"{min(after) - self.ended:5.1f} s" if after else "never"
        return (
            f"  {self.name:34} at {self.started - t0:5.1f} s, lasted "
            f"{self.ended - self.started:4.1f} s; recovered (first Slack post after it): {resumed}"
            + (f"  ({self.note})" if self.note else "")
        )


@dataclass
class Outcome:
    report: Report
    faults: list[Fault]
    t0: float
    posts: list[float]
    facts: dict[str, object]


@contextlib.asynccontextmanager
async def simulators(seed: int) -> AsyncIterator[tuple[SlackSimulator, IntacctSimulator]]:
    # Intacct history ends three days ago: the first read (24 h back) finds none of it, so
    # every batch and payment in a window is one this bench added.
    async with (
        SlackSimulator(
            channels=list(dict.fromkeys(CHANNELS.values())),
            post_interval=0.2,
            history_interval=2.0,
            seed=seed,
        ) as slack,
        IntacctSimulator(
            seed=seed,
            gl_entries=200,
            vendors=40,
            payments=20,
            bills=30,
            history_days=3,
            as_of=local_now().replace(microsecond=0) - timedelta(days=3),
            timezone=TIMEZONE,
        ) as intacct,
    ):
        yield slack, intacct


def write_config(
    directory: Path,
    db_url: str | None,
    slack: SlackSimulator,
    intacct: IntacctSimulator,
    agent: AgentStandIn,
) -> Path:
    """The demo's config (both pipelines, every minute) with short timeouts; every event of a
    poll posted on its own (no digest), so each message names its record."""
    text = config_text(
        slack,
        intacct,
        agent,  # type: ignore[arg-type]  # what config_text reads of a RunningAgent
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
    )
    for stream in STREAMS:
        header = f"[pipelines.sage100.streams.{stream}]\n"
        text = text.replace(header, f"{header}digest_threshold = 1000\n")
    path = directory / "ml-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def store_secrets(config_path: Path, slack: SlackSimulator, intacct: IntacctSimulator,
                        agent_dir: Path) -> None:  # fmt: skip
    config = load_config(config_path)
    create_key_file(config.key_file)
    engine = make_engine(config.db_url)
    await migrate(engine)
    vault = Vault(engine, load_keyring(config.key_file, environ={}))
    await vault.ensure_canary()
    creds = intacct.credentials
    await vault.set("slack.bot_token", slack.bot_token)
    await vault.set("slack.signing_secret", "bench-signing-secret")
    await vault.set("intacct.sender_password", creds.sender_password)
    await vault.set("intacct.user_password", creds.user_password)
    key = (agent_dir / "connector" / "client.key").read_text(encoding="utf-8")
    await vault.set("sage100.client_key", key)
    await engine.dispose()


async def run_statuses(db_url: str) -> str:
    """How the runs ended, and their distinct errors (what a loss would be traced to)."""
    from ml_connector.store.tables import runs

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(runs.c.pipeline, runs.c.status, runs.c.error))
            ).all()
    finally:
        await engine.dispose()
    counts = Counter(f"{r.pipeline} {r.status}" for r in rows)
    errors = Counter(str(r.error)[:160] for r in rows if r.error)
    text = ", ".join(f"{k} ×{n}" for k, n in sorted(counts.items()))
    return text + "".join(f"\n      error ×{n}: {e}" for e, n in errors.most_common(4))


async def waiting_messages(db_url: str) -> dict[str, int] | None:
    """Outbox rows not settled yet, by status (None while the database does not answer)."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(outbox.c.status, sa.func.count())
                .where(outbox.c.status.in_(["pending", "in_flight", "unknown", "held"]))
                .group_by(outbox.c.status)
            )
            return {str(status): int(n) for status, n in rows}
    except Exception:  # the database is what the faults hit
        return None
    finally:
        await engine.dispose()


async def chaos(
    database: str,
    seconds: float,
    seed: int,
    tmp: Path,
    shared_pg: str | None = None,
    plant: bool = False,
    kill_every: int = 4,
    calm: bool = False,
) -> Outcome | None:
    rng = random.Random(seed)
    directory = tmp / database
    directory.mkdir()
    disk: TinyDisk | None = None
    pg: PrivatePostgres | None = None
    db_url: str | None = None
    schema: tuple[str, str] | None = None  # (server URL, schema) of a fallback PostgreSQL
    notes: list[str] = []
    if database == "sqlite":
        disk = TinyDisk(directory / "data", "24m")
        if not disk.mounted:
            notes.append(f"cannot mount a tmpfs ({disk.why}): no disk fault on SQLite")
        serves = 1
    else:
        pg = PrivatePostgres(Path(tempfile.mkdtemp(prefix="mlc-chaos-pg-")))
        db_url = pg.start() if shared_pg is None else None
        if db_url is None:
            fallback = shared_pg or os.environ.get("MLC_BENCH_POSTGRES_URL")
            if not fallback:
                print("  no private PostgreSQL and no MLC_BENCH_POSTGRES_URL: PostgreSQL skipped")
                pg.stop()
                shutil.rmtree(pg.directory, ignore_errors=True)
                return None
            notes.append(
                "no private PostgreSQL: on MLC_BENCH_POSTGRES_URL (or --postgres-url), in a "
                "schema of its own, WITHOUT the PostgreSQL restart and the disk fault"
            )
            pg.stop()
            shutil.rmtree(pg.directory, ignore_errors=True)
            pg, schema = None, (fallback, f"chaos_{os.getpid()}_{int(time.time())}")
            db_url = create_schema(*schema)
        elif pg.disk is None or not pg.disk.mounted:
            notes.append("PostgreSQL's data not on a tmpfs: no disk fault on PostgreSQL")
        serves = 3
    for note in notes:
        print(f"  NOTE: {note}")
    sources = Sources()
    faults: list[Fault] = []
    agent = AgentProcess(directory / "agent")
    user: Sage100User | None = None
    try:
        async with simulators(seed) as (slack, intacct):
            await agent.start()
            stand_in = AgentStandIn(
                agent.url,
                ["ABC"],
                agent.directory / "certs" / "ca.pem",
                agent.directory / "connector" / "client.pem",
            )
            config = write_config(directory, db_url, slack, intacct, stand_in)
            await store_secrets(config, slack, intacct, agent.directory)
            full_url = load_config(config).db_url
            env = {k: v for k, v in os.environ.items() if k != "MLC_MASTER_KEY"}
            env["MLC_CONFIG"] = str(config)
            fleet = Fleet(config, env, serves, tmp / f"logs-{database}")
            # The first runs set the cursors (Sage 100 starts at the agent's now): the events
            # come after them.
            for pipeline in ("sage100", "intacct"):
                run = await fleet.spawn("run", pipeline, "--wait", "--timeout", "60")
                await asyncio.wait_for(run.wait(), 120)
            data_file = next((agent.directory).rglob("MAS_ABC.db"))
            user = Sage100User(data_file, sources, rng)
            since = local_now().replace(microsecond=0)
            for kind in ("ratelimited", "http_503", "lost_answer", "drop"):
                if not calm:
                    slack.faults.add(kind=kind, method="chat.postMessage", probability=0.06)
            if not calm:
                intacct.faults.add("gw_0010", probability=0.15)
                intacct.faults.add("http_500", probability=0.15)
            for n in range(serves):
                await fleet.start_serve(n)
            t0 = time.time()
            plan = {
                "agent": 0.2 * seconds,
                "disk": 0.45 * seconds,
                "postgres": 0.7 * seconds,
            }
            if disk is None and (pg is None or pg.disk is None or not pg.disk.mounted):
                plan.pop("disk")
            if database == "sqlite" or pg is None:
                plan.pop("postgres")
            if disk is not None and not disk.mounted:
                plan.pop("disk", None)
            if calm:
                plan.clear()
            tick, expiries = 0, 0
            injecting: list[asyncio.Task[Fault]] = []
            while time.time() - t0 < seconds:
                await asyncio.sleep(2.0)
                tick += 1
                user.tick(tick)
                if tick % 4 == 0:
                    intacct_day(intacct, sources)
                if tick % 9 == 0 and not calm:
                    intacct.expire_sessions()
                    expiries += 1
                if tick % 2 == 1:  # an operator's `run` now and then, beside the schedules
                    await fleet.start_run(rng.choice(["sage100", "intacct"]))
                await fleet.mend()
                if kill_every and tick % kill_every == kill_every // 2:
                    await fleet.kill_random(rng, min_uptime=15.0)
                elapsed = time.time() - t0
                for name in [k for k, at in plan.items() if elapsed >= at]:
                    plan.pop(name)
                    # In the background: the Sage 100 users and Intacct go on meanwhile.
                    injecting.append(asyncio.create_task(inject(name, agent, disk, pg)))
            faults.extend(await asyncio.gather(*injecting))
            # Heal and let the fleet finish: one last run of each pipeline, then deliver.
            healed = time.time()
            slack.faults.clear()
            intacct.faults.clear()
            if pg is not None:
                pg.ensure_up()
            await fleet.mend()
            for pipeline in ("sage100", "intacct"):
                await fleet.start_run(pipeline, always=True)
            settle = time.time() + 150
            while time.time() < settle:
                await asyncio.sleep(1.0)
                await fleet.mend()
                waiting = await waiting_messages(full_url)
                if waiting == {} and not fleet.live_runs():
                    break
            settled = time.time() - healed
            await fleet.stop()
            waiting = await waiting_messages(full_url)
            channels = {
                name: slack.messages(slack.channel_id(name))
                for name in dict.fromkeys(CHANNELS.values())
            }
            disagree = user.tables_disagree() + intacct_disagrees(intacct, sources, since)
            if plant:  # the counting's own check: one message taken away, one posted twice
                channels[CHANNELS["ap_invoices"]].pop(0)
                channels[CHANNELS["gl_postings"]].append(channels[CHANNELS["gl_postings"]][0])
            report = count.count(sources.events, sources.tallies(), channels, count.NOTICES)
            posts = [float(m["ts"]) for msgs in channels.values() for m in msgs]
            with_metadata = sum(1 for msgs in channels.values() for m in msgs if m.get("metadata"))
            facts: dict[str, object] = {
                "serve processes": serves,
                "messages in channels (with metadata)": f"{len(posts)} ({with_metadata})",
                "posted during the chaos / after healing": (
                    f"{sum(t0 <= ts < healed for ts in posts)} / "
                    f"{sum(ts >= healed for ts in posts)}"
                ),
                "settled after healing (runs over, outbox empty)": f"{settled:.1f} s",
                "still queued at the end": (
                    "none"
                    if waiting == {}
                    else ", ".join(f"{k} ×{n}" for k, n in (waiting or {"(no answer)": 1}).items())
                ),
                "source tables vs events counted": "; ".join(disagree) or "agree",
                "runs": await run_statuses(full_url),
                "serve SIGKILLs": fleet.kills,
                "serve crashes (not killed)": fleet.crashes,
                "Slack faults injected": sum(slack.faults.injected.values()),
                "Intacct faults injected": sum(intacct.faults.injected.values()) + expiries,
            }
            report.source_problems = disagree
            return Outcome(report, faults, t0, posts, facts)
    finally:
        if user is not None:
            user.close()
        await agent.stop()
        if disk is not None:
            disk.free()
            disk.unmount()
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.directory, ignore_errors=True)
        if schema is not None:
            drop_schema(*schema)


def create_schema(url: str, schema: str) -> str:
    """A schema of the bench's own on a shared server; the URL that works inside it."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


async def inject(
    name: str, agent: AgentProcess, disk: TinyDisk | None, pg: PrivatePostgres | None
) -> Fault:
    started = time.time()
    if name == "agent":
        await agent.kill()
        log("agent SIGKILLed")
        await asyncio.sleep(4.0)
        begun = time.time()
        await agent.start()
        log(f"agent started again at {agent.url}")
        note = f"down 4 s, then {time.time() - begun:.1f} s to listen again"
        return Fault("agent SIGKILL, restarted", started, time.time(), note)
    if name == "postgres":
        assert pg is not None
        ok = await asyncio.to_thread(pg.restart)
        log(f"PostgreSQL restarted ({'ok' if ok else 'FAILED'})")
        return Fault("PostgreSQL pg_ctl restart -m fast", started, time.time())
    target = disk if disk is not None else (pg.disk if pg is not None else None)
    assert target is not None
    await asyncio.to_thread(target.fill)
    log(f"disk full ({target.path})")
    await asyncio.sleep(6.0)
    target.free()
    log("disk space freed")
    note = ""
    if pg is not None and disk is None:
        # PostgreSQL may have stopped on a full WAL disk; it is started again if so.
        note = "PostgreSQL's disk"
        await asyncio.to_thread(pg.ensure_up)
    return Fault("disk filled then freed", started, time.time(), note)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--agent-child":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(agent_child(Path(sys.argv[2]), int(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="chaos per database")
    parser.add_argument("--quick", action="store_true", help="30 seconds per database")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument(
        "--postgres-url",
        help="use this PostgreSQL server (in a schema of the bench's own) instead of a private "
        "one; it is never restarted, so the restart and disk faults are left out",
    )
    parser.add_argument(
        "--plant",
        action="store_true",
        help="check the counting: remove one delivered message and repeat another before "
        "counting (the bench must then report lost = 1 and duplicates = 1 and exit 1)",
    )
    parser.add_argument(
        "--kill-every",
        type=int,
        default=4,
        help="every N ticks of 2 s, SIGKILL a serve that has been up 15 s (0: never)",
    )
    parser.add_argument(
        "--calm", action="store_true", help="no faults and no kills: the baseline to compare with"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy each serve's log into this folder")
    args = parser.parse_args()
    seconds = 30.0 if args.quick else args.seconds
    reports: dict[str, Report] = {}
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="mlc-chaos-") as tmp:
        for database in args.databases.split(","):
            print(f"== {database}: {seconds:.0f} s of chaos", flush=True)
            outcome = asyncio.run(
                chaos(
                    database,
                    seconds,
                    args.seed,
                    Path(tmp),
                    args.postgres_url,
                    args.plant,
                    0 if args.calm else args.kill_every,
                    args.calm,
                )
            )
            if outcome is not None:
                outcomes[database] = outcome
                reports[database] = outcome.report
        if args.keep_logs is not None:
            for logs in Path(tmp).glob("logs-*"):
                shutil.copytree(logs, args.keep_logs / logs.name, dirs_exist_ok=True)
    print()
    print("\n".join(count.table(reports)))
    for database, outcome in outcomes.items():
        print(f"\n{database}:")
        for key, value in outcome.facts.items():
            print(f"  {key:48} {value}")
        print("  faults:")
        for fault in outcome.faults:
            print(fault.line(outcome.t0, outcome.posts))
        report = outcome.report
        for key in report.lost_keys[:10]:
            print(f"  LOST {key}")
        for key in report.duplicate_keys[:10]:
            print(f"  DUPLICATE {key}")
        for row, texts in report.tally_messages.items():
            print(f"  {row} does not add up; the summaries it counted:")
            for text in texts:
                print(f"    {text[:150]}")
        for problem in report.source_problems:
            print(f"  SOURCE TABLES DISAGREE {problem}")
        for channel, text in report.shared[:10]:
            print(f"  NAMES SEVERAL EVENTS #{channel}: {text[:100]}")
        for channel, text in report.unmatched[:10]:
            print(f"  UNEXPLAINED #{channel}: {text[:100]}")
    crashes = sum(int(str(o.facts["serve crashes (not killed)"])) for o in outcomes.values())
    if crashes:
        print(f"\nNOTE: serve exited by itself {crashes} time(s) (see the lines above; restarted)")
    met = bool(reports) and all(r.goal_met for r in reports.values())
    lost = sum(r.lost for r in reports.values())
    dupes = sum(r.duplicates for r in reports.values())
    print(
        f"\ngoal: lost = 0, duplicates = 0, every source event delivered once — "
        f"lost = {lost}, duplicates = {dupes}: {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
