"""Periodic Celery tasks of routing: thin wrappers around the clocks' sweep and the report builder.

Both are scheduled in CELERY_BEAT_SCHEDULE (Celery beat in production, the in-process scheduler
of `manage.py runhotline` in the embedded mode). Each is safe to run twice or concurrently.
"""

from dataclasses import asdict

from celery import shared_task

from .clocks import clocks_sweep
from .reports import reports_build_recent


@shared_task(name="routing.tasks.sweep_clocks", ignore_result=True)
def sweep_clocks() -> dict[str, int]:
    """Reminders, overdue escalation and callbacks due, for everything that fell due by now."""
    return asdict(clocks_sweep())


@shared_task(name="routing.tasks.build_reports", ignore_result=True)
def build_reports() -> int:
    """Rebuild the recent daily and weekly reports (定期通报)."""
    return reports_build_recent()
