"""Which certificates each Sage 100 connection relies on, and when they run out.

``check``, the status page, ``/mlc status``, ``ml-connector status`` and the dashboard all
read :func:`certificate_status`, so they warn about the same certificates on the same day
(30 days ahead, :data:`~ml_connector.sage100.agent_client.tls.EXPIRY_WARNING`). The CA and
the client certificate are the files the config names. The agent's own certificate is on
another host: the connector records the one the agent presented in the TLS handshake (on
every ``check`` and every pipeline run) in the shared ``cache_entries`` table, so a view in
another process (the CLI) shows it too, with when it was seen. Nothing here is secret:
subjects and dates only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector.config import Config, Sage100Connection
from ml_connector.sage100.agent_client.errors import Sage100AuthError
from ml_connector.sage100.agent_client.tls import CertificateInUse, inspect_certificate
from ml_connector.sage100.state import load_agent_certificates, save_agent_certificate

State = Literal["ok", "expiring", "expired", "unreadable", "not seen"]


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate of one connection, as the status views show it."""

    connection: str
    what: str  # "CA certificate", "client certificate", "agent certificate"
    where: str  # the file, or the agent's URL
    certificate: CertificateInUse | None
    problem: str | None = None  # why there is no certificate (unreadable, never seen)
    seen_at: float | None = None  # the agent's: when the connector last saw it

    def state(self, now: datetime) -> State:
        if self.certificate is None:
            return "not seen" if self.problem is None else "unreadable"
        if self.certificate.expired(now):
            return "expired"
        return "expiring" if self.certificate.warning(now) else "ok"

    def note(self, now: datetime) -> str:
        """A line a finance-systems admin can act on."""
        if self.certificate is None:
            return self.problem or "not seen yet: the next `check` or run records it"
        warning = self.certificate.warning(now)
        if warning is not None:
            return warning
        return (
            f"expires on {self.certificate.not_after:%Y-%m-%d} "
            f"({self.certificate.days_left(now)} days)"
        )

    def attention(self, now: datetime) -> bool:
        """Worth a warning line: expiring, expired or unreadable (not merely unseen)."""
        return self.state(now) in ("expiring", "expired", "unreadable")


async def record_agent_certificate(
    engine: AsyncEngine, connection: str, subject: str, not_after: datetime
) -> None:
    """Remember the certificate the agent presented, for the status views."""
    async with engine.begin() as conn:
        await save_agent_certificate(conn, connection, subject, not_after.timestamp())


def _from_file(name: str, config: Config, value: Path, what: str) -> CertificateStatus:
    path = config.path(value)
    try:
        return CertificateStatus(name, what, str(path), inspect_certificate(path, what))
    except Sage100AuthError as exc:
        return CertificateStatus(name, what, str(path), None, problem=str(exc))


def _agent(
    name: str, connection: Sage100Connection, seen: dict[str, Any] | None
) -> CertificateStatus:
    where = f"of {connection.agent_url}"
    if seen is None:
        return CertificateStatus(name, "agent certificate", where, None)
    not_after = datetime.fromtimestamp(float(seen["not_after"]), UTC)
    in_use = CertificateInUse("agent certificate", where, str(seen["subject"]), not_after)
    return CertificateStatus(
        name, "agent certificate", where, in_use, seen_at=float(seen["seen_at"])
    )


async def certificate_status(
    conn: AsyncConnection, config: Config
) -> tuple[CertificateStatus, ...]:
    """Every certificate of every https Sage 100 connection: CA, client, the agent's."""
    seen = await load_agent_certificates(conn)
    found: list[CertificateStatus] = []
    for name, connection in config.connections.items():
        if not isinstance(connection, Sage100Connection):
            continue
        if not str(connection.agent_url).startswith("https://"):
            continue
        if connection.ca_file is not None:
            found.append(_from_file(name, config, connection.ca_file, "CA certificate"))
        if connection.cert_file is not None:
            found.append(_from_file(name, config, connection.cert_file, "client certificate"))
        found.append(_agent(name, connection, seen.get(name)))
    return tuple(found)
