"""ml-connector: finance events from Sage Intacct and Sage 100 into Slack, exactly once."""

__version__ = "0.1.0"
