"""Running a pipeline once: recorded, never overlapping itself, heartbeat while it works.

Every way a run starts — a schedule slot, `ml-connector run`, `/mlc run` — goes through
:meth:`PipelineRunner.run`, so runs look the same in `status`, the audit trail and metrics.
A Sage 100 pipeline runs stream by stream, each stream its own run, so a slow GL poll never
holds up the 15-minute AP invoices; a pipeline with several companies (Sage 100 companies,
Intacct entities) runs each company on its own too, and a paused company not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import (
    Company,
    find_company,
    sage100_streams,
    serves_every_company,
)
from ml_connector.company_directory import CompanyDirectory
from ml_connector.config import Config, Sage100Pipeline
from ml_connector.errors import ConfigError, RunSupersededError
from ml_connector.logging import get_logger
from ml_connector.pipeline import Pipeline, RunContext, RunOutcome, Trigger
from ml_connector.schedule.runs import (
    RunFinisher,
    fence_run,
    finish_run,
    heartbeat_run,
    record_superseded,
    run_key,
    start_run,
)
from ml_connector.store.companies import Pause, paused
from ml_connector.store.outage import OutageWatch, describe, outage_reason
from ml_connector.vault import Vault

log = get_logger("ml_connector.runtime")

# Every few seconds, so a run whose process died (killed, disk full at its last write) is
# recognised as dead within seconds (schedule.runs.DEFAULT_STALE_AFTER), not minutes.
HEARTBEAT_SECONDS = 3.0


def describe_pause(company: Company, pause: Pause) -> str:
    who = "by an operator" if pause.reason == "operator" else "after repeated failures"
    note = f" ({pause.note})" if pause.note else ""
    return (
        f"company {company.code} of pipeline {company.pipeline} is paused {who}{note}; "
        f"`ml-connector companies resume {company.pipeline} {company.code}` polls it again"
    )


class PipelineRunner:
    def __init__(
        self,
        engine: AsyncEngine,
        vault: Vault,
        config: Config,
        pipelines: Mapping[str, Pipeline],
        *,
        owner: str,
        on_queued: Callable[[], None] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        directory: CompanyDirectory | None = None,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.directory = directory or CompanyDirectory(config, engine, vault)
        self.pipelines = dict(pipelines)
        self.owner = owner
        self.on_queued = on_queued
        self.heartbeat_seconds = heartbeat_seconds
        self._finisher = RunFinisher(engine)

    @property
    def config(self) -> Config:
        """The config with the companies stored in the database (``companies add``)."""
        return self.directory.config

    def streams(
        self, pipeline: str, stream: str | None, company: Company | None = None
    ) -> list[str | None]:
        settings = self.config.pipelines.get(pipeline)
        if settings is None:
            known = ", ".join(sorted(self.config.pipelines)) or "none configured"
            raise ConfigError(f"no pipeline named {pipeline!r} (configured: {known})")
        if not isinstance(settings, Sage100Pipeline):
            if stream is not None:
                raise ConfigError(f"pipeline {pipeline!r} has no streams")
            return [None]
        streams = sage100_streams(settings, company.code) if company else settings.streams
        enabled = [name for name, s in streams.items() if s.enabled]
        if stream is None:
            return list(enabled)
        if stream not in enabled:
            raise ConfigError(
                f"pipeline {pipeline!r} has no enabled stream {stream!r} "
                f"(enabled: {', '.join(enabled) or 'none'})"
            )
        return [stream]

    async def companies(self, pipeline: str, company: str | None = None) -> list[Company]:
        """The pipeline's companies (or the one named), the agent asked for ``"*"``."""
        if pipeline not in self.config.pipelines:
            self.streams(pipeline, None)  # the one wording for an unknown pipeline
        every = await self.directory.companies(pipeline)
        if company is None:
            return every
        served = [c.code for c in every]
        return [find_company(self.config, pipeline, company, served)]

    async def run(
        self,
        pipeline: str,
        trigger: Trigger,
        *,
        stream: str | None = None,
        company: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        on_started: Callable[[int], Awaitable[None]] | None = None,
    ) -> RunOutcome:
        """Run a pipeline (every company and stream of it, or one) and return the combined
        outcome. Without ``company``, paused companies are left out (and said so)."""
        outcomes: list[RunOutcome] = []
        self.streams(pipeline, stream)
        targets = await self.companies(pipeline, company)
        if company is None:
            async with self.engine.connect() as conn:
                stopped = await paused(conn, pipeline)
            skipped = [c for c in targets if (pipeline, c.code) in stopped]
            targets = [c for c in targets if (pipeline, c.code) not in stopped]
            if skipped:
                names = ", ".join(c.code for c in skipped)
                outcomes.append(RunOutcome("succeeded", summary=f"paused, not polled: {names}"))
        if not targets and not outcomes:
            error = f"pipeline {pipeline!r} has no companies to poll"
            if serves_every_company(self.config, pipeline):
                error += " (the agent's list of companies could not be read)"
            return RunOutcome("failed", error=error, summary=error)
        for target in targets:
            try:
                streams = self.streams(pipeline, stream, target)
            except ConfigError:
                if company is not None:
                    raise
                continue  # this company has the stream disabled: the others run it
            for one in streams:
                outcome = await self.run_one(
                    pipeline,
                    trigger,
                    stream=one,
                    company=target,
                    since=since,
                    until=until,
                    on_started=on_started,
                )
                outcomes.append(outcome)
        return combine(outcomes)

    async def run_one(
        self,
        pipeline: str,
        trigger: Trigger,
        *,
        stream: str | None = None,
        company: Company | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        on_started: Callable[[int], Awaitable[None]] | None = None,
        timeout: float | None = None,
        slot: tuple[str, float] | None = None,
    ) -> RunOutcome:
        """One run of one stream (Sage 100) of one company; a paused company is not run.

        ``timeout``: seconds the run may take before it is cut off and recorded failed (what
        it committed in parts stays; the next run reads on from there). ``slot``: the schedule
        slot the run serves, recorded as the run starts."""
        key = run_key(company.key if company is not None else pipeline, stream)
        # the company's pause is read in the transaction that starts the run
        started = await start_run(
            self.engine,
            key,
            trigger,
            self.owner,
            slot=slot,
            unless_paused=(pipeline, company.code) if company is not None else None,
        )
        if isinstance(started, Pause):
            assert company is not None
            error = describe_pause(company, started)
            return RunOutcome("failed", error=error, summary="paused")
        if started is None:
            return RunOutcome("failed", error=f"{key} is already running", summary="skipped")
        run_id = started
        if on_started is not None:
            await on_started(run_id)
        began = time.monotonic()

        last_beat = time.monotonic()

        async def heartbeat() -> None:
            # Pipelines beat after every page; the background beat already keeps the run
            # alive, so a page-by-page beat writes only when the last one is getting old.
            # A run declared dead stops here, at its next page, rather than read on for a
            # commit the fence (schedule.runs.fence_run) will refuse anyway.
            nonlocal last_beat
            if time.monotonic() - last_beat >= self.heartbeat_seconds / 2:
                last_beat = time.monotonic()
                if not await heartbeat_run(self.engine, run_id):
                    async with self.engine.connect() as conn:
                        await fence_run(conn, run_id)

        ctx = RunContext(
            engine=self.engine,
            vault=self.vault,
            config=self.config,
            pipeline=pipeline,
            run_id=run_id,
            trigger=trigger,
            stream=stream,
            company=company,
            since=since,
            until=until,
            heartbeat=heartbeat,
        )
        beating = asyncio.create_task(self._beat(run_id))
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                outcome = await self.pipelines[pipeline].run(ctx)
        except TimeoutError as exc:
            if not deadline.expired():
                log.exception("pipeline run crashed", pipeline=key, run_id=run_id)
                outcome = RunOutcome("failed", error=f"{type(exc).__name__}: {exc}")
            else:
                log.warning("pipeline run timed out", pipeline=key, run_id=run_id)
                outcome = RunOutcome(
                    "failed",
                    error=f"timed out after {timeout:g} s (scheduling.poll_timeout)",
                    summary="timed out",
                )
        except RunSupersededError as exc:
            # Declared dead while alive (hung, or its beats could not be written): what it
            # read belongs to the run that replaced it. Nothing was committed; say so.
            log.warning("pipeline run superseded", pipeline=key, run_id=run_id, error=str(exc))
            outcome = RunOutcome("failed", error=str(exc), summary="superseded")
            await record_superseded(self.engine, run_id, str(exc))
        except asyncio.CancelledError:
            # Nothing of the run was committed unless the pipeline committed it whole.
            await finish_run(
                self.engine, run_id, "failed", 0, 0, "interrupted: the service stopped"
            )
            raise
        except Exception as exc:  # the run is recorded as failed, whatever went wrong
            reason = outage_reason(exc)
            if reason is None:
                log.exception("pipeline run crashed", pipeline=key, run_id=run_id)
                outcome = RunOutcome("failed", error=f"{type(exc).__name__}: {exc}")
            else:
                # Nothing was committed; the next run reads the same window. One line, since
                # the traceback of a full disk says nothing the reason does not.
                error = f"database unavailable ({reason}): {describe(exc)}"
                log.warning("pipeline run failed", pipeline=key, run_id=run_id, error=error)
                outcome = RunOutcome("failed", error=error, summary="database unavailable")
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        # with the other runs ending meanwhile, in one transaction
        await self._finisher.finish(
            run_id,
            outcome.status,
            records_read=outcome.records_read,
            messages_queued=outcome.messages_queued,
            error=outcome.error,
        )
        # A run that did not succeed is something an operator must see at the default level.
        report = log.info if outcome.status == "succeeded" else log.warning
        report(
            "pipeline run finished",
            pipeline=key,
            run_id=run_id,
            status=outcome.status,
            seconds=round(time.monotonic() - began, 3),
            records=outcome.records_read,
            queued=outcome.messages_queued,
            error=outcome.error,
        )
        if outcome.messages_queued and self.on_queued is not None:
            self.on_queued()
        outcome.details.setdefault("run_id", run_id)
        return outcome

    async def _beat(self, run_id: int) -> None:
        watch = OutageWatch(f"run {run_id} heartbeat")
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                alive = await heartbeat_run(self.engine, run_id)
            except Exception as exc:
                # A missed beat is retried at the next one; the run itself decides its fate.
                if watch.failed(exc) is None:
                    log.warning("could not record a run heartbeat", run_id=run_id, exc_info=True)
                continue
            watch.succeeded()
            if not alive:
                # Another process declared the run dead (its beats stopped for too long) and
                # may have started the next one. The commit fence refuses this run's work.
                log.warning(
                    "run declared dead by another process; its commit will be refused",
                    run_id=run_id,
                )
                return

    async def aclose(self) -> None:
        await self._finisher.close()
        for pipeline in self.pipelines.values():
            await pipeline.aclose()


def combine(outcomes: list[RunOutcome]) -> RunOutcome:
    if len(outcomes) == 1:
        return outcomes[0]
    statuses = {o.status for o in outcomes}
    status = (
        "succeeded"
        if statuses == {"succeeded"}
        else ("failed" if statuses == {"failed"} else "partial")
    )
    # The streams of one pipeline share its connection: one missing secret fails every
    # stream with the same words, which are said once.
    errors = list(dict.fromkeys(o.error for o in outcomes if o.error))
    return RunOutcome(
        status,  # type: ignore[arg-type]
        records_read=sum(o.records_read for o in outcomes),
        messages_queued=sum(o.messages_queued for o in outcomes),
        error="; ".join(errors) or None,
        summary="; ".join(dict.fromkeys(o.summary for o in outcomes if o.summary)),
        details={"runs": [o.details.get("run_id") for o in outcomes]},
    )
