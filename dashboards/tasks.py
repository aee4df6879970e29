"""Periodic tasks of the dashboards: catch up on events the relay still owes, prune the relayed ones."""

import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .publish import outbox_prune, relay_pending


@shared_task(name="dashboards.tasks.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    return relay_pending()


@shared_task(name="dashboards.tasks.prune_outbox", ignore_result=True)
def prune_outbox() -> int:
    """Delete the events relayed more than HOTLINE_OUTBOX_RETENTION_HOURS ago (0 keeps them all)."""
    hours = settings.OUTBOX_RETENTION_HOURS
    if hours <= 0:
        return 0
    return outbox_prune(relayed_before=timezone.now() - datetime.timedelta(hours=hours))
