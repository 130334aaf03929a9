"""A whole Sage 100 → Slack world: demo agent over mTLS, Slack simulator, delivery worker.

The demo agent's clock is a :class:`MovableClock`, so a test decides when two records share
a stamp and when an edit moves one later.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config, parse_config
from ml_connector.delivery import DeliverySettings, DeliveryWorker
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.pipeline import RunContext, RunOutcome
from ml_connector.sage100.agent_client.client import RetryPolicy
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.mrkdwn import set_link_hosts
from ml_connector.store.tables import cursors, outbox
from ml_connector.vault import Vault
from ml_connector_agent.demo_data import SeedCounts
from ml_connector_agent.testing import RunningAgent

CHANNELS = ["ap", "po", "gl", "approvals", "wh002"]
#: The vault secret holding the connector's mTLS private key.
CLIENT_KEY = "sage100.client_key"
INTERVAL = 0.02
FAST_DELIVERY = DeliverySettings(
    post_interval=INTERVAL,
    backoff_base=0.02,
    backoff_max=0.2,
    history_interval=0.2,
    reconcile_delay=0.1,
    lease_seconds=5.0,
    idle_poll=0.02,
    probe_interval=0.2,
)
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, max_elapsed=10)
SEED = SeedCounts(vendors=6, ap_invoices=8, purchase_orders=4, gl_registers=3)


class MovableClock:
    """The demo Sage 100 server's wall clock (naive local time, as Sage stores it)."""

    def __init__(self) -> None:
        self.now = datetime.now().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def streams_config(slack: SlackSimulator, **overrides: dict[str, Any]) -> dict[str, Any]:
    ch = {name: slack.channel_id(name) for name in CHANNELS}
    streams: dict[str, Any] = {
        "ap_invoices": {
            "channel": ch["ap"],
            "record_link": "https://erp.example/{company}/ap/{record_key}",
            "routes": [
                {
                    "when": [{"field": "InvoiceAmt", "op": "gt", "value": 10000}],
                    "channel": ch["approvals"],
                    "also": True,
                }
            ],
        },
        "purchase_orders": {
            "channel": ch["po"],
            "routes": [
                {
                    "when": [{"field": "WarehouseCode", "op": "eq", "value": "002"}],
                    "channel": ch["wh002"],
                }
            ],
        },
        "gl_postings": {"channel": ch["gl"]},
        "gl_accounts": {"channel": ch["gl"]},
    }
    for name, extra in overrides.items():
        streams[name] = {**streams[name], **extra}
    return streams


def make_config(
    tmp_path: Path, agent: RunningAgent, slack: SlackSimulator, streams: dict[str, Any]
) -> Config:
    data = {
        "timezone": "America/Chicago",
        "slack": {"workspaces": {"default": {"api_base_url": slack.base_url}}},
        "connections": {
            "erp": {
                "type": "sage100",
                "agent_url": agent.url,
                "company": agent.companies[0],
                "auth": "mtls",
                "ca_file": str(agent.ca_file),
                "cert_file": str(agent.client_cert),
                "client_key": CLIENT_KEY,
                "timeout": 5.0,
            }
        },
        "pipelines": {"sage100": {"type": "sage100", "connection": "erp", "streams": streams}},
    }
    path = tmp_path / "ml-connector.toml"
    path.write_text(json.dumps(data))  # parse_config only names the file in errors
    return parse_config(data, path)


@dataclass
class World:
    tmp_path: Path
    engine: AsyncEngine
    agent: RunningAgent
    slack: SlackSimulator
    clock: MovableClock
    config: Config
    vault: Vault
    gateway: ClientGateway
    pipelines: list[Sage100Pipeline] = field(default_factory=list)
    run_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def pipeline(self, **kwargs: Any) -> Sage100Pipeline:
        options: dict[str, Any] = {"retry": FAST_RETRY}
        options.update(kwargs)
        set_link_hosts(self.config.allowed_link_hosts())  # as runtime.build_pipelines does
        built = Sage100Pipeline("sage100", self.config, **options)
        self.pipelines.append(built)
        return built

    def reconfigure(self, **overrides: dict[str, Any]) -> None:
        self.config = make_config(
            self.tmp_path, self.agent, self.slack, streams_config(self.slack, **overrides)
        )

    async def poll(
        self,
        stream: str | None = None,
        *,
        pipeline: Sage100Pipeline | None = None,
        **ctx: Any,
    ) -> RunOutcome:
        runner = pipeline or (self.pipelines[0] if self.pipelines else self.pipeline())
        return await runner.run(
            RunContext(
                engine=self.engine,
                vault=self.vault,
                config=self.config,
                pipeline="sage100",
                run_id=next(self.run_ids),
                trigger="manual",
                stream=stream,
                **ctx,
            )
        )

    async def deliver(self) -> None:
        worker = DeliveryWorker(self.engine, self.gateway, FAST_DELIVERY)
        assert await worker.run_until_idle(timeout=30)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return self.slack.messages(self.slack.channel_id(channel))

    def texts(self, channel: str) -> list[str]:
        return [m["text"] for m in self.messages(channel)]

    def total_posted(self) -> int:
        return sum(len(self.messages(name)) for name in CHANNELS)

    async def cursor(self, stream: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                sa.select(cursors.c.value).where(
                    cursors.c.pipeline == "sage100", cursors.c.stream == stream
                )
            )
        return dict(value) if value is not None else None

    async def cursor_of(self, key: str, stream: str = "ap_invoices") -> dict[str, Any] | None:
        """The cursor of one company (its key: ``sage100`` or ``sage100@XYZ``) and stream."""
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                sa.select(cursors.c.value).where(
                    cursors.c.pipeline == key, cursors.c.stream == stream
                )
            )
        return dict(value) if value is not None else None

    async def outbox_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(outbox)) or 0)


def block_text(message: dict[str, Any]) -> str:
    """Every text a message's blocks carry, joined: what a reader sees."""
    parts: list[str] = []
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for key in ("fields", "elements"):
            for item in block.get(key) or []:
                if isinstance(item, dict):
                    parts.append(str(item.get("text", "")))
    return "\n".join(parts)


async def add_invoices(world: World, amounts: list[Decimal], **kwargs: Any) -> list[str]:
    return [await world.agent.backend.add_ap_invoice(amount=a, **kwargs) for a in amounts]


def mentioning(world: World, channel: str, needle: str) -> list[dict[str, Any]]:
    """The messages of ``channel`` whose blocks mention ``needle``."""
    return [m for m in world.messages(channel) if needle in block_text(m)]
