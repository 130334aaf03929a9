"""Sage 100 (ex MAS 90/200): the on-premises agent and the connector's client for it."""
