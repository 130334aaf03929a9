"""fylein's ``sageintacctsdk`` (https://github.com/fylein/sage-intacct-sdk-py), unchanged,
against ``sim intacct``: a client written for the real gateway must work here, and fail here
the way it fails there.

"Unchanged apart from the base URL": the SDK hard-codes ``https://api.intacct.com/…`` in each
API object's private ``__api_url`` (``apis/api_base.py``, ``ApiBase.__init__``), and only
``api_base`` switches to the endpoint getAPISession returns. The fixture wraps
``ApiBase.__init__`` to set that one attribute (``_ApiBase__api_url``) to the simulator's URL;
nothing else of the SDK is touched. The SDK is synchronous (requests), so it runs in a worker
thread while the simulator serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sageintacctsdk import SageIntacctSDK
from sageintacctsdk.apis.api_base import ApiBase
from sageintacctsdk.exceptions import (
    DataIntegrityWarning,
    InvalidTokenError,
    WrongParamsError,
)

from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.objects import format_value


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[list[str]]:
    """Where every ApiBase posts; the test sets it once its simulator runs."""
    url: list[str] = []
    original = ApiBase.__init__

    def init(self: ApiBase, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._ApiBase__api_url = url[0]  # type: ignore[attr-defined]

    ApiBase.__init__ = init  # type: ignore[method-assign]
    try:
        yield url
    finally:
        ApiBase.__init__ = original  # type: ignore[method-assign]


@pytest.fixture
async def sim(gateway_url: list[str]) -> AsyncIterator[IntacctSimulator]:
    # > 2000 posted lines, so GLDETAIL pages through query offsets (pagesize 2000).
    async with IntacctSimulator(
        seed=11, gl_entries=2600, vendors=30, payments=40, bills=30, history_days=20
    ) as simulator:
        gateway_url[:] = [simulator.url]
        yield simulator


def connect(sim: IntacctSimulator, **overrides: str) -> SageIntacctSDK:
    creds = sim.credentials
    args = {
        "sender_id": creds.sender_id,
        "sender_password": creds.sender_password,
        "user_id": creds.user_id,
        "company_id": creds.company_id,
        "user_password": creds.user_password,
    }
    return SageIntacctSDK(**{**args, **overrides})


async def run(call: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(call)


def recordnos(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["RECORDNO"]) for row in rows]


async def test_every_reader_we_care_about_reads_the_whole_object(sim: IntacctSimulator) -> None:
    sdk = await run(lambda: connect(sim))  # the constructor signs in (getAPISession)
    assert sim.function_calls["getAPISession"] == 1
    # Each reader selects fylein's field list for the object (apis/constants.py); GLBATCH's
    # has no RECORDNO, so its rows are matched by title and date.
    readers = {
        "GLACCOUNT": (sdk.accounts.get_all, ("RECORDNO",)),
        "VENDOR": (sdk.vendors.get_all, ("RECORDNO",)),
        "APBILL": (sdk.bills.get_all, ("RECORDNO",)),
        "GLBATCH": (sdk.journal_entries.get_all, ("BATCH_TITLE", "BATCH_DATE")),
        "GLDETAIL": (sdk.gl_detail.get_all, ("RECORDNO",)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataIntegrityWarning)
        for name, (reader, key) in readers.items():
            rows = await run(reader)
            expected = [tuple(format_value(r[k]) for k in key) for r in sim.data.records(name)]
            assert [tuple(row[k] for k in key) for row in rows] == expected, name
    # GLDETAIL took two query pages (offset 0 and 2000) after the count query.
    assert len(sim.data.records("GLDETAIL")) > 2000
    # ap_payments.get_all is a readByQuery read as data['appymt']: lower case, as on Intacct.
    payments = await run(sdk.ap_payments.get_all)
    assert recordnos(payments) == [r["RECORDNO"] for r in sim.data.records("APPYMT")]
    assert not sim.refused


async def test_vendor_filter_and_the_fields_fylein_selects(sim: IntacctSimulator) -> None:
    sdk = await run(lambda: connect(sim))
    wanted = sim.data.records("VENDOR")[4]
    data = await run(lambda: sdk.vendors.get("VENDORID", str(wanted["VENDORID"])))
    vendor = data["VENDOR"][0]
    assert vendor["NAME"] == wanted["NAME"]
    assert "DISPLAYCONTACT.FIRSTNAME" in vendor and "ACCOUNTLABEL" in vendor
    count = await run(lambda: sdk.vendors.count("STATUS", "active"))
    assert count == sum(1 for v in sim.data.records("VENDOR") if v["STATUS"] == "active")
    assert not sim.refused


async def test_paging_with_read_more_as_fylein_pages(sim: IntacctSimulator) -> None:
    """The loop of fylein's ``apis/revenue_recognition_schedules.py`` get_all, on GLENTRY:
    readByQuery, then readMore with the resultId until numremaining is 0."""
    sdk = await run(lambda: connect(sim))
    api = sdk.journal_entries  # any ApiBase sends any function through the same session

    def read_all() -> list[dict[str, Any]]:
        query = {"object": "GLENTRY", "fields": "RECORDNO", "query": None, "pagesize": "1000"}
        first = api.format_and_send_request({"readByQuery": query})
        rows = list(first["data"]["glentry"])
        remaining, result_id = first["data"]["@numremaining"], first["data"]["@resultId"]
        while int(remaining) > 0:
            page = api.format_and_send_request({"readMore": {"resultId": result_id}})
            rows.extend(page["data"]["glentry"])
            remaining, result_id = page["data"]["@numremaining"], page["data"]["@resultId"]
        return rows

    rows = await run(read_all)
    assert recordnos(rows) == [r["RECORDNO"] for r in sim.data.records("GLENTRY")]
    assert sim.function_calls["readMore"] == len(rows) // 1000
    lookup = await run(sdk.gl_detail.get_lookup)
    fields = {f["ID"] for f in lookup["Type"]["Fields"]["Field"]}
    assert {"DEBITAMOUNT", "CREDITAMOUNT", "SYMBOL"} <= fields
    assert not sim.refused


async def test_wrong_sender_password_is_wrong_params_not_a_crash(sim: IntacctSimulator) -> None:
    with pytest.raises(WrongParamsError) as caught:
        await run(lambda: connect(sim, sender_password="not-it"))
    error = caught.value.response["error"][0]
    assert error["errorno"] == "XL03000006"
    assert error["description2"] == "Incorrect Intacct XML Partner ID or password."


async def test_wrong_user_password_is_invalid_token(sim: IntacctSimulator) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        await run(lambda: connect(sim, user_password="not-it"))
    error = caught.value.response["error"]
    assert error["errorno"] == "XL03000006"
    assert error["description2"] == "Sign-in information is incorrect"
