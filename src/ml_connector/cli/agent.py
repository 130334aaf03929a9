"""``ml-connector agent …``: run and administer the Sage 100 agent on the customer's server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

import typer

from ml_connector.errors import ConfigError
from ml_connector.sage100.agent.auth import append_key, new_key, revoke_key

app = typer.Typer(help="The Sage 100 agent (runs beside Sage 100).", no_args_is_help=True)

CONFIG_OPTION = typer.Option(..., "--config", "-c", help="agent.toml", exists=True, dir_okay=False)


def _fail(exc: ConfigError) -> typer.Exit:
    for line in exc.problems:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(2)


@app.command("init-certs")
def init_certs_command(
    out: Path = typer.Option(..., "--out", help="directory for the CA, agent and client files"),
    hostname: list[str] = typer.Option(
        [], "--hostname", help="extra name or IP the connector uses to reach the agent"
    ),
) -> None:
    """Make a private CA, the agent's certificate and the connector's client certificate."""
    from ml_connector.sage100.agent.certs import default_hostnames, init_certs

    names = default_hostnames() + [h for h in hostname if h not in default_hostnames()]
    paths = init_certs(out, hostnames=names)
    typer.echo(f"CA certificate:      {paths.ca_cert}  (give to the connector)")
    typer.echo(f"CA key:              {paths.ca_key}  (keep offline)")
    typer.echo(f"agent certificate:   {paths.agent_cert}  for {', '.join(names)}")
    typer.echo(f"agent key:           {paths.agent_key}")
    typer.echo(
        f"connector cert/key:  {paths.client_cert} {paths.client_key}  (give to the connector)"
    )
    typer.echo("\nagent.toml:\n[tls]")
    typer.echo(f'cert_file = "{paths.agent_cert.as_posix()}"')
    typer.echo(f'key_file = "{paths.agent_key.as_posix()}"')
    typer.echo(f'client_ca_file = "{paths.ca_cert.as_posix()}"')


@app.command("add-key")
def add_key_command(config: Path = CONFIG_OPTION) -> None:
    """Create an API key, store its hash in the config and print the key once."""
    made = new_key()
    append_key(config, made.entry)
    typer.echo(f"key id: {made.id}")
    typer.echo(f"API key (shown once, store it in the connector's vault): {made.key}")


@app.command("revoke-key")
def revoke_key_command(
    key_id: str = typer.Argument(..., help="the id printed by add-key"),
    config: Path = CONFIG_OPTION,
) -> None:
    """Remove an API key; the running agent stops accepting it within a second."""
    try:
        revoke_key(config, key_id)
    except ConfigError as exc:
        raise _fail(exc) from exc
    typer.echo(f"revoked {key_id}")


@app.command("serve")
def serve_command(
    config: Path | None = typer.Option(None, "--config", "-c", help="agent.toml"),
    demo: bool = typer.Option(False, "--demo", help="serve generated demo data with new certs"),
    insecure_dev: bool = typer.Option(
        False, "--insecure-dev", help="plain HTTP on loopback, API keys only (development)"
    ),
    port: int = typer.Option(0, "--port", help="with --demo: port to listen on (0: any)"),
    activity: float = typer.Option(
        20.0, "--activity", help="with --demo: seconds between simulated Sage 100 edits (0: off)"
    ),
) -> None:
    """Run the agent until interrupted."""
    if demo == (config is not None):
        typer.echo("error: give exactly one of --config FILE or --demo", err=True)
        raise typer.Exit(2)
    try:
        if demo:
            asyncio.run(_serve_demo(port, activity))
        else:
            assert config is not None
            asyncio.run(_serve_config(config, insecure_dev))
    except ConfigError as exc:
        raise _fail(exc) from exc


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The agent runs on Windows, where asyncio has no signal handlers: there Ctrl+C raises
    # KeyboardInterrupt out of asyncio.run instead, which the caller handles.
    if sys.platform != "win32":
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve_config(path: Path, insecure_dev: bool) -> None:
    from ml_connector.sage100.agent.backends.demo import DemoBackend
    from ml_connector.sage100.agent.config import load_config
    from ml_connector.sage100.agent.server import build_backend, start_agent

    config = load_config(path)
    backend = build_backend(config)
    if isinstance(backend, DemoBackend):
        for company in config.companies:
            if not (backend.data_dir / f"MAS_{company}.db").exists():
                await backend.seed(company=company)
    server, _ = await start_agent(
        config, config_path=path, insecure_dev=insecure_dev, backend=backend
    )
    typer.echo(
        f"Sage 100 agent ({backend.kind}) serving {', '.join(config.companies)} at {server.url}"
    )
    try:
        await _until_stopped()
    finally:
        await server.stop()
        await backend.close()


async def _serve_demo(port: int, activity: float) -> None:
    from ml_connector.sage100.agent.demo_data import SeedCounts
    from ml_connector.sage100.agent.testing import running_agent

    with tempfile.TemporaryDirectory(prefix="sage100-agent-demo-") as tmp:
        async with running_agent(
            Path(tmp),
            mode="mtls+api_key",
            companies=["ABC", "TST"],
            seed=SeedCounts(),
            port=port,
            retry_after=2,
        ) as agent:
            typer.echo(
                f"Sage 100 demo agent at {agent.url}  (companies {', '.join(agent.companies)})"
            )
            typer.echo(f"CA file:      {agent.ca_file}")
            typer.echo(f"client cert:  {agent.client_cert}")
            typer.echo(f"client key:   {agent.client_key}")
            typer.echo(f"API key:      {agent.api_key}")
            typer.echo(
                f"try: curl --cacert {agent.ca_file} --cert {agent.client_cert} "
                f"--key {agent.client_key} -H 'Authorization: Bearer {agent.api_key}' "
                f"{agent.url}/v1/companies/ABC/ap-invoices?limit=5"
            )
            task = None
            if activity > 0:
                task = asyncio.create_task(_activity(agent.backend, agent.companies, activity))
            try:
                await _until_stopped()
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def _activity(backend: object, companies: list[str], every: float) -> None:
    from ml_connector.sage100.agent.backends.demo import DemoBackend

    assert isinstance(backend, DemoBackend)
    while True:
        await asyncio.sleep(every)
        for company in companies:
            typer.echo(f"[{company}] {await backend.simulate_activity(company=company)}")
