"""The companies table: pauses (operator and scheduler) and settings added from the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.store import companies


async def test_pause_resume_round_trip(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await companies.is_paused(conn, "s", "ABC") is None
        pause = await companies.pause(conn, "s", "ABC", note="month end")
        assert pause.reason == "operator"
    async with engine.begin() as conn:
        found = await companies.is_paused(conn, "s", "ABC")
        assert found is not None and found.note == "month end"
        assert await companies.paused(conn) == {("s", "ABC"): found}
        assert await companies.paused(conn, "other") == {}
        assert await companies.resume(conn, "s", "ABC") == found
    async with engine.begin() as conn:
        assert await companies.is_paused(conn, "s", "ABC") is None
        assert await companies.resume(conn, "s", "ABC") is None
        # a pause-only row is gone with its pause
        assert await companies.list_rows(conn) == []


async def test_operator_pause_is_not_overwritten_by_the_scheduler(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await companies.pause(conn, "s", "ABC", reason="operator", note="audit")
        kept = await companies.pause(conn, "s", "ABC", reason="failing", note="8 failures")
        assert (kept.reason, kept.note) == ("operator", "audit")
        await companies.pause(conn, "s", "XYZ", reason="failing", note="agent down")
        taken = await companies.pause(conn, "s", "XYZ", reason="operator")
        assert taken.reason == "operator"
        assert {k: p.reason for k, p in (await companies.paused(conn)).items()} == {
            ("s", "ABC"): "operator",
            ("s", "XYZ"): "operator",
        }


async def test_settings_survive_pause_and_remove_keeps_file_companies(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        assert await companies.save_settings(conn, "s", "XYZ", {"channel": "C0XYZ0001"})
        assert not await companies.save_settings(conn, "s", "XYZ", {"channel": "C0XYZ0002"})
        await companies.pause(conn, "s", "XYZ")
        await companies.resume(conn, "s", "XYZ")
        assert await companies.stored_settings(conn) == {"s": {"XYZ": {"channel": "C0XYZ0002"}}}
        await companies.pause(conn, "s", "ABC")  # a company of the file: pause only
        assert not await companies.remove(conn, "s", "ABC")
        assert await companies.remove(conn, "s", "XYZ")
        rows = await companies.list_rows(conn)
        assert [(r.company, r.settings, r.pause is not None) for r in rows] == [("ABC", None, True)]


async def test_unknown_pause_reason_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="operator"):
            await companies.pause(conn, "s", "ABC", reason="tired")  # type: ignore[arg-type]
