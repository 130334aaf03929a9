"""``ml-connector demo``: the whole product in one command, against local simulators.

With nothing configured it starts the Intacct gateway simulator, the demo Sage 100 agent
over mTLS (certificates made on the spot) and the Slack simulator on free ports; writes a
config, a master key and the secrets into a temporary data folder; plants the interesting
cases (an unbalanced batch, a payment to a vendor on hold, a declined payment, a locked
Sage 100 record); runs both pipelines once; delivers at Slack's real pace; and prints every
posted message. ``--serve`` then keeps the service running on short schedules while new
records keep arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ml_connector.config import Config, load_config
from ml_connector.delivery import DeliverySettings
from ml_connector.errors import ConfigError
from ml_connector.runtime.service import open_runtime, serve
from ml_connector.runtime.terminal import render_message
from ml_connector.sim.config_lines import intacct_lines, slack_lines
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault, create_key_file, load_keyring
from ml_connector.wording import plural

if TYPE_CHECKING:
    from ml_connector_agent.testing import RunningAgent

CHANNELS = {
    "gl": "finance-gl",
    "payments": "ap-payments",
    "alerts": "finance-alerts",
    "ap_invoices": "ap-invoices",
    "purchase_orders": "purchase-orders",
    "gl_postings": "gl-journal",
    "approvals": "ap-approvals",
}
TIMEZONE = "America/Chicago"


@dataclass
class DemoWorld:
    directory: Path
    config_path: Path
    slack: SlackSimulator
    intacct: IntacctSimulator
    agent: RunningAgent


def config_text(
    slack: SlackSimulator,
    intacct: IntacctSimulator,
    agent: RunningAgent,
    *,
    cron: str | None,
    port: int,
    database_url: str | None = None,
    delivery: Mapping[str, float | int] | None = None,
) -> str:
    """A config for both pipelines against the simulators (also used by bench/chaos.py)."""
    database = f'database_url = "{database_url}"\n' if database_url else ""
    pace = "\n".join(f"{k} = {v}" for k, v in (delivery or {"post_interval": 1.0}).items())
    ch = {key: slack.channel_id(name) for key, name in CHANNELS.items()}
    creds = intacct.credentials
    slack_section = "\n".join(slack_lines(slack.base_url))
    intacct_section = "\n".join(
        intacct_lines(intacct.url, creds.sender_id, creds.company_id, creds.user_id)
    )
    schedule = f'\n[pipelines.intacct.schedule]\ncron = "{cron}"\n' if cron else ""

    def stream(name: str, channel: str, extra: str = "") -> str:
        sched = f'schedule = {{ cron = "{cron}" }}\n' if cron else ""
        return f'\n[pipelines.sage100.streams.{name}]\nchannel = "{channel}"\n{sched}{extra}'

    approvals = (
        f'routes = [{{ when = [{{ field = "InvoiceAmt", op = "ge", value = 10000 }}], '
        f'channel = "{ch["approvals"]}", also = true }}]\n'
    )
    streams = (
        stream("ap_invoices", ch["ap_invoices"], approvals)
        + stream("purchase_orders", ch["purchase_orders"])
        + stream("gl_postings", ch["gl_postings"])
        + stream("gl_accounts", ch["gl_postings"])
    )
    return f"""# Written by `ml-connector demo`: every system here is a local simulator.
data_dir = "data"
{database}timezone = "{TIMEZONE}"

[server]
host = "127.0.0.1"
port = {port}

[delivery]
{pace}

{slack_section}
signing_secret = "slack.signing_secret"

{intacct_section}

[connections.sage100]
type = "sage100"
agent_url = "{agent.url}"
company = "{agent.companies[0]}"
auth = "mtls"
ca_file = "{agent.ca_file.as_posix()}"
cert_file = "{agent.client_cert.as_posix()}"
client_key = "sage100.client_key"

[pipelines.intacct]
type = "intacct"
connection = "intacct"
books_closed_through = "{closed_through().isoformat()}"
channels = {{ gl = "{ch["gl"]}", payments = "{ch["payments"]}", alerts = "{ch["alerts"]}" }}
post_empty = true
{schedule}
[pipelines.sage100]
type = "sage100"
connection = "sage100"
{streams}"""


def closed_through() -> date:
    """The books are closed through the end of the month before last (the demo's
    closed-period entry is dated in it)."""
    first = datetime.now(ZoneInfo(TIMEZONE)).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1) - timedelta(days=1)


def local_now() -> datetime:
    """The Sage 100 server's wall clock, in the demo company's zone."""
    return datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)


def demo_agent() -> Any:
    """The agent's in-process runner, imported only here and only when the demo runs.

    The connector never imports the agent (another distribution, on another machine; their
    contract is the agent's OpenAPI document). The demo is the exception by design: it plays
    both sides on one machine and plants Sage 100 edits and record locks straight into the demo
    agent's back end, which only works in the same process.
    """
    try:
        module = importlib.import_module("ml_connector_agent.testing")
    except ImportError as exc:
        raise ConfigError(
            "`ml-connector demo` also runs the Sage 100 agent: install it with "
            "`pip install ml-connector-agent` (in a checkout, `make .venv/.installed`)"
        ) from exc
    return module.running_agent


@asynccontextmanager
async def demo_world(
    directory: Path, *, cron: str | None = None, port: int = 0
) -> AsyncIterator[DemoWorld]:
    running_agent = demo_agent()
    async with (
        SlackSimulator(
            channels=list(dict.fromkeys(CHANNELS.values())),
            post_interval=1.0,
            history_interval=60.0,
        ) as slack,
        # Both ERPs keep local times without a zone: run them in the pipelines' zone.
        IntacctSimulator(
            seed=7,
            gl_entries=1500,
            vendors=60,
            payments=80,
            bills=120,
            history_days=10,
            timezone=TIMEZONE,
        ) as intacct,
        running_agent(
            directory / "sage100-agent",
            mode="mtls",
            lock_attempts=1,
            retry_after=0,
            clock=local_now,
        ) as agent,
    ):
        config_path = directory / "ml-connector.toml"
        config_path.write_text(
            config_text(slack, intacct, agent, cron=cron, port=port),
            encoding="utf-8",
        )
        yield DemoWorld(directory, config_path, slack, intacct, agent)


async def store_secrets(config: Config, world: DemoWorld) -> Vault:
    create_key_file(config.key_file)
    from ml_connector.store import make_engine, migrate

    engine = make_engine(config.db_url)
    await migrate(engine)
    vault = Vault(engine, load_keyring(config.key_file, environ={}))
    await vault.ensure_canary()
    creds = world.intacct.credentials
    for name, value in {
        "slack.bot_token": world.slack.bot_token,
        "slack.signing_secret": "demo-signing-secret-" + creds.sender_password[:8],
        "intacct.sender_password": creds.sender_password,
        "intacct.user_password": creds.user_password,
        # what `ml-connector secrets set sage100.client_key < connector/client.key` stores
        "sage100.client_key": world.agent.client_key.read_text(encoding="utf-8"),
    }.items():
        await vault.set(name, value)
    await engine.dispose()
    return vault


async def plant_source_events(world: DemoWorld) -> list[str]:
    """The cases a finance team wants to see handled; returns them in words."""
    now = datetime.now(world.intacct.data.timezone).replace(tzinfo=None)
    world.intacct.data.add_day(
        now - timedelta(minutes=30),
        batches=8,
        payments=10,
        unbalanced_batches=1,
        unbalanced_lines=24,  # longer than an alert shows
        onhold_payments=1,
        declined_payments=1,
        voided_payments=1,
        reversal_batches=1,
        foreign_batches=1,
        closed_period_batches=1,
        long_batches=1,
        payment_runs=2,  # two runs on one bank account, shown apart
    )
    backend = world.agent.backend
    await backend.add_ap_invoice(amount=Decimal("12480.00"))
    await backend.add_ap_invoice(amount=Decimal("318.40"))
    await backend.add_ap_invoice(amount=Decimal("-1250.00"))  # a credit memo
    await backend.add_purchase_order()
    await backend.add_gl_register()
    # The next read of the agent finds a record held by another Sage 100 user.
    await backend.inject_locks(1)
    return [
        "Intacct: a day of GL postings and a payment run",
        "Intacct: one unbalanced GL batch, a payment to a vendor on hold, a declined payment",
        "Intacct: a reversal (negative amounts), a USD entry in the CAD entity, an entry in a "
        "closed period, a 40-line batch, two payment runs on one bank, a voided payment",
        "Sage 100: new AP invoices (one over the approvals threshold, one credit memo), a PO, "
        "a GL register",
        "Sage 100: a record locked by another user on the first read",
    ]


async def keep_adding(world: DemoWorld, stop: asyncio.Event, every: float = 20.0) -> None:
    rng = random.Random(11)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            return
        now = datetime.now(world.intacct.data.timezone).replace(tzinfo=None)
        world.intacct.data.add_day(
            now,
            batches=rng.randint(1, 3),
            payments=rng.randint(0, 3),
            declined_payments=int(rng.random() < 0.3),
        )
        await world.agent.backend.simulate_activity()


async def delivered_count(config: Config) -> tuple[int, int]:
    from ml_connector.store import make_engine

    engine = make_engine(config.db_url)
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
        )
        rows: dict[str, int] = {str(status): int(count) for status, count in result}
    await engine.dispose()
    return int(rows.get("delivered", 0)), int(sum(rows.values()))


async def run_demo(
    console: Console, *, keep_serving: bool = False, directory: Path | None = None
) -> int:
    """Run the demo; return the number of messages posted."""
    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="ml-connector-demo-")
        directory = Path(tmp.name)
    try:
        async with demo_world(directory, cron="* * * * *" if keep_serving else None) as world:
            return await _run(console, world, keep_serving)
    finally:
        if tmp is not None:
            tmp.cleanup()


async def _run(console: Console, world: DemoWorld, keep_serving: bool) -> int:
    console.rule("[bold]ml-connector demo")
    console.print(f"Slack simulator      {world.slack.url}  (channel page)")
    console.print(f"Intacct simulator    {world.intacct.url}")
    console.print(f"Sage 100 agent       {world.agent.url}  (mTLS, CA {world.agent.ca_file})")
    console.print(f"Data folder          {world.directory}")
    config = load_config(world.config_path)
    await store_secrets(config, world)
    for line in await plant_source_events(world):
        console.print(f"  • {line}")
    settings = DeliverySettings(post_interval=1.0, idle_poll=0.1, history_interval=60.0)
    async with open_runtime(config, delivery=settings) as rt:
        for pipeline in config.pipelines:
            with console.status(f"Running pipeline {pipeline} …"):
                outcome = await rt.runner.run(pipeline, "manual")
            colour = {"succeeded": "green", "partial": "yellow", "failed": "red"}[outcome.status]
            console.print(
                f"[{colour}]{pipeline}: {outcome.status}[/{colour}] — "
                f"{plural(outcome.records_read, 'record')} read, "
                f"{plural(outcome.messages_queued, 'message')} queued"
                + (f"; {outcome.error}" if outcome.error else "")
            )
        worker = asyncio.create_task(rt.worker.run_until_idle(timeout=45))
        with Progress(
            TextColumn("Posting to Slack at 1 message/s per channel"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("deliver", total=None)
            while not worker.done():
                done, total = await delivered_count(config)
                progress.update(task, completed=done, total=total)
                await asyncio.sleep(0.2)
            done, total = await delivered_count(config)
            progress.update(task, completed=done, total=total)
        await worker
    posted = print_channels(console, world.slack)
    console.rule()
    refused = {**world.intacct.refused, **world.slack.refused}
    # Both simulators run strict: this line shows every pipeline stayed within the rules.
    console.print(
        "Simulators refused: "
        + (", ".join(f"{code} ×{n}" for code, n in sorted(refused.items())) or "nothing")
    )
    if keep_serving:
        console.print(
            f"{plural(posted, 'message')} posted. Channel page: [bold]{world.slack.url}[/bold]"
        )
        await serve_on(console, world, config)
    else:
        # The simulators stop with the demo: a link to their page would already be dead.
        console.print(
            f"{plural(posted, 'message')} posted (shown above). The simulators stop with the "
            "demo; `ml-connector demo --serve` keeps them and their channel page running."
        )
    return posted


def print_channels(
    console: Console, slack: SlackSimulator, seen: dict[str, int] | None = None
) -> int:
    """Print messages not printed yet (``seen`` counts them per channel); return how many."""
    seen = {} if seen is None else seen
    posted = 0
    for name in dict.fromkeys(CHANNELS.values()):
        messages = slack.messages(slack.channel_id(name))
        for message in messages[seen.get(name, 0) :]:
            console.print(render_message(name, message))
            posted += 1
        seen[name] = len(messages)
    return posted


async def serve_on(console: Console, world: DemoWorld, config: Config) -> None:
    console.print(
        "Serving on short schedules (every minute) while new records keep arriving; Ctrl-C stops."
    )
    stop = asyncio.Event()
    adder = asyncio.create_task(keep_adding(world, stop))
    printer = asyncio.create_task(print_new(console, world.slack, stop))
    try:
        await serve(config, stop=stop, install_signals=True, web_enabled=False)
    finally:
        stop.set()
        await asyncio.gather(adder, printer)


async def print_new(console: Console, slack: SlackSimulator, stop: asyncio.Event) -> None:
    seen = {name: len(slack.messages(slack.channel_id(name))) for name in CHANNELS.values()}
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        print_channels(console, slack, seen)
