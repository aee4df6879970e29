"""Build the daily and weekly reports (定期通报) for a range of days; the periodic task does the recent ones."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from routing.calendar import SHANGHAI
from routing.models import ReportPeriod
from routing.reports import reports_build
from tickets import clock


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}")


class Command(BaseCommand):
    help = (
        "Compute and store the per-department reports of every day and week from --from to --to "
        "(default: yesterday and the week containing it). Running it again rewrites the same rows."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="first", type=_date, help="first day, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--to", dest="last", type=_date, help="last day, YYYY-MM-DD (default: --from)")
        parser.add_argument(
            "--period",
            choices=[*ReportPeriod.values, "both"],
            default="both",
            help="days, weeks or both (default)",
        )

    def handle(self, *args, first: datetime.date | None, last: datetime.date | None, period: str, **options) -> None:
        yesterday = clock.now().astimezone(SHANGHAI).date() - datetime.timedelta(days=1)
        first = first or yesterday
        last = last or first
        if last < first:
            raise CommandError("--to is before --from")
        periods = ReportPeriod.values if period == "both" else [period]
        verbose = options["verbosity"] >= 1
        progress = self.stdout.write if verbose else None
        written = reports_build(first=first, last=last, periods=periods, progress=progress)
        if verbose:
            self.stdout.write(self.style.SUCCESS(f"{written} report rows written for {first} to {last}."))
