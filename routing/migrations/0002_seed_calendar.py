"""Seed the working calendar from chinese-calendar (a frozen copy of routing.calendar.seed_from_chinese_calendar)."""

from django.db import migrations


def seed(apps, schema_editor):
    import chinese_calendar
    from chinese_calendar.constants import Holiday

    CalendarYear = apps.get_model("routing", "CalendarYear")
    CalendarDay = apps.get_model("routing", "CalendarDay")
    db = schema_editor.connection.alias

    def chinese(english):
        try:
            return Holiday(english).chinese
        except ValueError:
            return english

    package = {}
    for day, english in chinese_calendar.holidays.items():
        package[day] = (False, chinese(english))
    for day, english in chinese_calendar.workdays.items():
        package[day] = (True, f"{chinese(english)}调休上班")
    note = f"chinese-calendar {chinese_calendar.__version__}"
    for year in sorted({day.year for day in package}):
        row, created = CalendarYear.objects.using(db).get_or_create(
            year=year,
            defaults={"source": "seeded", "is_complete": True, "note": note},
        )
        if not created:
            continue  # a year in the table is left as it is
        CalendarDay.objects.using(db).bulk_create(
            CalendarDay(year=row, date=day, is_working_day=working, name=name)
            for day, (working, name) in sorted(package.items())
            if day.year == year
        )


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop, elidable=False)]
