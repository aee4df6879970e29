"""Template context for every page: the working-calendar warning supervisors must act on."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tickets.models import Role


def calendar_warnings(request: HttpRequest) -> dict:
    """`calendar_warnings`: messages for supervisors and administrators when next year's calendar is missing.

    Lazy, so pages that do not show it (and users who are not supervisors) cost no query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not (user.is_superuser or user.role in (Role.SUPERVISOR, Role.ADMIN)):
        return {}

    def messages() -> list[str]:
        from .calendar import calendar_warnings as warnings

        return warnings()

    return {"calendar_warnings": SimpleLazyObject(messages)}
