"""The agent run beside Sage 100: a read-only HTTPS API over BOI, ODBC or demo data."""

__version__ = "0.1.0"
