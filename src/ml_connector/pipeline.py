"""What every pipeline is to the runtime: a thing that runs once, given a context.

A pipeline reads its source since its cursor, renders messages, and in ONE transaction
enqueues them (with ``run_id``) and advances its cursor. The runtime records the run
(``schedule.runs``), keeps it from overlapping another run of the same pipeline, and posts.

``Pipeline.run`` never raises for a source failure it could report: it returns a
``RunOutcome`` with status ``partial`` (some of the window read, alerts queued) or ``failed``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import Company
from ml_connector.config import Config
from ml_connector.vault import Vault

Trigger = Literal["schedule", "catchup", "manual", "slack"]
RunStatus = Literal["succeeded", "partial", "failed"]


@dataclass(frozen=True)
class RunContext:
    engine: AsyncEngine
    vault: Vault
    config: Config
    pipeline: str
    run_id: int
    trigger: Trigger
    # One Sage 100 stream, or None for all of the pipeline's streams.
    stream: str | None = None
    # One company (Sage 100 company, Intacct entity), or None for every company of the
    # pipeline that is not paused (ml_connector.companies).
    company: Company | None = None
    # Explicit window from `run --since/--until`; None means "from the cursor to now".
    since: datetime | None = None
    until: datetime | None = None
    # Called by long runs now and then so the run is not presumed dead.
    heartbeat: Callable[[], Awaitable[None]] | None = None


@dataclass
class RunOutcome:
    status: RunStatus
    records_read: int = 0
    messages_queued: int = 0
    error: str | None = None
    # A short human summary for `/mlc run` and `run` ("2 summaries and 3 alerts queued").
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Pipeline(Protocol):
    name: str

    async def run(self, ctx: RunContext) -> RunOutcome: ...

    async def aclose(self) -> None: ...
