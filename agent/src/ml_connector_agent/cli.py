"""``ml-connector-agent …``: run and administer the Sage 100 agent on the customer's server.

argparse rather than typer: the agent is installed by the customer's IT on the Sage 100 server
and depends on aiohttp, pydantic and cryptography only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ml_connector_agent.auth import append_key, new_key, revoke_key
from ml_connector_agent.errors import ConfigError


def _say(text: str = "") -> None:
    print(text, flush=True)


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return path


def cmd_init_certs(args: argparse.Namespace) -> int:
    from ml_connector_agent.certs import default_hostnames, init_certs

    names = default_hostnames() + [h for h in args.hostname if h not in default_hostnames()]
    paths = init_certs(args.out, hostnames=names)
    _say(f"CA certificate:      {paths.ca_cert}  (give to the connector)")
    _say(f"CA key:              {paths.ca_key}  (keep offline)")
    _say(f"agent certificate:   {paths.agent_cert}  for {', '.join(names)}")
    _say(f"agent key:           {paths.agent_key}")
    _say(f"connector cert/key:  {paths.client_cert} {paths.client_key}  (give to the connector)")
    _say("\nagent.toml:\n[tls]")
    _say(f'cert_file = "{paths.agent_cert.as_posix()}"')
    _say(f'key_file = "{paths.agent_key.as_posix()}"')
    _say(f'client_ca_file = "{paths.ca_cert.as_posix()}"')
    return 0


def cmd_add_key(args: argparse.Namespace) -> int:
    made = new_key()
    append_key(args.config, made.entry)
    _say(f"key id: {made.id}")
    _say(f"API key (shown once, store it in the connector's vault): {made.key}")
    return 0


def cmd_revoke_key(args: argparse.Namespace) -> int:
    revoke_key(args.config, args.key_id)
    _say(f"revoked {args.key_id}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.demo == (args.config is not None):
        print("error: give exactly one of --config FILE or --demo", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        if args.demo:
            asyncio.run(_serve_demo(args.port, args.activity))
        else:
            asyncio.run(_serve_config(args.config, args.insecure_dev))
    return 0


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
    from ml_connector_agent.backends.demo import DemoBackend
    from ml_connector_agent.config import load_config
    from ml_connector_agent.server import build_backend, start_agent

    config = load_config(path)
    backend = build_backend(config)
    if isinstance(backend, DemoBackend):
        for company in config.companies:
            if not (backend.data_dir / f"MAS_{company}.db").exists():
                await backend.seed(company=company)
    server, _ = await start_agent(
        config, config_path=path, insecure_dev=insecure_dev, backend=backend
    )
    _say(f"Sage 100 agent ({backend.kind}) serving {', '.join(config.companies)} at {server.url}")
    try:
        await _until_stopped()
    finally:
        await server.stop()
        await backend.close()


async def _serve_demo(port: int, activity: float) -> None:
    from ml_connector_agent.demo_data import SeedCounts
    from ml_connector_agent.testing import running_agent

    with tempfile.TemporaryDirectory(prefix="sage100-agent-demo-") as tmp:
        async with running_agent(
            Path(tmp),
            mode="mtls+api_key",
            companies=["ABC", "TST"],
            seed=SeedCounts(),
            port=port,
            retry_after=2,
        ) as agent:
            _say(f"Sage 100 demo agent at {agent.url}  (companies {', '.join(agent.companies)})")
            _say(f"CA file:      {agent.ca_file}")
            _say(f"client cert:  {agent.client_cert}")
            _say(f"client key:   {agent.client_key}")
            _say(f"API key:      {agent.api_key}")
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
    from ml_connector_agent.backends.demo import DemoBackend

    assert isinstance(backend, DemoBackend)
    while True:
        await asyncio.sleep(every)
        for company in companies:
            _say(f"[{company}] {await backend.simulate_activity(company=company)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-connector-agent", description="The Sage 100 agent (runs beside Sage 100)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    certs = commands.add_parser(
        "init-certs", help="make a private CA, the agent's and the connector's certificates"
    )
    certs.add_argument("--out", type=Path, required=True, help="directory for the files")
    certs.add_argument(
        "--hostname",
        action="append",
        default=[],
        help="extra name or IP the connector uses to reach the agent (repeatable)",
    )
    certs.set_defaults(run=cmd_init_certs)

    add = commands.add_parser("add-key", help="create an API key and print it once")
    add.add_argument("--config", "-c", type=_existing_file, required=True, help="agent.toml")
    add.set_defaults(run=cmd_add_key)

    revoke = commands.add_parser("revoke-key", help="remove an API key")
    revoke.add_argument("key_id", help="the id printed by add-key")
    revoke.add_argument("--config", "-c", type=_existing_file, required=True, help="agent.toml")
    revoke.set_defaults(run=cmd_revoke_key)

    serve = commands.add_parser("serve", help="run the agent until interrupted")
    serve.add_argument("--config", "-c", type=_existing_file, default=None, help="agent.toml")
    serve.add_argument("--demo", action="store_true", help="serve generated demo data")
    serve.add_argument(
        "--insecure-dev",
        action="store_true",
        help="plain HTTP on loopback, API keys only (development)",
    )
    serve.add_argument("--port", type=int, default=0, help="with --demo: port (0: any)")
    serve.add_argument(
        "--activity",
        type=float,
        default=20.0,
        help="with --demo: seconds between simulated Sage 100 edits (0: off)",
    )
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
