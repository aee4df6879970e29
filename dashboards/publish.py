"""The one event publisher: the only code outside consumers that touches the channel layer.

`publish()` writes an outbox row inside the caller's transaction and asks for a relay on
commit. `relay_pending()` sends owed rows to their groups in sequence order; if the layer
(Redis) is unreachable it logs and stops, and the periodic `relay_outbox` task retries, so a
save never fails because Redis is down and no event is lost.
"""

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from .models import OutboxEvent

logger = logging.getLogger(__name__)

SUPERVISORS = "supervisors"
OPERATORS = "operators"
MESSAGE_TYPE = "hotline.event"
RELAY_BATCH = 200


def department_group(department_id: int) -> str:
    return f"department.{department_id}"


def operator_group(user_id: int) -> str:
    return f"operator.{user_id}"


def publish(event_type: str, payload: dict[str, Any], groups: Iterable[str]) -> OutboxEvent:
    """Record an event for `groups`; it reaches the channel layer after the transaction commits.

    Payloads carry ids and changed fields, never personal data.
    """
    event = OutboxEvent.objects.create(type=event_type, payload=payload, groups=sorted(set(groups)))
    transaction.on_commit(relay_pending, robust=True)
    return event


def relay_pending(limit: int = RELAY_BATCH) -> int:
    """Send owed events to the channel layer in sequence order; return how many were sent."""
    layer = get_channel_layer()
    if layer is None:
        return 0
    sent = 0
    while True:
        batch = list(OutboxEvent.objects.filter(relayed_at__isnull=True).order_by("id")[:limit])
        if not batch:
            return sent
        for event in batch:
            message = {"type": MESSAGE_TYPE, "seq": event.id, "event": event.type, "payload": event.payload}
            try:
                for group in event.groups:
                    async_to_sync(layer.group_send)(group, message)
            except Exception as exc:  # the layer is down: keep the row for the next sweep
                logger.warning("event relay paused at seq %s: %s", event.id, exc)
                return sent
            # Conditional update: a concurrent relay that already sent this row wins.
            sent += OutboxEvent.objects.filter(id=event.id, relayed_at__isnull=True).update(relayed_at=timezone.now())
        if len(batch) < limit:
            return sent
