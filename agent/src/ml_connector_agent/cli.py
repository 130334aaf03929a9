"""``ml-connector-agent …``: run and administer the Sage 100 agent on the customer's server.

argparse rather than typer: the agent is installed by the customer's IT on the Sage 100 server
and depends on aiohttp, pydantic and cryptography only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    from ml_connector_agent.certs import client_subject, default_hostnames, init_certs

    names = default_hostnames() + [h for h in args.hostname if h not in default_hostnames()]
    paths = init_certs(args.out, hostnames=names, force=args.force)
    _notes(paths.notes)
    _say(f"CA certificate:      {paths.ca_cert}  (give to the connector)")
    _say(f"CA key:              {paths.ca_key}  (keep offline)")
    _say(f"agent certificate:   {paths.agent_cert}  for {', '.join(names)}")
    _say(f"agent key:           {paths.agent_key}")
    _say(f"connector cert/key:  {paths.client_cert} {paths.client_key}  (give to the connector)")
    _say("\nagent.toml:\n[tls]")
    _say(f'cert_file = "{paths.agent_cert.as_posix()}"')
    _say(f'key_file = "{paths.agent_key.as_posix()}"')
    _say(f'client_ca_file = "{paths.ca_cert.as_posix()}"')
    _say("[auth]")
    _say(f"client_subjects = [{json.dumps(client_subject())}]")
    return 0


def _notes(notes: Sequence[str]) -> None:
    for note in notes:
        _say(f"note: {note}")


def cmd_init(args: argparse.Namespace) -> int:
    from ml_connector_agent.folder import connector_lines, init_folder
    from ml_connector_agent.windows import system_dpapi

    folder = init_folder(
        args.directory,
        hosts=args.host,
        companies=args.company or ["ABC"],
        auth=args.auth,
        backend=args.backend,
        port=args.port,
        dpapi=system_dpapi() if args.dpapi else None,
        force=args.force,
    )
    _notes(folder.certs.notes)
    name = (args.host or ["THIS-SERVER"])[0]
    _say(f"Agent folder ready: {folder.directory}")
    _say(f"  config        {folder.config}  (edit [backend] for your Sage 100)")
    _say(f"  certificates  {folder.directory / 'certs'}  (keys encrypted; keep this folder)")
    _say("")
    _say("Copy to the connector host, into a folder `sage100/` beside its config:")
    for item in ("ca.pem", "client.pem", "client.key"):
        _say(f"  {folder.handover / item}")
    _say("then, on the connector host:")
    if args.auth in ("mtls", "mtls+api_key"):
        _say("  ml-connector secrets set sage100.client_key < sage100/client.key")
        _say("  (then delete client.key on both hosts: the vault holds it now)")
    if folder.api_key:
        _say("  ml-connector secrets set sage100.api_key      # paste, when asked:")
        _say(f"  {folder.api_key}")
        _say("  (the API key is shown only now; only its hash is stored)")
    _say("")
    _say("Connector config lines to paste:")
    for line in connector_lines(folder, f"https://{name}:{args.port}", "ABC", args.auth):
        _say(f"  {line}")
    if sys.platform == "win32":
        _say("")
        _say("Restrict the folder to the service account (docs/agent-windows.md):")
        _say(
            f'  icacls "{folder.directory}" /inheritance:r /grant:r "%USERNAME%:(OI)(CI)F" '
            '/grant:r "SYSTEM:(OI)(CI)F"'
        )
    return 0


def cmd_renew_certs(args: argparse.Namespace) -> int:
    from ml_connector_agent.folder import renew_certs

    paths = renew_certs(args.config)
    _notes(paths.notes)
    _say(f"new agent certificate:  {paths.agent_cert}  (served from the agent's next start)")
    _say(f"new client certificate: {paths.client_cert}, key {paths.client_key}")
    _say("The old certificates stay valid until they expire. On the connector host:")
    _say("  copy client.pem over sage100/client.pem, then")
    _say("  ml-connector secrets set sage100.client_key < client.key")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Load everything serve would (config, keys, certificates); warn 30 days before expiry."""
    from ml_connector_agent.certs import expiry_warning, load_certificate
    from ml_connector_agent.config import load_config
    from ml_connector_agent.server import build_ssl

    config = load_config(args.config)
    build_ssl(config, insecure_dev=False)
    warnings = 0
    for field in ("cert_file", "client_ca_file"):
        value = getattr(config.tls, field)
        if value is None:
            continue
        path = config.path(value)
        cert = load_certificate(path, field.replace("_", " "))
        warning = expiry_warning(cert, path)
        _say(f"{'!' if warning else '✓'} {path}: expires {cert.not_valid_after_utc:%Y-%m-%d}")
        if warning:
            warnings += 1
            _say(f"  warning: {warning}")
    _say(f"✓ {args.config}: the agent can start ({config.auth.mode}, {config.backend.kind})")
    return 1 if warnings else 0


def cmd_service(args: argparse.Namespace) -> int:
    from ml_connector_agent.windows import system_service_control

    return run_service_command(args, system_service_control())


def run_service_command(args: argparse.Namespace, control: Any) -> int:
    if args.action == "install":
        if args.config is None:
            print("error: service install needs --config agent.toml", file=sys.stderr)
            return 2
        control.install(
            config=str(args.config.resolve()), account=args.account, password=args.password
        )
        _say(f"installed the service for {args.config.resolve()}")
    else:
        getattr(control, args.action)()
        _say(f"service {args.action}: done")
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
            asyncio.run(_serve_demo(args.dir, args.port, args.activity))
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


async def _serve_demo(directory: Path, port: int, activity: float) -> None:
    """The demo folder is made by ``init`` once and kept: certificates, key and data persist,
    so a connector config pointing at it keeps working across starts."""
    from ml_connector_agent.demo_data import SeedCounts
    from ml_connector_agent.testing import running_agent

    first = not (directory / "agent.toml").exists()
    async with running_agent(
        directory,
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
        _say(f"demo folder:  {directory}  (kept between starts)")
        if first:
            _say(f"API key:      {agent.api_key}  (shown once)")
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
    certs.add_argument(
        "--force",
        action="store_true",
        help="replace an existing CA and certificates (every certificate it signed stops working)",
    )
    certs.set_defaults(run=cmd_init_certs)

    init = commands.add_parser(
        "init", help="write agent.toml, a CA, the agent's and the connector's certificates, a key"
    )
    init.add_argument("directory", type=Path, help="the agent's folder (created)")
    init.add_argument(
        "--host",
        action="append",
        default=[],
        help="a name or IP the connector uses to reach this server (repeatable; SANs)",
    )
    init.add_argument("--company", action="append", default=[], help="company code (repeatable)")
    init.add_argument("--auth", choices=["mtls", "api_key", "mtls+api_key"], default="mtls+api_key")
    init.add_argument("--backend", choices=["boi", "odbc", "demo"], default="boi")
    init.add_argument("--port", type=int, default=8443)
    init.add_argument(
        "--dpapi",
        action="store_true",
        help="Windows: seal a generated key passphrase with DPAPI for this account",
    )
    init.add_argument(
        "--force",
        action="store_true",
        help="replace certificates left in DIR/certs (never an existing agent.toml)",
    )
    init.set_defaults(run=cmd_init)

    renew = commands.add_parser("renew-certs", help="new agent and client certificates, same CA")
    renew.add_argument("--config", "-c", type=_existing_file, required=True, help="agent.toml")
    renew.set_defaults(run=cmd_renew_certs)

    check = commands.add_parser(
        "check", help="load the config, keys and certificates; warn 30 days before expiry"
    )
    check.add_argument("--config", "-c", type=_existing_file, required=True, help="agent.toml")
    check.set_defaults(run=cmd_check)

    service = commands.add_parser("service", help="the Windows service (pywin32)")
    service.add_argument("action", choices=["install", "remove", "start", "stop"])
    service.add_argument("--config", "-c", type=_existing_file, default=None, help="agent.toml")
    service.add_argument("--account", default=None, help=r"run as this account (DOMAIN\\user)")
    service.add_argument(
        "--password", default=None, help="the account's password (omit for a gMSA)"
    )
    service.set_defaults(run=cmd_service)

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
    serve.add_argument(
        "--port", type=int, default=8443, help="with --demo: port, written at the first start"
    )
    serve.add_argument(
        "--dir",
        type=Path,
        default=Path("sage100-agent-demo"),
        help="with --demo: the demo agent's folder, made once and kept",
    )
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
