from __future__ import annotations

import json

from .conftest import Harness, an_hour_ago


async def test_smoke(harness: Harness) -> None:
    day = harness.intacct.data.add_day(
        an_hour_ago(), batches=4, payments=5, unbalanced_batches=1, onhold_payments=1,
        declined_payments=1,
    )
    outcome = await harness.run()
    print(outcome)
    await harness.deliver()
    for name in ("gl", "payments", "alerts"):
        for m in harness.posted(name):
            print(name, m["text"])
            print(json.dumps(m["blocks"], indent=1)[:3000])
    print(harness.intacct.requests, harness.intacct.function_calls)
    assert False
