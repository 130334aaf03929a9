from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import logging as mlc_logging
from ml_connector.errors import CorruptSecretError, MasterKeyError, SecretNotFoundError
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import secrets
from ml_connector.vault import Keyring, Vault, create_key_file, load_keyring, write_key_file

PLANTED = "planted-Secret-Value-7f3a9c"


async def test_set_get_delete_list(engine: AsyncEngine) -> None:
    vault = Vault.ephemeral(engine)
    await vault.set("intacct.user_password", PLANTED)
    assert await vault.get("intacct.user_password") == PLANTED
    assert [s.name for s in await vault.list()] == ["intacct.user_password"]
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.select(secrets.c.ciphertext))
    assert PLANTED not in stored
    assert await vault.delete("intacct.user_password")
    with pytest.raises(SecretNotFoundError, match="secrets set intacct.user_password"):
        await vault.get("intacct.user_password")


async def test_rotation_keeps_values_and_drops_old_key(engine: AsyncEngine) -> None:
    vault = Vault(engine, Keyring.generate())
    await vault.set("a", PLANTED)
    await vault.ensure_canary()
    old = vault.keyring
    new = Keyring.generate()
    assert await vault.rotate(new) == 2
    assert await vault.get("a") == PLANTED
    with pytest.raises(MasterKeyError, match="does not open"):
        await Vault(engine, old).get("a")


async def test_wrong_key_is_refused_at_start(engine: AsyncEngine) -> None:
    await Vault.ephemeral(engine).ensure_canary()
    with pytest.raises(MasterKeyError):
        await Vault.ephemeral(engine).ensure_canary()


def test_key_file_mode_is_checked(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    assert create_key_file(key_file)
    assert not create_key_file(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    load_keyring(key_file, environ={})
    key_file.chmod(0o640)
    with pytest.raises(MasterKeyError, match="accessible by group or others"):
        load_keyring(key_file, environ={})


async def test_running_vault_follows_a_rotation_by_another_process(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await migrate(engine)
    key_file = tmp_path / "master.key"
    create_key_file(key_file)
    running = Vault(engine, load_keyring(key_file, environ={}))
    await running.set("a", PLANTED)
    rotator = Vault(engine, load_keyring(key_file, environ={}))
    new = Keyring.generate()
    write_key_file(key_file, [new.keys[0], *rotator.keyring.keys])
    await rotator.rotate(new)
    write_key_file(key_file, [new.keys[0]])
    assert await running.get("a") == PLANTED
    await engine.dispose()


async def test_planted_secret_appears_nowhere_in_plain_text(tmp_path: Path) -> None:
    """The database file (and its WAL), logs at every level and exception texts."""
    db = tmp_path / "db.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    await migrate(engine)
    vault = Vault.ephemeral(engine)
    await vault.set("slack.bot_token", PLANTED)
    assert await vault.get("slack.bot_token") == PLANTED
    await vault.rotate(Keyring.generate())
    assert await vault.get("slack.bot_token") == PLANTED

    out = io.StringIO()
    mlc_logging.configure("json", "debug", stream=out)
    log = mlc_logging.get_logger("test")
    for level in ("debug", "info", "warning", "error", "critical"):
        getattr(log, level)("using the token", token=PLANTED, detail=f"value={PLANTED}")
        getattr(log, level)(f"raw text with {PLANTED} inside")
    logging.getLogger("aiohttp.client").warning("library says %s", PLANTED)
    try:
        raise RuntimeError(f"failed with {PLANTED}")
    except RuntimeError:
        log.exception("boom")
    texts = [repr(vault), repr(vault.keyring)]
    with pytest.raises(MasterKeyError) as wrong_key:
        await Vault.ephemeral(engine).get("slack.bot_token")
    with pytest.raises(SecretNotFoundError) as missing:
        await vault.get("slack.other")
    texts += [str(wrong_key.value), str(missing.value)]
    await engine.dispose()
    assert PLANTED not in out.getvalue()
    assert out.getvalue().count("***") >= 10
    for text in texts:
        assert PLANTED not in text
    for path in tmp_path.iterdir():
        assert PLANTED.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
async def test_damaged_row_is_named_as_such_not_blamed_on_the_key(
    engine: AsyncEngine, damage: str
) -> None:
    vault = Vault.ephemeral(engine)
    await vault.ensure_canary()
    await vault.set("intacct.user_password", PLANTED)
    await vault.set("slack.bot_token", "xoxb-still-fine-123456")
    async with engine.begin() as conn:
        token = await conn.scalar(
            sa.select(secrets.c.ciphertext).where(secrets.c.name == "intacct.user_password")
        )
        damaged = {
            "flip": token[:40] + ("A" if token[40] != "A" else "B") + token[41:],
            "truncate": token[:-7],
            "garbage": "not a token at all",
        }[damage]
        await conn.execute(
            secrets.update()
            .where(secrets.c.name == "intacct.user_password")
            .values(ciphertext=damaged)
        )
    with pytest.raises(CorruptSecretError) as info:
        await vault.get("intacct.user_password")
    text = str(info.value)
    assert "'intacct.user_password'" in text and "damaged" in text
    assert "secrets set intacct.user_password" in text
    assert not isinstance(info.value, MasterKeyError)
    assert await vault.get("slack.bot_token") == "xoxb-still-fine-123456"
    # A wrong key is still called a wrong key, not damage.
    with pytest.raises(MasterKeyError, match="does not open"):
        await Vault.ephemeral(engine).get("slack.bot_token")
