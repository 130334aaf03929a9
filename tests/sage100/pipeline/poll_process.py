"""One pipeline run in a process of its own, killed with SIGKILL mid-transaction.

Usage: MLC_MASTER_KEY=… python poll_process.py DB_URL SCHEMA|- CONFIG_JSON KILL_AT

The parent's master key comes in the environment: the vault (with the connector's mTLS key)
is the parent's.

The process kills itself the moment it writes the ``KILL_AT``-th statement of the poll's
transaction (after the agent was read and before the commit): the harshest point for the
"cursor and outbox in one transaction" promise.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector.config import parse_config
from ml_connector.pipeline import RunContext
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.store import make_engine
from ml_connector.vault import Vault, load_keyring

_WRITES = ("INSERT INTO outbox", "INSERT INTO channel_pacing", "INSERT INTO record_states")


async def main(url: str, schema: str, config_file: str, kill_at: int) -> None:
    path = Path(config_file)
    config = parse_config(json.loads(path.read_text()), path)
    engine = make_engine(url, schema=None if schema == "-" else schema)
    vault = Vault(engine, load_keyring(None))
    writes = 0

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _die(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal writes
        if statement.lstrip().startswith(_WRITES):
            writes += 1
            if writes >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    pipeline = Sage100Pipeline("sage100", config)
    await pipeline.run(
        RunContext(
            engine=engine,
            vault=vault,
            config=config,
            pipeline="sage100",
            run_id=1,
            trigger="manual",
        )
    )
    print("finished without being killed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
