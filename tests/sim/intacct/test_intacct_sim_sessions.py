"""getAPISession and the sliding session expiry."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ml_connector.sim.intacct import IntacctSimulator

if TYPE_CHECKING:
    from conftest import Caller, FakeClock

READ = (
    '<function controlid="f1"><read><object>GLACCOUNT</object><keys>1</keys>'
    "<fields>ACCOUNTNO</fields></read></function>"
)


async def test_get_api_session_answers_id_endpoint_and_location(
    caller: Caller, sim: IntacctSimulator
) -> None:
    answer = await caller.call('<function controlid="s"><getAPISession/></function>')
    result = answer.results()[0]
    assert result.findtext("status") == "success"
    assert result.findtext("function") == "getAPISession"
    assert result.findtext("controlid") == "s"
    assert result.findtext("data/api/endpoint") == sim.url
    assert result.findtext("data/api/locationid") == ""
    sessionid = result.findtext("data/api/sessionid") or ""
    assert sessionid.endswith("..")

    again = await caller.call(READ, auth=caller.session_auth(sessionid))
    assert again.text("operation/authentication/status") == "success"
    assert again.text("operation/result/status") == "success"


async def test_entity_session_names_its_entity_and_sees_only_its_records(
    caller: Caller, sim: IntacctSimulator
) -> None:
    answer = await caller.call(
        '<function controlid="s"><getAPISession><locationid>200</locationid>'
        "</getAPISession></function>"
    )
    assert answer.text("operation/result/data/api/locationid") == "200"
    sessionid = answer.text("operation/result/data/api/sessionid")
    listing = await caller.call(
        '<function controlid="q"><query><object>GLENTRY</object><select><field>LOCATION</field>'
        "</select><pagesize>2000</pagesize></query></function>",
        auth=caller.session_auth(sessionid),
    )
    assert listing.text("operation/authentication/locationid") == "200"
    locations = {e.text for e in listing.root.iter("LOCATION")}
    assert locations == {"200"}
    expected = sum(1 for r in sim.data.records("GLENTRY") if r["LOCATION"] == "200")
    assert int(listing.root.find("operation/result/data").get("totalcount")) == expected


async def test_get_api_session_must_be_alone(caller: Caller) -> None:
    answer = await caller.call('<function controlid="s"><getAPISession/></function>' + READ)
    statuses = [r.findtext("status") for r in answer.results()]
    assert statuses == ["failure", "success"]


async def test_each_call_slides_the_expiry(
    caller: Caller, sim: IntacctSimulator, clock: FakeClock
) -> None:
    sessionid = await caller.session()
    auth = caller.session_auth(sessionid)
    duration = sim.sessions.duration
    for _ in range(3):
        clock.advance(duration * 0.8)  # more than the full duration in total, yet never idle
        answer = await caller.call(READ, auth=auth)
        assert answer.text("operation/authentication/status") == "success"
        stamp = datetime.fromisoformat(answer.text("operation/authentication/sessiontimestamp"))
        timeout = datetime.fromisoformat(answer.text("operation/authentication/sessiontimeout"))
        assert (timeout - stamp).total_seconds() == duration
        assert stamp.timestamp() == clock.now


async def test_idle_session_expires_and_is_answered_like_a_failed_sign_in(
    caller: Caller, sim: IntacctSimulator, clock: FakeClock
) -> None:
    sessionid = await caller.session()
    clock.advance(sim.sessions.duration + 1)
    answer = await caller.call(READ, auth=caller.session_auth(sessionid))
    assert answer.text("operation/authentication/status") == "failure"
    assert answer.errornos("operation") == ["XL03000006"]
    assert answer.results() == []


async def test_expire_sessions_invalidates_every_session_now(
    caller: Caller, sim: IntacctSimulator
) -> None:
    first, second = await caller.session(), await caller.session(location="100")
    assert sim.expire_sessions() == 2
    for sessionid in (first, second):
        answer = await caller.call(READ, auth=caller.session_auth(sessionid))
        assert answer.text("operation/authentication/status") == "failure"
    fresh = await caller.session()
    answer = await caller.call(READ, auth=caller.session_auth(fresh))
    assert answer.text("operation/authentication/status") == "success"


async def test_an_entity_session_sees_no_top_level_transactions_but_shared_vendors(
    caller: Caller, sim: IntacctSimulator
) -> None:
    """As strict as Intacct's multi-entity companies: a session scoped to entity 200 sees
    entity 200's batches only — not another entity's, not one entered at the top level — while
    the top level's vendors (shared dimensions) stay visible; the top level sees everything."""
    template = sim.data.records("GLBATCH")[0]
    top = sim.data.insert("GLBATCH", {**template, "MEGAENTITYID": "", "MEGAENTITYKEY": None})
    vendor = sim.data.records("VENDOR")[0]
    shared = sim.data.insert("VENDOR", {**vendor, "VENDORID": "V-TOP", "MEGAENTITYID": ""})
    answer = await caller.call(
        '<function controlid="s"><getAPISession><locationid>200</locationid>'
        "</getAPISession></function>"
    )
    entity = caller.session_auth(answer.text("operation/result/data/api/sessionid"))

    def query(obj: str, field: str) -> str:
        return (
            f'<function controlid="q"><query><object>{obj}</object><select><field>RECORDNO'
            f"</field><field>{field}</field></select><pagesize>2000</pagesize></query></function>"
        )

    batches = await caller.call(query("GLBATCH", "MEGAENTITYID"), auth=entity)
    seen = {e.text for e in batches.root.iter("MEGAENTITYID")}
    numbers = {e.text for e in batches.root.iter("RECORDNO")}
    assert seen == {"200"} and str(top["RECORDNO"]) not in numbers
    vendors = await caller.call(query("VENDOR", "VENDORID"), auth=entity)
    assert "V-TOP" in {e.text for e in vendors.root.iter("VENDORID")}
    assert shared["VENDORID"] == "V-TOP"
    everything = await caller.call(query("GLBATCH", "MEGAENTITYID"))
    assert str(top["RECORDNO"]) in {e.text for e in everything.root.iter("RECORDNO")}
