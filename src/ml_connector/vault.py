"""Secrets encrypted at rest with Fernet; MultiFernet so the master key can rotate live.

The master key comes from ``MLC_MASTER_KEY`` (one key, or several comma-separated, newest
first) or from a key file with one key per line that ``ml-connector init`` creates with mode
0600. A running service re-reads the key file when a secret no longer opens, so
``secrets rotate-key`` can re-encrypt everything while services keep running.

A canary row proves at start-up that the key fits the stored secrets, so a wrong key stops the
service with a clear message instead of failing later, one secret at a time. The database also
records the *fingerprint* of the key the secrets are under (``master_keys``; never the key):
backups carry it, and a restore or a PostgreSQL backup check compares it with the key at hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.errors import (
    CorruptSecretError,
    MasterKeyError,
    SecretNotFoundError,
    VaultError,
)
from ml_connector.redact import register_secret
from ml_connector.store.tables import intacct_sessions, master_keys, secrets

# Every column holding vault ciphertext, with its table's key: rotation re-encrypts them all.
ENCRYPTED_COLUMNS = [
    (secrets, secrets.c.name, secrets.c.ciphertext),
    (intacct_sessions, intacct_sessions.c.key, intacct_sessions.c.session_ciphertext),
]

ENV_VAR = "MLC_MASTER_KEY"
CANARY = "_vault.canary"
CANARY_VALUE = b"ml-connector"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$")
FINGERPRINT_CONTEXT = b"ml-connector master key fingerprint v1\x00"


def key_fingerprint(key: bytes) -> str:
    """A short public name for a master key: 32 hex digits of SHA-256 over a fixed context.

    It tells keys apart (in backups, in ``master_keys``) without revealing anything: the key is
    256 random bits, so the hash cannot be turned back into it. The context keeps this hash
    from equalling any other use of SHA-256 over the same bytes.
    """
    return hashlib.sha256(FINGERPRINT_CONTEXT + key.strip()).hexdigest()[:32]


@dataclass(frozen=True)
class SecretInfo:
    name: str
    created_at: float
    updated_at: float


class Keyring:
    """The master keys in use, newest first, and where they came from."""

    def __init__(self, keys: list[bytes], source: str, key_file: Path | None = None) -> None:
        if not keys:
            raise MasterKeyError(f"{source}: no master key found")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError) as exc:
            raise MasterKeyError(
                f"{source}: not a valid master key (expected 32 url-safe base64-encoded bytes)"
            ) from exc
        self.keys = keys
        self.source = source
        self.key_file = key_file
        self._mtime = _mtime(key_file)

    def __repr__(self) -> str:
        return f"Keyring(source={self.source!r}, keys={len(self.keys)})"

    @property
    def fingerprints(self) -> list[str]:
        """The fingerprint of each key, newest first."""
        return [key_fingerprint(key) for key in self.keys]

    @property
    def fernet(self) -> MultiFernet:
        return self._fernet

    def changed_on_disk(self) -> bool:
        return self.key_file is not None and _mtime(self.key_file) != self._mtime

    @classmethod
    def generate(cls) -> Keyring:
        return cls([Fernet.generate_key()], "generated key")


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


def load_keyring(key_file: Path | None, environ: dict[str, str] | None = None) -> Keyring:
    """Read the master key from the environment or the key file, refusing an open file."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        keys = [part.strip().encode() for part in env[ENV_VAR].split(",") if part.strip()]
        return Keyring(keys, ENV_VAR)
    if key_file is None:
        raise MasterKeyError(f"no master key: set {ENV_VAR} or run `ml-connector init`")
    return _read_key_file(key_file)


def _read_key_file(key_file: Path) -> Keyring:
    try:
        mode = key_file.stat().st_mode
    except FileNotFoundError:
        raise MasterKeyError(
            f"{key_file}: master key file not found; run `ml-connector init` or set {ENV_VAR}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"{key_file}: master key file is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {key_file}`"
        )
    lines = key_file.read_text(encoding="ascii").splitlines()
    keys = [line.strip().encode() for line in lines if line.strip() and not line.startswith("#")]
    return Keyring(keys, str(key_file), key_file)


def write_key_file(key_file: Path, keys: list[bytes]) -> None:
    """Write keys atomically with mode 0600 (the file never exists with a wider mode)."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(key_file.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("# ml-connector master key(s), newest first. Keep this file private.\n")
        for key in keys:
            handle.write(key.decode() + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, key_file)


def create_key_file(key_file: Path) -> bool:
    """Create a new key file unless one exists; return whether one was created."""
    if key_file.exists():
        return False
    write_key_file(key_file, [Fernet.generate_key()])
    return True


class Vault:
    """Named secrets in the ``secrets`` table, encrypted under the keyring."""

    def __init__(self, engine: AsyncEngine, keyring: Keyring) -> None:
        self._engine = engine
        self._keyring = keyring

    def __repr__(self) -> str:
        return f"Vault({self._keyring!r})"

    @classmethod
    def ephemeral(cls, engine: AsyncEngine) -> Vault:
        """A vault with a fresh random key, for tests and the demo."""
        return cls(engine, Keyring.generate())

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def encrypt(self, value: str) -> str:
        return self._keyring.fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Open one token; a failure is blamed on the key (see :meth:`open` to tell better)."""
        try:
            return self._keyring.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            if self._reload():
                return self.decrypt(token)
            raise MasterKeyError(
                f"the master key from {self._keyring.source} does not open the stored secrets"
            ) from None

    async def open(self, what: str, token: str, *, conn: AsyncConnection | None = None) -> str:
        """Open the stored ``what``, telling a damaged row from a wrong master key.

        Both fail Fernet's check the same way; the canary tells them apart: if the key opens
        the canary but not this row, the row is damaged (or was written under a key this
        vault no longer holds), and the fix is to set that secret again, not to hunt for
        another key.
        """
        try:
            return self.decrypt(token)
        except MasterKeyError:
            if not _well_formed(token) or await self._canary_opens(conn):
                raise CorruptSecretError(
                    f"{what} is damaged and cannot be decrypted (the master key from "
                    f"{self._keyring.source} opens the rest of the vault); set it again"
                ) from None
            raise

    async def _ciphertext(self, name: str, conn: AsyncConnection | None) -> str | None:
        """``conn``: read inside the caller's transaction (on SQLite a second one would wait)."""
        query = sa.select(secrets.c.ciphertext).where(secrets.c.name == name)
        if conn is not None:
            return await conn.scalar(query)
        async with self._engine.connect() as own:
            return await own.scalar(query)

    async def _canary_opens(self, conn: AsyncConnection | None) -> bool:
        token = await self._ciphertext(CANARY, conn)
        if token is None:
            return False
        try:
            return self.decrypt(token) == "ml-connector"
        except MasterKeyError:
            return False

    def _reload(self) -> bool:
        """After a rotation by another process, pick up the new key file once."""
        if not self._keyring.changed_on_disk() or self._keyring.key_file is None:
            return False
        self._keyring = _read_key_file(self._keyring.key_file)
        return True

    async def set(self, name: str, value: str, *, conn: AsyncConnection | None = None) -> None:
        check_name(name)
        await self._store(name, value, conn)

    async def _store(self, name: str, value: str, conn: AsyncConnection | None) -> None:
        if not value:
            raise VaultError(f"secret {name!r}: empty value")
        row = {"ciphertext": self.encrypt(value), "updated_at": clock.now()}
        if conn is None:
            async with self._engine.begin() as own:
                await self._upsert(own, name, row)
        else:
            await self._upsert(conn, name, row)

    async def _upsert(self, conn: AsyncConnection, name: str, row: dict[str, object]) -> None:
        updated = await conn.execute(secrets.update().where(secrets.c.name == name).values(**row))
        if updated.rowcount == 0:
            await conn.execute(
                secrets.insert().values(name=name, created_at=row["updated_at"], **row)
            )

    async def get(self, name: str, *, conn: AsyncConnection | None = None) -> str:
        value = await self.get_optional(name, conn=conn)
        if value is None:
            raise SecretNotFoundError(
                f"secret {name!r} is not stored; run `ml-connector secrets set {name}`"
            )
        return value

    async def get_optional(self, name: str, *, conn: AsyncConnection | None = None) -> str | None:
        """``conn``: read inside the caller's transaction (see :meth:`_ciphertext`)."""
        token = await self._ciphertext(name, conn)
        if token is None:
            return None
        value = await self.open(
            f"secret {name!r} (run `ml-connector secrets set {name}`)", token, conn=conn
        )
        register_secret(value)
        return value

    async def register_all(self) -> int:
        """Teach the redactor every value the vault holds, so a source that echoes a secret
        this process never read is masked too; a damaged row is skipped (it is reported when
        used). Returns how many were registered."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(secrets.c.name, secrets.c.ciphertext))).all()
        count = 0
        for name, token in rows:
            if name == CANARY:
                continue
            try:
                register_secret(self.decrypt(token))
            except MasterKeyError:
                continue
            count += 1
        return count

    async def exists(self, name: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.scalar(sa.select(secrets.c.name).where(secrets.c.name == name))
        return found is not None

    async def delete(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(secrets.delete().where(secrets.c.name == name))
        return bool(result.rowcount)

    async def list(self) -> list[SecretInfo]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(secrets.c.name, secrets.c.created_at, secrets.c.updated_at)
                .where(secrets.c.name != CANARY)
                .order_by(secrets.c.name)
            )
            return [SecretInfo(r.name, r.created_at, r.updated_at) for r in rows]

    async def ensure_canary(self) -> None:
        """Prove the key fits what is stored, writing the canary on first use.

        Also records the fingerprint of the key that opens the canary, once, so a database
        migrated from before fingerprints were kept gets one the first time it is opened.
        """
        async with self._engine.connect() as conn:
            token = await conn.scalar(
                sa.select(secrets.c.ciphertext).where(secrets.c.name == CANARY)
            )
        if token is None:
            await self._store(CANARY, CANARY_VALUE.decode(), None)
            opener = self._keyring.keys[0]
        else:
            opener = self._opening_key(token)
        fingerprint = key_fingerprint(opener)
        async with self._engine.connect() as conn:
            if await recorded_fingerprint(conn) == fingerprint:
                return
        async with self._engine.begin() as conn:
            await record_fingerprint(conn, fingerprint)

    def _opening_key(self, token: str) -> bytes:
        key = opening_key(self._keyring, token)
        if key is None and self._reload():
            return self._opening_key(token)
        if key is None:
            raise MasterKeyError(
                f"the master key from {self._keyring.source} (fingerprint "
                f"{self._keyring.fingerprints[0]}) is not this vault's; use the key whose "
                "fingerprint `ml-connector db check` shows as recorded"
            )
        return key

    async def rotate(self, new_keyring: Keyring) -> int:
        """Re-encrypt every secret under the new keyring's newest key; return how many."""
        combined = MultiFernet(
            [Fernet(k) for k in new_keyring.keys] + [Fernet(k) for k in self._keyring.keys]
        )
        count = 0
        async with self._engine.begin() as conn:
            for table, key_column, token_column in ENCRYPTED_COLUMNS:
                rows = (await conn.execute(sa.select(key_column, token_column))).all()
                for key, token in rows:
                    try:
                        rotated = combined.rotate(token.encode("ascii")).decode("ascii")
                    except InvalidToken:
                        raise MasterKeyError(
                            f"{table.name} {key!r} does not open with the current master key"
                        ) from None
                    await conn.execute(
                        table.update().where(key_column == key).values({token_column: rotated})
                    )
                    count += 1
            await record_fingerprint(conn, new_keyring.fingerprints[0])
        self._keyring = new_keyring
        return count


def opening_key(keyring: Keyring, canary_token: str) -> bytes | None:
    """Which of the keyring's keys opens the canary (the key the secrets are under), if any."""
    for key in keyring.keys:
        try:
            if Fernet(key).decrypt(canary_token.encode("ascii")) == CANARY_VALUE:
                return key
        except InvalidToken:
            continue
    return None


async def record_fingerprint(conn: AsyncConnection, fingerprint: str) -> None:
    """Make ``fingerprint`` the one current key fingerprint; retire any other."""
    now = clock.now()
    await conn.execute(
        master_keys.update()
        .where(master_keys.c.fingerprint != fingerprint, master_keys.c.retired_at.is_(None))
        .values(retired_at=now)
    )
    present = await conn.scalar(
        sa.select(master_keys.c.fingerprint).where(master_keys.c.fingerprint == fingerprint)
    )
    if present is None:
        await conn.execute(master_keys.insert().values(fingerprint=fingerprint, recorded_at=now))
    else:
        await conn.execute(
            master_keys.update()
            .where(master_keys.c.fingerprint == fingerprint)
            .values(retired_at=None)
        )


async def recorded_fingerprint(conn: AsyncConnection) -> str | None:
    """The fingerprint of the key the stored secrets are under, as the database recorded it."""
    return await conn.scalar(
        sa.select(master_keys.c.fingerprint)
        .where(master_keys.c.retired_at.is_(None))
        .order_by(master_keys.c.recorded_at.desc())
        .limit(1)
    )


def _well_formed(token: str) -> bool:
    """Whether ``token`` has a Fernet token's shape: version 0x80, timestamp, IV, whole
    AES blocks, HMAC (https://github.com/fernet/spec/blob/master/Spec.md)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeError):
        return False
    return len(raw) >= 73 and raw[0] == 0x80 and (len(raw) - 57) % 16 == 0


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise VaultError(
            f"secret name {name!r}: use letters, digits and . _ - : / (at most 200 characters)"
        )
