"""Links from a Slack message back to the record, built from the stream's ``record_link``.

The template is ``str.format`` syntax over the stream's field names plus ``company``, e.g.
``https://erp.example/ap/{company}/{record_key}``. Values are percent-encoded, so a record
key with ``/`` or ``&`` cannot change where the link points. Placeholders are checked when
the pipeline is built: a typo is a config error, not a broken link in every message.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ml_connector.sage100.collect.streams import StreamSpec
from ml_connector.slack.mrkdwn import clean

COMPANY_FIELD = "company"


def placeholders(template: str) -> list[str]:
    """The field names a template uses; raises ValueError on broken ``{…}`` syntax."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conversion or not name.isidentifier():
            raise ValueError(f"{{{name}}} is not a plain field placeholder")
        names.append(name)
    return names


def template_problems(template: str, spec: StreamSpec, where: str) -> list[str]:
    if not template.lower().startswith(("https://", "http://")):
        return [f"{where}: expected an http(s) URL template like https://erp/ap/{{record_key}}"]
    try:
        names = placeholders(template)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    allowed = spec.fields | {COMPANY_FIELD}
    unknown = sorted(set(names) - allowed)
    if unknown:
        return [
            f"{where}: unknown placeholder {{{unknown[0]}}}; expected any of "
            f"{', '.join(sorted(allowed))}"
        ]
    return []


def build(template: str, fields: Mapping[str, Any], company: str) -> str:
    # clean(): a lone surrogate (JSON lets the agent send one) cannot be percent-encoded.
    values = {
        name: quote(clean(str(fields.get(name) or "")), safe="") for name in placeholders(template)
    }
    if COMPANY_FIELD in values:
        values[COMPANY_FIELD] = quote(company, safe="")
    return template.format_map(values)
