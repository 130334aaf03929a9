"""Control and authentication levels: what fails before any function runs, and how it looks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from conftest import Caller, FakeClock

READ = (
    '<function controlid="f1"><readByQuery><object>GLACCOUNT</object><fields>ACCOUNTNO</fields>'
    "<query></query><pagesize>1</pagesize></readByQuery></function>"
)


async def test_successful_login_request_echoes_control_and_stamps_the_session(
    caller: Caller, sim: IntacctSimulator
) -> None:
    answer = await caller.call(READ, controlid="my-control-42")
    assert answer.status == 200
    assert answer.content_type == "text/xml"
    assert answer.text("control/status") == "success"
    assert answer.text("control/controlid") == "my-control-42"
    assert answer.text("control/senderid") == sim.credentials.sender_id
    assert answer.text("control/dtdversion") == "3.0"
    assert answer.text("operation/authentication/status") == "success"
    assert answer.text("operation/authentication/companyid") == sim.credentials.company_id
    stamp = answer.text("operation/authentication/sessiontimestamp")
    timeout = answer.text("operation/authentication/sessiontimeout")
    # ISO 8601 with an offset, e.g. 2026-09-21T06:13:20-07:00
    assert stamp[10] == "T" and stamp[-6] in "+-" and stamp[-3] == ":"
    assert timeout > stamp
    assert answer.text("operation/result/status") == "success"


async def test_wrong_sender_password_is_a_control_failure_and_nothing_runs(
    caller: Caller, sim: IntacctSimulator
) -> None:
    answer = await caller.call(READ, sender_password="not-it")
    assert answer.status == 200
    assert answer.text("control/status") == "failure"
    assert answer.errornos(".") == ["XL03000006"]
    # The text is in description2, description empty, as on the real gateway (gateway.py).
    assert answer.text("errormessage/error/description") == ""
    assert answer.text("errormessage/error/description2") == (
        "Incorrect Intacct XML Partner ID or password."
    )
    assert answer.root.find("operation") is None


async def test_malformed_xml_is_control_failure_xl03000003(caller: Caller) -> None:
    answer = await caller.post(b"<request><control><senderid>x</senderid></control")
    assert answer.status == 200
    assert answer.text("control/status") == "failure"
    assert answer.errornos(".") == ["XL03000003"]
    assert "[Support ID:" in answer.text("errormessage/error/description2")


async def test_elements_out_of_dtd_order_are_refused(caller: Caller, sim: IntacctSimulator) -> None:
    c = sim.credentials
    body = (
        f"<request><control><password>{c.sender_password}</password>"
        f"<senderid>{c.sender_id}</senderid><controlid>x</controlid><uniqueid>false</uniqueid>"
        f"<dtdversion>3.0</dtdversion></control><operation><authentication>{caller.login()}"
        f"</authentication><content>{READ}</content></operation></request>"
    ).encode()
    answer = await caller.post(body)
    assert answer.errornos(".") == ["XL03000003"]
    assert "expecting <senderid>" in answer.text("errormessage/error/description")


async def test_login_elements_out_of_order_are_refused(
    caller: Caller, sim: IntacctSimulator
) -> None:
    c = sim.credentials
    login = (
        f"<login><companyid>{c.company_id}</companyid><userid>{c.user_id}</userid>"
        f"<password>{c.user_password}</password></login>"
    )
    answer = await caller.call(READ, auth=login)
    assert answer.errornos(".") == ["XL03000003"]


async def test_dtdversion_other_than_3_0_is_refused(caller: Caller) -> None:
    answer = await caller.call(READ, dtdversion="2.1")
    assert answer.errornos(".") == ["XL03000003"]


async def test_function_without_controlid_is_a_schema_error(caller: Caller) -> None:
    answer = await caller.call(READ.replace(' controlid="f1"', ""))
    assert answer.errornos(".") == ["XL03000003"]


async def test_doctype_and_entities_are_refused_without_expansion(caller: Caller) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<request><control><senderid>&lol2;</senderid></control></request>"
    )
    answer = await caller.post(body)
    assert answer.errornos(".") == ["XL03000003"]
    assert b"lollol" not in answer.body


async def test_json_content_type_is_refused(caller: Caller) -> None:
    answer = await caller.post(caller.envelope(READ), content_type="application/json")
    assert answer.errornos(".") == ["XL03000003"]


async def test_get_and_other_paths_are_not_the_gateway(
    caller: Caller, sim: IntacctSimulator
) -> None:
    async with caller.http.get(sim.url) as response:
        assert response.status == 405
    async with caller.http.post(sim.url.replace("xmlgw", "other"), data=b"<x/>") as response:
        assert response.status == 404


async def test_wrong_user_password_fails_authentication_beside_the_block(caller: Caller) -> None:
    answer = await caller.call(READ, auth=caller.login(password="wrong"))
    assert answer.text("control/status") == "success"
    assert answer.text("operation/authentication/status") == "failure"
    assert answer.errornos("operation") == ["XL03000006"]
    assert answer.root.find("operation/authentication/errormessage") is None
    assert answer.results() == []
    assert answer.root.find("operation/authentication/sessiontimeout") is None


async def test_unknown_entity_in_login_fails_authentication(caller: Caller) -> None:
    answer = await caller.call(READ, auth=caller.login(location="999"))
    assert answer.text("operation/authentication/status") == "failure"


async def test_unknown_session_fails_like_a_sign_in(caller: Caller) -> None:
    answer = await caller.call(READ, auth=caller.session_auth("made-up.."))
    assert answer.text("operation/authentication/status") == "failure"
    assert answer.errornos("operation") == ["XL03000006"]


async def test_secrets_are_not_in_reprs(sim: IntacctSimulator, clock: FakeClock) -> None:
    creds = sim.credentials
    assert creds.sender_password not in repr(creds)
    assert creds.user_password not in repr(creds)
    session = sim.sessions.create(creds.company_id, creds.user_id, "")
    assert session.sessionid not in repr(session)
