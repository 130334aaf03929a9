"""One credential builder: ``check`` passes exactly when ``run`` can read, for every auth mode;
the client key comes from the vault and never lies on disk, in the database or in the logs."""

from __future__ import annotations

import ast
import logging
import ssl
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Sage100Connection, parse_config
from ml_connector.errors import ConfigError
from ml_connector.pipeline import RunContext
from ml_connector.runtime.check import check_sage100
from ml_connector.sage100.pipeline import Sage100Pipeline
from ml_connector.sim.slack import SlackSimulator
from ml_connector.vault import Vault
from ml_connector_agent.testing import Mode, running_agent

from .world import CLIENT_KEY, World, make_config, streams_config

MODES = ["mtls", "api_key", "mtls+api_key"]
SRC = Path(__file__).resolve().parents[3] / "src" / "ml_connector"


def connection_for(agent: Any, auth: str, *, api_key: bool) -> dict[str, Any]:
    conn: dict[str, Any] = {"auth": auth, "cert_file": None, "client_key": None, "api_key": None}
    if auth in ("mtls", "mtls+api_key"):
        conn.update(cert_file=str(agent.client_cert), client_key=CLIENT_KEY)
    if auth in ("api_key", "mtls+api_key") or api_key:
        conn["api_key"] = "sage100.api_key"
    return conn


@pytest.mark.parametrize("agent_mode", MODES)
async def test_check_fails_exactly_when_run_would(
    agent_mode: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with (
        running_agent(tmp_path / agent_mode, mode=cast(Mode, agent_mode), seed=None) as agent,
        SlackSimulator(channels=["ap", "po", "gl", "approvals", "wh002"]) as slack,
    ):
        base = make_config(tmp_path, agent, slack, streams_config(slack))
        data: dict[str, Any] = base.model_dump(mode="json", exclude={"source"})
        vault = Vault.ephemeral(engine)
        await vault.set(CLIENT_KEY, agent.client_key.read_text())
        verdicts = []
        for auth in MODES:
            for right, key in ((True, agent.api_key or "s100_unused"), (False, "s100_wrong")):
                await vault.set("sage100.api_key", key)
                data["connections"]["erp"].update(connection_for(agent, auth, api_key=False))
                config = parse_config(data, tmp_path / "ml-connector.toml")
                connection = config.connections["erp"]
                assert isinstance(connection, Sage100Connection)
                [checked] = await check_sage100("erp", connection, config, vault)
                pipeline = Sage100Pipeline("sage100", config)
                ctx = RunContext(
                    engine, vault, config, "sage100", 1, "manual", stream="gl_accounts"
                )
                try:
                    outcome = await pipeline.run(ctx)
                finally:
                    await pipeline.aclose()
                ran = outcome.status == "succeeded"
                assert checked.ok == ran, (auth, key, checked, outcome.error)
                verdicts.append((auth, right, ran))
        # The matrix is not trivially all-pass or all-fail: exactly the matching modes pass.
        passing = {(auth, good) for auth, good, ran in verdicts if ran}
        wants_key = agent_mode in ("api_key", "mtls+api_key")
        wants_cert = agent_mode in ("mtls", "mtls+api_key")
        expected = {
            (auth, good)
            for auth in MODES
            for good in (True, False)
            if (not wants_cert or "mtls" in auth)
            and (not wants_key or ("api_key" in auth and good))
        }
        assert passing == expected


def test_a_credential_the_mode_does_not_send_is_a_config_error(tmp_path: Path) -> None:
    """The 401 trap: auth = 'mtls' with an api_key set used to pass check and fail run."""
    for conn, needle in [
        ({"auth": "mtls", "api_key": "k"}, "does not send api_key"),
        ({"auth": "api_key", "api_key": "k", "client_key": "c"}, "does not send client_key"),
        ({"auth": "mtls", "key_file": "client.key"}, "secrets set sage100.client_key"),
        ({"auth": "mtls+api_key"}, "needs ca_file, cert_file, client_key"),
    ]:
        data = {
            "connections": {
                "erp": {"type": "sage100", "agent_url": "https://a:1", "company": "ABC", **conn}
            }
        }
        with pytest.raises(ConfigError) as caught:
            parse_config(data, tmp_path / "c.toml")
        assert needle in " ".join(caught.value.problems), caught.value.problems


async def test_the_client_key_never_lies_in_plain_text(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The key is loaded from the vault through a one-time encrypted copy: the file OpenSSL
    reads holds ``ENCRYPTED PRIVATE KEY`` only; the database, the logs and the config never
    hold the key; the agent's plain key file is never opened by the connector."""
    key_text = world.agent.client_key.read_text()
    body = "".join(key_text.strip().splitlines()[1:-1])  # the base64 of the key itself
    loaded: list[bytes] = []
    real_load = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        loaded.append(Path(keyfile).read_bytes() if keyfile else b"")
        real_load(self, certfile, keyfile, password)

    opened: list[str] = []
    real_open = Path.open

    def watch(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    monkeypatch.setattr(Path, "open", watch)  # read_text/read_bytes go through Path.open
    caplog.set_level(logging.DEBUG)
    outcome = await world.poll("ap_invoices")
    assert outcome.status == "succeeded", outcome.error
    [sealed] = loaded
    assert sealed.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert body.encode() not in sealed
    assert str(world.agent.client_key) not in opened
    async with world.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        for table in tables:
            for row in (await conn.execute(sa.text(f"SELECT * FROM {table}"))).all():
                assert body[:40] not in repr(row), table
    assert body[:40] not in caplog.text
    assert "PRIVATE KEY" not in caplog.text
    config_text = (tmp_path / "ml-connector.toml").read_text()
    assert body[:40] not in config_text and "key_file" not in config_text


def test_the_connector_never_imports_the_agent() -> None:
    """Their contract is openapi.json. The one exception is ``ml-connector demo``, which plays
    both sides in one process: it may import the agent only inside a function or for types."""
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        allowed: set[int] = set()
        if path.name == "demo.py" and path.parent.name == "runtime":
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.If):
                    allowed.update(id(n) for n in ast.walk(node) if n is not node)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("ml_connector_agent") else []
            if any(n.startswith("ml_connector_agent") for n in names) and id(node) not in allowed:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")  # type: ignore[attr-defined]
    assert offenders == []
