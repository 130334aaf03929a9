"""A busy close day through the Intacct pipeline, against both simulators in strict mode.

Strict mode (issue #20) refuses what the real services refuse or may refuse: elements out of
DTD order, reads of more than 100 keys, unknown fields, Slack text over 40,000 characters,
more than ~12,000 characters of block text. The ``intacct_sim``/``slack_sim`` fixtures fail a
test whose run made either refuse anything; this one makes the messages as large as a real
close day does (hundreds of batches, every kind of exception), where the limits would bite.
"""

from __future__ import annotations

from .conftest import Harness, an_hour_ago


async def test_a_busy_close_day_stays_within_every_limit(harness: Harness) -> None:
    harness.intacct.data.add_day(
        an_hour_ago(),
        batches=250,
        payments=200,
        unbalanced_batches=4,
        adjusting_batches=4,
        onhold_payments=3,
        inactive_payments=3,
        no_method_payments=3,
        declined_payments=3,
        voided_payments=3,
    )
    outcome = await harness.run()
    await harness.deliver()
    assert outcome.status == "succeeded", outcome.error
    posted = sum(len(harness.posted(name)) for name in ("gl", "payments", "alerts"))
    assert posted == outcome.messages_queued > 2
    # What the strict simulators saw (the fixtures check again at teardown).
    assert not harness.intacct.refused and not harness.slack.refused
    assert (
        harness.intacct.function_calls["readByQuery"] + harness.intacct.function_calls["query"] > 0
    )
