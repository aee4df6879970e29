"""The operator view's own queue: drafts, tickets waiting for callback, and the open tickets the console follows."""

import datetime
from typing import Any

from dashboards import selectors
from dashboards.snapshots import operator_drafts_shared, snapshot_part, ticket_row
from tickets import clock
from tickets.models import User


@snapshot_part("operator", "queue")
def operator_queue(user: User) -> dict[str, Any]:
    """The operator's drafts and callbacks (rows as the API's ticket) and the numbers of their other open tickets.

    The console moves a ticket between the lists when an event about one of these numbers arrives:
    a draft registered, a followed ticket replied (waiting for callback), a callback recorded.
    Callback rows add `replied_at` and `callback_due_at`.
    """
    now = clock.now()
    callbacks = []
    for ticket in selectors.operator_callbacks(user):
        row = ticket_row(ticket, user, now=now)
        row["replied_at"] = _iso(ticket.replied_at)
        row["callback_due_at"] = _iso(ticket.callback_due_at)
        callbacks.append(row)
    return {
        "drafts": [ticket_row(ticket, user, now=now) for ticket in operator_drafts_shared(user)],
        "callbacks": callbacks,
        "watching": selectors.operator_watching(user),
    }


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
