"""A multi-entity Intacct company read entity by entity (issue #22): each entity through a
session scoped to it, its own summaries, cursors and channels, the top level as the
consolidated view, and nothing posted twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.intacct.pipeline import IntacctPipeline
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import companies as stored
from ml_connector.store.tables import cursors

from .conftest import INTERVAL, Harness, company_now, config_for, make_harness

CHANNELS = ["gl", "payments", "alerts", "gl200"]


@pytest.fixture
async def slack4() -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(
        channels=CHANNELS, post_interval=INTERVAL, post_burst=1, history_interval=0.2
    ) as sim:
        yield sim
    assert not sim.refused, f"the Slack simulator refused: {dict(sim.refused)}"


def with_entities(config: Config, **connection: Any) -> Config:
    data = config.model_dump(mode="json", exclude={"source", "included"}, exclude_unset=True)
    data["connections"]["books"].update(connection)
    return Config.model_validate(data)


async def entity_harness(
    engine: AsyncEngine,
    intacct: IntacctSimulator,
    slack: SlackSimulator,
    *,
    own: str = "gl",
    **connection: Any,
) -> Harness:
    """Entity 200 has its own ``own`` channel (gl200); the rest is the pipeline's."""
    made = await make_harness(
        engine,
        intacct,
        slack,
        company={"200": {"channels": {own: slack.channel_id("gl200")}}},
    )
    await made.pipeline.aclose()
    made.config = with_entities(made.config, **connection)
    made.pipeline = IntacctPipeline("intacct", made.config, retry=made.pipeline._retry)
    return made


def recent() -> datetime:
    return company_now() - timedelta(hours=2)


async def test_each_entity_is_summarised_through_its_own_session(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack4: SlackSimulator
) -> None:
    h = await entity_harness(engine, intacct_sim, slack4, entities=["100", "200"], top_level=True)
    try:
        day = intacct_sim.data.add_day(recent(), batches=12, unbalanced_batches=1)
        outcome = await h.run()
        assert outcome.status == "succeeded", outcome.error
        await h.deliver()
        rows = await h.outbox_rows()
        summaries = {
            r.source.get("entity"): set(r.source["GLBATCH"]) for r in rows if r.kind == "gl_summary"
        }
        entity_of = {
            r["RECORDNO"]: r["MEGAENTITYID"]
            for r in intacct_sim.data.records("GLBATCH")
            if r["RECORDNO"] in day.glbatches
        }
        # Each entity's summary holds its batches only; the top level's holds every one.
        for entity in ("100", "200"):
            assert summaries[entity] == {n for n, e in entity_of.items() if e == entity}
        assert summaries[None] == set(day.glbatches)
        # Entity 200 posts to its own GL channel; the footer names the entity.
        [west] = h.posted("gl200")
        assert "entity 200" in str(west["blocks"])
        assert len(h.posted("gl")) == 2  # the top level and entity 100
        # The unbalanced batch is alerted once: by its entity, or by the top level when
        # its entity is not one listed.
        unbalanced = [r for r in rows if r.kind == "unbalanced_entry"]
        assert len(unbalanced) == 1
        owner = entity_of[day.unbalanced_batches[0]]
        assert unbalanced[0].source.get("entity") == (owner if owner in ("100", "200") else None)
        async with engine.connect() as conn:
            keys = {r.pipeline for r in await conn.execute(sa.select(cursors.c.pipeline))}
        assert keys == {"intacct", "intacct@100", "intacct@200"}
        before = len(rows)
        again = await h.run()
        assert again.status == "succeeded"
        assert len(await h.outbox_rows()) == before
    finally:
        await h.pipeline.aclose()


async def test_without_the_top_level_and_with_an_entity_paused(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack4: SlackSimulator
) -> None:
    h = await entity_harness(engine, intacct_sim, slack4, entities=["100", "200"])
    try:
        async with engine.begin() as conn:
            await stored.pause(conn, "intacct", "200")
        intacct_sim.data.add_day(recent(), batches=10)
        assert (await h.run()).status == "succeeded"
        rows = await h.outbox_rows()
        assert {r.source.get("entity") for r in rows} == {"100"}
    finally:
        await h.pipeline.aclose()


def test_entity_forms_are_checked(intacct_sim: IntacctSimulator, slack4: SlackSimulator) -> None:
    config = config_for(intacct_sim, slack4)
    with pytest.raises(ValueError, match="entity_id and entities do not go together"):
        with_entities(config, entities=["100"], entity_id="100")
    with pytest.raises(ValueError, match="summarise = 'all' reads only the top level"):
        Config.model_validate(
            {
                **config.model_dump(mode="json", exclude={"source", "included"}),
                "pipelines": {
                    "intacct": {
                        **config.pipelines["intacct"].model_dump(mode="json"),
                        "summarise": "all",
                        "company": {"100": {"mention_group": "S0PIPE7AB"}},
                    }
                },
            }
        )


async def test_check_signs_in_to_each_entity(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack4: SlackSimulator
) -> None:
    from ml_connector.config import IntacctConnection
    from ml_connector.runtime.check import check_intacct

    h = await entity_harness(engine, intacct_sim, slack4, entities=["100", "999"], top_level=True)
    connection = h.config.connections["books"]
    assert isinstance(connection, IntacctConnection)
    results = await check_intacct("books", connection, engine, h.vault)
    assert [(r.target, r.ok) for r in results] == [
        ("books top level", True),
        ("books 100", True),
        ("books 999", False),
    ]
    assert "(entity 100)" in results[1].detail
    await h.pipeline.aclose()


async def test_a_trigger_alert_goes_to_its_entitys_channel_and_the_schedule_adds_nothing(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack4: SlackSimulator
) -> None:
    from ml_connector.intacct.targeted import TargetedReader
    from ml_connector.intacct.trigger_events import RecordRef

    h = await entity_harness(
        engine, intacct_sim, slack4, own="alerts", entities=["100", "200"], top_level=True
    )
    try:
        day = intacct_sim.data.add_day(recent(), batches=2, unbalanced_batches=1)
        [recordno] = day.unbalanced_batches
        intacct_sim.data.update("GLBATCH", recordno, MEGAENTITYID="200")
        for line in intacct_sim.data.records("GLENTRY"):
            if line["BATCHNO"] == recordno:
                intacct_sim.data.update("GLENTRY", line["RECORDNO"], LOCATION="200")
        reader = TargetedReader("books", [h.pipeline])
        outcome = await reader.read(engine, h.vault, [RecordRef("GLBATCH", str(recordno))])
        [alert] = outcome.queued
        assert alert.channel == slack4.channel_id("gl200")
        assert alert.source["entity"] == "200"
        scheduled = await h.run()
        assert scheduled.status == "succeeded"
        # Entity 200's run found the batch again (the top level leaves it to the entity) and
        # its dedupe key was the trigger's: nothing posted twice.
        assert scheduled.details["already_queued"] == 1
        rows = [r for r in await h.outbox_rows() if r.kind == "unbalanced_entry"]
        assert len(rows) == 1
    finally:
        await h.pipeline.aclose()
