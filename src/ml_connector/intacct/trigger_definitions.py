"""The triggers a customer creates in Intacct for ml-connector, as ``intacct triggers`` prints.

One HTTP POST trigger per object the alerts watch (Platform Services → Triggers, "HTTP post";
developer.sage.com/intacct/docs/developer-portal/guides/webhooks): GL batches (unbalanced
entries), GL entries (a posting saves its lines; their events name their batch, and a burst for
one batch coalesces into one read), AP payments (declined, voided, reversed, or paid to a
vendor on hold / inactive / without a payment method) and vendors (a vendor put on hold makes
its recent payments exceptions). The body names the record and nothing more, with Intacct's
injection parameters; ml-connector reads the record itself.

With "Use webhook delivery" (client ID: ours) Intacct signs each delivery with a JWT and
retries it; without it (an older HTTP POST trigger, or a Smart Event) the customer adds the
secret header.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_connector.config import Config, IntacctConnection
from ml_connector.errors import ConfigError

EVENTS_PATH = "/intacct/events/"


@dataclass(frozen=True)
class TriggerDefinition:
    object: str
    events: tuple[str, ...]
    body: str
    why: str


DEFINITIONS = (
    TriggerDefinition(
        "GLBATCH",
        ("Add", "Set"),
        '{"object": "GLBATCH", "recordno": "{!GLBATCH.RECORDNO!}"}',
        "journal entries: unbalanced-entry alerts",
    ),
    TriggerDefinition(
        "GLENTRY",
        ("Add", "Set"),
        '{"object": "GLENTRY", "recordno": "{!GLENTRY.RECORDNO!}", "batch": "{!GLENTRY.BATCHNO!}"}',
        "journal entry lines: a changed line re-checks its batch",
    ),
    TriggerDefinition(
        "APPYMT",
        ("Add", "Set"),
        '{"object": "APPYMT", "recordno": "{!APPYMT.RECORDNO!}"}',
        "AP payments: declined/voided payments and payments to vendors that must not be paid",
    ),
    TriggerDefinition(
        "VENDOR",
        ("Set",),
        '{"object": "VENDOR", "recordno": "{!VENDOR.RECORDNO!}"}',
        "vendors: put on hold, made inactive or left without a payment method",
    ),
)


def events_url(config: Config, connection: str) -> str:
    base = (config.public_base_url or f"http://{config.server.host}:{config.server.port}").rstrip(
        "/"
    )
    return f"{base}{EVENTS_PATH}{connection}"


def trigger_connection(config: Config, name: str) -> IntacctConnection:
    connection = config.connections.get(name)
    if not isinstance(connection, IntacctConnection):
        known = [n for n, c in config.connections.items() if isinstance(c, IntacctConnection)]
        raise ConfigError(
            f"connections.{name}: expected an intacct connection "
            f"(configured: {', '.join(known) or 'none'})"
        )
    if connection.triggers is None:
        raise ConfigError(
            f"connections.{name}.triggers: not configured; add a [connections.{name}.triggers] "
            "table (see docs/intacct-triggers.md)"
        )
    return connection


def describe(config: Config, name: str) -> str:
    """The text ``ml-connector intacct triggers NAME`` prints."""
    connection = trigger_connection(config, name)
    triggers = connection.triggers
    assert triggers is not None
    url = events_url(config, name)
    lines = [
        f"Triggers to create in Intacct company {connection.company_id} "
        "(Platform Services → Triggers → Add; type: HTTP post)",
        "",
        f"URL:           {url}",
        "Method:        POST",
        "Content type:  application/json",
    ]
    if config.public_base_url is None:
        lines.append("               (set public_base_url: Intacct must reach this over HTTPS)")
    if triggers.client_id is not None:
        lines.append(
            f"Delivery:      select 'Use webhook delivery', client ID {triggers.client_id}"
        )
    else:
        lines.append(
            "Delivery:      plain HTTP post (no client_id configured for webhook delivery)"
        )
    if triggers.accept_secret:
        lines.append(
            f"Secret header: {triggers.secret_header}: <the value `ml-connector intacct "
            f"trigger-secret {name}` printed>"
            + ("  (only without webhook delivery)" if triggers.client_id is not None else "")
        )
    for item in DEFINITIONS:
        lines += [
            "",
            f"{item.object} — {item.why}",
            f"  Events: {', '.join(item.events)}",
            f"  Body:   {item.body}",
        ]
    lines += [
        "",
        "Legacy payment requests (APPAYMENTREQUEST) may use the APPYMT body with",
        '"object": "APPAYMENTREQUEST" and {!APPAYMENTREQUEST.RECORDNO!}.',
    ]
    return "\n".join(lines)
