"""The connector's client for the Sage 100 agent: HTTP calls, TLS, the wire contract, errors.

``credentials.agent_client`` builds one from a ``[connections.X]`` of type sage100; nothing here
knows the pipeline or Slack.
"""
