"""The /v1 API over real HTTPS: company codes, errors, keyset paging, changes, locks."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import aiohttp
import pytest

from ml_connector.sage100.agent_client.client import (
    RetryPolicy,
    Sage100CompanyNotFoundError,
    Sage100LockedError,
    Sage100PermanentError,
)
from ml_connector_agent.app import API_VERSION
from ml_connector_agent.testing import RunningAgent

from .agents import agent_ssl, client_for

NO_RETRY = RetryPolicy(attempts=1)


@pytest.mark.parametrize("code", ["AB", "ABCD", "a-c"])
async def test_malformed_company_codes_are_400(agent: RunningAgent, code: str) -> None:
    async with client_for(agent, retry=NO_RETRY) as client:
        with pytest.raises(Sage100PermanentError) as caught:
            await client.page(code, "ap-invoices")
    assert caught.value.http_status == 400
    assert caught.value.code == "invalid_company"
    assert "exactly three letters or digits" in str(caught.value)
    assert not caught.value.transient


async def test_unknown_company_is_404_and_lower_case_is_accepted(agent: RunningAgent) -> None:
    async with client_for(agent, retry=NO_RETRY) as client:
        with pytest.raises(
            Sage100CompanyNotFoundError, match="does not serve Sage 100 company XYZ"
        ):
            await client.page("XYZ", "ap-invoices")
        page = await client.page("abc", "ap-invoices", limit=1)
    assert page.company == "ABC"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/companies/ABC/vendors", 404, "unknown_resource"),
        ("/v1/companies/ABC/ap-invoices?limit=0", 400, "invalid_parameter"),
        ("/v1/companies/ABC/ap-invoices?after=garbage", 400, "invalid_parameter"),
        (
            "/v1/companies/ABC/ap-invoices?changed_since=2024-01-01T00:00:00Z",
            400,
            "invalid_parameter",
        ),
        ("/v1/companies/ABC/ap-invoices?since=x", 400, "invalid_parameter"),
        ("/v1/companies/A%2FB/ap-invoices", 400, "invalid_company"),
        ("/v2/health", 404, "not_found"),
    ],
)
async def test_errors_are_json_with_retryable(
    agent: RunningAgent, path: str, status: int, code: str
) -> None:
    ctx = agent_ssl(agent)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http,
        http.get(agent.url + path) as resp,
    ):
        body = await resp.json()
    assert resp.status == status
    assert body["error"] == code
    assert body["message"]
    assert body["retryable"] is False


async def test_records_carry_sage_fields_and_are_ordered(agent: RunningAgent) -> None:
    key = await agent.backend.add_ap_invoice(amount=Decimal("1234.50"), hold=True)
    async with client_for(agent) as client:
        records = [r async for r in client.records("ABC", "ap-invoices", limit=7)]
    order = [(r["stamp"], r["record_key"]) for r in records]
    assert order == sorted(order)
    assert len({r["record_key"] for r in records}) == len(records)
    mine = next(r for r in records if r["record_key"] == key)
    assert mine["InvoiceAmt"] == "1234.50"
    assert mine["HoldPayment"] == "Y"
    assert mine["posting_stage"] == "entry"
    assert mine["VendorName"]
    assert len(mine["DateCreated"]) == 8 and "." in mine["TimeCreated"]
    for field in (
        "APDivisionNo",
        "VendorNo",
        "InvoiceNo",
        "InvoiceDate",
        "InvoiceDueDate",
        "Balance",
    ):
        assert field in mine


async def test_paging_10000_records_returns_each_exactly_once(agent: RunningAgent) -> None:
    await agent.backend.add_gl_postings_bulk(10_000, per_register=700)
    async with client_for(agent) as client:
        keys = [r["record_key"] async for r in client.records("ABC", "gl-postings", limit=997)]
    assert len(keys) == len(set(keys))
    assert len(keys) >= 10_000


async def test_records_changed_between_pages_come_back_later(agent: RunningAgent) -> None:
    async with client_for(agent) as client:
        first = await client.page("ABC", "ap-invoices", limit=10)
        started = first.records[-1]["stamp"]
        edited = first.records[0]["record_key"]
        await agent.backend.update_ap_invoice(edited, InvoiceAmt=Decimal("99.99"))
        seen = [r["record_key"] for r in first.records]
        assert first.next is not None
        async for page in client.pages("ABC", "ap-invoices", limit=10):
            if page.records and page.records[0]["stamp"] <= started:
                continue
            seen.extend(r["record_key"] for r in page.records)
        # The same walk, continued from `next`, does not return the edited record twice:
        rest = []
        after = first.next
        while after:
            page = await client.page("ABC", "ap-invoices", limit=10, after=after)
            rest.extend(page.records)
            after = page.next
        keys = [r["record_key"] for r in rest]
        assert keys.count(edited) == 1  # it moved past the cursor, so it is met again once
        assert len(keys) == len(set(keys))
        again = [r async for r in client.records("ABC", "ap-invoices", changed_since=started)]
    hit = [r for r in again if r["record_key"] == edited]
    assert hit and hit[0]["InvoiceAmt"] == "99.99"


async def test_a_lock_is_retried_inside_the_agent(agent: RunningAgent) -> None:
    await agent.backend.inject_locks(1)  # lock_attempts is 2 in running_agent
    async with client_for(agent, retry=NO_RETRY) as client:
        assert (await client.page("ABC", "gl-accounts", limit=2)).records


async def test_a_lasting_lock_is_503_record_locked(agent: RunningAgent) -> None:
    await agent.backend.inject_locks(2)
    async with client_for(agent, retry=NO_RETRY) as client:
        with pytest.raises(Sage100LockedError) as caught:
            await client.page("ABC", "gl-accounts")
    assert caught.value.http_status == 503
    assert caught.value.transient
    assert caught.value.retry_after == 0
    assert "Record/file busy" in str(caught.value)


async def test_openapi_documents_every_route(agent: RunningAgent) -> None:
    doc = json.loads(resources.files("ml_connector_agent").joinpath("openapi.json").read_text())
    from ml_connector_agent.resources import Resource

    expected = {f"/{API_VERSION}/health", f"/{API_VERSION}/openapi.json"} | {
        f"/{API_VERSION}/companies/{{code}}/{r.value}" for r in Resource
    }
    assert set(doc["paths"]) == expected
