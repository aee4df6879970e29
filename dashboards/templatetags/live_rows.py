"""Template filters for the live pages, which render the same JSON-ready rows their scripts draw."""

import datetime

from django import template

register = template.Library()


@register.filter
def iso_datetime(value: str | None) -> datetime.datetime | None:
    """An ISO 8601 time from a live row, as a datetime the `date` and `timesince` filters take; None if empty or bad."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
