"""``ml-connector intacct trigger-secret`` / ``intacct triggers`` as a user runs them: the
secret is printed once and stored encrypted (never in plain text in the database), the
trigger definitions name the URL, events, body and header; config mistakes are named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from ml_connector.cli.main import app
from ml_connector.config import parse_config
from ml_connector.errors import ConfigError
from ml_connector.intacct.trigger_events import RecordRef, parse_event
from ml_connector.sim.intacct.injection import render

CONFIG = """
data_dir = "{data}"
public_base_url = "https://mlc.example.com"
[slack.workspaces.default]
[connections.books]
type = "intacct"
sender_id = "s"
sender_password = "intacct.sender"
company_id = "ACME"
user_id = "u"
user_password = "intacct.user"
[connections.books.triggers]
client_id = "rest-client-1"
jwt_issuer = "https://api.intacct.com"
jwks_url = "https://api.intacct.com/.well-known/jwks.json"
[connections.plain]
type = "intacct"
sender_id = "s"
sender_password = "intacct.sender"
company_id = "ACME"
user_id = "u"
user_password = "intacct.user"
"""


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    env = {"MLC_MASTER_KEY": (tmp_path / "key").read_text(), "MLC_CONFIG": str(tmp_path / "c.toml")}
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "c.toml").write_text(CONFIG.format(data=tmp_path / "data"))
    (tmp_path / "key").write_text(Fernet.generate_key().decode())
    return tmp_path


def test_trigger_secret_is_shown_once_and_stored_encrypted(setup: Path) -> None:
    # Commands refuse an un-migrated database (#24): the database is made as a user makes it.
    code, _, err = invoke(setup, "db", "upgrade")
    assert code == 0, err
    code, out, err = invoke(setup, "intacct", "trigger-secret", "books")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("X-MLC-Trigger-Secret: "))
    secret = line.removeprefix("X-MLC-Trigger-Secret: ")
    assert len(secret) >= 40
    stored = b"".join(p.read_bytes() for p in (setup / "data").iterdir())
    assert secret.encode() not in stored
    code, again, _ = invoke(setup, "intacct", "trigger-secret", "books")
    assert code == 0 and secret not in again  # a new one replaces it


def test_triggers_prints_what_to_create(setup: Path) -> None:
    code, out, err = invoke(setup, "intacct", "triggers", "books")
    assert code == 0, err
    assert "URL:           https://mlc.example.com/intacct/events/books" in out
    assert "'Use webhook delivery', client ID rest-client-1" in out
    assert "X-MLC-Trigger-Secret" in out
    for name in ("GLBATCH", "GLENTRY", "APPYMT", "VENDOR"):
        assert f"\n{name} — " in out
    # The printed bodies, filled in as Intacct fills injection parameters, name the records.
    bodies = [x.removeprefix("  Body:   ") for x in out.splitlines() if x.startswith("  Body:")]
    objects = ["GLBATCH", "GLENTRY", "APPYMT", "VENDOR"]
    filled = [
        render(body, name, {"RECORDNO": 8, "BATCHNO": 5})
        for body, name in zip(bodies, objects, strict=True)
    ]
    refs = [parse_event(f.encode(), "application/json", max_depth=4) for f in filled]
    assert refs == [
        [RecordRef("GLBATCH", "8")],
        [RecordRef("GLBATCH", "5")],
        [RecordRef("APPYMT", "8")],
        [RecordRef("VENDOR", "8")],
    ]
    code, _, err = invoke(setup, "intacct", "triggers", "plain")
    assert code == 2 and "connections.plain.triggers: not configured" in err


@pytest.mark.parametrize(
    ("triggers", "problem"),
    [
        ({"client_id": "c", "jwks_url": "https://x/j"}, "needs jwt_issuer"),
        ({"client_id": "c", "jwt_issuer": "i"}, "needs one of jwks_url, jwt_public_key_file"),
        ({"jwt_algorithms": ["HS256"]}, "jwt_algorithms.0"),
        ({"coalesce_seconds": 600.0}, "coalesce_seconds"),
        (
            {"client_id": "c", "jwt_issuer": "i", "jwks_url": "http://10.0.0.5/jwks.json"},
            "jwks_url: expected an https:// URL",
        ),
    ],
)
def test_config_mistakes_are_named(triggers: dict[str, object], problem: str) -> None:
    data = {
        "slack": {"workspaces": {"default": {}}},
        "connections": {
            "books": {
                "type": "intacct",
                "sender_id": "s",
                "sender_password": "a.b",
                "company_id": "c",
                "user_id": "u",
                "user_password": "a.c",
                "triggers": triggers,
            }
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, Path("c.toml"))
    assert problem in str(caught.value)
