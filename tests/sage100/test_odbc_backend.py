"""The ODBC back end against a fake pyodbc over demo data, translating ProvideX SQL.

The fake accepts only what the ProvideX driver accepts here: no parameters, dates as
``{d 'YYYY-MM-DD'}`` escapes, a read-only connection.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ml_connector_agent.backends.base import PageQuery
from ml_connector_agent.backends.odbc import (
    Dialect,
    OdbcBackend,
    providex_connection_string,
    scan_sql,
)
from ml_connector_agent.config import OdbcSection
from ml_connector_agent.demo_data import DemoStore, SeedCounts, connect
from ml_connector_agent.errors import BackendUnavailableError, RecordLockedError
from ml_connector_agent.resources import Resource

_DATE = re.compile(r"\{d '(\d{4})-(\d{2})-(\d{2})'\}")


class FakeOdbcError(Exception):
    pass


class FakeCursor:
    def __init__(self, driver: FakeDriver, conn: sqlite3.Connection) -> None:
        self.driver = driver
        self.conn = conn
        self.description: list[tuple[str]] | None = None
        self._cur: sqlite3.Cursor | None = None

    def execute(self, sql: str, *params: Any) -> FakeCursor:
        assert not params and "?" not in sql, "ProvideX SQL here carries no parameters"
        self.driver.statements.append(sql)
        if self.driver.busy:
            self.driver.busy -= 1
            raise FakeOdbcError("HY000", "[ProvideX][ODBC Driver][FILEIO]Record/file busy")
        self._cur = self.conn.execute(_DATE.sub(r"'\1\2\3'", sql))
        self.description = [(d[0],) for d in self._cur.description]
        return self

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        assert self._cur is not None
        return [tuple(r) for r in self._cur.fetchmany(size)]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, driver: FakeDriver, conn: sqlite3.Connection) -> None:
        self.driver, self.conn = driver, conn

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.driver, self.conn)

    def close(self) -> None:
        self.driver.closed += 1


class FakeDriver:
    Error = FakeOdbcError

    def __init__(self, path: Path) -> None:
        self.path = path
        self.statements: list[str] = []
        self.busy = 0
        self.closed = 0
        self.connection_strings: list[str] = []

    def connect(self, connection_string: str, **kwargs: Any) -> FakeConnection:
        assert kwargs.get("readonly") is True
        self.connection_strings.append(connection_string)
        if "Company=ABC;" not in connection_string:
            raise FakeOdbcError("08001", "[ProvideX][ODBC Driver]Invalid company")
        return FakeConnection(self, connect(self.path))


@pytest.fixture
def driver(tmp_path: Path) -> FakeDriver:
    path = tmp_path / "MAS_ABC.db"
    store = DemoStore(connect(path))
    store.seed(SeedCounts(vendors=5, ap_invoices=40, purchase_orders=12, gl_registers=4))
    store.conn.close()
    return FakeDriver(path)


def _backend(driver: FakeDriver, companies: list[str] | None = None) -> OdbcBackend:
    settings = OdbcSection(directory=r"C:\Sage\Sage 100\MAS90", user="conn", password_env="PW")
    return OdbcBackend(settings, companies or ["ABC"], driver=driver, environ={"PW": "p;w}d"}.get)


def test_connection_string_is_dsn_less_and_escaped() -> None:
    text = providex_connection_string(
        driver="MAS 90 4.0 ODBC Driver",
        directory=r"C:\Sage\Sage 100\MAS90",
        company="ABC",
        user="conn",
        password="p;w}d",
    )
    assert text.startswith("Driver={MAS 90 4.0 ODBC Driver};")
    assert r"Directory={C:\Sage\Sage 100\MAS90};" in text
    assert "PWD={p;w}}d};" in text
    assert "StripTrailingSpaces=1" in text


def test_scan_sql_dialects() -> None:
    sql, params = scan_sql(Dialect("providex"), "GL_Account", "AccountKey", "20240501", True)
    assert sql == (
        "SELECT AccountKey FROM GL_Account WHERE (DateUpdated >= {d '2024-05-01'} "
        "OR DateCreated >= {d '2024-05-01'})"
    )
    assert params == []
    sql, params = scan_sql(
        Dialect("sqlserver"), "GL_DetailPosting", "AccountKey", "20240501", False
    )
    assert sql == "SELECT AccountKey FROM GL_DetailPosting WHERE DateCreated >= CAST(? AS date)"
    assert params == ["2024-05-01"]


async def test_pages_match_the_demo_back_end_order(driver: FakeDriver) -> None:
    backend = _backend(driver)
    try:
        keys: list[str] = []
        after = None
        while True:
            page = await backend.read_page(
                "ABC", PageQuery(Resource.AP_INVOICES, since=None, after=after, limit=7)
            )
            keys.extend(r["record_key"] for r in page.records)
            for r in page.records:
                assert r["VendorName"], "vendor names come from AP_Vendor"
            if not page.has_more:
                break
            after = page.last
        assert len(keys) == len(set(keys)) == 40
        since = "2030-01-01T00:00:00"
        empty = await backend.read_page(
            "ABC", PageQuery(Resource.AP_INVOICES, since=since, after=None, limit=7)
        )
        assert empty.records == []
        assert "{d '2030-01-01'}" in driver.statements[-1]
        pos = await backend.read_page(
            "ABC", PageQuery(Resource.PURCHASE_ORDERS, since=None, after=None, limit=50)
        )
        assert all(r["line_count"] >= 1 for r in pos.records)
    finally:
        await backend.close()
    assert len(driver.connection_strings) == 1  # the connection is kept
    assert driver.closed == 1


async def test_busy_file_is_a_lock_and_bad_company_is_unavailable(driver: FakeDriver) -> None:
    backend = _backend(driver, ["ABC", "XYZ"])
    try:
        driver.busy = 1
        with pytest.raises(RecordLockedError, match="Record/file busy"):
            await backend.read_page(
                "ABC", PageQuery(Resource.GL_ACCOUNTS, since=None, after=None, limit=5)
            )
        with pytest.raises(BackendUnavailableError, match="Invalid company") as caught:
            await backend.read_page(
                "XYZ", PageQuery(Resource.GL_ACCOUNTS, since=None, after=None, limit=5)
            )
        assert "p;w}d" not in str(caught.value)
    finally:
        await backend.close()
