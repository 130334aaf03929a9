"""``ml-connector sim …``: run a simulator of an external system in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from ml_connector.sim.config_lines import intacct_lines, secret_command, slack_lines

if TYPE_CHECKING:
    from ml_connector.sim.http import LocalServer

S = TypeVar("S", bound="LocalServer")

app = typer.Typer(
    help="Run a simulator (Slack, Sage Intacct) on a local port.", no_args_is_help=True
)


def serve_until_interrupted(
    sim: S, host: str, port: int, banner: Callable[[S], list[str]], name: str
) -> None:
    """Start ``sim``, print ``banner(sim)`` (it may finish setting up), serve until Ctrl-C.

    Ctrl-C and SIGTERM set an event through the loop's own signal handlers (woken through
    the loop's socket), the way ``serve`` stops, rather than ``asyncio.run`` cancelling the
    task on KeyboardInterrupt: a CLI test once saw the simulator outlive Ctrl-C by 30 s, and
    with this path and the bounded shutdown in ``sim.http`` it stops in a few seconds under
    load. Where the loop has no signal handlers (Windows), Ctrl-C still raises
    KeyboardInterrupt, which ends ``asyncio.run`` the old way."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no loop signal handlers
                loop.add_signal_handler(sig, stop.set)
        await sim.start(host=host, port=port)
        try:
            for line in banner(sim):
                typer.echo(line)
            typer.echo("Ctrl-C to stop.")
            await stop.wait()
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    typer.echo(f"{name} stopped.")


@app.command("slack")
def slack(
    port: int = typer.Option(0, help="TCP port to listen on; 0 picks a free one."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    channel: list[str] = typer.Option(
        [], "--channel", "-c", help="Channel to create with the bot in it (repeatable)."
    ),
    post_interval: float = typer.Option(1.0, help="Seconds per chat.postMessage per channel."),
    post_burst: int = typer.Option(1, help="Posts allowed at once per channel."),
    history_interval: float = typer.Option(60.0, help="Seconds per conversations.history call."),
    history_burst: int = typer.Option(1, help="conversations.history calls allowed at once."),
    client_id: str | None = typer.Option(
        None, help="Also register an app with this OAuth client id (secret is generated)."
    ),
    redirect_uri: list[str] = typer.Option(
        [], help="Redirect URL allowed for that app's install (repeatable)."
    ),
    token_rotation: bool = typer.Option(False, help="Issue rotating tokens to that app."),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        "--scopes",
        help="Bot scope that app may be granted (repeatable, or comma-separated); default: "
        "the scopes ml-connector's /slack/install asks for.",
    ),
    strict: bool = typer.Option(
        True,
        "--strict/--lenient",
        help="Refuse text over 40,000 characters with msg_too_long (strict) or truncate it "
        "with Slack's message_truncated warning (lenient).",
    ),
    seed: int = typer.Option(0, help="Seed for ids and random faults."),
) -> None:
    """Run the Slack Web API simulator until Ctrl-C; prints its base URL and a bot token."""
    import secrets

    # Imported here so other commands do not pay for loading the simulator.
    from ml_connector.sim.slack import DEFAULT_CHANNELS, SlackSimulator
    from ml_connector.slack.scopes import scope_list

    # The app's configuration allows what our install asks for, or the scopes given.
    app_scopes = [s.strip() for item in scope for s in item.split(",") if s.strip()]

    def banner(sim: SlackSimulator) -> list[str]:
        names = ", ".join(f"#{c.name} {c.id}" for c in sim.workspace.channels.values())
        lines = [
            f"Slack simulator listening on {sim.url}",
            f"  base URL   {sim.base_url}",
            f"  bot token  {sim.bot_token}",
            f"  team       {sim.team_id}, bot user {sim.bot_user_id}",
            f"  channels   {names}",
            f"  messages   {sim.url}/",
            "Config lines that point ml-connector at this simulator (ml-connector.toml):",
            *(f"  {line}" for line in slack_lines(sim.base_url)),
            "and the token, in the config's folder:",
            f"  {secret_command('slack.bot_token', sim.bot_token)}",
        ]
        if client_id is not None:
            registered = sim.register_app(
                client_id,
                secrets.token_hex(16),
                scopes=app_scopes or scope_list(),
                token_rotation=token_rotation,
                redirect_uris=redirect_uri,
            )
            lines += [
                f"  app        client id {registered.client_id}",
                f"             scopes {','.join(sorted(registered.scopes))}",
                f"             client secret {registered.client_secret}",
                f"             install at {sim.url}/oauth/v2/authorize",
            ]
        return lines

    sim = SlackSimulator(
        channel or DEFAULT_CHANNELS,
        post_interval=post_interval,
        post_burst=post_burst,
        history_interval=history_interval,
        history_burst=history_burst,
        seed=seed,
        strict=strict,
    )
    serve_until_interrupted(sim, host, port, banner, "Slack simulator")


@app.command("intacct")
def intacct(
    port: int = typer.Option(0, help="TCP port to listen on; 0 picks a free one."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    seed: int = typer.Option(1, help="Seed for the generated company and random faults."),
    entities: int = typer.Option(3, help="Number of entities (LOCATION) in the company."),
    gl_entries: int = typer.Option(4000, help="GLENTRY lines in the generated history."),
    vendors: int = typer.Option(250, help="Vendors in the generated company."),
    payments: int = typer.Option(300, help="AP payments in the generated history."),
    session_timeout: float = typer.Option(3600.0, help="Sliding session duration, seconds."),
    max_concurrent: int = typer.Option(2, help="Requests in flight per company before GW-0010."),
    strict: bool = typer.Option(
        True,
        "--strict/--lenient",
        help="Refuse elements out of DTD order inside readByQuery/read and reads of more than "
        "100 keys (strict), or accept them (lenient).",
    ),
) -> None:
    """Run the Sage Intacct XML gateway simulator until Ctrl-C; prints what it accepts."""
    # Imported here so other commands do not pay for generating a company.
    from ml_connector.sim.intacct import IntacctSimulator

    def banner(sim: IntacctSimulator) -> list[str]:
        creds = sim.credentials
        return [
            f"Sage Intacct gateway simulator listening on {sim.url}",
            f"  sender id        {creds.sender_id}",
            f"  sender password  {creds.sender_password}",
            f"  company id       {creds.company_id}",
            f"  user id          {creds.user_id}",
            f"  user password    {creds.user_password}",
            f"  entities         {', '.join(sim.data.entity_ids())}",
            f"  mode             {'strict' if sim.strict else 'lenient'}",
            "Config lines that point ml-connector at this simulator (ml-connector.toml):",
            *(
                f"  {line}"
                for line in intacct_lines(sim.url, creds.sender_id, creds.company_id, creds.user_id)
            ),
            "and the passwords, in the config's folder:",
            f"  {secret_command('intacct.sender_password', creds.sender_password)}",
            f"  {secret_command('intacct.user_password', creds.user_password)}",
        ]

    sim = IntacctSimulator(
        seed=seed,
        entities=entities,
        gl_entries=gl_entries,
        vendors=vendors,
        payments=payments,
        session_timeout=session_timeout,
        max_concurrent=max_concurrent,
        strict=strict,
    )
    serve_until_interrupted(sim, host, port, banner, "Sage Intacct simulator")
