"""Report pages (定期通报): one day's or week's stored figures per department, a chart, CSV and XLSX exports.

Supervisors and administrators see every department; department staff only their own row;
anyone else gets 403. The page and both exports read the same stored rows.
"""

import csv
import datetime
import io
from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe
from openpyxl import Workbook
from openpyxl.styles import Font

from tickets import clock
from tickets.models import Role

from .calendar import SHANGHAI
from .models import REPORT_FIGURES, Report, ReportPeriod
from .reports import period_bounds, period_start, report_rows

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RATES = ("accepted_in_time_rate", "on_time_rate", "satisfaction_rate")


class ReportQuery(forms.Form):
    period = forms.ChoiceField(label=gettext_lazy("Period"), choices=ReportPeriod.choices, required=False)
    date = forms.DateField(
        label=gettext_lazy("Day (any day of the week)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        # A hotline's reports start this century: far dates are typing errors (and year 1 or 9999
        # has no previous or next period).
        validators=[MinValueValidator(datetime.date(2000, 1, 1)), MaxValueValidator(datetime.date(2099, 12, 31))],
    )


def _may_read_reports(user) -> bool:
    return user.is_superuser or user.role in (Role.SUPERVISOR, Role.ADMIN, Role.DEPARTMENT)


def reports_reader(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in supervisors, administrators and department staff; anyone else gets 403."""

    @wraps(view)
    @require_safe
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not _may_read_reports(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _query(request: HttpRequest) -> tuple[ReportQuery, str, datetime.date]:
    """The period asked for; by default yesterday, or last week (the last complete ones)."""
    form = ReportQuery(request.GET or None)
    valid = form.is_valid()
    period = (form.cleaned_data.get("period") if valid else "") or ReportPeriod.DAY
    day = form.cleaned_data.get("date") if valid else None
    if day is None:
        today = clock.now().astimezone(SHANGHAI).date()
        day = today - datetime.timedelta(days=7 if period == ReportPeriod.WEEK else 1)
    return form, period, period_start(period, day)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def _columns() -> list[str]:
    labels = {name: str(Report._meta.get_field(name).verbose_name) for name in REPORT_FIGURES}
    rates = [_("Accepted in time (%)"), _("Replied on time (%)"), _("Satisfaction rate (%)")]
    return [_("Department code"), _("Department"), _("Period"), _("First day"), *labels.values(), *rates]


def _export_rows(rows: list[Report]) -> list[list[object]]:
    """One line per stored row, the same numbers in both exports: counts, then rates in percent (one decimal)."""
    return [
        [
            row.department.code,
            str(row.department),
            row.get_period_display(),
            row.start.isoformat(),
            *(getattr(row, name) for name in REPORT_FIGURES),
            *(_percent(getattr(row, rate)) for rate in RATES),
        ]
        for row in rows
    ]


def _chart(rows: list[Report]) -> dict[str, object]:
    return {
        "departments": [str(row.department) for row in rows],
        "series": [
            {"name": _("Replied on time (%)"), "values": [_percent(row.on_time_rate) for row in rows]},
            {"name": _("Satisfaction rate (%)"), "values": [_percent(row.satisfaction_rate) for row in rows]},
        ],
        "axis": _("Percent"),
    }


@reports_reader
def reports_page(request: HttpRequest) -> HttpResponse:
    form, period, start = _query(request)
    rows = report_rows(request.user, period=period, start=start)
    _begin, end = period_bounds(period, start)
    step = datetime.timedelta(days=7 if period == ReportPeriod.WEEK else 1)
    context = {
        "form": form,
        "period": period,
        "period_label": ReportPeriod(period).label,
        "start": start,
        "last_day": (end - datetime.timedelta(days=1)).date(),
        "previous": (start - step).isoformat(),
        "next": (start + step).isoformat(),
        "rows": rows,
        "lines": _export_rows(rows),
        "figures": [(name, Report._meta.get_field(name).verbose_name) for name in REPORT_FIGURES],
        "chart": _chart(rows),
        "built_at": max((row.built_at for row in rows), default=None),
    }
    return render(request, "routing/reports.html", context)


def _filename(period: str, start: datetime.date, extension: str) -> str:
    return f"report-{period}-{start.isoformat()}.{extension}"


@reports_reader
def reports_export_csv(request: HttpRequest) -> HttpResponse:
    _form, period, start = _query(request)
    rows = report_rows(request.user, period=period, start=start)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads UTF-8 (Chinese department names) only with the byte-order mark
    writer = csv.writer(buffer)
    writer.writerow(_columns())
    writer.writerows([["" if value is None else value for value in line] for line in _export_rows(rows)])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(period, start, "csv")}"'
    return response


@reports_reader
def reports_export_xlsx(request: HttpRequest) -> HttpResponse:
    _form, period, start = _query(request)
    rows = report_rows(request.user, period=period, start=start)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{ReportPeriod(period).label} {start.isoformat()}"
    sheet.append(_columns())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in _export_rows(rows):
        sheet.append(line)
    sheet.freeze_panes = "C2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{_filename(period, start, "xlsx")}"'
    return response
