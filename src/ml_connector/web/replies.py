"""What `/mlc` says, as Slack messages. Pure: no I/O, every outside string escaped.

Replies are ephemeral (only the person who typed the command sees them): a status listing
or a refusal is nobody else's business, and the pipeline's real output goes to its channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from ml_connector.pipeline import RunOutcome
from ml_connector.redact import redact_text
from ml_connector.schedule.preview import until
from ml_connector.slack.blocks import mrkdwn_text
from ml_connector.slack.dates import format_datetime
from ml_connector.slack.mrkdwn import escape, truncate
from ml_connector.status import PipelineStatus, RunSummary, ServiceStatus
from ml_connector.wording import plural

Message = dict[str, Any]

# Slack's limit on a section's text is 3000 characters.
SECTION_LIMIT = 3000
ICONS = {"succeeded": "✅", "partial": "⚠️", "failed": "❌", "running": "⏳"}

HELP = (
    "*`/mlc` — ml-connector*\n"
    "• `/mlc status` — pipelines, last and next runs, queue depth, dead letters\n"
    "• `/mlc run PIPELINE` — run a pipeline now; the result is posted here when it finishes\n"
    "• `/mlc help` — this message"
)


def ephemeral(text: str, blocks: Sequence[dict[str, Any]] | None = None) -> Message:
    message: Message = {"response_type": "ephemeral", "text": text}
    if blocks:
        message["blocks"] = list(blocks)
    return message


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn_text(truncate(text, SECTION_LIMIT))}


def help_message(prefix: str | None = None) -> Message:
    text = f"{prefix}\n\n{HELP}" if prefix else HELP
    return ephemeral(text, [section(text)])


def unknown_command(text: str) -> Message:
    return help_message(f"I don't know `{escape(truncate(text, 80))}`.")


def replayed() -> Message:
    return ephemeral(
        "This exact request was already received, so it is not acted on again. "
        "Type the command again to repeat it."
    )


def queued(pipeline: str) -> Message:
    return ephemeral(
        f"Queued a run of *{escape(pipeline)}*. I'll post the result here when it finishes."
    )


def not_allowed(user_id: str) -> Message:
    return ephemeral(
        f"Sorry <@{escape(user_id)}>, you can't run pipelines from this channel. "
        "An ml-connector administrator can add you (or this channel) to "
        "`allowed_users` / `allowed_channels` in the configuration. "
        "`/mlc status` works for everyone."
    )


def unknown_pipeline(name: str, known: Sequence[str]) -> Message:
    listed = ", ".join(f"`{escape(n)}`" for n in known) or "none"
    return ephemeral(f"There is no pipeline named `{escape(truncate(name, 80))}`. Known: {listed}.")


def other_workspace(name: str) -> Message:
    return ephemeral(f"*{escape(name)}* posts to another Slack workspace; run it from there.")


def unknown_workspace() -> Message:
    return ephemeral(
        "This Slack workspace is not set up in ml-connector, so I can't run anything here."
    )


def run_result(pipeline: str, outcome: RunOutcome, seconds: float) -> Message:
    icon = ICONS.get(outcome.status, "")
    lines = [f"{icon} Run of *{escape(pipeline)}* {outcome.status} in {_seconds(seconds)}."]
    # Redacted as the status page redacts the same run's error: a source's error text can
    # echo a credential, and this reply is shown in Slack.
    if outcome.summary:
        lines.append(escape(redact_text(outcome.summary)))
    else:
        lines.append(
            f"{plural(outcome.records_read, 'record')} read, "
            f"{plural(outcome.messages_queued, 'message')} queued."
        )
    if outcome.error:
        lines.append(f"Error: {escape(truncate(redact_text(outcome.error), 500))}")
    text = "\n".join(lines)
    return ephemeral(text, [section(text)])


def run_crashed(pipeline: str) -> Message:
    return ephemeral(
        f"❌ The run of *{escape(pipeline)}* stopped with an internal error; "
        "the service log has the details."
    )


def status_message(status: ServiceStatus, zone: ZoneInfo) -> Message:
    now = status.generated_at
    blocks = [section("*Pipelines*\n" + _pipelines(status.pipelines, now, zone))]
    queue = (
        f"*Queue*: {status.queued} waiting"
        + (
            " (" + ", ".join(f"<#{escape(q.channel)}> {q.depth}" for q in status.queues) + ")"
            if status.queues
            else ""
        )
        + f" · *dead letters*: {status.dead_letters}"
    )
    blocks.append(section(queue))
    if status.installations:
        blocks.append(
            section(
                "*Slack*: "
                + ", ".join(
                    f"{escape(i.workspace)} {i.state}"
                    + (f" ({escape(truncate(i.reason, 120))})" if i.reason else "")
                    for i in status.installations
                )
            )
        )
    warnings = status.certificate_warnings()
    if warnings:
        blocks.append(section("*Certificates*\n" + "\n".join(f"⚠️ {escape(w)}" for w in warnings)))
    text = f"ml-connector status: {len(status.pipelines)} pipelines, {status.queued} queued"
    return ephemeral(text, blocks)


def _pipelines(pipelines: Sequence[PipelineStatus], now: float, zone: ZoneInfo) -> str:
    if not pipelines:
        return "No pipelines configured."
    return "\n".join(_pipeline_line(p, now, zone) for p in pipelines)


def _pipeline_line(p: PipelineStatus, now: float, zone: ZoneInfo) -> str:
    parts = [f"• *{escape(p.name)}* ({p.type})"]
    if p.running is not None:
        parts.append(f"running since {format_datetime(p.running.started_at, zone)}")
    parts.append(_last(p.last_run, zone))
    next_run = p.next_run
    if next_run is not None:
        parts.append(f"next {format_datetime(next_run, zone)} (in {until(next_run - now)})")
    else:
        parts.append("no next run scheduled")
    if p.dead_letters:
        parts.append(plural(p.dead_letters, "dead letter"))
    return " · ".join(parts)


def _last(run: RunSummary | None, zone: ZoneInfo) -> str:
    if run is None:
        return "never run"
    text = f"last {ICONS.get(run.status, '')} {run.status} {format_datetime(run.started_at, zone)}"
    if run.duration is not None:
        text += f" ({_seconds(run.duration)}, {run.messages_queued} queued)"
    if run.error:
        text += f": {escape(truncate(run.error, 200))}"
    return text


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes} min {seconds} s"
