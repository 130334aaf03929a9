"""readByQuery, readMore, query and read: answers, paging to the end, and argument errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from lxml import etree

from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from conftest import Answer, Caller, FakeClock


def rbq(obj: str, query: str = "", fields: str = "*", pagesize: int | None = None) -> str:
    size = f"<pagesize>{pagesize}</pagesize>" if pagesize is not None else ""
    return (
        f'<function controlid="rbq"><readByQuery><object>{obj}</object><fields>{fields}</fields>'
        f"<query>{etree_escape(query)}</query>{size}</readByQuery></function>"
    )


def etree_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read_more(result_id: str) -> str:
    return (
        f'<function controlid="more"><readMore><resultId>{result_id}</resultId></readMore>'
        "</function>"
    )


def data_of(answer: Answer, index: int = 0) -> etree._Element:
    return answer.data(index)


def error_of(answer: Answer, index: int = 0) -> tuple[str, str]:
    result = answer.results()[index]
    assert result.findtext("status") == "failure", etree.tostring(result)[:800]
    return (
        result.findtext("errormessage/error/errorno") or "",
        result.findtext("errormessage/error/description2") or "",
    )


async def test_read_by_query_pages_through_read_more_to_the_end(
    caller: Caller, sim: IntacctSimulator
) -> None:
    auth = caller.session_auth(await caller.session())
    expected = [r["RECORDNO"] for r in sim.data.records("GLENTRY")]
    first = data_of(await caller.call(rbq("GLENTRY", fields="RECORDNO", pagesize=250), auth=auth))
    # readByQuery names the list and its rows in lower case (functions.row_name).
    assert first.get("listtype") == "glentry"
    assert first.get("totalcount") == str(len(expected))
    seen = [int(e.text or "") for e in first.iter("RECORDNO")]
    assert first.get("count") == "250" == str(len(seen))
    result_id = first.get("resultId")
    while True:
        assert result_id
        page = data_of(await caller.call(read_more(result_id), auth=auth))
        seen += [int(e.text or "") for e in page.iter("RECORDNO")]
        assert int(page.get("numremaining") or "-1") == len(expected) - len(seen)
        if page.get("numremaining") == "0":
            assert page.get("resultId") == ""  # present and empty, as on Intacct
            break
        result_id = page.get("resultId")
    assert seen == expected
    # A finished result set is gone.
    errorno, detail = error_of(await caller.call(read_more(result_id), auth=auth))
    assert errorno == "BL01001973" and "unknown or has expired" in detail


async def test_default_page_size_is_100(caller: Caller, sim: IntacctSimulator) -> None:
    data = data_of(await caller.call(rbq("GLENTRY", fields="RECORDNO")))
    assert data.get("count") == "100"
    assert int(data.get("numremaining") or 0) == len(sim.data.records("GLENTRY")) - 100


@pytest.mark.parametrize("size", ["0", "1001", "-5", "ten"])
async def test_read_by_query_page_size_out_of_range_is_a_function_error(
    caller: Caller, size: str
) -> None:
    answer = await caller.call(
        '<function controlid="f"><readByQuery><object>VENDOR</object><fields>*</fields>'
        f"<query></query><pagesize>{size}</pagesize></readByQuery></function>"
    )
    assert answer.status == 200
    assert error_of(answer)[0] == "BL01001973"


async def test_read_more_result_id_expires_when_idle(
    caller: Caller, sim: IntacctSimulator, clock: FakeClock
) -> None:
    auth = caller.session_auth(await caller.session())
    first = data_of(await caller.call(rbq("GLENTRY", fields="RECORDNO", pagesize=10), auth=auth))
    clock.advance(sim.resultsets.ttl + 1)
    answer = await caller.call(read_more(first.get("resultId") or ""), auth=auth)
    assert "unknown or has expired" in error_of(answer)[1]


async def test_read_by_query_filters_with_the_sql_like_grammar(
    caller: Caller, sim: IntacctSimulator
) -> None:
    query = "STATUS = 'active' AND (ONHOLD = 'true' OR PAYMETHODKEY IS NULL) AND NAME NOT LIKE 'Z%'"
    data = data_of(await caller.call(rbq("VENDOR", query, "VENDORID,ONHOLD,PAYMETHODKEY", 1000)))
    got = {v.findtext("VENDORID") for v in data.findall("vendor")}
    want = {
        v["VENDORID"]
        for v in sim.data.records("VENDOR")
        if v["STATUS"] == "active"
        and (v["ONHOLD"] is True or v["PAYMETHODKEY"] is None)
        and not str(v["NAME"]).startswith("Z")
    }
    assert got == want and got
    # Only the requested fields, in the requested order.
    assert [c.tag for c in data.find("vendor")] == ["VENDORID", "ONHOLD", "PAYMETHODKEY"]


async def test_dates_and_timestamps_compare_as_dates(caller: Caller, sim: IntacctSimulator) -> None:
    entries = sim.data.records("GLENTRY")
    pivot = entries[len(entries) // 2]["WHENMODIFIED"]
    text = pivot.strftime("%m/%d/%Y %H:%M:%S")  # type: ignore[union-attr]
    data = data_of(await caller.call(rbq("GLENTRY", f"WHENMODIFIED >= '{text}'", "RECORDNO", 1000)))
    assert data.get("totalcount") == str(sum(1 for e in entries if e["WHENMODIFIED"] >= pivot))
    day = entries[0]["ENTRY_DATE"]
    assert isinstance(day, date)
    data = data_of(
        await caller.call(
            rbq("GLENTRY", f"ENTRY_DATE = '{day:%m/%d/%Y}'", "RECORDNO,ENTRY_DATE", 1000)
        )
    )
    assert {e.text for e in data.iter("ENTRY_DATE")} == {f"{day:%m/%d/%Y}"}


@pytest.mark.parametrize(
    "query",
    [
        "RECORDNO=1",  # spaces around operators are required
        "NOPE = '1'",  # unknown field
        "WHENMODIFIED > '2026-01-01'",  # not MM/DD/YYYY
        "RECORDNO = 'abc'",
        "(RECORDNO = 1",
        "DISPLAYCONTACT.EMAIL1 = 'x'",  # join fields cannot be queried
    ],
)
async def test_bad_queries_are_function_errors(caller: Caller, query: str) -> None:
    answer = await caller.call(rbq("VENDOR", query) + rbq("VENDOR", "RECORDNO = 1"))
    assert answer.status == 200
    assert error_of(answer, 0)[0] == "Query Failed"
    assert answer.results()[1].findtext("status") == "success"


async def test_unknown_object_is_query_failed(caller: Caller) -> None:
    errorno, detail = error_of(await caller.call(rbq("VENDOR9")))
    assert errorno == "Query Failed"
    assert detail == "Object definition VENDOR9 not found"


async def test_values_have_intacct_formats(caller: Caller) -> None:
    data = data_of(await caller.call(rbq("APPYMT", "RECORDNO = 1")))
    payment = data.find("appymt")
    assert payment is not None
    assert len((payment.findtext("WHENCREATED") or "").split("/")) == 3
    modified = payment.findtext("WHENMODIFIED") or ""
    assert modified[2] == "/" and modified[10] == " " and modified[13] == ":"
    total = payment.findtext("TOTALENTERED") or ""
    assert Decimal(total) > 0 and len(total.split(".")[1]) == 2
    assert payment.findtext("INCLUSIVETAX") == "false"
    assert payment.find("PAYMENTPROVIDER") is not None and payment.findtext("PAYMENTPROVIDER") == ""


async def test_dotted_related_fields_are_flat_elements(caller: Caller) -> None:
    data = data_of(await caller.call(rbq("VENDOR", "RECORDNO = 1")))
    vendor = data.find("vendor")
    assert vendor is not None
    assert vendor.find("DISPLAYCONTACT.EMAIL1") is not None
    assert vendor.find("DISPLAYCONTACT") is None


def query_fn(obj: str, fields: list[str], inner: str = "", pagesize: int = 100, offset: int = 0):
    select = "".join(f"<field>{f}</field>" for f in fields)
    return (
        f'<function controlid="q"><query><object>{obj}</object><select>{select}</select>{inner}'
        f"<pagesize>{pagesize}</pagesize><offset>{offset}</offset></query></function>"
    )


async def test_query_pages_with_offsets_to_the_end(caller: Caller, sim: IntacctSimulator) -> None:
    auth = caller.session_auth(await caller.session())
    expected = [r["RECORDNO"] for r in sim.data.records("GLENTRY")]
    seen: list[int] = []
    offset = 0
    while True:
        data = data_of(
            await caller.call(query_fn("GLENTRY", ["RECORDNO"], "", 170, offset), auth=auth)
        )
        assert data.get("offset") == str(offset)
        assert data.get("totalcount") == str(len(expected))
        page = [int(e.text or "") for e in data.iter("RECORDNO")]
        assert data.get("count") == str(len(page))
        seen += page
        offset += len(page)
        assert data.get("numremaining") == str(len(expected) - offset)
        if data.get("numremaining") == "0":
            break
    assert seen == expected


async def test_query_filter_tree_orderby_and_case_insensitive_option(
    caller: Caller, sim: IntacctSimulator
) -> None:
    inner = (
        "<filter><and><in><field>STATE</field><value>Voided</value><value>Declined</value></in>"
        "<between><field>TOTALENTERED</field><value>100</value><value>40000</value></between>"
        "</and></filter><orderby><order><field>TOTALENTERED</field><descending/></order></orderby>"
    )
    data = data_of(await caller.call(query_fn("APPYMT", ["RECORDNO", "TOTALENTERED"], inner, 2000)))
    totals = [Decimal(e.text or "") for e in data.iter("TOTALENTERED")]
    want = sorted(
        (
            p["TOTALENTERED"]
            for p in sim.data.records("APPYMT")
            if p["STATE"] in ("Voided", "Declined")
            and Decimal(100) <= p["TOTALENTERED"] <= Decimal(40000)  # type: ignore[operator]
        ),
        reverse=True,
    )
    assert totals == want

    like = "<filter><like><field>STATE</field><value>vOID%</value></like></filter>"
    sensitive = data_of(await caller.call(query_fn("APPYMT", ["STATE"], like)))
    assert sensitive.get("totalcount") == "0"
    options = "<options><caseinsensitive>true</caseinsensitive></options>"
    insensitive = data_of(await caller.call(query_fn("APPYMT", ["STATE"], like + options)))
    assert insensitive.get("totalcount") == str(
        sum(1 for p in sim.data.records("APPYMT") if p["STATE"] == "Voided")
    )


@pytest.mark.parametrize(
    "inner",
    [
        "<filter><and><equalto><field>STATE</field><value>x</value></equalto></and></filter>",
        "<filter><between><field>TOTALENTERED</field><value>1</value></between></filter>",
        "<filter><equalto><field>NOPE</field><value>1</value></equalto></filter>",
        "<filter><greaterthan><field>WHENPAID</field><value>tomorrow</value></greaterthan></filter>",
        "<filter><sometimes><field>STATE</field></sometimes></filter>",
        "<pagesize>2001</pagesize>",
    ],
)
async def test_bad_query_arguments_are_function_errors(caller: Caller, inner: str) -> None:
    content = query_fn("APPYMT", ["RECORDNO"], inner).replace("<pagesize>100</pagesize>", "")
    answer = await caller.call(content)
    assert answer.status == 200
    assert answer.results()[0].findtext("status") == "failure"


async def test_query_needs_a_select(caller: Caller) -> None:
    answer = await caller.call(
        '<function controlid="q"><query><object>APPYMT</object></query></function>'
    )
    assert error_of(answer)[0] == "BL01001973"


async def test_read_returns_the_keys_asked_for(caller: Caller, sim: IntacctSimulator) -> None:
    answer = await caller.call(
        '<function controlid="r"><read><object>GLACCOUNT</object><keys>3,1,99999</keys>'
        "<fields>RECORDNO,TITLE</fields></read></function>"
    )
    data = data_of(answer)
    assert data.get("listtype") == "GLACCOUNT" and data.get("count") == "2"
    assert data.get("totalcount") is None
    assert [e.text for e in data.iter("RECORDNO")] == ["3", "1"]
    assert data.findtext("GLACCOUNT/TITLE") == sim.data.get("GLACCOUNT", 3)["TITLE"]  # type: ignore[index]


async def test_several_functions_answer_separately_in_order(
    caller: Caller, sim: IntacctSimulator
) -> None:
    content = (
        rbq("GLBATCH", "RECORDNO = 1", "RECORDNO,JOURNAL").replace('"rbq"', '"a"')
        + rbq("NOPE").replace('"rbq"', '"b"')
        + query_fn("VENDOR", ["VENDORID"], pagesize=1).replace('"q"', '"c"')
    )
    answer = await caller.call(content)
    results = answer.results()
    assert [r.findtext("controlid") for r in results] == ["a", "b", "c"]
    assert [r.findtext("status") for r in results] == ["success", "failure", "success"]
    assert [r.findtext("function") for r in results] == ["readByQuery", "readByQuery", "query"]
    assert sim.requests == 1


async def test_transaction_failure_aborts_the_rest_with_xl03000009(
    caller: Caller, sim: IntacctSimulator
) -> None:
    content = (
        rbq("GLBATCH", fields="RECORDNO", pagesize=1).replace('"rbq"', '"a"')
        + rbq("NOPE").replace('"rbq"', '"b"')
        + rbq("VENDOR").replace('"rbq"', '"c"')
    )
    answer = await caller.call(content, transaction=True)
    results = answer.results()
    assert [r.findtext("status") for r in results] == ["aborted", "failure", "aborted"]
    for result in results:
        assert result.find("data") is None
        errornos = [e.text for e in result.iter("errorno")]
        assert errornos[-1] == "XL03000009"
    assert [e.text for e in results[1].iter("errorno")] == ["Query Failed", "XL03000009"]
    assert len(sim.resultsets) == 0  # the rolled-back readByQuery left no result set


async def test_unknown_function_is_a_function_failure(caller: Caller) -> None:
    answer = await caller.call(
        '<function controlid="x"><readReport><report>X</report></readReport></function>'
    )
    assert error_of(answer)[0] == "BL01001973"


def test_big_page_renders_as_well_formed_xml() -> None:
    sim = IntacctSimulator(seed=5, gl_entries=3000, vendors=20, payments=10, bills=5)
    gateway = sim.gateway
    creds = sim.credentials
    body = (
        f"<request><control><senderid>{creds.sender_id}</senderid>"
        f"<password>{creds.sender_password}</password><controlid>c</controlid>"
        "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation>"
        f"<authentication><login><userid>{creds.user_id}</userid>"
        f"<companyid>{creds.company_id}</companyid><password>{creds.user_password}</password>"
        f"</login></authentication><content>{rbq('GLENTRY', pagesize=1000)}</content>"
        "</operation></request>"
    ).encode()
    parsed = gateway.parse(body)
    assert parsed.request is not None
    root = etree.fromstring(gateway.execute(parsed.request))
    rows = root.findall("operation/result/data/glentry")
    assert len(rows) == 1000
    assert len(rows[0]) == len(sim.data.records("GLENTRY")[0])
