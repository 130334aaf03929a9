"""Building each configured pipeline from the config."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config, IntacctPipeline, Sage100Pipeline
from ml_connector.pipeline import Pipeline
from ml_connector.slack.mrkdwn import set_link_hosts
from ml_connector.vault import Vault


def build_pipelines(config: Config, engine: AsyncEngine, vault: Vault) -> dict[str, Pipeline]:
    # Messages link only to the hosts this config allows (see slack.mrkdwn).
    set_link_hosts(config.allowed_link_hosts())
    # Imported here so that a service without one kind of pipeline never loads its code.
    built: dict[str, Pipeline] = {}
    agents = None
    for name, settings in config.pipelines.items():
        if isinstance(settings, IntacctPipeline):
            from ml_connector.intacct.pipeline import IntacctPipeline as IntacctRunner

            built[name] = IntacctRunner(name, config)
        elif isinstance(settings, Sage100Pipeline):
            from ml_connector.sage100.agent_client.agents import AgentClients
            from ml_connector.sage100.pipeline import Sage100Pipeline as Sage100Runner

            # Every pipeline polling one agent shares its client and connections.
            agents = agents or AgentClients(config)
            built[name] = Sage100Runner(name, config, agents=agents)
    return built
