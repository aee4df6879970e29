"""System checks for routing: the working calendar must cover the years deadlines reach."""

from django.core import checks
from django.db import DatabaseError, transaction


@checks.register(checks.Tags.database)
def calendar_years_present(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn (routing.W001) when this year or the next one has no complete working calendar.

    Unlike Django's own database checks this one reads the default database even when the
    command asked for none: the warning is meant for whoever starts the hotline (runhotline,
    migrate, check), and a missing 2027 is not something to find out from a late deadline.
    Without the table (before migrate) or without a database there is nothing to say.
    """
    from .calendar import missing_calendar_years

    try:
        with transaction.atomic():
            missing = missing_calendar_years()
    except DatabaseError:
        return []
    if not missing:
        return []
    years = ", ".join(str(year) for year in missing)
    return [
        checks.Warning(
            f"No complete working calendar for {years}: deadlines falling in those years count Monday to Friday "
            "only, without statutory holidays and make-up working days.",
            hint="Enter the State Council's holiday schedule in the admin (Routing › Calendar years), or run "
            "`manage.py seed_calendar` after upgrading chinesecalendar.",
            id="routing.W001",
        )
    ]
