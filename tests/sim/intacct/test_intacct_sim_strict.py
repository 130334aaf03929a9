"""What issue #20 made the Intacct simulator do like the real gateway: row names per function,
sign-in error text in description2, GLDETAIL, lookup, readMore by object, DTD order inside
functions (strict mode, on by default) and the refusal counter the pipeline tests rely on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Answer, Caller


def fn(body: str, controlid: str = "f") -> str:
    return f'<function controlid="{controlid}">{body}</function>'


def data_of(answer: Answer, index: int = 0) -> etree._Element:
    return answer.data(index)


def failure_of(answer: Answer, index: int = 0) -> etree._Element:
    result = answer.results()[index]
    assert result.findtext("status") == "failure", etree.tostring(result)[:800]
    return result


RBQ = (
    "<readByQuery><object>APPYMT</object><fields>RECORDNO,STATE</fields>"
    "<query></query><pagesize>5</pagesize></readByQuery>"
)


async def test_each_function_names_rows_as_intacct_does(caller: Caller) -> None:
    answer = await caller.call(
        fn(RBQ, "rbq")
        + fn("<query><select><field>RECORDNO</field></select><object>APPYMT</object></query>", "q")
        + fn("<read><object>APPYMT</object><keys>1,2</keys><fields>*</fields></read>", "r")
    )
    by_query, new_query, read = (data_of(answer, i) for i in range(3))
    assert by_query.get("listtype") == "appymt"
    assert [row.tag for row in by_query] == ["appymt"] * 5
    assert by_query[0].find("RECORDNO") is not None  # fields keep their case
    assert new_query.get("listtype") == "APPYMT" and {r.tag for r in new_query} == {"APPYMT"}
    assert read.get("listtype") == "APPYMT" and [r.tag for r in read] == ["APPYMT"] * 2


async def test_read_more_by_result_id_and_by_object_continue_in_lower_case(
    caller: Caller,
) -> None:
    auth = caller.session_auth(await caller.session())
    first = data_of(await caller.call(fn(RBQ), auth=auth))
    result_id = first.get("resultId")
    by_id = data_of(
        await caller.call(fn(f"<readMore><resultId>{result_id}</resultId></readMore>"), auth=auth)
    )
    by_object = data_of(
        await caller.call(fn("<readMore><object>APPYMT</object></readMore>"), auth=auth)
    )
    assert by_id.get("listtype") == by_object.get("listtype") == "appymt"
    seen = [int(e.text or "") for page in (first, by_id, by_object) for e in page.iter("RECORDNO")]
    assert seen == list(range(1, 16))
    nothing_open = await caller.call(fn("<readMore><object>VENDOR</object></readMore>"), auth=auth)
    assert "no readByQuery on VENDOR" in (
        failure_of(nothing_open).findtext("errormessage/error/description2") or ""
    )


async def test_sign_in_errors_carry_their_text_in_description2(caller: Caller) -> None:
    answer = await caller.call(fn(RBQ), auth=caller.login(password="wrong"))
    error = answer.root.find("operation/errormessage/error")
    assert error is not None
    assert error.findtext("errorno") == "XL03000006"
    assert error.findtext("description") == ""
    assert error.findtext("description2") == "Sign-in information is incorrect"


async def test_gldetail_is_the_posted_ledger_with_debits_and_credits(
    caller: Caller, sim: IntacctSimulator
) -> None:
    select = "".join(
        f"<field>{f}</field>"
        for f in ("RECORDNO", "BATCHKEY", "SYMBOL", "TR_TYPE", "DEBITAMOUNT", "CREDITAMOUNT")
    )
    query = f"<select>{select}</select><object>GLDETAIL</object><pagesize>2000</pagesize>"
    answer = await caller.call(fn(f"<query>{query}</query>"))
    data = data_of(answer)
    posted = [e for e in sim.data.records("GLENTRY") if e["STATE"] == "Posted"]
    assert data.get("totalcount") == str(len(posted)) and len(posted) > 0
    batches = {b["RECORDNO"]: b for b in sim.data.records("GLBATCH")}
    for row, entry in zip(data, posted, strict=False):
        assert row.findtext("RECORDNO") == str(entry["RECORDNO"])
        assert row.findtext("SYMBOL") == batches[entry["BATCHNO"]]["JOURNAL"]
        debit, credit = row.findtext("DEBITAMOUNT"), row.findtext("CREDITAMOUNT")
        assert (debit if entry["TR_TYPE"] == 1 else credit) == str(entry["AMOUNT"])
        assert (credit if entry["TR_TYPE"] == 1 else debit) == "0.00"


async def test_vendor_has_the_contact_fields_real_clients_select(caller: Caller) -> None:
    fields = ("DISPLAYCONTACT.FIRSTNAME", "DISPLAYCONTACT.PRINTAS", "ACCOUNTLABEL")
    select = "".join(f"<field>{f}</field>" for f in fields)
    data = data_of(
        await caller.call(fn(f"<query><select>{select}</select><object>VENDOR</object></query>"))
    )
    assert [c.tag for c in data[0]] == list(fields)
    assert data[0].findtext("DISPLAYCONTACT.PRINTAS")


async def test_lookup_lists_the_fields_with_their_types(caller: Caller) -> None:
    data = data_of(await caller.call(fn("<lookup><object>GLENTRY</object></lookup>")))
    assert data.get("listtype") == "All"
    kind = data.find("Type")
    assert kind is not None and kind.get("Name") == "GLENTRY"
    types = {f.findtext("ID"): f.findtext("DATATYPE") for f in kind.iterfind("Fields/Field")}
    assert types["AMOUNT"] == "DECIMAL" and types["ENTRY_DATE"] == "DATE"
    assert types["TR_TYPE"] == "INTEGER" and types["DESCRIPTION"] == "TEXT"


OUT_OF_ORDER = (
    "<readByQuery><object>APPYMT</object><query></query><fields>RECORDNO</fields></readByQuery>"
)


async def test_out_of_order_elements_inside_a_function_are_a_schema_error(
    caller: Caller, sim: IntacctSimulator
) -> None:
    before = sim.refused["XL03000003"]
    answer = await caller.call(fn(OUT_OF_ORDER))
    assert answer.text("control/status") == "failure"
    assert answer.errornos(".") == ["XL03000003"]
    assert "<fields> must come before <query>" in answer.text("errormessage/error/description")
    assert sim.refused["XL03000003"] == before + 1


async def test_lenient_mode_accepts_any_order(
    caller_for: Callable[[IntacctSimulator], Caller],
) -> None:
    small = {"gl_entries": 40, "vendors": 20, "payments": 10, "bills": 5}
    async with IntacctSimulator(seed=3, strict=False, **small) as lenient:
        answer = await caller_for(lenient).call(fn(OUT_OF_ORDER))
        assert data_of(answer).get("count") == "10"
        assert not lenient.refused


async def test_read_takes_at_most_100_keys(caller: Caller, sim: IntacctSimulator) -> None:
    keys = ",".join(str(n) for n in range(1, 102))
    answer = await caller.call(fn(f"<read><object>GLENTRY</object><keys>{keys}</keys></read>"))
    assert "at most 100 keys" in (
        failure_of(answer).findtext("errormessage/error/description2") or ""
    )
    assert sim.refused["BL01001973"] >= 1


async def test_refusals_are_counted_but_injected_faults_are_not(
    caller: Caller, sim: IntacctSimulator
) -> None:
    sim.faults.add("function_error", count=1)
    await caller.call(fn(RBQ))
    assert not sim.refused
    await caller.call(
        fn("<query><select><field>NOPE</field></select><object>VENDOR</object></query>")
    )
    assert sim.refused == {"Query Failed": 1}
