"""The agent's own distribution declares only what the agent needs (the fresh-venv install
itself is `make agent-check`, run by .ci/run)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"


def test_the_agent_depends_on_aiohttp_pydantic_cryptography_only() -> None:
    project = tomllib.loads((AGENT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert names == {"aiohttp", "pydantic", "cryptography"}
    extras = project["optional-dependencies"]
    assert [d.split(">")[0] for d in extras["odbc"]] == ["pyodbc"]
    assert extras["boi"] == ['pywin32>=306; sys_platform == "win32"']
    assert project["scripts"]["ml-connector-agent"] == "ml_connector_agent.cli:main"


def test_the_agent_imports_nothing_of_the_connector() -> None:
    offenders = []
    for path in (AGENT / "src" / "ml_connector_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in {"ml_connector", "slack_sdk", "sqlalchemy", "typer", "lxml", "rich"}:
                    offenders.append(f"{path.name}:{node.lineno} {name}")  # type: ignore[attr-defined]
    assert offenders == []
