"""Backups that can be restored: the SQLite database, the config and the key's fingerprint.

The database and the master key only make sense together: the secrets in one are encrypted
under the other. An archive therefore records the *fingerprint* of the key (never the key,
which must be kept apart from its backups) and a restore refuses to go on with any other key,
before anything is touched. The database is copied with SQLite's online backup API, which
gives a consistent snapshot while `serve` keeps writing (a file copy under WAL can catch the
main file and the log at different moments).

Archive layout (a gzip'd tar; ``FORMAT`` says how to read it)::

    manifest.json       format, version, schema revision, key fingerprint, sha256 of each file
    ml-connector.db     the database, self-contained (no -wal file)
    ml-connector.toml   the config file, if there was one

PostgreSQL databases are backed up with ``pg_dump``; :func:`pg_dump_command` says how, and the
fingerprint check is the same one against the fingerprint the database recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shlex
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ml_connector import __version__
from ml_connector.errors import BackupError
from ml_connector.store.migrate import known_revisions
from ml_connector.vault import CANARY, Keyring, key_fingerprint, opening_key

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "ml-connector.db"
CONFIG = "ml-connector.toml"
MEMBERS = {MANIFEST, DATABASE, CONFIG}
MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class Manifest:
    format: int
    version: str
    created_at: str
    schema_revision: str | None
    key_fingerprint: str
    files: dict[str, str]

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def parse(cls, raw: bytes, archive: Path) -> Manifest:
        try:
            data = json.loads(raw)
            made_with = data.get("version", "an unknown version")
            if not isinstance(data.get("format"), int):
                raise TypeError("format")
        except (ValueError, TypeError, AttributeError):
            raise BackupError(
                f"{archive}: not an ml-connector backup (its {MANIFEST} is unreadable); "
                "pick an archive made by `ml-connector backup`"
            ) from None
        if data["format"] > FORMAT:
            raise BackupError(
                f"{archive} was made by ml-connector {made_with} in archive format "
                f"{data['format']}; this ml-connector {__version__} reads format {FORMAT} "
                f"and older. Install ml-connector {made_with} or newer to restore it"
            )
        try:
            manifest = cls(
                format=int(data["format"]),
                version=str(data["version"]),
                created_at=str(data["created_at"]),
                schema_revision=data["schema_revision"],
                key_fingerprint=str(data["key_fingerprint"]),
                files={str(k): str(v) for k, v in dict(data["files"]).items()},
            )
        except (KeyError, TypeError, ValueError):
            raise BackupError(
                f"{archive}: its {MANIFEST} lacks a field ml-connector {__version__} needs; "
                "the archive is damaged or not an ml-connector backup"
            ) from None
        if manifest.schema_revision is not None and (
            manifest.schema_revision not in known_revisions()
        ):
            raise BackupError(
                f"{archive} holds a database at schema revision {manifest.schema_revision}, "
                f"written by ml-connector {made_with}, which this ml-connector {__version__} "
                f"does not know. Install ml-connector {made_with} or newer to restore it"
            )
        return manifest


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite URL; None for PostgreSQL (or an in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    return Path(url.database) if url.database and url.database != ":memory:" else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _schema_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _canary(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT ciphertext FROM secrets WHERE name = ?", (CANARY,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def fingerprint_in_use(keyring: Keyring, canary_token: str | None) -> str:
    """The fingerprint of the keyring's key that opens the stored secrets (refusing if none).

    A database without a canary has no secrets yet: its key is the keyring's newest.
    """
    if canary_token is None:
        return keyring.fingerprints[0]
    key = opening_key(keyring, canary_token)
    if key is None:
        raise BackupError(
            f"the master key from {keyring.source} (fingerprint {keyring.fingerprints[0]}) "
            "does not open this database's secrets, so a backup of it could not be used. "
            "Use the key the service runs with (MLC_MASTER_KEY or the key file)"
        )
    return key_fingerprint(key)


def _copy_online(source: Path, target: Path) -> None:
    """SQLite's online backup from ``source`` into ``target``, consistent under WAL writers."""
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def _integrity(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a usable SQLite database ({exc})") from None
    finally:
        conn.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"{path}: the database fails SQLite's integrity check: {result}")


def archive_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"ml-connector-backup-{moment}.tar.gz"


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    manifest: Manifest


def backup_sqlite(
    database: Path, config_file: Path | None, keyring: Keyring, out: Path
) -> BackupResult:
    """Write an archive of ``database`` (online backup) and the config to ``out``.

    ``out`` may be a directory (a dated name is chosen in it). An existing file is never
    overwritten. The archive is written beside its final name and renamed into place, with
    mode 0600: it holds the encrypted secrets, and their names.
    """
    if not database.exists():
        raise BackupError(f"{database}: no database to back up; run `ml-connector init` first")
    target = out / archive_name() if out.is_dir() else out
    if target.exists():
        raise BackupError(f"{target} already exists; give another path (nothing was written)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mlc-backup-", dir=target.parent) as work:
        snapshot = Path(work) / DATABASE
        _copy_online(database, snapshot)
        _integrity(snapshot)
        conn = sqlite3.connect(snapshot)
        try:
            revision = _schema_revision(conn)
            fingerprint = fingerprint_in_use(keyring, _canary(conn))
        finally:
            conn.close()
        files = {DATABASE: _sha256(snapshot)}
        if config_file is not None and config_file.exists():
            files[CONFIG] = _sha256(config_file)
        manifest = Manifest(
            format=FORMAT,
            version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            schema_revision=revision,
            key_fingerprint=fingerprint,
            files=files,
        )
        partial = Path(work) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json())
            tar.add(snapshot, arcname=DATABASE, filter=_private)
            if CONFIG in files and config_file is not None:
                tar.add(config_file, arcname=CONFIG, filter=_private)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    return BackupResult(target, manifest)


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner names or wide modes in the archive: restores should not depend on them."""
    info.mode = 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class OpenedArchive:
    """An archive unpacked into a private temporary folder, its checksums verified."""

    manifest: Manifest
    database: Path
    config: Path | None


@contextlib.contextmanager
def open_archive(archive: Path) -> Iterator[OpenedArchive]:
    """Unpack and verify ``archive``; refuse anything not made by `ml-connector backup`.

    Only the known member names are read, as regular files, so a hostile archive cannot
    write outside the temporary folder (no paths, links or devices are followed).
    """
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup archive")
    with tempfile.TemporaryDirectory(prefix=".mlc-restore-") as work:
        try:
            tar = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed by `with tar` below)
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(
                f"{archive}: not an ml-connector backup ({exc}); "
                "pick an archive made by `ml-connector backup`"
            ) from None
        with tar:
            members = _members(tar, archive)
            manifest = Manifest.parse(_read_member(tar, members[MANIFEST], archive), archive)
            paths: dict[str, Path] = {}
            for name, expected in manifest.files.items():
                if name not in MEMBERS - {MANIFEST} or name not in members:
                    raise BackupError(f"{archive}: lists {name!r} but does not hold it; damaged")
                path = Path(work) / name
                _extract(tar, members[name], path, archive)
                if _sha256(path) != expected:
                    raise BackupError(
                        f"{archive}: {name} does not match its checksum; the archive is "
                        "damaged. Use another backup"
                    )
                paths[name] = path
        if DATABASE not in paths:
            raise BackupError(f"{archive}: holds no database; damaged or not a full backup")
        yield OpenedArchive(manifest, paths[DATABASE], paths.get(CONFIG))


def _members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    found: dict[str, tarfile.TarInfo] = {}
    try:
        for member in tar:
            if member.name in MEMBERS and member.isfile():
                found[member.name] = member
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive}: the archive is damaged ({exc}); use another") from None
    if MANIFEST not in found:
        raise BackupError(
            f"{archive}: not an ml-connector backup (no {MANIFEST}); "
            "pick an archive made by `ml-connector backup`"
        )
    return found


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> bytes:
    if member.size > MAX_MANIFEST_BYTES:
        raise BackupError(f"{archive}: its {member.name} is implausibly large; damaged")
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{archive}: cannot read {member.name}; damaged")
    return handle.read()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, archive: Path) -> None:
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{archive}: cannot read {member.name}; damaged")
    try:
        with path.open("wb") as out:
            for block in iter(lambda: handle.read(1 << 20), b""):
                out.write(block)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive}: the archive is damaged ({exc}); use another") from None


def check_key(manifest: Manifest, keyring: Keyring | None, archive: Path, key_hint: str) -> None:
    """Refuse a missing key, or one that is not the key the archive's secrets are under."""
    wanted = manifest.key_fingerprint
    if keyring is None:
        raise BackupError(
            f"no master key: {archive} was made with the key whose fingerprint is {wanted}. "
            f"Put that key in {key_hint}, then run restore again (nothing was changed)"
        )
    if wanted not in keyring.fingerprints:
        raise BackupError(
            f"the master key from {keyring.source} has fingerprint "
            f"{', '.join(keyring.fingerprints)}, but {archive} was made with the key whose "
            f"fingerprint is {wanted} (on {manifest.created_at}). Find that key (the key file "
            "or MLC_MASTER_KEY in use then) and run restore again (nothing was changed)"
        )


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    database: Path
    previous: Path | None


def restore_sqlite(opened: OpenedArchive, keyring: Keyring, database: Path) -> RestoreResult:
    """Put the archived database at ``database``, keeping what was there beside it.

    The archived copy is checked first (integrity, and that the key opens its secrets).
    The current database, if any, is first copied with the online backup API to
    ``<database>.before-restore-<time>``; then the archive is copied *into* it with the same
    API, which SQLite performs under its own locks, so no -wal file is left half-matching.
    """
    _integrity(opened.database)
    conn = sqlite3.connect(opened.database)
    try:
        token = _canary(conn)
    finally:
        conn.close()
    if token is not None and opening_key(keyring, token) is None:
        raise BackupError(
            "the archive's manifest names your key, but its database's secrets do not open "
            "with it: the archive has been altered. Nothing was changed; use another backup"
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    previous: Path | None = None
    if database.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        previous = database.with_name(f"{database.name}.before-restore-{stamp}")
        _copy_online(database, previous)
        os.chmod(previous, 0o600)
    _copy_online(opened.database, database)
    return RestoreResult(opened.manifest, database, previous)


def pg_dump_command(database_url: str, out: Path) -> str:
    """The ``pg_dump`` line for a PostgreSQL URL, without its password (libpq reads
    ``PGPASSWORD`` or ``~/.pgpass``), restricted to the schema named in the URL's options."""
    url = make_url(database_url)
    plain = url.set(drivername="postgresql", password=None, query={})
    parts = ["pg_dump", "--format=custom", "--no-owner", f"--file={out}"]
    options = dict(url.query).get("options")
    schema = _search_path(options if isinstance(options, str) else None)
    if schema:
        parts.append(f"--schema={schema}")
    parts.append(plain.render_as_string(hide_password=False))
    return " ".join(shlex.quote(part) for part in parts)


def pg_restore_command(database_url: str, archive: Path) -> str:
    url = make_url(database_url)
    plain = url.set(drivername="postgresql", password=None, query={})
    parts = [
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        f"--dbname={plain.render_as_string(hide_password=False)}",
        str(archive),
    ]
    return " ".join(shlex.quote(part) for part in parts)


def _search_path(options: str | None) -> str | None:
    if not options:
        return None
    for token in options.split():
        if token.startswith("-csearch_path="):
            return token.split("=", 1)[1].split(",")[0]
    return None


def describe(manifest: Manifest) -> dict[str, Any]:
    return {
        "made by": f"ml-connector {manifest.version}",
        "created": manifest.created_at,
        "schema revision": manifest.schema_revision or "none",
        "master key fingerprint": manifest.key_fingerprint,
        "config included": CONFIG in manifest.files,
    }
