"""Seed the working calendar from the chinese-calendar package."""

from django.core.management.base import BaseCommand

from routing.calendar import calendar_warnings, chinese_calendar_years, seed_from_chinese_calendar


class Command(BaseCommand):
    help = (
        "Create the working-calendar years and days that the chinese-calendar package knows and the table lacks. "
        "Running it again adds nothing; rows already in the table (and years entered by hand) are left as they are."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "years", nargs="*", type=int, help="only these years (default: every year the package knows)"
        )

    def handle(self, *args, years: list[int], verbosity: int, **options) -> None:
        progress = self.stdout.write if verbosity >= 1 else None
        summary = seed_from_chinese_calendar(years=years or None, progress=progress)
        if verbosity < 1:
            return
        known = chinese_calendar_years()
        self.stdout.write(
            self.style.SUCCESS(
                f"chinese-calendar knows {known[0]}–{known[-1]}: {len(summary.years_created)} years and "
                f"{summary.days_created} days added."
            )
        )
        for day in summary.differences:
            self.stdout.write(self.style.WARNING(f"  {day.isoformat()} differs from chinese-calendar; left as it is"))
        for message in calendar_warnings():
            self.stdout.write(self.style.WARNING(message))
