"""Simulators of the external systems ml-connector talks to.

Each one is a real HTTP server that follows the service's public documentation and is at least
as strict as the real service, so tests, benchmarks and ``ml-connector demo`` exercise the same
code paths that run against production, including the failures production will show.
"""
