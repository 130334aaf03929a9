"""What the config schema cannot check about a Sage 100 pipeline's companies: each company's
routes and record links against its stream's fields (the pipeline's own streams included).

It lives in ``sage100/`` because it needs the stream specs, routing and link rules, while
:mod:`ml_connector.companies` (which resolves company settings) sits below every pipeline.
"""

from __future__ import annotations

from ml_connector.companies import sage100_streams
from ml_connector.config import Config, Sage100Pipeline
from ml_connector.sage100.collect.streams import STREAMS
from ml_connector.sage100.route.routing import rule_problems
from ml_connector.sage100.write.record_links import template_problems


def pipeline_problems(config: Config, pipeline: str) -> list[str]:
    """What the file's schema cannot check: each company's routes and record links against
    its stream's fields (the pipeline's own streams included)."""
    settings = config.pipelines.get(pipeline)
    if not isinstance(settings, Sage100Pipeline):
        return []
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
