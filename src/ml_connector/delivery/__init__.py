"""The durable path every Slack message takes: outbox, pacing, exactly-once, audit, replay.

Public API::

    enqueue(conn, ...)          add a message inside the caller's transaction (idempotent)
    DeliveryWorker              claims channels, paces, posts, retries, reconciles
    audit / replay functions    what happened to a message, and posting it again
"""

from ml_connector.delivery.outbox import OutboxItem, OutboxMessage, enqueue
from ml_connector.delivery.settings import DeliverySettings
from ml_connector.delivery.worker import DeliveryWorker

__all__ = ["DeliverySettings", "DeliveryWorker", "OutboxItem", "OutboxMessage", "enqueue"]
