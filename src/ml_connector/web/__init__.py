"""The HTTP face of ml-connector: Slack events and commands, OAuth, health, metrics, status."""

from ml_connector.web.app import create_app
from ml_connector.web.context import RunPipeline

__all__ = ["RunPipeline", "create_app"]
