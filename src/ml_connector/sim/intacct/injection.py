"""Intacct's injection parameters, ``{!OBJECT.FIELD!}``, filled from a record.

Smart Events and Platform Triggers write bodies with them: "an injection parameter … provides
a path from the owning object … to the desired field value"
(developer.intacct.com/customization-services/smart-event-walkthrough). The value goes in as
Intacct's wire text (``format_value``), unescaped: a template must quote it itself, as the
walkthrough's ``key="{!ARINVOICE.RECORDNO!}"`` does. Paths through related objects
(``{!SODOCUMENT.CUSTOMER.START_DATE!}``) are not simulated and render empty, as does a
parameter of another object.
"""

from __future__ import annotations

import re

from ml_connector.sim.intacct.objects import Record, format_value

_PARAMETER = re.compile(r"\{!([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)!\}")


def render(template: str, object_name: str, record: Record) -> str:
    def value(match: re.Match[str]) -> str:
        owner, path = match.group(1).upper(), match.group(2).upper()
        if owner != object_name.upper() or path not in record:
            return ""
        return format_value(record[path])

    return _PARAMETER.sub(value, template)
