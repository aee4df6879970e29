"""Time limits for dispatched tickets.

Until the working-calendar table arrives (holidays and make-up days), working days are
Monday to Friday in Asia/Shanghai.
"""

import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Working days per kind; urgent tickets get hours instead, whatever their kind.
DEFAULT_LIMIT_DAYS = {
    "consultation": 1,
    "help": 1,
    "complaint": 5,
    "report": 5,
    "suggestion": 10,
    "praise": 5,
}
URGENT_LIMIT = datetime.timedelta(hours=2)


def add_working_days(start: datetime.datetime, days: int) -> datetime.datetime:
    """The same local time `days` working days after `start` (Saturdays and Sundays skipped)."""
    local = start.astimezone(SHANGHAI)
    while days > 0:
        local += datetime.timedelta(days=1)
        if local.weekday() < 5:
            days -= 1
    return local


def deadline_for(*, kind: str, urgency: str, start: datetime.datetime) -> datetime.datetime:
    if urgency == "urgent":
        return start + URGENT_LIMIT
    return add_working_days(start, DEFAULT_LIMIT_DAYS.get(kind, 5))
