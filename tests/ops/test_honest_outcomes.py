"""`run` says what really happened; `replay` can re-target and marks the copy (issue #23)."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from ml_connector.store import make_engine
from ml_connector.store.tables import outbox

from .world import cli, world


async def test_run_without_wait_says_queued_not_delivered(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        code, out, err = await cli(w, "run", "intacct")
        assert code == 0, err
        assert "queued, not yet delivered" in out
        assert "run --wait" in out
        assert w.slack.messages(w.channel("finance-gl")) == []


async def test_run_wait_exits_3_naming_the_dead_letter_then_replay_retargets(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        w.slack.archive_channel(w.channel("finance-gl"))
        code, out, err = await cli(w, "run", "intacct", "--wait")
        assert code == 3, out + err
        dead = re.search(r"dead letter message (\d+) to (C\w+): (.*)", out)
        assert dead is not None, out
        assert dead.group(2) == w.channel("finance-gl")
        assert "is_archived" in dead.group(3)
        assert "1 dead letter" in out and "1 dead letters" not in out
        # one log line per post, with channel, ts, outbox id and pipeline
        posts = [line for line in err.splitlines() if "posted to slack" in line]
        delivered = w.slack.messages(w.channel("ap-payments")) + w.slack.messages(
            w.channel("finance-alerts")
        )
        assert len(posts) == len(delivered) >= 1
        for line in posts:
            assert "outbox_id=" in line and "pipeline=intacct" in line and "ts=" in line
            assert "channel=C" in line

        spare = w.channel("finance-spare")
        code, out, err = await cli(w, "replay", dead.group(1), "--channel", spare)
        assert code == 0, out + err
        assert f"for {spare}" in out
        code, out, err = await cli(w, "replay", "--dead-letters", "--channel", "general")
        assert code == 2 and "expected a Slack channel id" in err
        # `run --wait` on a pipeline with nothing new delivers the queued replay on its way
        code, out, err = await cli(w, "run", "intacct", "--wait")
        arrived = w.slack.messages(spare)
        assert len(arrived) == 1, out + err
        text = arrived[0]["text"]
        assert text.startswith(":repeat: Posted again; first tried ")
        assert "not delivered (" in text and "is_archived" in text
        assert arrived[0]["blocks"][0]["block_id"] == "mlc_replay_note"

        engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'ml-connector.db'}")
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(outbox).where(outbox.c.channel == spare))).one()
            assert row.replay_of == int(dead.group(1)) and row.status == "delivered"
            # replaying a delivered one (forced) links to where it was first posted
            first = row.id
        await engine.dispose()
        code, out, err = await cli(w, "replay", str(first), "--force")
        assert code == 0, out + err
        code, out, err = await cli(w, "run", "intacct", "--wait")
        again = w.slack.messages(spare)
        assert len(again) == 2, out + err
        note = again[1]["text"].split("\n", 1)[0]
        # the note speaks of the first message of the chain (it was never delivered)
        assert note.startswith(":repeat: Posted again; first tried ")
        assert again[1]["text"].count("Posted again") == 1
