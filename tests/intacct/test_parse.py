"""The answer parser on hand-written answers shaped like the official SDKs' fixtures."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ml_connector.errors import CredentialsError, PermanentError, TransientError
from ml_connector.intacct.gateway import (
    ControlPermanentError,
    ControlRateLimitedError,
    FunctionPermanentError,
    FunctionTransientError,
    MalformedResponseError,
    ResponseParser,
    TruncatedResponseError,
    iter_records,
    parse_response,
)

# Every test here runs with both record loops (conftest.record_loop).
pytestmark = pytest.mark.usefixtures("record_loop")

CONTROL_OK = (
    "<control><status>success</status><senderid>testsenderid</senderid>"
    "<controlid>ControlIdHere</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>"
    "</control>"
)
AUTH_OK = (
    "<authentication><status>success</status><userid>fakeuser</userid>"
    "<companyid>fakecompany</companyid><locationid></locationid>"
    "<sessiontimestamp>2015-10-25T10:08:34-07:00</sessiontimestamp>"
    "<sessiontimeout>2015-10-26T10:08:34-07:00</sessiontimeout></authentication>"
)


def answer(*results: str, control: str = CONTROL_OK, auth: str = AUTH_OK) -> bytes:
    body = "".join(results)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  {control}\n  <operation>\n'
        f"    {auth}\n    {body}\n  </operation>\n</response>"
    ).encode()


GLENTRY = (
    "<GLENTRY><RECORDNO>4711</RECORDNO><BATCHNO>12</BATCHNO><TR_TYPE>-1</TR_TYPE>"
    "<ENTRY_DATE>08/18/2026</ENTRY_DATE><AMOUNT>1234.50</AMOUNT><ACCOUNTNO>4000</ACCOUNTNO>"
    "<ACCOUNTTITLE>Sales &amp; Service</ACCOUNTTITLE><DESCRIPTION/><STATISTICAL>F</STATISTICAL>"
    "<BILLABLE>false</BILLABLE><WHENMODIFIED>08/18/2026 13:36:01</WHENMODIFIED>"
    "<WHENCREATED>08/18/2026 13:30:00</WHENCREATED><GLDIMFUNDS>Restricted</GLDIMFUNDS></GLENTRY>"
)


def result(body: str, *, status: str = "success", function: str = "readByQuery") -> str:
    return (
        f"<result><status>{status}</status><function>{function}</function>"
        f"<controlid>f-1</controlid>{body}</result>"
    )


def test_envelope_and_typed_records() -> None:
    data = (
        '<data listtype="GLENTRY" count="1" totalcount="3" numremaining="2" '
        f'resultId="7765623332WU1hh8CoA4QAAHxI9i8AAAAA5">{GLENTRY}</data>'
    )
    parsed = parse_response(answer(result(data)))
    assert parsed.control.ok and parsed.control.controlid == "ControlIdHere"
    assert parsed.control.senderid == "testsenderid"
    auth = parsed.authentication
    assert auth is not None and auth.ok and auth.companyid == "fakecompany"
    pacific = timezone(timedelta(hours=-7))
    assert auth.sessiontimestamp == datetime(2015, 10, 25, 10, 8, 34, tzinfo=pacific)
    assert auth.session_duration == 24 * 3600
    (res,) = parsed.results
    assert (res.status, res.function, res.controlid) == ("success", "readByQuery", "f-1")
    assert (res.listtype, res.count, res.totalcount, res.numremaining) == ("GLENTRY", 1, 3, 2)
    assert res.result_id == "7765623332WU1hh8CoA4QAAHxI9i8AAAAA5" and res.offset is None
    assert res.records == [
        {
            "RECORDNO": 4711,
            "BATCHNO": 12,
            "TR_TYPE": -1,
            "ENTRY_DATE": date(2026, 8, 18),
            "AMOUNT": Decimal("1234.50"),
            "ACCOUNTNO": "4000",
            "ACCOUNTTITLE": "Sales & Service",
            "DESCRIPTION": None,
            "STATISTICAL": "F",
            "BILLABLE": False,
            "WHENMODIFIED": datetime(2026, 8, 18, 13, 36, 1),
            "WHENCREATED": datetime(2026, 8, 18, 13, 30),
            "GLDIMFUNDS": "Restricted",
        }
    ]
    assert parsed.error is None and res.error is None


def test_lower_case_read_by_query_rows_are_typed_like_upper_case_ones() -> None:
    """readByQuery answers ``<data listtype="glentry"><glentry>…`` (PHP SDK ResultTest
    testLegacyReadByQueryClass); query and read answer ``<GLENTRY>``: both read the same."""
    lower = GLENTRY.replace("<GLENTRY>", "<glentry>").replace("</GLENTRY>", "</glentry>")
    upper_data = f'<data listtype="GLENTRY" count="1">{GLENTRY}</data>'
    lower_data = f'<data listtype="glentry" count="1">{lower}</data>'
    (upper,) = parse_response(answer(result(upper_data, function="read"))).results
    (low,) = parse_response(answer(result(lower_data))).results
    assert low.listtype == "glentry" and upper.listtype == "GLENTRY"
    assert low.records == upper.records and low.records[0]["AMOUNT"] == Decimal("1234.50")


def test_legacy_get_list_keeps_listtype_and_totalcount() -> None:
    """PHP SDK ResultTest testLegacyGetListClass: the list is named beside <data>."""
    body = (
        '<listtype start="0" end="1" total="2">class</listtype><data>'
        "<class><key>C1234</key><name>hello world</name><description/>"
        "<whenmodified>07/24/2017 15:19:46</whenmodified></class>"
        "<class><key>C1235</key><name>hello world</name><description/>"
        "<whenmodified>07/24/2017 15:20:27</whenmodified></class></data>"
    )
    (res,) = parse_response(answer(result(body, function="get_list"))).results
    assert (res.listtype, res.totalcount, res.count) == ("class", 2, None)
    assert [r["key"] for r in res.records] == ["C1234", "C1235"]


def test_query_answer_with_offset_and_dotted_fields() -> None:
    data = (
        '<data listtype="VENDOR" totalcount="2" offset="0" count="1" numremaining="1">'
        "<VENDOR><RECORDNO>7</RECORDNO><VENDORID>V100</VENDORID><ONHOLD>true</ONHOLD>"
        "<DISPLAYCONTACT.MAILADDRESS.CITY>San José</DISPLAYCONTACT.MAILADDRESS.CITY>"
        "<CREDITLIMIT>-5.00</CREDITLIMIT></VENDOR></data>"
    )
    (res,) = parse_response(answer(result(data, function="query"))).results
    assert res.offset == 0 and res.result_id is None
    assert res.records[0] == {
        "RECORDNO": 7,
        "VENDORID": "V100",
        "ONHOLD": True,
        "DISPLAYCONTACT.MAILADDRESS.CITY": "San José",
        "CREDITLIMIT": Decimal("-5.00"),
    }


def test_function_failure_sits_beside_successes() -> None:
    failure = (
        "<errormessage><error><errorno>Query Failed</errorno>"
        "<description>Object definition VENDOR9 not found</description><description2/>"
        "<correction/></error></errormessage>"
    )
    parsed = parse_response(
        answer(result('<data listtype="GLENTRY" count="0"/>'), result(failure, status="failure"))
    )
    ok, failed = parsed.results
    assert ok.ok and ok.records == []
    error = failed.error
    assert isinstance(error, FunctionPermanentError) and isinstance(error, PermanentError)
    assert error.errors[0].errorno == "Query Failed"
    assert "Object definition VENDOR9 not found" in str(error)
    with pytest.raises(FunctionPermanentError):
        failed.ensure_ok()


def test_offline_function_is_transient() -> None:
    failure = (
        "<errormessage><error><errorno/><description/><description2>The Service is Temporarily "
        "Off-line, [Support ID: abc]</description2><correction/></error></errormessage>"
    )
    (res,) = parse_response(answer(result(failure, status="failure"))).results
    assert isinstance(res.error, FunctionTransientError) and isinstance(res.error, TransientError)


def test_control_failure_reads_top_level_errormessage() -> None:
    body = (
        b"<response><control><status>failure</status><senderid>x</senderid><controlid>c"
        b"</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>"
        b"<errormessage><error><errorno>XL03000006</errorno><description>Incorrect Intacct XML "
        b"Partner ID or password.</description><description2/><correction/></error>"
        b"</errormessage></response>"
    )
    parsed = parse_response(body)
    assert not parsed.control.ok and parsed.authentication is None and parsed.results == []
    error = parsed.error
    assert isinstance(error, ControlPermanentError)
    assert error.code == "XL03000006"
    assert "Partner ID or password" in error.message


def test_gw_0010_is_rate_limited() -> None:
    body = (
        b"<response><control><status>failure</status><senderid>x</senderid><controlid>c"
        b"</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>"
        b"<errormessage><error><errorno>GW-0010</errorno><description>Too many requests"
        b"</description></error></errormessage></response>"
    )
    assert isinstance(parse_response(body).error, ControlRateLimitedError)


def test_authentication_failure_reads_operation_errormessage() -> None:
    auth = (
        "<authentication><status>failure</status><userid>fakeuser</userid>"
        "<companyid>fakecompany</companyid><locationid></locationid></authentication>"
        "<errormessage><error><errorno>XL03000006</errorno><description>Sign-in information is "
        "incorrect</description><description2/><correction/></error></errormessage>"
    )
    parsed = parse_response(answer(auth=auth))
    assert parsed.authentication is not None and not parsed.authentication.ok
    assert isinstance(parsed.error, CredentialsError)
    assert parsed.authentication.errors[0].description == "Sign-in information is incorrect"


def test_get_api_session_answer() -> None:
    data = (
        "<data><api><sessionid>fAkESesSiOnId..</sessionid>"
        "<endpoint>https://unittest.intacct.com/ia/xml/xmlgw.phtml</endpoint>"
        "<locationid></locationid></api></data>"
    )
    (res,) = parse_response(answer(result(data, function="getSession"))).results
    assert res.records == [
        {
            "sessionid": "fAkESesSiOnId..",
            "endpoint": "https://unittest.intacct.com/ia/xml/xmlgw.phtml",
            "locationid": None,
        }
    ]
    assert "fAkESesSiOnId" not in repr(res)


def test_nested_owned_objects_become_dicts() -> None:
    data = (
        '<data listtype="GLBATCH" count="1"><GLBATCH><RECORDNO>3</RECORDNO><ENTRIES>'
        "<glentry><LINE_NO>1</LINE_NO></glentry><glentry><LINE_NO>2</LINE_NO></glentry>"
        "</ENTRIES><BATCH_DATE>01/31/2026</BATCH_DATE></GLBATCH></data>"
    )
    (res,) = parse_response(answer(result(data, function="read"))).results
    assert res.records == [
        {
            "RECORDNO": 3,
            "ENTRIES": {"glentry": [{"LINE_NO": "1"}, {"LINE_NO": "2"}]},
            "BATCH_DATE": date(2026, 1, 31),
        }
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ENTRY_DATE", "2026-08-18"),
        ("ENTRY_DATE", "13/01/2026"),
        ("WHENMODIFIED", "08/18/2026"),
        ("RECORDNO", "12a"),
        ("BILLABLE", "T"),
    ],
)
def test_value_that_does_not_fit_its_type_is_refused(field: str, value: str) -> None:
    data = (
        f'<data listtype="GLENTRY" count="1"><GLENTRY><{field}>{value}</{field}></GLENTRY></data>'
    )
    with pytest.raises(MalformedResponseError, match=f"GLENTRY.{field}"):
        parse_response(answer(result(data)))


def test_records_inside_data_named_like_the_envelope_are_records() -> None:
    data = (
        '<data listtype="X" count="1"><X><result>7</result><control>c</control>'
        "<status>s</status></X></data>"
    )
    (res,) = parse_response(answer(result(data))).results
    assert res.records == [{"result": "7", "control": "c", "status": "s"}]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"<html><body>Bad gateway</body></html>", "root element <html>"),
        (b"Service Unavailable", "empty or has no root"),
        (b"<response><operation/></response>", "without a <control>"),
        (b"<response>" + CONTROL_OK.encode() + b"</response>", "operation/authentication"),
        (answer(), "without any <result>"),
        # PHP SDK ResultTest testMissingControlIdElement.
        (
            answer(
                "<result><status>success</status><function>readByQuery</function>"
                '<data listtype="department" count="0" totalcount="0" numremaining="0"/></result>'
            ),
            "without a controlid",
        ),
        (b'<?xml version="1.0" encoding="UTF-7"?><response/>', "unsupported encoding"),
        ("<response/>".encode("utf-16"), "ASCII-compatible"),
        (b"<response><control><status>success</status></control>", "ends part-way"),
        (b"<response><a></b></response>", "not well-formed"),
    ],
)
def test_unusable_answers_raise_clear_errors(body: bytes, problem: str) -> None:
    with pytest.raises((MalformedResponseError, TruncatedResponseError), match=problem):
        parse_response(body)


def test_truncated_answer_is_transient() -> None:
    whole = answer(result(f'<data listtype="GLENTRY" count="1">{GLENTRY}</data>'))
    with pytest.raises(TruncatedResponseError) as caught:
        parse_response(whole[: len(whole) // 2])
    assert caught.value.transient


def test_size_cap() -> None:
    whole = answer(result(f'<data listtype="GLENTRY" count="50">{GLENTRY * 50}</data>'))
    with pytest.raises(MalformedResponseError, match="cap"):
        parse_response(whole, max_bytes=len(whole) - 1)
    assert len(parse_response(whole, max_bytes=len(whole)).results[0].records) == 50


def test_streaming_hands_records_out_as_chunks_complete() -> None:
    whole = answer(result(f'<data listtype="GLENTRY" count="200">{GLENTRY * 200}</data>'))
    parser = ResponseParser(keep_records=False)
    seen = 0
    batches = 0
    for start in range(0, len(whole), 997):
        got = parser.feed(whole[start : start + 997])
        seen += len(got)
        batches += bool(got)
    response = parser.close()
    assert seen == 200 and batches > 10
    assert response.results[0].records == [] and response.results[0].count == 200
    assert sum(1 for _ in iter_records([whole])) == 200


def test_iter_records_raises_a_function_failure_at_the_end() -> None:
    failure = "<errormessage><error><errorno>Query Failed</errorno></error></errormessage>"
    with pytest.raises(FunctionPermanentError):
        list(iter_records([answer(result(failure, status="failure"))]))


def test_session_time_without_offset_is_refused() -> None:
    auth = AUTH_OK.replace("2015-10-26T10:08:34-07:00", "2015-10-26T10:08:34")
    with pytest.raises(MalformedResponseError, match="offset"):
        parse_response(answer(result("<data/>"), auth=auth))
