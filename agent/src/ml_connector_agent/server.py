"""Start the agent from its configuration: back end, TLS, key ring, listening socket."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ml_connector_agent.app import build_app
from ml_connector_agent.auth import KeyRing
from ml_connector_agent.backends.base import Backend
from ml_connector_agent.certs import server_ssl_context
from ml_connector_agent.config import AgentConfig
from ml_connector_agent.errors import ConfigError
from ml_connector_agent.protocol import JsonErrorRequestHandler
from ml_connector_agent.windows import Dpapi, system_dpapi


def build_backend(config: AgentConfig) -> Backend:
    """The configured back end; the BOI and ODBC drivers are imported only when chosen."""
    kind = config.backend.kind
    if kind == "demo":
        from ml_connector_agent.backends.demo import DemoBackend

        demo = config.backend.demo
        return DemoBackend(config.path(demo.data_dir), config.companies, seed=demo.seed)
    if kind == "odbc":
        from ml_connector_agent.backends.odbc import OdbcBackend

        return OdbcBackend(config.backend.odbc, config.companies)
    from ml_connector_agent.backends.boi import BoiBackend

    return BoiBackend(config.backend.boi, config.companies)


def key_passphrase(
    config: AgentConfig,
    environ: Mapping[str, str] | None = None,
    dpapi: Dpapi | None = None,
) -> bytes | None:
    """The passphrase of the agent's keys: the environment variable, else the DPAPI file."""
    env = os.environ if environ is None else environ
    value = env.get(config.tls.key_passphrase_env)
    if value:
        return value.encode("utf-8")
    if config.tls.key_passphrase_dpapi is not None:
        sealed = config.path(config.tls.key_passphrase_dpapi)
        try:
            blob = sealed.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{sealed}: cannot read the DPAPI passphrase file: {exc}") from exc
        return (dpapi or system_dpapi()).unprotect(blob)
    return None


def build_ssl(
    config: AgentConfig,
    *,
    insecure_dev: bool,
    environ: Mapping[str, str] | None = None,
    dpapi: Dpapi | None = None,
) -> ssl.SSLContext | None:
    problems = config.problems_for_serving(insecure_dev=insecure_dev)
    if problems:
        raise ConfigError("the agent cannot start", problems)
    if insecure_dev:
        if not _is_loopback(config.server.host):
            raise ConfigError(
                f"--insecure-dev serves plain HTTP and only on loopback; server.host is "
                f"{config.server.host!r} (use 127.0.0.1)"
            )
        return None
    assert config.tls.cert_file is not None and config.tls.key_file is not None
    client_ca = config.tls.client_ca_file if config.auth.needs_client_cert else None
    try:
        return server_ssl_context(
            config.path(config.tls.cert_file),
            config.path(config.tls.key_file),
            config.path(client_ca) if client_ca else None,
            passphrase=key_passphrase(config, environ, dpapi),
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files cannot be loaded: {exc}") from exc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_keyring(
    config: AgentConfig, config_path: Path | None, *, insecure_dev: bool
) -> KeyRing | None:
    if not (config.auth.needs_api_key or insecure_dev):
        return None
    return KeyRing(list(config.api_keys), config_path)


@dataclass
class RunningServer:
    runner: web.AppRunner
    url: str
    port: int
    listener: asyncio.Server | None = None

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()  # no new connections
        # Closes the open ones (they registered with the runner's server), then the app.
        await self.runner.cleanup()
        if self.listener is not None:
            # Only now: from Python 3.12 on, wait_closed waits for every connection to end.
            await self.listener.wait_closed()


async def start_server(
    app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> RunningServer:
    """Listen on ``host:port`` (port 0: the OS picks) and return the URL clients should use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(128)
    sock.setblocking(False)
    actual = sock.getsockname()[1]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    manager = runner.server
    assert manager is not None  # set by setup()
    loop = asyncio.get_running_loop()
    # Our protocol instead of web.SockSite's: aiohttp's own error answers become JSON that
    # echoes nothing (ml_connector_agent.protocol). The runner still tracks the connections
    # and closes them on cleanup.
    # No access log (as AppRunner(access_log=None)): aiohttp takes None, its stub says Logger.
    no_access_log: dict[str, Any] = {"access_log": None}
    listener = await loop.create_server(
        lambda: JsonErrorRequestHandler(manager, loop=loop, **no_access_log),
        sock=sock,
        ssl=ssl_context,
    )
    scheme = "https" if ssl_context else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return RunningServer(runner, f"{scheme}://{shown}:{actual}", actual, listener)


async def start_agent(
    config: AgentConfig,
    *,
    config_path: Path | None = None,
    insecure_dev: bool = False,
    backend: Backend | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[RunningServer, Backend]:
    ssl_context = build_ssl(config, insecure_dev=insecure_dev, environ=environ)
    backend = backend or build_backend(config)
    app = build_app(
        backend,
        locks=config.locks,
        keys=build_keyring(config, config_path, insecure_dev=insecure_dev),
        auth_mode="api_key" if insecure_dev else config.auth.mode,
        client_subjects=(
            config.auth.client_subjects
            if ssl_context is not None and config.auth.needs_client_cert
            else ()
        ),
    )
    server = await start_server(
        app, host=config.server.host, port=config.server.port, ssl_context=ssl_context
    )
    return server, backend
