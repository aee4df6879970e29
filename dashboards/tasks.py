"""Periodic tasks of the dashboards: catch up on events the relay still owes."""

from celery import shared_task

from .publish import relay_pending


@shared_task(name="dashboards.tasks.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    return relay_pending()
