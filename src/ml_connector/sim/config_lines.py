"""The config lines that point ml-connector at the bundled simulators.

One source for both ends of the first hour: each simulator prints the lines that point at
it (and the ``secrets set`` commands for what it generated), and ``init --demo`` writes a
whole config made of the same lines, so the two always agree.
"""

from __future__ import annotations

SLACK_SIM_PORT = 8091
INTACCT_SIM_PORT = 8092
# The Slack simulator's default channels, and which Intacct message goes to which.
INTACCT_CHANNELS = {"gl": "finance-gl", "payments": "payments", "alerts": "alerts"}


def slack_lines(base_url: str) -> list[str]:
    return [
        "[slack.workspaces.default]",
        f'api_base_url = "{base_url}"',
        'bot_token = "slack.bot_token"',
    ]


def intacct_lines(url: str, sender_id: str, company_id: str, user_id: str) -> list[str]:
    return [
        "[connections.intacct]",
        'type = "intacct"',
        f'gateway_url = "{url}"',
        f'sender_id = "{sender_id}"',
        'sender_password = "intacct.sender_password"',
        f'company_id = "{company_id}"',
        f'user_id = "{user_id}"',
        'user_password = "intacct.user_password"',
    ]


def secret_command(name: str, value: str) -> str:
    return f"printf %s '{value}' | ml-connector secrets set {name}"


def demo_config(*, slack_port: int, intacct_port: int, channel_ids: dict[str, str]) -> str:
    """A config for the Intacct pipeline against `sim slack` and `sim intacct` on 127.0.0.1."""
    from ml_connector.sim.intacct.server import GATEWAY_PATH
    from ml_connector.sim.intacct.sessions import Credentials

    ids = Credentials.generate()  # the simulator's fixed ids; its passwords are its own
    slack = slack_lines(f"http://127.0.0.1:{slack_port}/api/")
    intacct = intacct_lines(
        f"http://127.0.0.1:{intacct_port}{GATEWAY_PATH}",
        ids.sender_id,
        ids.company_id,
        ids.user_id,
    )
    channels = ", ".join(f'{key} = "{channel_ids[key]}"' for key in INTACCT_CHANNELS)
    return "\n".join(
        [
            "# Written by `ml-connector init --demo`: every system here is a local simulator.",
            "# Start them (each prints the `secrets set` commands for what it generated):",
            f"#   ml-connector sim slack --port {slack_port}",
            f"#   ml-connector sim intacct --port {intacct_port}",
            "# then: ml-connector run intacct --wait   (or ml-connector serve)",
            'data_dir = "data"',
            'timezone = "America/Los_Angeles"  # the Intacct simulator\'s company zone',
            "",
            "[server]",
            'host = "127.0.0.1"',
            "port = 8080",
            "",
            *slack,
            "",
            *intacct,
            "",
            "[pipelines.intacct]",
            'type = "intacct"',
            'connection = "intacct"',
            f"channels = {{ {channels} }}",
            "post_empty = true",
            "",
        ]
    )


def demo_channel_ids() -> dict[str, str]:
    """The ids `sim slack` gives its default channels (they follow from its seed, 0)."""
    from ml_connector.sim.slack import DEFAULT_CHANNELS, SlackSimulator

    sim = SlackSimulator(DEFAULT_CHANNELS)
    return {key: sim.channel_id(name) for key, name in INTACCT_CHANNELS.items()}
