"""``python -m ml_connector_agent`` is ``ml-connector-agent``."""

import sys

from ml_connector_agent.cli import main

sys.exit(main())
