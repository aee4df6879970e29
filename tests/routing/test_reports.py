"""Reports (定期通报): figures on a known data set, stored idempotently, page, CSV and XLSX, isolation."""

import csv
import datetime
import io
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.core.management import call_command

from routing.calendar import calendar_cache_clear
from routing.callbacks import callback_record
from routing.models import REPORT_FIGURES, Report, ReportPeriod
from routing.reports import reports_build, reports_build_recent
from routing.tasks import build_reports
from tickets import actions, clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY, TUESDAY, WEDNESDAY, THURSDAY = (datetime.date(2026, 11, d) for d in (23, 24, 25, 26))
BUILT_AT = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI)

pytestmark = pytest.mark.django_db


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _fresh_caches():
    calendar_cache_clear()
    yield
    calendar_cache_clear()


@pytest.fixture
def city(operator, supervisor, water, housing, water_staff, housing_staff, district):
    """Six tickets of the week of 23 November 2026, every step at a known moment (see each comment)."""

    def new(moment: datetime.datetime, kind: str, **fields):
        with clock.at(moment):
            return actions.ticket_create(actor=operator, kind=kind, description="测试诉求", district=district, **fields)

    def step(moment: datetime.datetime, action, ticket, **kwargs):
        with clock.at(moment):
            return action(ticket, **kwargs)

    # T1 complaint: dispatched Mon 10:00, accepted Tue 09:00 (sign-for until Tue 10:00), replied Tue 15:00
    # (due Mon 30th), satisfied Tue 16:00.
    t1 = new(at(MONDAY, 9, 50), "complaint")
    t1 = step(at(MONDAY, 10), actions.ticket_dispatch, t1, actor=operator, department=water)
    t1 = step(at(TUESDAY, 9), actions.ticket_accept, t1, actor=water_staff)
    t1 = step(at(TUESDAY, 15), actions.ticket_reply, t1, actor=water_staff, reply="已修复")
    step(at(TUESDAY, 16), callback_record, t1, actor=operator, result="satisfied")

    # T2 complaint: dispatched Tue 09:00, accepted late on Wed 11:00 (sign-for until Wed 09:00).
    t2 = new(at(TUESDAY, 8, 50), "complaint")
    t2 = step(at(TUESDAY, 9), actions.ticket_dispatch, t2, actor=operator, department=water)
    step(at(WEDNESDAY, 11), actions.ticket_accept, t2, actor=water_staff)

    # T3 help request (one working day): dispatched Mon 09:00, accepted Mon 10:00, due Tue 09:00, replied late on
    # Tue 12:00; unsatisfied Tue 14:00, so reopened, due Wed 14:00, and never touched again (overdue on Wednesday).
    t3 = new(at(MONDAY, 8, 50), "help")
    t3 = step(at(MONDAY, 9), actions.ticket_dispatch, t3, actor=operator, department=water)
    t3 = step(at(MONDAY, 10), actions.ticket_accept, t3, actor=water_staff)
    t3 = step(at(TUESDAY, 12), actions.ticket_reply, t3, actor=water_staff, reply="已处理")
    step(at(TUESDAY, 14), callback_record, t3, actor=operator, result="unsatisfied", note="仍然停水")

    # T4 complaint: dispatched to water Tue 10:00, returned 11:00; dispatched to housing 12:00, accepted 13:00,
    # extension approved 15:00.
    t4 = new(at(TUESDAY, 9, 50), "complaint")
    t4 = step(at(TUESDAY, 10), actions.ticket_dispatch, t4, actor=operator, department=water)
    t4 = step(at(TUESDAY, 11), actions.ticket_return, t4, actor=water_staff, reason="非本单位职责")
    t4 = step(at(TUESDAY, 12), actions.ticket_dispatch, t4, actor=operator, department=housing)
    t4 = step(at(TUESDAY, 13), actions.ticket_accept, t4, actor=housing_staff)
    until = t4.deadline + datetime.timedelta(days=7)
    t4 = step(at(TUESDAY, 14), actions.ticket_request_extension, t4, actor=housing_staff, until=until, reason="勘查")
    step(at(TUESDAY, 15), actions.ticket_approve_extension, t4, actor=supervisor)

    # T5 help request: dispatched Tue 08:00, due Wed 08:00, never accepted.
    t5 = new(at(TUESDAY, 7, 50), "help")
    step(at(TUESDAY, 8), actions.ticket_dispatch, t5, actor=operator, department=water)

    # T6 consultation answered on the call: no department involved, counted nowhere.
    t6 = new(at(TUESDAY, 10), "consultation")
    step(at(TUESDAY, 10, 5), actions.ticket_close_first_contact, t6, actor=operator, answer="已解答")
    return {"water": water, "housing": housing}


def figures(report: Report) -> dict[str, int]:
    return {name: getattr(report, name) for name in REPORT_FIGURES if getattr(report, name)}


@pytest.fixture
def built(city):
    with time_machine.travel(BUILT_AT, tick=False):
        reports_build(first=MONDAY, last=THURSDAY)
    return city


# Figures ---------------------------------------------------------------------------------------


def test_the_figures_of_a_known_week(built):
    water, housing = built["water"], built["housing"]
    row = lambda period, start, dept: Report.objects.get(period=period, start=start, department=dept)  # noqa: E731

    assert figures(row("day", MONDAY, water)) == {"received": 2, "accepted": 1, "accepted_in_time": 1}
    assert figures(row("day", TUESDAY, water)) == {
        "received": 3,  # T2, T4, T5
        "accepted": 1,  # T1, within its sign-for window
        "accepted_in_time": 1,
        "replied": 2,  # T1 on time, T3 late
        "replied_on_time": 1,
        "overdue": 1,  # T3's deadline, Tue 09:00
        "returned": 1,  # T4
        "reopened": 1,  # T3
        "satisfied": 1,  # T1
        "unsatisfied": 1,  # T3
    }
    assert figures(row("day", TUESDAY, housing)) == {
        "received": 1,
        "accepted": 1,
        "accepted_in_time": 1,
        "extensions": 1,
    }
    # T2 accepted late; T5 due Wed 08:00 and T3 reopened, due Wed 14:00: both passed without a reply.
    assert figures(row("day", WEDNESDAY, water)) == {"accepted": 1, "overdue": 2}
    assert figures(row("day", THURSDAY, water)) == {}
    assert figures(row("week", MONDAY, water)) == {
        "received": 5,
        "accepted": 3,
        "accepted_in_time": 2,
        "replied": 2,
        "replied_on_time": 1,
        "overdue": 3,
        "returned": 1,
        "reopened": 1,
        "satisfied": 1,
        "unsatisfied": 1,
    }
    tuesday = row("day", TUESDAY, water)
    assert (tuesday.satisfaction_rate, tuesday.on_time_rate, tuesday.accepted_in_time_rate) == (0.5, 0.5, 1.0)
    assert row("day", THURSDAY, water).satisfaction_rate is None


def test_a_deadline_still_ahead_at_build_time_is_not_counted_overdue(city):
    with time_machine.travel(at(WEDNESDAY, 9), tick=False):  # T5 is overdue (08:00), T3's reopen not yet (14:00)
        reports_build(first=WEDNESDAY, last=WEDNESDAY, periods=[ReportPeriod.DAY])

    assert Report.objects.get(period="day", start=WEDNESDAY, department=city["water"]).overdue == 1


def test_building_again_rewrites_the_same_rows(built):
    before = {(r.period, r.start, r.department_id): figures(r) for r in Report.objects.all()}

    with time_machine.travel(BUILT_AT + datetime.timedelta(hours=1), tick=False):
        written = reports_build(first=MONDAY, last=THURSDAY)

    after = {(r.period, r.start, r.department_id): figures(r) for r in Report.objects.all()}
    assert after == before
    assert written == Report.objects.count() == (4 + 1) * 2  # four days and one week, two departments


def test_every_active_department_gets_a_row_even_with_nothing_to_report(built):
    assert Report.objects.filter(period="day", start=THURSDAY).count() == 2


def test_the_command_builds_a_range_and_reports_its_progress(city):
    out = io.StringIO()
    with time_machine.travel(BUILT_AT, tick=False):
        call_command("build_reports", "--from", "2026-11-23", "--to", "2026-11-24", stdout=out)

    text = out.getvalue()
    assert "2026-11-23: 2" in text and "2026-11-24: 2" in text
    assert "6 report rows written" in text  # two days and their week, two departments each
    assert Report.objects.get(period="day", start=TUESDAY, department=city["water"]).received == 3


def test_the_periodic_task_rebuilds_recent_periods_and_catches_up_missing_days(city):
    with time_machine.travel(datetime.datetime(2026, 12, 8, 0, 30, tzinfo=SHANGHAI), tick=False):
        build_reports.apply(throw=True)
        days = set(Report.objects.filter(period="day").values_list("start", flat=True))
        # Fourteen days back (an outage) up to today; the weeks of 30 November and 7 December.
        assert {datetime.date(2026, 11, 24), datetime.date(2026, 12, 7), datetime.date(2026, 12, 8)} <= days
        assert set(Report.objects.filter(period="week").values_list("start", flat=True)) >= {
            datetime.date(2026, 11, 30),
            datetime.date(2026, 12, 7),
        }
        assert Report.objects.get(period="day", start=TUESDAY, department=city["water"]).received == 3
        count = Report.objects.count()
        reports_build_recent()
        assert Report.objects.count() == count


# Page and exports ------------------------------------------------------------------------------


def page(client, user, **params):
    client.force_login(user)
    return client.get("/reports/", {"period": "day", "date": "2026-11-24", **params})


def download(client, user, extension: str, **params):
    client.force_login(user)
    return client.get(f"/reports/export.{extension}", {"period": "day", "date": "2026-11-24", **params})


def csv_rows(response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def expected_line(report: Report) -> list[object]:
    rates = [report.accepted_in_time_rate, report.on_time_rate, report.satisfaction_rate]
    return [
        report.department.code,
        *(getattr(report, name) for name in REPORT_FIGURES),
        *(None if rate is None else round(rate * 100, 1) for rate in rates),
    ]


def test_the_page_shows_every_department_and_the_chart_to_a_supervisor(client, built, supervisor):
    response = page(client, supervisor)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-department="water"' in html and 'data-department="housing"' in html
    assert "/static/vendor/plotly/plotly.min.js" in html and 'id="report-chart-data"' in html
    assert "cdn" not in html.lower()
    chart = response.context["chart"]
    # Ranked on on-time replies: water (50 %) before housing (nothing replied).
    assert chart["departments"] == ["市水务局", "市住房和城乡建设局"]
    assert [s["values"] for s in chart["series"]] == [[50.0, None], [50.0, None]]


def test_the_week_page_shows_the_week_containing_the_chosen_day(client, built, supervisor):
    response = page(client, supervisor, period="week", date="2026-11-26")

    assert response.context["start"] == MONDAY
    assert {r.department.code: r.received for r in response.context["rows"]} == {"housing": 1, "water": 5}


@pytest.mark.parametrize(
    ("period", "date"), [("day", "not-a-date"), ("day", "0001-01-01"), ("day", "9999-12-31"), ("week", "0001-01-03")]
)
def test_a_bad_date_falls_back_to_the_default_period(client, built, supervisor, period, date):
    with time_machine.travel(datetime.datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI), tick=False):
        response = page(client, supervisor, period=period, date=date)

    assert response.status_code == 200 and response.context["start"] <= TUESDAY
    assert "无法识别该日期" in response.content.decode()


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_the_downloads_carry_the_stored_figures(client, built, supervisor, extension):
    response = download(client, supervisor, extension)

    assert response.status_code == 200
    assert f'filename="report-day-2026-11-24.{extension}"' in response["Content-Disposition"]
    header, *lines = csv_rows(response) if extension == "csv" else xlsx_rows(response)
    assert len(header) == 4 + len(REPORT_FIGURES) + 3
    # Ranked: water replied on time to half of its tickets; housing had nothing to reply to.
    stored = sorted(
        Report.objects.filter(period="day", start=TUESDAY).select_related("department"),
        key=lambda report: report.department.code != "water",
    )
    got = [[line[0], *line[4:]] for line in lines]
    want = [expected_line(report) for report in stored]
    if extension == "csv":
        want = [["" if value is None else str(value) for value in line] for line in want]
    assert got == want


def test_department_staff_see_only_their_own_row_on_the_page_and_in_the_downloads(client, built, water_staff, housing):
    html = page(client, water_staff).content.decode()
    assert 'data-department="water"' in html
    assert 'data-department="housing"' not in html and housing.name not in html

    csv_lines = csv_rows(download(client, water_staff, "csv"))[1:]
    xlsx_lines = xlsx_rows(download(client, water_staff, "xlsx"))[1:]
    assert [line[0] for line in csv_lines] == [line[0] for line in xlsx_lines] == ["water"]


def test_operators_may_not_read_reports_and_anonymous_users_are_sent_to_log_in(client, built, operator):
    assert page(client, operator).status_code == 403
    assert download(client, operator, "csv").status_code == 403
    client.logout()
    response = client.get("/reports/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_period_never_built_says_so(client, built, supervisor):
    response = page(client, supervisor, date="2026-01-05")

    assert response.status_code == 200 and not response.context["rows"]
    assert "build_reports" in response.content.decode()


def test_the_admin_lists_the_stored_reports(client, built, admin_user):
    client.force_login(admin_user)

    response = client.get("/admin/routing/report/", {"period__exact": "day"})

    assert response.status_code == 200 and "50.0%" in response.content.decode()


def test_the_reports_page_is_in_the_navigation_for_those_who_may_read_it(client, supervisor, water_staff, operator):
    for user, shown in ((supervisor, True), (water_staff, True), (operator, False)):
        client.force_login(user)
        landing = client.get("/", follow=True)
        assert ('href="/reports/"' in landing.content.decode()) is shown
