"""A real agent (demo back end, real TLS, real port) inside the test's own event loop.

Used by the agent's tests, the Sage 100 pipeline's end-to-end tests and ``agent serve
--demo``::

    async with running_agent(tmp_path, mode="mtls") as agent:
        ...  # connector side: tests/sage100/agents.py client_for(agent)
        await agent.backend.add_ap_invoice(amount=Decimal("1250.00"))
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from ml_connector_agent.backends.demo import DemoBackend
from ml_connector_agent.certs import CertPaths, write_private
from ml_connector_agent.config import load_config
from ml_connector_agent.demo_data import Clock, SeedCounts
from ml_connector_agent.folder import init_folder
from ml_connector_agent.server import RunningServer, start_agent

Mode = Literal["mtls", "api_key", "mtls+api_key"]

SMALL = SeedCounts(vendors=10, ap_invoices=30, purchase_orders=10, gl_registers=5)


@dataclass
class RunningAgent:
    url: str
    config_path: Path
    certs: CertPaths
    api_key: str | None
    backend: DemoBackend
    server: RunningServer
    companies: list[str]
    #: the passphrase of the agent's encrypted keys (tests renew or re-sign with it)
    passphrase: bytes = b""

    @property
    def ca_file(self) -> Path:
        return self.certs.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.certs.client_cert

    @property
    def client_key(self) -> Path:
        return self.certs.client_key


def write_config(
    path: Path,
    *,
    certs: CertPaths,
    mode: Mode,
    companies: list[str],
    data_dir: Path,
    lock_attempts: int,
    lock_delay: float,
    retry_after: int,
    host: str = "127.0.0.1",
    port: int = 0,
) -> None:
    quoted = ", ".join(f'"{c}"' for c in companies)
    path.write_text(
        f"""companies = [{quoted}]

[server]
host = "{host}"
port = {port}

[tls]
cert_file = "{certs.agent_cert.as_posix()}"
key_file = "{certs.agent_key.as_posix()}"
client_ca_file = "{certs.ca_cert.as_posix()}"

[auth]
mode = "{mode}"

[locks]
attempts = {lock_attempts}
delay_seconds = {lock_delay}
retry_after_seconds = {retry_after}

[backend]
kind = "demo"

[backend.demo]
data_dir = "{data_dir.as_posix()}"
""",
        encoding="utf-8",
    )


@asynccontextmanager
async def running_agent(
    directory: Path,
    *,
    mode: Mode = "mtls",
    companies: list[str] | None = None,
    seed: SeedCounts | None = SMALL,
    clock: Clock = datetime.now,
    lock_attempts: int = 2,
    lock_delay: float = 0.01,
    retry_after: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[RunningAgent]:
    """A folder made by ``init`` (kept if it exists), seeded demo data and a listening agent.

    The keys are encrypted with a passphrase kept in ``directory/.passphrase`` for tests and
    the demo only; the agent reads it from the environment mapping passed to ``start_agent``.
    """
    companies = companies or ["ABC"]
    secret_file = directory / ".passphrase"
    config_path = directory / "agent.toml"
    api_key = None
    if not config_path.exists():
        passphrase = secrets.token_urlsafe(24)
        folder = init_folder(
            directory,
            hosts=sorted({"127.0.0.1", "localhost", host}),
            companies=companies,
            auth=mode,
            backend="demo",
            host=host,
            port=port,
            passphrase=passphrase.encode(),
        )
        write_private(secret_file, passphrase.encode())
        api_key = folder.api_key
        text = config_path.read_text(encoding="utf-8")
        text = text.replace(
            "attempts = 3\ndelay_seconds = 0.25\nretry_after_seconds = 5",
            f"attempts = {lock_attempts}\ndelay_seconds = {lock_delay}\n"
            f"retry_after_seconds = {retry_after}",
        )
        config_path.write_text(text, encoding="utf-8")
    passphrase = secret_file.read_text()
    config = load_config(config_path)
    certs = CertPaths(
        ca_cert=directory / "certs" / "ca.pem",
        ca_key=directory / "certs" / "ca.key",
        agent_cert=directory / "certs" / "agent.pem",
        agent_key=directory / "certs" / "agent.key",
        client_cert=directory / "connector" / "client.pem",
        client_key=directory / "connector" / "client.key",
    )
    backend = DemoBackend(config.path(config.backend.demo.data_dir), config.companies, clock=clock)
    if seed is not None:
        for company in config.companies:
            if not (backend.data_dir / f"MAS_{company}.db").exists():
                await backend.seed(seed, company=company)
    server, _ = await start_agent(
        config,
        config_path=config_path,
        backend=backend,
        environ={config.tls.key_passphrase_env: passphrase},
    )
    try:
        yield RunningAgent(
            url=server.url,
            config_path=config_path,
            certs=certs,
            api_key=api_key,
            backend=backend,
            server=server,
            companies=config.companies,
            passphrase=passphrase.encode(),
        )
    finally:
        await server.stop()
        await backend.close()
