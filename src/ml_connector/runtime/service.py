"""The running service: scheduler, pipeline runs, delivery workers and web server in one loop.

Start-up order matters: check the schema (migrating only if allowed), prove the master key,
take the single-instance lock (SQLite), fail runs orphaned by a crash, clear dead workers'
leases — only then claim any work. On
SIGTERM/SIGINT nothing new is claimed, posts in flight finish, runs in progress get a grace
period, and leases are given back. A database outage (disk full, PostgreSQL restarting, a
connection cut) is ridden out by every part (``store.outage``: one warning when it starts,
one info when it ends); if the delivery worker, the scheduler or the heartbeat fails for any
other reason — a bug — the service stops the same way and exits with that error rather than
run without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.company_directory import CompanyDirectory
from ml_connector.config import Config, IntacctConnection
from ml_connector.delivery import DeliverySettings, DeliveryWorker, claims
from ml_connector.delivery.slack_gateway import ClientGateway, managed_gateway
from ml_connector.delivery.worker import default_owner
from ml_connector.logging import get_logger
from ml_connector.pipeline import Pipeline, RunOutcome
from ml_connector.runtime import instance, systemd
from ml_connector.runtime.pipelines import build_pipelines
from ml_connector.runtime.retention import RetentionTask
from ml_connector.runtime.runner import PipelineRunner
from ml_connector.runtime.scheduler import MAX_SLEEP, Scheduler
from ml_connector.runtime.trigger_reads import TriggerReadWorker
from ml_connector.schedule.configured import configured_schedules
from ml_connector.schedule.runs import DEFAULT_STALE_AFTER, fail_orphaned_runs
from ml_connector.store import make_engine
from ml_connector.store.engine import is_sqlite
from ml_connector.store.migrate import prepare
from ml_connector.store.outage import OutageWatch, describe, is_outage
from ml_connector.vault import Keyring, Vault, load_keyring

log = get_logger("ml_connector.service")

ORPHAN_AFTER = DEFAULT_STALE_AFTER
# How often `serve` picks up companies added, removed or found ("*") while it runs.
COMPANIES_REFRESH = 60.0


@dataclass
class Runtime:
    """Everything a command needs to run pipelines and deliver their messages."""

    config: Config
    engine: AsyncEngine
    vault: Vault
    gateway: ClientGateway
    worker: DeliveryWorker
    runner: PipelineRunner
    owner: str


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    keyring: Keyring | None = None,
    pipelines: Mapping[str, Pipeline] | None = None,
    delivery: DeliverySettings | None = None,
    owner: str | None = None,
    migrate: bool = False,
) -> AsyncIterator[Runtime]:
    """``migrate``: bring an older schema to this code's (also ``database.auto_migrate``)."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.db_url)
    try:
        if await prepare(
            engine,
            allow_migrate=migrate or config.database.auto_migrate,
            on_wait=lambda: log.info("waiting for another process's migration to finish"),
        ):
            log.info("database migrated to this code's schema")
        vault = Vault(engine, keyring or load_keyring(config.key_file))
        await vault.ensure_canary()
        await vault.register_all()
        me = owner or default_owner()
        gateway = managed_gateway(engine, vault, config)
        worker = DeliveryWorker(
            engine, gateway, delivery or DeliverySettings.from_config(config.delivery), owner=me
        )
        directory = CompanyDirectory(config, engine, vault)
        config = await directory.load_stored()
        built = dict(pipelines) if pipelines is not None else build_pipelines(config, engine, vault)
        runner = PipelineRunner(
            engine, vault, config, built, owner=me, on_queued=worker.wake, directory=directory
        )
        try:
            yield Runtime(config, engine, vault, gateway, worker, runner, me)
        finally:
            await runner.aclose()
            await gateway.aclose()
    finally:
        await engine.dispose()


async def serve(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    keyring: Keyring | None = None,
    pipelines: Mapping[str, Pipeline] | None = None,
    delivery: DeliverySettings | None = None,
    web_enabled: bool = True,
    install_signals: bool = True,
    scheduler_max_sleep: float | None = None,
    migrate: bool = False,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then shut down cleanly.

    Refuses a database whose schema is older than this code unless ``migrate`` (or
    ``database.auto_migrate``); always refuses one written by a newer version.
    """
    stop = stop or asyncio.Event()
    lock = (
        instance.SingleInstanceLock(config.db_url) if config.db_url.startswith("sqlite") else None
    )
    if lock is not None:
        lock.acquire()
    try:
        async with open_runtime(
            config, keyring=keyring, pipelines=pipelines, delivery=delivery, migrate=migrate
        ) as rt:
            signals = (signal.SIGTERM, signal.SIGINT) if install_signals else ()
            loop = asyncio.get_running_loop()
            for sig in signals:
                loop.add_signal_handler(sig, stop.set)
            try:
                await _serve(rt, stop, web_enabled=web_enabled, max_sleep=scheduler_max_sleep)
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)
    finally:
        if lock is not None:
            lock.release()


async def _serve(
    rt: Runtime, stop: asyncio.Event, *, web_enabled: bool, max_sleep: float | None
) -> None:
    await instance.register(rt.engine, rt.owner)
    orphaned = await fail_orphaned_runs(rt.engine, ORPHAN_AFTER)
    async with rt.engine.begin() as conn:
        reclaimed = await claims.reclaim_expired(conn, clock.now())
    log.info(
        "service starting",
        instance=rt.owner,
        database="sqlite" if is_sqlite(rt.engine) else "postgresql",
        orphaned_runs=len(orphaned),
        reclaimed_leases=reclaimed,
    )
    scheduler = Scheduler(
        rt.engine,
        rt.runner,
        configured_schedules(rt.config, rt.runner.directory.served_lists()),
        owner=rt.owner,
        max_sleep=max_sleep if max_sleep is not None else MAX_SLEEP,
    )
    triggers = trigger_worker(rt)
    site_runner: web.AppRunner | None = None
    tasks: list[asyncio.Task[None]] = []
    crashed: BaseException | None = None
    try:
        if web_enabled:
            site_runner = await start_web(rt, on_trigger=triggers.wake if triggers else None)
        tasks = [
            asyncio.create_task(rt.worker.run(stop), name="delivery"),
            asyncio.create_task(scheduler.run(stop), name="scheduler"),
            asyncio.create_task(_heartbeat(rt, stop), name="instance heartbeat"),
            asyncio.create_task(
                RetentionTask(rt.engine, rt.config.retention).run(stop), name="retention"
            ),
            asyncio.create_task(_follow_companies(rt, scheduler, stop), name="companies"),
        ]
        if triggers is not None:
            tasks.append(asyncio.create_task(triggers.run(stop), name="intacct trigger reads"))
        systemd.notify("READY=1\nSTATUS=serving")
        crashed = await _until_stopped(stop, tasks)
    finally:
        systemd.notify("STOPPING=1")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if site_runner is not None:
            await site_runner.cleanup()
        try:
            await instance.unregister(rt.engine, rt.owner)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # The row ages out of `status` (it shows instances by their heartbeat).
            log.warning("could not unregister this instance", error=describe(exc))
        log.info("service stopped", instance=rt.owner)
    if crashed is not None:
        raise crashed


async def _until_stopped(
    stop: asyncio.Event, tasks: list[asyncio.Task[None]]
) -> BaseException | None:
    """Wait for ``stop``; if a part of the service ends first, return why.

    A service whose delivery or scheduler has died must not run on looking healthy: it
    stops, gives its leases back and exits with the error, so a supervisor restarts it.
    """
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    for task in tasks:
        if task in done and (task.exception() is not None or not stop.is_set()):
            error = task.exception() or RuntimeError(f"{task.get_name()} ended unexpectedly")
            log.error("service part failed; stopping", part=task.get_name(), error=str(error))
            return error
    log.info("service stopping: no new work is claimed")
    return None


async def _heartbeat(rt: Runtime, stop: asyncio.Event) -> None:
    """Keep this instance's row fresh; a missed beat (the database out) is tried again at the
    next one, since a dead heartbeat must not be what stops a service that could wait."""
    watch = OutageWatch("instance heartbeat")
    every = rt.config.server.instance_heartbeat
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            break
        async with watch.guard(stop):
            await instance.heartbeat(rt.engine, rt.owner)


# What the schedules were last worked out from: the config object and the agents' lists.
ScheduleSource = tuple[Config, dict[str, list[str]]]


async def refresh_companies(
    rt: Runtime, scheduler: Scheduler, last: ScheduleSource | None = None
) -> ScheduleSource:
    """Re-read the companies (database, and the agent for ``"*"``) and reschedule.

    ``last``: what the previous refresh returned; if nothing changed since, the schedules
    are kept as they are (working out ten thousand of them again takes a second of the
    event loop, every minute, for nothing)."""
    directory = rt.runner.directory
    config = await directory.load_stored()
    for name in config.pipelines:
        await directory.companies(name)  # asks the agent of a "*" pipeline when stale
    served = directory.served_lists()
    if last is not None and last[0] is config and last[1] == served:
        return last
    schedules = configured_schedules(config, served)
    if [s.name for s in schedules] != [s.name for s in scheduler.schedules]:
        log.info("companies changed; rescheduled", schedules=len(schedules))
    scheduler.schedules = schedules
    return config, served


async def _follow_companies(rt: Runtime, scheduler: Scheduler, stop: asyncio.Event) -> None:
    watch = OutageWatch("companies refresh")
    last: ScheduleSource | None = None
    while not stop.is_set():
        try:
            last = await refresh_companies(rt, scheduler, last)
            watch.succeeded()
        except Exception as exc:
            # The schedules in use stay; the next refresh tries again.
            if watch.failed(exc) is None:
                log.warning("could not refresh the companies", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=COMPANIES_REFRESH)


def trigger_worker(rt: Runtime) -> TriggerReadWorker | None:
    """The targeted-read worker, if any Intacct connection takes triggers."""
    if not any(
        isinstance(c, IntacctConnection) and c.triggers is not None
        for c in rt.config.connections.values()
    ):
        return None
    return TriggerReadWorker(
        rt.engine,
        rt.vault,
        rt.config,
        rt.runner.pipelines,
        owner=rt.owner,
        on_queued=rt.worker.wake,
    )


async def start_web(rt: Runtime, *, on_trigger: Callable[[], None] | None = None) -> web.AppRunner:
    from ml_connector.web.app import app_runner, create_app

    async def run_pipeline(name: str, trigger: str) -> RunOutcome:
        return await rt.runner.run(name, "slack" if trigger == "slack" else "manual")

    app = create_app(
        config=rt.config,
        engine=rt.engine,
        vault=rt.vault,
        run_pipeline=run_pipeline,
        on_trigger=on_trigger,
        companies=rt.runner.directory,
    )
    site_runner = app_runner(app, rt.config)
    await site_runner.setup()
    site = web.TCPSite(site_runner, rt.config.server.host, rt.config.server.port)
    await site.start()
    log.info(
        "web server listening",
        url=f"http://{rt.config.server.host}:{rt.config.server.port}",
    )
    return site_runner
