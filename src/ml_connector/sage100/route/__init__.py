"""Stage 3, route: which channels each event goes to (``routing``), then one poll's events
turned into outbox rows, crowded channels digested (``dispatch``).
"""
