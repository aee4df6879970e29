"""The embedded mode's stand-in for Celery beat: the same schedule, run inside the web process.

It reads CELERY_BEAT_SCHEDULE and asks Celery's own schedule objects when each entry is due,
so intervals and crontabs mean exactly what they mean to beat; tasks run in a worker thread.
"""

import asyncio
import datetime
import logging

from asgiref.sync import sync_to_async
from celery.schedules import schedule as interval_schedule
from django.conf import settings
from django.utils import timezone

from .celery import app

logger = logging.getLogger(__name__)


def _as_schedule(value):
    if isinstance(value, int | float | datetime.timedelta):
        return interval_schedule(run_every=value, app=app)
    return value


def _run(name: str) -> None:
    try:
        app.tasks[name].apply(throw=True)
    except Exception:  # one failing job must not stop the others
        logger.exception("periodic task %s failed", name)


async def run_forever(tick: float = 1.0) -> None:
    """Run every CELERY_BEAT_SCHEDULE entry when due, until cancelled."""
    # Importing the task modules runs Celery's Django fixup (system checks, some reading the
    # database): do it in a worker thread, not on the event loop.
    await sync_to_async(app.loader.import_default_modules, thread_sensitive=False)()
    entries = {
        key: (spec["task"], _as_schedule(spec["schedule"])) for key, spec in settings.CELERY_BEAT_SCHEDULE.items()
    }
    last_run = {key: timezone.now() for key in entries}
    logger.info("embedded scheduler running %d periodic task(s)", len(entries))
    while True:
        for key, (task_name, sched) in entries.items():
            due, _next = sched.is_due(last_run[key])
            if due:
                last_run[key] = timezone.now()
                await sync_to_async(_run, thread_sensitive=False)(task_name)
        await asyncio.sleep(tick)
