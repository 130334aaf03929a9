"""A delivery worker in a process of its own, for tests that kill it with SIGKILL.

Usage: python worker_process.py DB_URL SCHEMA|- SLACK_BASE_URL TOKEN INTERVAL
"""

from __future__ import annotations

import asyncio
import sys

from ml_connector.delivery import DeliverySettings, DeliveryWorker
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.slack.client import SlackClient
from ml_connector.store import make_engine


async def main(url: str, schema: str, base_url: str, token: str, interval: float) -> None:
    engine = make_engine(url, schema=None if schema == "-" else schema)
    gateway = ClientGateway({"default": SlackClient(token, base_url=base_url, timeout=1.0)})
    settings = DeliverySettings(
        post_interval=interval,
        lease_seconds=1.0,
        history_interval=0.2,
        reconcile_delay=0.1,
        idle_poll=0.05,
        backoff_base=0.02,
        backoff_max=0.2,
    )
    print("ready", flush=True)
    await DeliveryWorker(engine, gateway, settings).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
