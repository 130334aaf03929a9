"""What ``ml-connector companies add`` may store: settings validated exactly as the same
``[pipelines.PIPELINE.company.CODE]`` table in the file would be.

Above the pipelines (it runs the Sage 100 route and link checks), below the CLI and web.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ml_connector.companies import with_stored
from ml_connector.config import (
    Config,
    IntacctCompanySettings,
    Sage100CompanySettings,
    Sage100Pipeline,
    describe_errors,
)
from ml_connector.errors import ConfigError
from ml_connector.sage100.company_problems import pipeline_problems


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
