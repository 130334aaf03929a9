"""A process that migrates one database, for the concurrency and SIGKILL tests.

Usage: migrate_process.py URL SCHEMA|- GO_FILE MODE. It waits for GO_FILE (so several start
together), then runs ``migrate``. MODE ``slow`` holds the migration open a moment after its
first DDL statement (so the others surely meet the lock); ``kill`` SIGKILLs itself right
after the first DDL statement, half-way through the migration. It prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector.store import make_engine
from ml_connector.store.migrate import migrate

DDL = ("CREATE ", "ALTER ", "DROP ")


async def main(url: str, schema: str | None, go: Path, mode: str) -> None:
    engine = make_engine(url, schema=schema)
    seen: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(DDL) and not seen:
            seen.append(statement)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "slow":
                time.sleep(1.0)  # blocks the loop on purpose: the lock stays held meanwhile

    Path(f"{go}.ready.{os.getpid()}").touch()  # at the start line
    while not go.exists():
        await asyncio.sleep(0.01)
    waited: list[bool] = []
    changed = await migrate(engine, on_wait=lambda: waited.append(True))
    await engine.dispose()
    print(json.dumps({"changed": changed, "waited": bool(waited)}), flush=True)


if __name__ == "__main__":
    url, schema, go, mode = sys.argv[1:5]
    asyncio.run(main(url, None if schema == "-" else schema, Path(go), mode))
