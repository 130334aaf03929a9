"""Fixtures shared by every test: the ``engine`` fixture runs storage tests on every database.

SQLite always runs. PostgreSQL runs when ``MLC_TEST_POSTGRES_URL`` is set, each test in a
schema of its own; if the variable is set and the server cannot be reached, the test fails
rather than skipping, so CI never passes without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.store import make_engine, migrate

POSTGRES_ENV = "MLC_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)
SKIP_POSTGRES = (
    f"PostgreSQL tests are off: set {POSTGRES_ENV}="
    "postgresql+psycopg://postgres@127.0.0.1:5432/test to run them"
)

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(POSTGRES_URL is None, reason=SKIP_POSTGRES),
        ],
    ),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server")


class Database:
    """How to open engines on one test database (several engines = several processes)."""

    def __init__(self, kind: str, url: str, schema: str | None) -> None:
        self.kind = kind
        self.url = url
        self.schema = schema
        self._engines: list[AsyncEngine] = []

    def engine(self) -> AsyncEngine:
        engine = make_engine(self.url, schema=self.schema)
        self._engines.append(engine)
        return engine

    async def dispose(self) -> None:
        for engine in self._engines:
            await engine.dispose()


def _postgres_admin_engine() -> sa.Engine:
    assert POSTGRES_URL is not None
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(params=DATABASES)
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(database_kind: str, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if database_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}", None
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = _postgres_admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        assert POSTGRES_URL is not None
        yield POSTGRES_URL, schema
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def database(
    database_kind: str, database_url: tuple[str, str | None]
) -> AsyncIterator[Database]:
    url, schema = database_url
    db = Database(database_kind, url, schema)
    engine = db.engine()
    await migrate(engine)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def engine(database: Database) -> AsyncEngine:
    """A migrated engine on each database in turn."""
    return database.engine()


@pytest.fixture(autouse=True)
def _default_link_hosts() -> Iterator[None]:
    """The link allow-list is process-wide (set from the config when pipelines are built);
    each test starts from the default and leaves it there."""
    from ml_connector.config import INTACCT_LINK_HOSTS
    from ml_connector.slack.mrkdwn import set_link_hosts

    set_link_hosts(INTACCT_LINK_HOSTS)
    yield
    set_link_hosts(INTACCT_LINK_HOSTS)


@pytest.fixture
def erp_links() -> None:
    """Tests whose ERP links point at the made-up hosts erp.example and erp."""
    from ml_connector.config import INTACCT_LINK_HOSTS
    from ml_connector.slack.mrkdwn import set_link_hosts

    set_link_hosts([*INTACCT_LINK_HOSTS, "erp.example", "erp"])
