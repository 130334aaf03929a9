"""Sage Intacct: the GL and payments pipeline, and below it the XML gateway client it reads with.

``gateway/`` is the client (requests, parsing, sessions, transport), usable on its own; the
modules here are the pipeline built on its public names: the window a run reads
(``run_window``), the reads, the summaries and alerts judged from them, their Slack messages,
the outbox items (``outputs``), what is kept between runs (``state``), one run
(``pipeline``), and Intacct's own triggers with the targeted read they start.
"""
