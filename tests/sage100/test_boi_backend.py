from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from ml_connector.sage100.agent_client.client import RetryPolicy, Sage100Client, Sage100LockedError
from ml_connector_agent.app import build_app
from ml_connector_agent.backends.base import PageQuery
from ml_connector_agent.backends.boi import BoiBackend, split_result_set
from ml_connector_agent.config import BoiSection, LockSection
from ml_connector_agent.errors import BackendUnavailableError
from ml_connector_agent.resources import Resource
from ml_connector_agent.server import start_server

from .fake_boi import FakeProvideX, World


def _account(key: str, day: str, time: str, desc: str, status: str = "A") -> dict[str, Any]:
    return {
        "AccountKey": key,
        "Account": f"{key[-4:]}-00-00",
        "AccountDesc": desc,
        "MainAccountCode": key[-4:],
        "AccountType": "13",
        "Status": status,
        "DateCreated": "20240101",
        "TimeCreated": "8.00000",
        "DateUpdated": day,
        "TimeUpdated": time,
    }


def _world() -> World:
    accounts = [
        _account("000000001", "20240501", "9.50000", "Cash"),
        _account("000000002", "", "", "Rent"),
        _account("000000003", "20240502", "14.50833", "Travel", "I"),
    ]
    postings = [
        {
            "AccountKey": "000000001",
            "PostingDate": "20240502",
            "SourceJournal": "GJ",
            "JournalRegisterNo": "000007",
            "SequenceNo": f"{i:014d}",
            "DebitAmount": 10.5 * i,
            "CreditAmount": 0,
            "PostingComment": "x",
            "SourceModule": "G/L",
            "BatchNo": "00001",
            "DateCreated": "20240502",
            "TimeCreated": "10.00000",
        }
        for i in range(1, 4)
    ]
    return World(
        tables={
            "GL_Account_bus": accounts,
            "GL_Account_svc": accounts,
            "GL_DetailPosting_svc": postings,
        }
    )


def _backend(world: World) -> BoiBackend:
    settings = BoiSection(home=r"C:\Sage\MAS90\Home", user="conn", password_env="PW")
    return BoiBackend(
        settings,
        ["ABC"],
        factory=lambda: FakeProvideX(world),
        environ={"PW": "secret"}.get,
    )


def test_result_set_split_on_the_boi_separator() -> None:
    assert split_result_set("01ŠACMEŠ") == ["01", "ACME"]
    assert split_result_set("") == []


async def test_reads_accounts_in_stamp_order_and_reuses_the_session() -> None:
    world = _world()
    backend = _backend(world)
    try:
        query = PageQuery(Resource.GL_ACCOUNTS, since=None, after=None, limit=2)
        first = await backend.read_page("ABC", query)
        assert [r["AccountKey"] for r in first.records] == ["000000002", "000000001"]
        assert first.has_more
        rest = await backend.read_page(
            "ABC", PageQuery(Resource.GL_ACCOUNTS, since=None, after=first.last, limit=2)
        )
        assert [(r["AccountKey"], r["stamp"]) for r in rest.records] == [
            ("000000003", "2024-05-02T14:30:30")
        ]
        assert not rest.has_more
        since = await backend.read_page(
            "ABC",
            PageQuery(Resource.GL_ACCOUNTS, since="2024-05-01T09:30:00", after=None, limit=10),
        )
        assert [r["AccountKey"] for r in since.records] == ["000000001", "000000003"]
    finally:
        await backend.close()
    assert world.created == 1  # one session for all reads
    assert world.calls.count("nSetCompany:ABC") == 1
    assert world.dropped >= 3  # each business object dropped, and the session at close


async def test_gl_postings_get_account_names_from_result_sets() -> None:
    backend = _backend(_world())
    try:
        page = await backend.read_page(
            "ABC", PageQuery(Resource.GL_POSTINGS, since=None, after=None, limit=10)
        )
    finally:
        await backend.close()
    assert [r["DebitAmount"] for r in page.records] == ["10.50", "21.00", "31.50"]
    assert {r["AccountDesc"] for r in page.records} == {"Cash"}
    assert page.records[0]["record_key"] == "GJ-000007-00000000000001-000000001-20240502"


async def test_wrong_password_is_backend_unavailable() -> None:
    world = _world()
    world.password = "other"
    backend = _backend(world)
    try:
        with pytest.raises(BackendUnavailableError, match="Invalid password"):
            await backend.read_page(
                "ABC", PageQuery(Resource.GL_ACCOUNTS, since=None, after=None, limit=1)
            )
    finally:
        await backend.close()


@pytest.fixture
async def boi_agent() -> AsyncIterator[tuple[World, Sage100Client]]:
    world = _world()
    backend = _backend(world)
    app = build_app(
        backend,
        locks=LockSection(attempts=3, delay_seconds=0, retry_after_seconds=7),
        keys=None,
        auth_mode="mtls",
    )
    server = await start_server(app, host="127.0.0.1", port=0, ssl_context=None)
    client = Sage100Client(server.url, retry=RetryPolicy(attempts=1))
    try:
        yield world, client
    finally:
        await client.close()
        await server.stop()
        await backend.close()


async def test_lock_failures_twice_then_success_gives_data(
    boi_agent: tuple[World, Sage100Client],
) -> None:
    world, client = boi_agent
    world.lock_failures = 2
    page = await client.page("ABC", "gl-accounts")
    assert len(page.records) == 3
    assert world.lock_failures == 0


async def test_a_record_that_stays_locked_is_503_record_locked(
    boi_agent: tuple[World, Sage100Client],
) -> None:
    world, client = boi_agent
    world.lock_failures = 1000
    with pytest.raises(Sage100LockedError) as caught:
        await client.page("ABC", "gl-accounts")
    assert caught.value.http_status == 503
    assert caught.value.code == "record_locked"
    assert caught.value.retry_after == 7
    assert "in use by another user" in str(caught.value)


async def test_vendor_names_are_looked_up_by_division_and_number() -> None:
    """AP_Vendor's key is APDivisionNo + VendorNo: one number can be two vendors."""
    world = _world()
    world.tables["AP_Vendor_svc"] = [
        {"APDivisionNo": "01", "VendorNo": "ACME", "VendorName": "Acme East"},
        {"APDivisionNo": "02", "VendorNo": "ACME", "VendorName": "Acme West"},
    ]
    world.tables["AP_Invoice_bus"] = [
        {
            "APDivisionNo": division,
            "VendorNo": "ACME",
            "InvoiceNo": f"INV-{division}",
            "InvoiceDate": "20240502",
            "InvoiceDueDate": "20240601",
            "TermsCode": "01",
            "HoldPayment": "N",
            "InvoiceAmt": 100,
            "BatchNo": "00001",
            "DateCreated": "20240502",
            "TimeCreated": "10.00000",
            "DateUpdated": "20240502",
            "TimeUpdated": "10.00000",
        }
        for division in ("02", "01")
    ]
    backend = _backend(world)
    try:
        page = await backend.read_page(
            "ABC", PageQuery(Resource.AP_INVOICES, since=None, after=None, limit=10)
        )
    finally:
        await backend.close()
    names = {r["InvoiceNo"]: r["VendorName"] for r in page.records}
    assert names == {"INV-01": "Acme East", "INV-02": "Acme West"}


def _postings(days: int, per_day: int) -> list[dict[str, Any]]:
    """GL_DetailPosting rows created over ``days`` days up to 2024-05-31."""
    rows = []
    for d in range(days):
        day = date(2024, 5, 31) - timedelta(days=days - 1 - d)
        for n in range(per_day):
            rows.append(
                {
                    "AccountKey": "000000001",
                    "PostingDate": day.strftime("%Y%m%d"),
                    "SourceJournal": "GJ",
                    "JournalRegisterNo": f"{d:06d}",
                    "SequenceNo": f"{n:014d}",
                    "DebitAmount": 1,
                    "CreditAmount": 0,
                    "PostingComment": "",
                    "SourceModule": "G/L",
                    "BatchNo": "",
                    "DateCreated": day.strftime("%Y%m%d"),
                    "TimeCreated": f"{8 + n / 100:.5f}",
                }
            )
    return rows


async def test_a_date_index_bounds_the_browse_to_the_days_since() -> None:
    """With an index led by DateCreated, a changed-since read touches the new days only;
    without one, every row of the table (the counting fake says which)."""
    results = {}
    for indexes in ({}, {"GL_DetailPosting_svc": ["KDATECREATED"]}):
        postings = _postings(days=40, per_day=25)
        world = World(
            tables={"GL_DetailPosting_svc": postings, "GL_Account_svc": []},
            indexes={"KDATECREATED": "DateCreated"},
        )
        settings = BoiSection(user="conn", password_env="PW", date_indexes=indexes)
        backend = BoiBackend(
            settings,
            ["ABC"],
            factory=lambda world=world: FakeProvideX(world),  # type: ignore[misc]
            environ={"PW": "secret"}.get,
            today=lambda: date(2024, 5, 31),
        )
        try:
            page = await backend.read_page(
                "ABC",
                PageQuery(Resource.GL_POSTINGS, since="2024-05-30T12:00:00", after=None, limit=100),
            )
        finally:
            await backend.close()
        results[bool(indexes)] = ([r["record_key"] for r in page.records], world.rows_touched)
    walked, bounded = results[False], results[True]
    assert walked[0] == bounded[0] and len(walked[0]) == 25  # the 25 rows of 2024-05-31
    assert walked[1] == 40 * 25
    assert bounded[1] == 2 * 25  # the since day and today


async def test_a_refused_index_falls_back_to_the_whole_walk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(tables={"GL_DetailPosting_svc": _postings(3, 2), "GL_Account_svc": []})
    settings = BoiSection(
        user="c", password_env="PW", date_indexes={"GL_DetailPosting_svc": ["KX"]}
    )
    backend = BoiBackend(
        settings,
        ["ABC"],
        factory=lambda: FakeProvideX(world),
        environ={"PW": "secret"}.get,
        today=lambda: date(2024, 5, 31),
    )
    try:
        page = await backend.read_page(
            "ABC", PageQuery(Resource.GL_POSTINGS, since="2024-05-31T00:00:00", after=None, limit=9)
        )
    finally:
        await backend.close()
    assert len(page.records) == 2 and world.rows_touched == 6
    assert "nSetBrowseIndex(KX)" in caplog.text and "walking the whole object" in caplog.text
