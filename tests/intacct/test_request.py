"""Request building: element order, escaping, controlids, and refusals before sending."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from ml_connector.intacct.gateway import (
    And,
    Query,
    Read,
    ReadByQuery,
    ReadMore,
    all_of,
    any_of,
    between,
    equalto,
    greaterthanorequalto,
    in_,
    isnull,
    quote,
)
from ml_connector.intacct.gateway.request import (
    Condition,
    GetAPISession,
    Login,
    Sender,
    SessionAuth,
    build_request,
)

SENDER = Sender("testsenderid", "pass123!")


def tags(element: etree._Element) -> list[str]:
    return [child.tag for child in element]


def test_envelope_matches_the_official_sdk_order() -> None:
    body = build_request(
        SENDER, SessionAuth("testsession.."), [("f1", ReadMore("r1"))], control_id="unittest"
    )
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<request><control>")
    expected_control = (
        b"<control><senderid>testsenderid</senderid><password>pass123!</password>"
        b"<controlid>unittest</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>"
        b"<includewhitespace>false</includewhitespace></control>"
    )
    assert expected_control in body
    assert (
        b'<operation transaction="false"><authentication><sessionid>testsession..</sessionid>'
        b'</authentication><content><function controlid="f1"><readMore><resultId>r1</resultId>'
        b"</readMore></function></content></operation></request>"
    ) in body


def test_login_and_get_api_session() -> None:
    body = build_request(
        SENDER, Login("user", "company", "pw", "E100"), [("s", GetAPISession("E100"))]
    )
    root = etree.fromstring(body)
    login = root.find("operation/authentication/login")
    assert login is not None
    assert tags(login) == ["userid", "companyid", "password", "locationid"]
    assert root.findtext("operation/content/function/getAPISession/locationid") == "E100"
    no_entity = etree.fromstring(
        build_request(SENDER, Login("u", "c", "p"), [("s", GetAPISession())])
    )
    assert no_entity.find("operation/authentication/login/locationid") is None


def test_read_by_query_read_and_query_order() -> None:
    functions = [
        ("a", ReadByQuery("GLENTRY", "BATCHNO = 12", ["RECORDNO", "AMOUNT"], pagesize=500)),
        ("b", Read("VENDOR", [7, "8"])),
        (
            "c",
            Query(
                "APPYMT",
                ["RECORDNO", "TOTALENTERED"],
                filter=all_of(
                    greaterthanorequalto("WHENMODIFIED", datetime(2026, 8, 1, 6, 30)),
                    any_of(equalto("STATE", "D"), in_("PAYMENTMETHOD", "ACH", "Printed Check")),
                    between("WHENPAID", date(2026, 8, 1), date(2026, 8, 31)),
                    isnull("DESCRIPTION2"),
                ),
                orderby=[("RECORDNO", True), ("WHENPAID", False)],
                case_insensitive=True,
                pagesize=2000,
                offset=4000,
            ),
        ),
    ]
    root = etree.fromstring(build_request(SENDER, SessionAuth("s"), functions))
    a, b, c = root.findall("operation/content/function")
    assert [f.get("controlid") for f in (a, b, c)] == ["a", "b", "c"]
    assert tags(a[0]) == ["object", "fields", "query", "pagesize", "returnFormat"]
    assert a.findtext("readByQuery/fields") == "RECORDNO,AMOUNT"
    assert tags(b[0]) == ["object", "keys", "fields", "returnFormat"]
    assert b.findtext("read/keys") == "7,8"
    query = c[0]
    assert tags(query) == ["select", "object", "filter", "orderby", "options", "pagesize", "offset"]
    condition = query.find("filter/and/greaterthanorequalto")
    assert condition is not None and condition.findtext("value") == "08/01/2026 06:30:00"
    assert query.findtext("filter/and/between/value") == "08/01/2026"
    assert [v.text for v in query.iterfind("filter/and/or/in/value")] == ["ACH", "Printed Check"]
    assert query.find("filter/and/isnull/value") is None
    assert query.find("orderby/order[2]/descending") is not None
    assert query.findtext("options/caseinsensitive") == "true"


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_values_are_escaped_and_survive_the_trip(text: str) -> None:
    body = build_request(
        SENDER, SessionAuth("s"), [("q", Query("VENDOR", ["NAME"], filter=equalto("NAME", text)))]
    )
    assert etree.fromstring(body).findtext(".//equalto/value") == text


def test_markup_in_values_is_text_not_markup() -> None:
    body = build_request(SENDER, SessionAuth("s"), [("q", ReadByQuery("VENDOR", "NAME = '<a>&'"))])
    assert b"NAME = '&lt;a&gt;&amp;'" in body


@pytest.mark.parametrize(
    "make",
    [
        lambda: ReadByQuery("GLENTRY", pagesize=1001),
        lambda: ReadByQuery("GLENTRY", pagesize=0),
        lambda: ReadByQuery("GL ENTRY"),
        lambda: ReadByQuery("GLENTRY", fields="RECORDNO"),  # type: ignore[arg-type]
        lambda: Query("GLENTRY", []),
        lambda: Query("GLENTRY", ["RECORDNO"], pagesize=2001),
        lambda: Query("GLENTRY", ["RECORDNO"], offset=-1),
        lambda: Query("GLENTRY", ["RECORDNO'; drop"]),
        lambda: Read("VENDOR", list(range(101))),
        lambda: Read("VENDOR", []),
        lambda: ReadMore(""),
        lambda: Condition("between", "X", (1,)),
        lambda: Condition("sortof", "X", (1,)),
        lambda: And((equalto("A", 1),)),
    ],
)
def test_bad_functions_are_refused_before_sending(make: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()  # type: ignore[operator]


def test_request_level_refusals() -> None:
    read = ReadMore("r")
    with pytest.raises(ValueError, match="alone"):
        build_request(SENDER, Login("u", "c", "p"), [("a", GetAPISession()), ("b", read)])
    with pytest.raises(ValueError, match="unique"):
        build_request(SENDER, SessionAuth("s"), [("a", read), ("a", read)])
    with pytest.raises(ValueError, match="controlid"):
        build_request(SENDER, SessionAuth("s"), [("x" * 257, read)])
    with pytest.raises(ValueError, match="cannot build"):
        build_request(SENDER, SessionAuth("s"), [("a", ReadByQuery("X", "A = '\x00'"))])


def test_reprs_hide_secrets() -> None:
    text = repr((SENDER, Login("u", "c", "hunter2"), SessionAuth("sess-secret")))
    assert "pass123!" not in text and "hunter2" not in text and "sess-secret" not in text


def test_quote_for_read_by_query() -> None:
    assert quote("Jane's Deli") == "'Jane\\'s Deli'"
    assert quote("back\\slash") == "'back\\\\slash'"
    assert quote(date(2026, 8, 1)) == "'08/01/2026'"
    assert quote(datetime(2026, 8, 1, 13, 5, 9)) == "'08/01/2026 13:05:09'"
    assert quote(12) == "12" and quote(Decimal("1.50")) == "1.50"
    assert quote(True) == "'true'"
    with pytest.raises(TypeError):
        quote(object())
    with pytest.raises(ValueError, match="naive"):
        quote(datetime(2026, 8, 1).astimezone())
