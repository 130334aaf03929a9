"""Fixtures for the Intacct gateway simulator tests: a running simulator and a bare caller.

The caller writes request XML by hand and reads answers with lxml, so these tests check the
simulator against the wire format itself, not against our client. Test modules import these
classes only for annotations (under TYPE_CHECKING): pytest runs with --import-mode=importlib.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

import aiohttp
import pytest
from lxml import etree

from ml_connector.sim.intacct import IntacctSimulator


class FakeClock:
    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str

    @property
    def root(self) -> etree._Element:
        return etree.fromstring(self.body)

    def text(self, path: str) -> str:
        found = self.root.find(path)
        assert found is not None, f"{path} missing in {self.body[:600]!r}"
        return found.text or ""

    def results(self) -> list[etree._Element]:
        return self.root.findall("operation/result")

    def data(self, index: int = 0) -> etree._Element:
        """The ``<data>`` of a successful result (asserts it succeeded)."""
        result = self.results()[index]
        assert result.findtext("status") == "success", etree.tostring(result)[:800]
        data = result.find("data")
        assert data is not None
        return data

    def errornos(self, path: str) -> list[str]:
        return [e.text or "" for e in self.root.findall(f"{path}/errormessage/error/errorno")]


class Caller:
    """Builds gateway requests and posts them to the simulator."""

    def __init__(self, sim: IntacctSimulator, http: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.http = http

    def login(self, *, password: str | None = None, location: str | None = None) -> str:
        c = self.sim.credentials
        loc = f"<locationid>{location}</locationid>" if location is not None else ""
        return (
            f"<login><userid>{c.user_id}</userid><companyid>{c.company_id}</companyid>"
            f"<password>{escape(password if password is not None else c.user_password)}"
            f"</password>{loc}</login>"
        )

    def envelope(
        self,
        content: str,
        *,
        auth: str | None = None,
        sender_password: str | None = None,
        transaction: bool = False,
        controlid: str = "ctl-1",
        dtdversion: str = "3.0",
    ) -> bytes:
        c = self.sim.credentials
        password = sender_password if sender_password is not None else c.sender_password
        return (
            '<?xml version="1.0" encoding="iso-8859-1"?>\n'
            f"<request><control><senderid>{c.sender_id}</senderid>"
            f"<password>{escape(password)}</password><controlid>{controlid}</controlid>"
            f"<uniqueid>false</uniqueid><dtdversion>{dtdversion}</dtdversion>"
            "<includewhitespace>false</includewhitespace></control>"
            f'<operation transaction="{"true" if transaction else "false"}">'
            f"<authentication>{auth if auth is not None else self.login()}</authentication>"
            f"<content>{content}</content></operation></request>"
        ).encode("iso-8859-1")

    async def post(self, body: bytes, content_type: str = "application/xml") -> Answer:
        async with self.http.post(
            self.sim.url, data=body, headers={"Content-Type": content_type}
        ) as response:
            return Answer(response.status, await response.read(), response.content_type)

    async def call(self, content: str, **kwargs: object) -> Answer:
        return await self.post(self.envelope(content, **kwargs))  # type: ignore[arg-type]

    async def session(self, location: str | None = None) -> str:
        answer = await self.call(
            '<function controlid="s"><getAPISession/></function>',
            auth=self.login(location=location),
        )
        return answer.text("operation/result/data/api/sessionid")

    @staticmethod
    def session_auth(sessionid: str) -> str:
        return f"<sessionid>{sessionid}</sessionid>"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[IntacctSimulator]:
    simulator = IntacctSimulator(
        seed=3, gl_entries=600, vendors=40, payments=60, bills=40, clock=clock
    )
    async with simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def caller(sim: IntacctSimulator, http: aiohttp.ClientSession) -> Caller:
    return Caller(sim, http)


@pytest.fixture
def caller_for(http: aiohttp.ClientSession) -> Callable[[IntacctSimulator], Caller]:
    """A caller for a simulator the test builds itself (other sizes or limits)."""
    return lambda simulator: Caller(simulator, http)
