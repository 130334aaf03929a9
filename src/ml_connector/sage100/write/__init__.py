"""Stage 4, write: the Slack text, one message per event (``messages``) or one per crowded
channel (``digests``), with values shown as readers expect (``display``) and links back to
the record (``record_links``).
"""
