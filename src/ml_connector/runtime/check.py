"""``check``: ping every configured system with the stored credentials, and say what to fix.

Each check returns a ``CheckResult`` with a verdict, what it found and, on failure, a hint in
the words a finance-systems admin would act on ("invite @mlc to #ap-invoices"). Checks never
raise: a broken part is a row in the table, not a traceback.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import (
    Config,
    IntacctConnection,
    IntacctPipeline,
    Sage100Connection,
    Sage100Pipeline,
)
from ml_connector.errors import CredentialsError, ExternalError, MLConnectorError
from ml_connector.store import current_revision, head_revision
from ml_connector.store.migrate import state_at
from ml_connector.vault import Vault

TIMEOUT = 30.0


@dataclass(frozen=True)
class CheckResult:
    system: str
    target: str
    ok: bool
    detail: str
    hint: str = ""
    #: passed, but something needs doing soon (a certificate expiring within 30 days)
    warning: bool = False


async def run_checks(config: Config, engine: AsyncEngine, vault: Vault) -> list[CheckResult]:
    checks: list[Awaitable[list[CheckResult]]] = [check_database(engine)]
    for name, connection in config.connections.items():
        if isinstance(connection, IntacctConnection):
            checks.append(check_intacct(name, connection, engine, vault))
        elif isinstance(connection, Sage100Connection):
            checks.append(check_sage100(name, connection, config, vault, engine=engine))
    for workspace in config.slack.workspaces:
        checks.append(check_slack(workspace, config, engine, vault))
    results: list[CheckResult] = []
    for found in await asyncio.gather(*checks):
        results.extend(found)
    return results


async def guarded(
    system: str, target: str, check: Callable[[], Awaitable[list[CheckResult]]]
) -> list[CheckResult]:
    try:
        return await asyncio.wait_for(check(), TIMEOUT)
    except TimeoutError:
        return [
            CheckResult(
                system,
                target,
                False,
                f"no answer within {TIMEOUT:g} s",
                "check the address and that a firewall lets us through",
            )
        ]
    except CredentialsError as exc:
        return [CheckResult(system, target, False, str(exc), "check the stored credentials")]
    except ExternalError as exc:
        hint = "temporary: try again shortly" if exc.transient else ""
        return [CheckResult(system, target, False, str(exc), hint)]
    except MLConnectorError as exc:
        return [CheckResult(system, target, False, str(exc))]


async def check_database(engine: AsyncEngine) -> list[CheckResult]:
    target = engine.url.render_as_string(hide_password=True)
    try:
        current = await current_revision(engine)
    except Exception as exc:  # any driver error means unreachable
        return [
            CheckResult(
                "database",
                target,
                False,
                f"unreachable: {exc}",
                "check database_url and that the server is running",
            )
        ]
    head = head_revision()
    if current != head:
        state = state_at(current)
        hint = (
            "run a newer ml-connector, or restore the backup taken before its upgrade"
            if state.status == "ahead"
            else "run `ml-connector db upgrade` (after `ml-connector backup PATH`)"
        )
        return [CheckResult("database", target, False, state.describe(), hint)]
    return [CheckResult("database", target, True, f"reachable, migrations current ({head})")]


async def check_intacct(
    name: str, connection: IntacctConnection, engine: AsyncEngine, vault: Vault
) -> list[CheckResult]:
    from ml_connector.intacct.gateway import Credentials, IntacctClient

    async def check(entity: str | None, target: str) -> list[CheckResult]:
        credentials = Credentials(
            sender_id=connection.sender_id,
            sender_password=await vault.get(connection.sender_password),
            company_id=connection.company_id,
            user_id=connection.user_id,
            user_password=await vault.get(connection.user_password),
            entity_id=entity,
        )
        async with IntacctClient(
            credentials,
            engine=engine,
            vault=vault,
            gateway_url=connection.gateway_url,
            max_concurrent=connection.max_concurrent,
        ) as client:
            info = await client.sign_in()
        detail = (
            f"signed in as {connection.user_id}@{info.company_id}"
            + (f" (entity {info.location_id})" if info.location_id else "")
            + f"; endpoint {info.endpoint}; session timeout {info.session_timeout or 'not given'}"
        )
        return [CheckResult("intacct", target, True, detail)]

    # Each session a pipeline opens: every entity listed signs in with its own <locationid>.
    results = []
    for entity in connection.sessions():
        target = name if not connection.entities else f"{name} {entity or 'top level'}"
        results += await guarded("intacct", target, functools.partial(check, entity, target))
    return [
        r
        if r.ok or r.hint
        else CheckResult(
            r.system,
            r.target,
            False,
            r.detail,
            "check sender id/password (Web Services), company, user and password secrets",
        )
        for r in results
    ]


async def check_sage100(
    name: str,
    connection: Sage100Connection,
    config: Config,
    vault: Vault,
    *,
    engine: AsyncEngine | None = None,
) -> list[CheckResult]:
    """With ``engine``, the agent's certificate is recorded for the status views."""
    from ml_connector.sage100.agent_client.credentials import agent_client
    from ml_connector.sage100.agent_client.tls import CertificateInUse
    from ml_connector.sage100.certificates import record_agent_certificate

    async def check() -> list[CheckResult]:
        # The very builder the pipeline uses: check passes exactly when run can authenticate.
        client, credentials = await agent_client(connection, config, vault)
        async with client:
            health = await client.health()
        now = datetime.now(UTC)
        expiry = health.peer_not_after
        cert = ""
        in_use = list(credentials.certificates)
        if health.peer_subject:
            cert = f"; certificate {health.peer_subject}"
            if expiry is not None and engine is not None:
                await record_agent_certificate(engine, name, health.peer_subject, expiry)
            if expiry is not None:
                cert += f", expires {expiry:%Y-%m-%d} ({(expiry - now).days} days)"
                in_use.append(
                    CertificateInUse(
                        "agent certificate",
                        f"of {connection.agent_url}",
                        health.peer_subject,
                        expiry,
                    )
                )
        detail = (
            f"agent {health.agent_version} ({health.backend}"
            + (f", Sage 100 {health.sage_version}" if health.sage_version else "")
            + f"), companies {', '.join(health.companies)}, auth {connection.auth}{cert}"
        )
        missing = [
            c for c in _wanted_companies(name, connection, config) if c not in health.companies
        ]
        if missing:
            one = len(missing) == 1
            fix = (
                f"the agent does not serve {'company' if one else 'companies'} "
                f"{', '.join(missing)}: add {'it' if one else 'them'} to the agent's `companies`"
            )
            return [CheckResult("sage100", name, False, detail, fix)]
        warnings = [w for c in in_use if (w := c.warning(now)) is not None]
        return [CheckResult("sage100", name, True, detail, "; ".join(warnings), bool(warnings))]

    return await guarded("sage100", name, check)


def _wanted_companies(name: str, connection: Sage100Connection, config: Config) -> list[str]:
    """The companies the config polls through this agent ("*" asks for none by name)."""
    from ml_connector.companies import pipeline_companies

    wanted = [connection.company] if connection.company else []
    for pipeline, settings in config.pipelines.items():
        if settings.connection == name and settings.type == "sage100":
            wanted += [c.code for c in pipeline_companies(config, pipeline, [])]
    return list(dict.fromkeys(wanted))


async def check_slack(
    workspace: str, config: Config, engine: AsyncEngine, vault: Vault
) -> list[CheckResult]:
    from ml_connector.slack.tokens import client_for

    settings = config.slack.workspaces[workspace]
    results: list[CheckResult] = []

    async def check() -> list[CheckResult]:
        async with client_for(engine, vault, workspace, settings) as client:
            auth = await client.auth_test()
            results.append(
                CheckResult(
                    "slack",
                    workspace,
                    True,
                    f"team {auth.team} ({auth.team_id}), bot user {auth.user_id}",
                )
            )
            for channel, where in channels_of(config, workspace):
                try:
                    info = await client.conversation_info(channel)
                except ExternalError as exc:
                    results.append(
                        CheckResult(
                            "slack",
                            f"{channel} ({where})",
                            False,
                            str(exc),
                            "check the channel id; for a private channel invite the bot first",
                        )
                    )
                    continue
                if info.is_archived:
                    results.append(
                        CheckResult(
                            "slack",
                            f"#{info.name} ({where})",
                            False,
                            "channel is archived",
                            "choose another channel",
                        )
                    )
                elif not info.is_member:
                    results.append(
                        CheckResult(
                            "slack",
                            f"#{info.name} ({where})",
                            False,
                            "the bot is not a member",
                            f"invite the bot: /invite @{auth.user_id} in #{info.name}",
                        )
                    )
                else:
                    results.append(
                        CheckResult(
                            "slack", f"#{info.name} ({where})", True, "exists, bot is a member"
                        )
                    )
        return results

    outcome = await guarded("slack", workspace, check)
    # On a failure part-way, keep the rows found before it.
    return outcome if outcome is results else results + outcome


def channels_of(config: Config, workspace: str) -> list[tuple[str, str]]:
    """Every channel the config posts to in this workspace, with where it is configured."""
    found: dict[str, str] = {}
    for name, pipeline in config.pipelines.items():
        if pipeline.workspace != workspace:
            continue
        if isinstance(pipeline, IntacctPipeline):
            for kind, channel in pipeline.channels.model_dump().items():
                found.setdefault(channel, f"{name}.{kind}")
        elif isinstance(pipeline, Sage100Pipeline):
            for stream, settings in pipeline.streams.items():
                found.setdefault(settings.channel, f"{name}.{stream}")
                for n, rule in enumerate(settings.routes):
                    found.setdefault(rule.channel, f"{name}.{stream}.routes[{n}]")
    return list(found.items())


def verdict(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results)
