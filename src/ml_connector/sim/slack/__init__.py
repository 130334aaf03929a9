"""A strict simulator of the Slack Web API for tests, benchmarks and the demo.

async with SlackSimulator(channels=["payments"], post_interval=0.05) as sim:
    client = AsyncWebClient(token=sim.bot_token, base_url=sim.base_url)
"""

from ml_connector.sim.slack.faults import Fault, FaultKind, Faults
from ml_connector.sim.slack.server import DEFAULT_CHANNELS, SlackSimulator
from ml_connector.sim.slack.state import App

__all__ = ["DEFAULT_CHANNELS", "App", "Fault", "FaultKind", "Faults", "SlackSimulator"]
