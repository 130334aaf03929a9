"""A real agent (demo back end, real TLS, real port) inside the test's own event loop.

Used by the agent's tests, the Sage 100 pipeline's end-to-end tests and ``agent serve
--demo``::

    async with running_agent(tmp_path, mode="mtls") as agent:
        async with agent.client() as client:
            ...
        await agent.backend.add_ap_invoice(amount=Decimal("1250.00"))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ml_connector_agent.auth import append_key, new_key
from ml_connector_agent.backends.demo import DemoBackend
from ml_connector_agent.certs import CertPaths, init_certs
from ml_connector_agent.config import load_config
from ml_connector_agent.demo_data import Clock, SeedCounts
from ml_connector_agent.server import RunningServer, start_agent

if TYPE_CHECKING:
    from ml_connector.sage100.client import Sage100Client

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

    @property
    def ca_file(self) -> Path:
        return self.certs.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.certs.client_cert

    @property
    def client_key(self) -> Path:
        return self.certs.client_key

    def client(self, **kwargs: Any) -> Sage100Client:
        """A connector-side client with this agent's CA, client certificate and key."""
        from ml_connector.sage100.client import Sage100Client

        options: dict[str, Any] = {
            "ca_file": self.ca_file,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
            "api_key": self.api_key,
        }
        options.update(kwargs)
        return Sage100Client(self.url, **options)


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
    """Certificates, config, seeded demo data and a listening agent under ``directory``."""
    companies = companies or ["ABC"]
    certs = init_certs(directory / "certs", hostnames=sorted({"127.0.0.1", "localhost", host}))
    config_path = directory / "agent.toml"
    write_config(
        config_path,
        certs=certs,
        mode=mode,
        companies=companies,
        data_dir=directory / "demo-data",
        lock_attempts=lock_attempts,
        lock_delay=lock_delay,
        retry_after=retry_after,
        host=host,
        port=port,
    )
    api_key = None
    if mode != "mtls":
        made = new_key()
        append_key(config_path, made.entry)
        api_key = made.key
    config = load_config(config_path)
    backend = DemoBackend(config.path(config.backend.demo.data_dir), config.companies, clock=clock)
    if seed is not None:
        for company in config.companies:
            await backend.seed(seed, company=company)
    server, _ = await start_agent(config, config_path=config_path, backend=backend)
    try:
        yield RunningAgent(
            url=server.url,
            config_path=config_path,
            certs=certs,
            api_key=api_key,
            backend=backend,
            server=server,
            companies=config.companies,
        )
    finally:
        await server.stop()
        await backend.close()
