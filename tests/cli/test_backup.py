"""``backup`` / ``restore`` / ``db`` as an operator runs them, including every refusal.

Each refusal must name the problem and what to do, and leave the database as it was.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest

from ml_connector.cli.init import example_config
from ml_connector.store import head_revision
from ml_connector.vault import key_fingerprint, load_keyring

from .conftest import SECRET, Site, one_line


def test_backup_then_restore_brings_the_secrets_back_and_keeps_the_replaced_db(
    site: Site, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    code, out = site("backup", str(archive))
    assert code == 0, out
    fingerprint = key_fingerprint(load_keyring(site.key, environ={}).keys[0])
    assert fingerprint in out and "NOT in the backup" in one_line(out)
    assert archive.stat().st_mode & 0o077 == 0
    code, out = site("secrets", "delete", "slack.bot_token")
    assert code == 0, out
    code, out = site("restore", str(archive))
    assert code == 0, out
    code, out = site("secrets", "list")
    assert "slack.bot_token" in out
    kept = list(site.db.parent.glob("ml-connector.db.before-restore-*"))
    assert len(kept) == 1  # what the restore replaced is still there
    with sqlite3.connect(kept[0]) as conn:
        assert conn.execute(
            "SELECT count(*) FROM secrets WHERE name='slack.bot_token'"
        ).fetchone() == (0,)


def test_the_archive_holds_neither_the_key_nor_a_plain_secret(site: Site, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    assert site("backup", str(archive))[0] == 0
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        files = [tar.extractfile(m) for m in tar.getmembers() if m.isfile()]
        blob = b"".join(f.read() for f in files if f is not None)
    assert sorted(names) == ["manifest.json", "ml-connector.db", "ml-connector.toml"]
    key = load_keyring(site.key, environ={}).keys[0]
    assert key not in blob and SECRET.encode() not in blob
    assert key_fingerprint(key).encode() in blob


def test_backup_takes_rows_still_only_in_the_wal(site: Site, tmp_path: Path) -> None:
    """A file copy of the main file alone would miss them; the online backup does not."""
    writer = sqlite3.connect(site.db)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO cache_entries VALUES ('n', 'only-in-wal', '1', 0)")
    writer.commit()
    try:
        assert Path(str(site.db) + "-wal").stat().st_size > 0
        archive = tmp_path / "b.tar.gz"
        assert site("backup", str(archive))[0] == 0
    finally:
        writer.close()
    with tarfile.open(archive) as tar:
        tar.extract("ml-connector.db", tmp_path / "x", filter="data")
    with sqlite3.connect(tmp_path / "x" / "ml-connector.db") as conn:
        assert conn.execute("SELECT key FROM cache_entries").fetchall() == [("only-in-wal",)]


def test_restore_with_a_wrong_key_refuses_and_changes_nothing(site: Site, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    assert site("backup", str(archive))[0] == 0
    wanted = key_fingerprint(load_keyring(site.key, environ={}).keys[0])
    other = tmp_path / "other"
    other.mkdir()
    (other / "ml-connector.toml").write_text(example_config())
    elsewhere = Site(other)
    assert elsewhere("init", "--dir", str(other))[0] == 0
    before = elsewhere.db_digest()
    code, out = elsewhere("restore", str(archive))
    assert code == 1
    text = one_line(out)
    assert wanted in text and "Find that key" in text and "nothing was changed" in text
    assert elsewhere.db_digest() == before
    assert not list(other.glob("data/*.before-restore-*"))


def test_restore_without_any_key_says_which_key_and_where_to_put_it(
    site: Site, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert site("backup", str(archive))[0] == 0
    wanted = key_fingerprint(load_keyring(site.key, environ={}).keys[0])
    fresh = Site(tmp_path / "fresh")  # a new machine: no config, no key, no database
    fresh.root.mkdir()
    code, out = fresh("restore", str(archive))
    assert code == 1
    text = one_line(out)
    assert "no master key" in text and wanted in text
    assert str(fresh.key) in text and "MLC_MASTER_KEY" in text
    assert not fresh.db.exists()
    # With the key put where it says, the same command restores config and database.
    fresh.key.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(site.key, fresh.key)
    code, out = fresh("restore", str(archive))
    assert code == 0, out
    assert fresh("secrets", "list")[1].count("slack.bot_token") == 1


def _rewrite_manifest(archive: Path, out: Path, **changes: object) -> None:
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest.update(changes)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"format": 2, "version": "9.0.0"}, "Install ml-connector 9.0.0 or newer"),
        ({"schema_revision": "9000_future", "version": "9.0.0"}, "9000_future"),
    ],
)
def test_restore_refuses_an_archive_from_a_newer_version(
    site: Site, tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert site("backup", str(archive))[0] == 0
    newer = tmp_path / "newer.tar.gz"
    _rewrite_manifest(archive, newer, **changes)
    before = site.db_digest()
    code, out = site("restore", str(newer))
    assert code == 1
    assert expected in one_line(out) and "newer" in out
    assert site.db_digest() == before


def test_restore_refuses_a_damaged_or_foreign_archive(site: Site, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    assert site("backup", str(archive))[0] == 0
    before = site.db_digest()
    bad = tmp_path / "bad.tar.gz"
    _rewrite_manifest(archive, bad, files={"ml-connector.db": "0" * 64})
    code, out = site("restore", str(bad))
    assert code == 1 and "checksum" in out
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    code, out = site("restore", str(foreign))
    assert code == 1 and "not an ml-connector backup" in out
    assert not (tmp_path.parent / "etc" / "evil").exists()
    assert site.db_digest() == before


def test_rotate_key_records_the_new_fingerprint(site: Site, tmp_path: Path) -> None:
    old = key_fingerprint(load_keyring(site.key, environ={}).keys[0])
    archive = tmp_path / "before-rotation.tar.gz"
    assert site("backup", str(archive))[0] == 0
    code, out = site("secrets", "rotate-key")
    assert code == 0, out
    new = key_fingerprint(load_keyring(site.key, environ={}).keys[0])
    assert new != old
    code, out = site("db", "check")
    assert code == 0, out
    assert f"recorded in the database: {new} (matches" in one_line(out)
    # An archive from before the rotation needs the old key; the new one is refused by name.
    code, out = site("restore", str(archive))
    assert code == 1 and old in out and new in out


def test_db_commands_report_and_upgrade_an_older_database(site: Site) -> None:
    with sqlite3.connect(site.db) as conn:  # back to 0004: without what 0005 adds
        conn.execute("DROP TABLE retention_marks")
        conn.execute("DROP TABLE companies")  # added after 0005_i22_retention (#22)
        conn.execute("DROP TABLE poll_health")  # added after 0006_i22_companies (#22 item 3)
        for name in (
            "ix_outbox_status_delivered_at",
            "ix_runs_started_at",
            "ix_schedule_slots_fire_time",
            "ix_slack_events_received_at",
        ):
            conn.execute(f"DROP INDEX {name}")
        conn.execute("UPDATE alembic_version SET version_num = '0004'")
    code, out = site("db", "check")
    assert code == 1 and "ml-connector db upgrade" in out
    code, out = site("secrets", "list")
    assert code == 1 and "ml-connector db upgrade" in one_line(out)
    code, out = site("serve")
    assert code == 1 and "--migrate" in one_line(out)
    code, out = site("db", "history")
    assert code == 0 and "0005_i22_retention" in out
    code, out = site("db", "upgrade")
    assert code == 0 and f"from 0004 to {head_revision()}" in out
    code, out = site("db", "current")
    assert code == 0 and "current" in out
    code, out = site("secrets", "list")
    assert code == 0 and "slack.bot_token" in out


def test_db_check_exits_3_for_a_database_from_a_newer_version(site: Site) -> None:
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9000_future'")
    code, out = site("db", "check")
    assert code == 3 and "newer ml-connector" in one_line(out)
    code, out = site("serve", "--migrate")
    assert code == 1 and "9000_future" in out and "restore" in out
    code, out = site("db", "upgrade")
    assert code == 1 and "Nothing was changed" in one_line(out)


def test_postgres_backup_prints_pg_dump_and_checks_the_recorded_fingerprint(
    database_kind: str, database_url: tuple[str, str | None], tmp_path: Path
) -> None:
    if database_kind != "postgresql":
        pytest.skip("the PostgreSQL backup path; SQLite's is tested above")
    url, schema = database_url
    here = Site(tmp_path)
    here.config.write_text(
        f'data_dir = "data"\ndatabase_url = "{url}?options=-csearch_path%3D{schema}"\n'
    )
    here.key.parent.mkdir()
    from ml_connector.vault import create_key_file

    create_key_file(here.key)
    assert here("db", "upgrade")[0] == 0
    assert here("secrets", "set", "slack.bot_token", stdin=SECRET + "\n")[0] == 0
    code, out = here("backup", str(tmp_path / "mlc.pgdump"))
    assert code == 0, out
    text = one_line(out)
    fingerprint = key_fingerprint(load_keyring(here.key, environ={}).keys[0])
    assert "pg_dump --format=custom --no-owner" in text and f"--schema={schema}" in text
    assert fingerprint in text and "NOT in the backup" in text
    assert not (tmp_path / "mlc.pgdump").exists()  # pg_dump writes it, not us
    # With another key, the backup is refused: a dump it could not open is no backup.
    here.key.unlink()
    create_key_file(here.key)
    code, out = here("backup", str(tmp_path / "mlc.pgdump"))
    assert code == 1 and "does not open this database's secrets" in one_line(out)
    code, out = here("db", "check")
    assert code == 4 and f"{fingerprint} (does NOT match" in one_line(out)
