"""Sage 100 (ex MAS 90/200): the connector's client for the on-premises agent, and the pipeline.

The folders, in the order a poll's data goes through them (they sort that way too):

- ``agent_client/``: the client for the agent (HTTP, TLS, wire contract, errors, credentials);
- ``collect/``: what each stream reads, the values of a record as read, where a stream stands;
- ``decide/``: what changed, GL lines as registers, and the events one poll means;
- ``route/``: which channels each event goes to, and the outbox rows of one poll;
- ``write/``: the Slack messages and digests, values shown as finance readers expect.

``pipeline.py`` runs them for one stream after another; ``state.py`` is what it keeps in the
database between runs (cursors, last-posted fingerprints).
"""
