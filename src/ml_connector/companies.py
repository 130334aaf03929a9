"""The companies of a pipeline, and each one's settings: the pipeline's, with its own on top.

One Sage 100 connection (one agent) serves several companies, and one Intacct connection
several entities; a pipeline polls each as a :class:`Company` of its own, with its own
cursors, runs, schedule slots and dedupe keys, all named by :attr:`Company.key`:

* the company a pipeline polled before it had a list — the connection's ``company`` (Sage
  100), or the top level / the connection's ``entity_id`` (Intacct) — keeps the bare pipeline
  name as its key, so a config that upgrades from ``company = "ABC"`` to
  ``companies = ["ABC", "XYZ"]`` reads on from ABC's cursor and reposts nothing;
* every other company is ``PIPELINE@CODE`` (``sage100@XYZ``, ``intacct@E100``).

A company's settings are the pipeline's, overridden field by field by its table
(``[pipelines.NAME.company.CODE]`` in the file, or ``ml-connector companies add``, stored in
the database and merged here by :func:`with_stored` — validated by the same models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ml_connector.config import (
    Config,
    IntacctChannels,
    IntacctCompanySettings,
    IntacctConnection,
    IntacctPipeline,
    Sage100CompanySettings,
    Sage100Connection,
    Sage100Pipeline,
    Sage100Stream,
    describe_errors,
)
from ml_connector.errors import ConfigError

SEPARATOR = "@"


@dataclass(frozen=True)
class Company:
    """One company of one pipeline."""

    pipeline: str
    # A Sage 100 company code, an Intacct entity id, or the Intacct company id (top level).
    code: str
    # Names its cursors, runs, slots and dedupe keys (see the module docstring).
    key: str
    # Intacct: the entity its sessions are scoped to; None: the top level (or Sage 100).
    entity: str | None = None


def company_key(pipeline: str, code: str, *, first: bool) -> str:
    return pipeline if first else f"{pipeline}{SEPARATOR}{code}"


def pipeline_of(key: str) -> str:
    """The pipeline of a company key or run key (``sage100@XYZ.ap_invoices`` → ``sage100``)."""
    return key.split(SEPARATOR, 1)[0].split(".", 1)[0]


def serves_every_company(config: Config, pipeline: str) -> bool:
    """True for ``companies = "*"``: the list is the agent's, read at run time."""
    settings = config.pipelines.get(pipeline)
    return isinstance(settings, Sage100Pipeline) and settings.companies == "*"


def pipeline_companies(
    config: Config, pipeline: str, served: Sequence[str] | None = None
) -> list[Company]:
    """The companies of a pipeline, in a stable order.

    ``served``: the companies the Sage 100 agent serves (``health``), for ``"*"``; unknown
    (None), a ``"*"`` pipeline has only the companies the config names itself.
    """
    settings = config.pipelines[pipeline]
    connection = config.connections[settings.connection]
    if isinstance(settings, Sage100Pipeline) and isinstance(connection, Sage100Connection):
        return _sage100(pipeline, settings, connection, served)
    if isinstance(settings, IntacctPipeline) and isinstance(connection, IntacctConnection):
        return _intacct(pipeline, settings, connection)
    return []


def _sage100(
    pipeline: str,
    settings: Sage100Pipeline,
    connection: Sage100Connection,
    served: Sequence[str] | None,
) -> list[Company]:
    if settings.companies == "*":
        # The agent's list alone: a company's table only gives it settings.
        codes = [c.upper() for c in served or ()]
    else:
        codes = list(settings.companies or ([connection.company] if connection.company else []))
        codes += [c for c in settings.company if c not in codes]
    return [
        Company(pipeline, code, company_key(pipeline, code, first=code == connection.company))
        for code in codes
    ]


def _intacct(
    pipeline: str, settings: IntacctPipeline, connection: IntacctConnection
) -> list[Company]:
    top = connection.company_id
    legacy = Company(pipeline, connection.entity_id or top, pipeline, connection.entity_id)
    if settings.summarise == "all" or not (connection.entities or settings.company):
        return [legacy]
    entities = [e for e in connection.sessions() if e is not None]
    entities += [c for c in settings.company if c != top and c not in entities]
    found = [legacy] if connection.top_level or not connection.entities else []
    if connection.entity_id is not None and connection.entity_id in entities:
        entities.remove(connection.entity_id)
    found += [Company(pipeline, e, company_key(pipeline, e, first=False), e) for e in entities]
    return found


def find_company(
    config: Config, pipeline: str, code: str, served: Sequence[str] | None = None
) -> Company:
    code_upper = code.upper()
    companies = pipeline_companies(config, pipeline, served)
    for company in companies:
        if company.code == code or (
            isinstance(config.pipelines[pipeline], Sage100Pipeline) and company.code == code_upper
        ):
            return company
    known = ", ".join(c.code for c in companies) or "none"
    raise ConfigError(f"pipeline {pipeline!r} has no company {code!r} (companies: {known})")


# -- settings ----------------------------------------------------------------------------------


def sage100_streams(settings: Sage100Pipeline, code: str) -> dict[str, Sage100Stream]:
    """The pipeline's streams with the company's overrides applied, field by field."""
    own = settings.company.get(code)
    streams: dict[str, Sage100Stream] = {str(k): v for k, v in settings.streams.items()}
    if own is None:
        return streams
    for name, override in own.streams.items():
        base = streams.get(name)
        changes = {
            field: getattr(override, field)
            for field in override.model_fields_set
            if getattr(override, field) is not None
        }
        if base is None:
            # A stream the pipeline does not poll: the company's table must say enough.
            if "channel" not in changes:
                continue
            streams[name] = Sage100Stream.model_validate(changes)
        else:
            streams[name] = base.model_copy(update=changes)
    return streams


def sage100_currency(settings: Sage100Pipeline, code: str) -> str:
    own = settings.company.get(code)
    return own.currency if own is not None and own.currency else settings.currency


def intacct_channels(settings: IntacctPipeline, code: str) -> IntacctChannels:
    own = settings.company.get(code)
    if own is None:
        return settings.channels
    changes = {k: v for k, v in own.channels.model_dump().items() if v is not None}
    return settings.channels.model_copy(update=changes)


def intacct_mention_group(settings: IntacctPipeline, code: str) -> str | None:
    own = settings.company.get(code)
    if own is not None and own.mention_group is not None:
        return own.mention_group
    return settings.mention_group


def pipeline_problems(config: Config, pipeline: str) -> list[str]:
    """What the file's schema cannot check: each company's routes and record links against
    its stream's fields (the pipeline's own streams included)."""
    settings = config.pipelines.get(pipeline)
    if not isinstance(settings, Sage100Pipeline):
        return []
    from ml_connector.sage100.collect.streams import STREAMS
    from ml_connector.sage100.route.routing import rule_problems
    from ml_connector.sage100.write.record_links import template_problems

    problems: list[str] = []
    own_streams = sage100_streams(settings, "")
    checked = [(f"pipelines.{pipeline}", own_streams)]
    for code in settings.company:
        own = sage100_streams(settings, code)
        changed = {n: s for n, s in own.items() if s != own_streams.get(n)}
        checked.append((f"pipelines.{pipeline}.company.{code}", changed))
    for base, streams in checked:
        for stream_name, stream in streams.items():
            where = f"{base}.streams.{stream_name}"
            spec = STREAMS[stream_name]
            problems += rule_problems(stream.routes, spec, where)
            if stream.record_link:
                problems += template_problems(stream.record_link, spec, f"{where}.record_link")
    return problems


# -- companies added from the CLI --------------------------------------------------------------


def settings_model(
    config: Config, pipeline: str
) -> type[Sage100CompanySettings] | type[IntacctCompanySettings]:
    settings = config.pipelines.get(pipeline)
    if settings is None:
        known = ", ".join(sorted(config.pipelines)) or "none configured"
        raise ConfigError(f"no pipeline named {pipeline!r} (configured: {known})")
    return (
        Sage100CompanySettings if isinstance(settings, Sage100Pipeline) else IntacctCompanySettings
    )


def check_company_settings(
    config: Config, pipeline: str, code: str, raw: Mapping[str, Any], *, where: str
) -> dict[str, Any]:
    """``raw`` validated exactly as ``[pipelines.PIPELINE.company.CODE]`` in the file would be:
    the same model, then the whole config with it merged (references, routes, links).
    Returns what to store; raises ``ConfigError`` with one line per problem, naming ``where``."""
    model = settings_model(config, pipeline)
    dotted = f"pipelines.{pipeline}.company.{code}"
    try:
        parsed = model.model_validate(dict(raw))
    except ValidationError as exc:
        problems = [f"{where}: {dotted}.{line}" for line in describe_errors(exc, dict(raw))]
        raise ConfigError("\n".join(problems), problems) from None
    stored: dict[str, Any] = parsed.model_dump(mode="json", exclude_unset=True)
    merged = with_stored(config, {pipeline: {code: stored}})
    problems = [f"{where}: {p}" for p in pipeline_problems(merged, pipeline)]
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return stored


def with_stored(config: Config, stored: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Config:
    """``config`` with the companies added from the CLI merged into their pipelines.

    A company the file already configures keeps the file's settings (the file is what the
    operator edits by hand; ``companies add`` refuses such a company). Stored rows of a
    pipeline no longer in the config are ignored (``companies list`` still shows them).
    """
    pipelines = dict(config.pipelines)
    changed = False
    for name, rows in stored.items():
        settings = pipelines.get(name)
        if settings is None or not rows:
            continue
        table: dict[str, Any] = dict(settings.company)
        model = (
            Sage100CompanySettings
            if isinstance(settings, Sage100Pipeline)
            else IntacctCompanySettings
        )
        for code, raw in rows.items():
            key = code.upper() if isinstance(settings, Sage100Pipeline) else code
            if key not in table:
                table[key] = model.model_validate(dict(raw))
        pipelines[name] = settings.model_copy(update={"company": table})
        changed = True
    if not changed:
        return config
    return config.model_copy(update={"pipelines": pipelines})
