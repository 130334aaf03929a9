"""Retention as an operator meets it: `audit` and `replay` say a record aged out (and after how
many days) rather than that it never existed; `status` shows the database size."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from ml_connector import clock
from ml_connector.config import load_config
from ml_connector.delivery.audit import record_attempt
from ml_connector.runtime.retention import RetentionTask
from ml_connector.store import make_engine
from ml_connector.store.retention import DAY
from ml_connector.store.tables import outbox, runs

from .conftest import Site, one_line


async def _seed(config_path: Path) -> dict[str, int]:
    """An old run with a delivered message and a dead letter, and a fresh pending message."""
    config = load_config(config_path)
    engine = make_engine(config.db_url)
    old = clock.now() - 40 * DAY
    made: dict[str, int] = {}
    try:
        async with engine.begin() as conn:
            for name, pipeline in (("old_run", "intacct"), ("new_run", "intacct")):
                made[name] = int(
                    await conn.scalar(
                        runs.insert()
                        .values(
                            pipeline=pipeline,
                            trigger="schedule",
                            status="succeeded",
                            started_at=old if name == "old_run" else clock.now(),
                            finished_at=old,
                        )
                        .returning(runs.c.id)
                    )
                )
            for name, status, at in (
                ("delivered", "delivered", old),
                ("dead", "dead", old),
                ("pending", "pending", clock.now()),
            ):
                made[name] = int(
                    await conn.scalar(
                        outbox.insert()
                        .values(
                            dedupe_key=name,
                            workspace="default",
                            channel="C0GL000001",
                            pipeline="intacct",
                            run_id=made["old_run"],
                            status=status,
                            source={},
                            message={"text": f"{name} message", "blocks": []},
                            created_at=at,
                            not_before=at,
                            delivered_at=at if status == "delivered" else None,
                        )
                        .returning(outbox.c.id)
                    )
                )
                await record_attempt(conn, made[name], at=at, outcome=status, worker="w")
        report = await RetentionTask(engine, config.retention).run_once()
        assert report is not None and report.rows["outbox"] == 1, report
    finally:
        await engine.dispose()
    return made


def test_audit_and_replay_say_a_message_aged_out(site: Site) -> None:
    site.config.write_text(site.config.read_text().replace("days = 90", "days = 30", 1))
    made = asyncio.run(_seed(site.config))

    code, out = site("audit", "show", str(made["delivered"]))
    assert code == 1
    assert f"message {made['delivered']} was pruned by retention after 30 days" in one_line(out)

    code, out = site("audit", "show", "9999")
    assert code == 1
    assert "no message with id 9999 has ever existed" in one_line(out)

    code, out = site("audit", "show", str(made["dead"]))  # a dead letter is never pruned
    assert code == 0 and "dead message" in out

    code, out = site("replay", str(made["delivered"]), "--force")
    assert code == 1 and "pruned by retention after 30 days" in one_line(out)

    code, out = site("replay", "--run", str(made["old_run"]))
    # the dead letter of the old run is still there and goes out again
    assert code == 0 and f"message {made['dead']} queued again" in one_line(out)

    code, out = site("replay", "--run", str(made["new_run"]))
    assert code == 1 and f"run {made['new_run']} queued no messages" in one_line(out)

    code, out = site("audit", "list")
    assert code == 0
    assert re.search(r"Delivered messages from before \d{4}-\d\d-\d\d were pruned", one_line(out))
    assert "after 30 days" in one_line(out)


def test_status_shows_the_database_size_and_retention(site: Site) -> None:
    code, out = site("status")
    assert code == 0, out
    text = one_line(out)
    size = re.search(r"Database: ([\d.]+) (B|KiB|MiB) \(file ([\d.]+) (B|KiB|MiB) \+ WAL", text)
    assert size, text
    assert float(size.group(1)) > 0
    assert "SQLite file + write-ahead log" in text
    assert "delivered messages kept 90 days; none pruned yet" in text
