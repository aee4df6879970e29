"""Open311's Celery tasks: thin wrappers that create a batch request's ticket, catch up, prune the log.

`sweep` and `prune_log` are in CELERY_BEAT_SCHEDULE (Celery beat in production, the embedded
scheduler of `manage.py runhotline` otherwise). Each is safe to run twice or concurrently.
"""

from celery import shared_task

from .actions import request_log_prune, service_request_ticket_try, service_requests_pending_create


@shared_task(name="open311.tasks.create_ticket", ignore_result=True)
def create_ticket(request_id: int) -> bool:
    """Create the ticket of one batch request (queued when the request was posted)."""
    return service_request_ticket_try(request_id)


@shared_task(name="open311.tasks.sweep", ignore_result=True)
def sweep() -> int:
    """Create the tickets of batch requests whose task was lost (a worker or Redis restarted)."""
    return service_requests_pending_create()


@shared_task(name="open311.tasks.prune_log", ignore_result=True)
def prune_log() -> int:
    """Delete request log entries older than OPEN311_LOG_DAYS."""
    return request_log_prune()
