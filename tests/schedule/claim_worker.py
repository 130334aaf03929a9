"""One scheduler process for the multi-process test: polls claim_due over simulated ticks.

Usage: python claim_worker.py URL SCHEMA|- OWNER START_AT SPEC_JSON FIRST_TICK STEP COUNT
Waits until wall-clock START_AT so that all processes begin together, then prints the fire
times it won as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from ml_connector.schedule.fire_slots import claim_due
from ml_connector.schedule.spec import ScheduleSpec
from ml_connector.store import make_engine


async def main(argv: list[str]) -> None:
    url, schema, owner, start_at, spec_json, first, step, count = argv
    spec = ScheduleSpec.model_validate_json(spec_json)
    engine = make_engine(url, schema=None if schema == "-" else schema)
    won: list[float] = []
    try:
        await asyncio.sleep(max(0.0, float(start_at) - time.time()))
        for index in range(int(count)):
            now = float(first) + index * float(step)
            claim = await claim_due(engine, "multi", spec, now, owner, last_fire_lookback=600.0)
            if claim is not None:
                won.append(claim.fire_time)
    finally:
        await engine.dispose()
    print(json.dumps(won))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
