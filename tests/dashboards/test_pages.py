"""The pages: login and language, each role's landing page, the ticket page, masking and department scoping."""

import datetime

import pytest
import time_machine
from django.conf import settings

from tests.conftest import VALID_ID
from tests.factories import UserFactory
from tickets import actions, clock
from tickets.models import Role, Status

MASKED_ID = "110105********002X"
CALLER = "13812345678"
CALLER_MASKED = "138****5678"
CITIZEN_PHONE_MASKED = "138****8000"  # the citizen fixture's 13800138000
UNMASKED = (VALID_ID, CALLER, "+86" + CALLER, "13800138000", "+8613800138000")
SETLANG_FORM = 'action="/i18n/setlang/"'


def html(response) -> str:
    return response.content.decode()


def assert_no_unmasked_data(content: str) -> None:
    for value in UNMASKED:
        assert value not in content


# Login and language -----------------------------------------------------------------------------


def test_login_page_is_in_chinese_by_default(client, db):
    content = html(client.get("/login/"))
    assert '<html lang="zh-hans">' in content
    assert "12345 政务服务便民热线" in content
    assert "登录" in content
    assert "用户名" in content and "密码" in content
    assert "Sign in" not in content


def test_login_page_is_in_english_with_accept_language(client, db):
    content = html(client.get("/login/", HTTP_ACCEPT_LANGUAGE="en"))
    assert '<html lang="en">' in content
    assert "12345 Government Service Hotline" in content
    assert "Sign in" in content
    assert "Username" in content


def test_login_page_is_in_english_with_the_language_cookie(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Sign in" in html(client.get("/login/"))


def test_set_language_switches_to_english_and_back(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302 and response.url == "/login/"
    assert "Sign in" in html(client.get("/login/"))
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    assert "登录" in html(client.get("/login/"))


def test_login_error_is_translated(client, operator):
    response = client.post("/login/", {"username": "operator", "password": "wrong"})
    assert response.status_code == 200
    assert "区分大小写" in html(response)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post("/login/", {"username": "operator", "password": "wrong"})
    assert "Please enter a correct username and password" in html(response)


def test_login_leads_to_the_landing_page_of_the_role(client, operator):
    response = client.post("/login/", {"username": "operator", "password": "pw-for-tests-1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/operator/"
    assert "话务员工作台" in html(response)


def test_logout_is_a_post_form_on_every_signed_in_page(client, operator):
    client.force_login(operator)
    content = html(client.get("/operator/"))
    assert 'action="/logout/" method="post"' in content
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/operator/").status_code == 302


def test_language_switch_form_is_on_every_page(client, operator, supervisor, water_staff, admin_user, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    pages = [
        (None, "/login/"),
        (operator, "/operator/"),
        (operator, "/supervisor/"),  # the 403 page
        (supervisor, "/supervisor/"),
        (admin_user, "/supervisor/"),
        (water_staff, "/department/"),
        (water_staff, f"/tickets/{ticket.number}/"),
    ]
    for user, url in pages:
        client.logout()
        if user:
            client.force_login(user)
        content = html(client.get(url))
        assert SETLANG_FORM in content, url
        assert f'name="next" value="{url}"' in content, url
        assert 'name="language" value="en"' in content and 'name="language" value="zh-hans"' in content, url


# Home and role checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_fixture", "landing"),
    [
        ("operator", "/operator/"),
        ("supervisor", "/supervisor/"),
        ("water_staff", "/department/"),
        ("admin_user", "/supervisor/"),
    ],
)
def test_home_redirects_by_role(client, request, user_fixture, landing):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get("/")
    assert response.status_code == 302 and response.url == landing
    assert client.get(landing).status_code == 200


def test_superuser_without_admin_role_lands_on_the_supervisor_page(client, db):
    client.force_login(UserFactory(role=Role.OPERATOR, is_superuser=True, is_staff=True))
    assert client.get("/").url == "/supervisor/"


def test_pages_need_a_login(client, db):
    for url in ("/", "/operator/", "/supervisor/", "/department/", "/tickets/2024010100001/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/?next="), url


@pytest.mark.parametrize(
    ("user_fixture", "url"),
    [
        ("operator", "/supervisor/"),
        ("operator", "/department/"),
        ("supervisor", "/operator/"),
        ("supervisor", "/department/"),
        ("water_staff", "/operator/"),
        ("water_staff", "/supervisor/"),
    ],
)
def test_landing_pages_refuse_other_roles(client, request, user_fixture, url):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get(url)
    assert response.status_code == 403
    assert "无权" in html(response)


def test_pages_do_not_accept_writes(client, supervisor, make_ticket):
    ticket = make_ticket(Status.REGISTERED)
    client.force_login(supervisor)
    for url in ("/supervisor/", f"/tickets/{ticket.number}/"):
        assert client.post(url).status_code == 405


def test_admin_link_only_for_supervisors_and_administrators(client, supervisor, admin_user, operator):
    client.force_login(operator)
    assert 'href="/admin/"' not in html(client.get("/operator/"))
    for user in (supervisor, admin_user):
        client.force_login(user)
        assert 'href="/admin/"' in html(client.get("/supervisor/"))


def test_supervisors_are_warned_on_every_page_when_next_years_calendar_is_missing(client, supervisor, operator):
    from routing.models import CalendarYear

    with time_machine.travel(datetime.datetime(2026, 11, 28, 2, 0, tzinfo=datetime.UTC), tick=False):
        CalendarYear.objects.filter(year__gte=2027).delete()
        client.force_login(supervisor)
        assert "尚未录入 2027 年工作日历" in html(client.get("/supervisor/"))
        client.force_login(operator)
        assert "2027 年工作日历" not in html(client.get("/operator/"))
        CalendarYear.objects.create(year=2027, is_complete=True)
        client.force_login(supervisor)
        assert "2027 年工作日历" not in html(client.get("/supervisor/"))


# Landing pages ----------------------------------------------------------------------------------


def test_operator_page_lists_drafts_and_registered_tickets_masked(client, operator, citizen, make_ticket):
    draft = make_ticket(Status.DRAFT, caller_number=CALLER, title="通话中草稿")
    registered = make_ticket(Status.REGISTERED, citizen=citizen, caller_number=CALLER, title="已受理来电")
    someone_elses = actions.ticket_create(actor=UserFactory(role=Role.OPERATOR), title="别人的工单", description="x")
    client.force_login(operator)
    response = client.get("/operator/")
    content = html(response)
    assert response.context["drafts"] == [draft]
    assert registered in response.context["registered"]
    assert draft.number in content and registered.number in content
    assert someone_elses.number not in content
    assert CALLER_MASKED in content and MASKED_ID in content
    assert 'href="/api/docs/"' in content
    assert_no_unmasked_data(content)


def test_supervisor_page_shows_counts_overdue_returned_and_extensions(client, supervisor, make_ticket):
    late = make_ticket(Status.ACCEPTED, title="逾期工单")
    returned = make_ticket(Status.RETURNED)
    extension = make_ticket(Status.EXTENSION_REQUESTED)
    make_ticket(Status.REGISTERED)
    client.force_login(supervisor)
    with time_machine.travel(late.deadline + datetime.timedelta(hours=1)):
        response = client.get("/supervisor/")
    counts = {status: count for status, _label, count in response.context["status_counts"]}
    assert counts[Status.ACCEPTED] == 1 and counts[Status.RETURNED] == 1 and counts[Status.REGISTERED] == 1
    assert counts[Status.EXTENSION_REQUESTED] == 1 and counts[Status.CLOSED] == 0
    # The extension request's deadline has passed too: both are overdue.
    assert set(response.context["overdue"]) == {late, extension}
    assert response.context["returned"] == [returned]
    assert response.context["extensions"] == [extension]
    content = html(response)
    for ticket in (late, returned, extension):
        assert ticket.number in content
    assert "已超期" in content and "is-overdue" in content


def test_department_page_lists_own_and_assisting_tickets_with_time_left(
    client, operator, water, housing, water_staff, make_ticket
):
    own = make_ticket(Status.ACCEPTED, title="本单位工单")
    assisting = actions.ticket_dispatch(
        make_ticket(Status.REGISTERED), actor=operator, department=housing, assisting=[water]
    )
    other = actions.ticket_dispatch(make_ticket(Status.REGISTERED), actor=operator, department=housing)
    undispatched = make_ticket(Status.REGISTERED)
    closed = make_ticket(Status.CLOSED)
    client.force_login(water_staff)
    response = client.get("/department/")
    content = html(response)
    assert own.number in content and assisting.number in content
    for hidden in (other, undispatched, closed):
        assert hidden.number not in content
    rows = content.split("</thead>", 1)[1]  # the table's opening tag carries the live script's labels
    assert "主办" in rows and "协办" in rows
    assert "剩余" in rows and "已超期" not in rows
    assert_no_unmasked_data(content)

    with time_machine.travel(own.deadline + datetime.timedelta(days=1)):
        content = html(client.get("/department/"))
    assert "已超期" in content.split("</thead>", 1)[1] and "is-overdue" in content


# Live updates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_fixture", "url", "script"),
    [
        ("operator", "/operator/", "hotline/pages/operator.js"),
        ("supervisor", "/supervisor/", "hotline/pages/supervisor.js"),
        ("water_staff", "/department/", "hotline/pages/department.js"),
    ],
)
def test_role_pages_load_live_updates_and_carry_the_offline_banner(client, request, user_fixture, url, script):
    client.force_login(request.getfixturevalue(user_fixture))
    content = html(client.get(url))
    assert content.index("/static/hotline/live.js") < content.index(f"/static/{script}")
    assert 'id="live-banner"' in content
    assert 'role="status" aria-live="polite"' in content
    assert "data-offline=" in content and "data-signed-out=" in content


def test_the_offline_banner_speaks_the_pages_language(client, supervisor):
    client.force_login(supervisor)
    content = html(client.get("/supervisor/", HTTP_ACCEPT_LANGUAGE="en"))
    assert 'data-offline="Offline: this page is not updating. Reconnecting…"' in content


def test_pages_without_live_updates_do_not_load_the_script(client, supervisor, make_ticket):
    ticket = make_ticket(Status.REGISTERED)
    client.force_login(supervisor)
    assert "hotline/live.js" not in html(client.get(f"/tickets/{ticket.number}/"))
    client.logout()
    login = html(client.get("/login/"))
    assert "hotline/live.js" not in login and "live-banner" not in login


def test_department_inbox_rows_carry_what_the_live_script_reconciles(client, water_staff, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    assert f'data-number="{ticket.number}" data-version="{ticket.version}"' in content
    assert 'data-terminal="cancelled closed closed_first_contact merged"' in content
    assert f'data-department="{water_staff.department_id}"' in content
    assert 'data-api-url="/api/tickets/0/"' in content


# Ticket page ------------------------------------------------------------------------------------


def test_ticket_page_shows_masked_personal_data_and_the_timeline(client, supervisor, citizen, make_ticket):
    ticket = make_ticket(Status.ACCEPTED, citizen=citizen, caller_number=CALLER)
    client.force_login(supervisor)
    response = client.get(f"/tickets/{ticket.number}/")
    content = html(response)
    assert response.status_code == 200
    assert ticket.number in content and "张三" in content
    assert MASKED_ID in content and CALLER_MASKED in content and CITIZEN_PHONE_MASKED in content
    assert_no_unmasked_data(content)
    actions_shown = [row.entry.action for row in response.context["page"].timeline]
    assert actions_shown == ["create", "register", "dispatch", "accept"]
    assert "派单" in content and "签收" in content
    assert "<form" not in content.split('id="timeline-title"')[1]  # read-only: no form under the timeline


def test_ticket_page_lists_changed_fields_without_their_values(client, operator, make_ticket):
    ticket = make_ticket(Status.REGISTERED)
    actions.ticket_update(ticket, actor=operator, version=None, caller_number=CALLER, title="新标题")
    client.force_login(operator)
    content = html(client.get(f"/tickets/{ticket.number}/"))
    assert "来电号码" in content
    assert_no_unmasked_data(content)


def test_department_gets_404_for_another_departments_ticket(client, housing_staff, water_staff, make_ticket):
    water_ticket = make_ticket(Status.DISPATCHED)
    registered = make_ticket(Status.REGISTERED)
    client.force_login(housing_staff)
    assert client.get(f"/tickets/{water_ticket.number}/").status_code == 404
    assert water_ticket.number not in html(client.get("/department/"))
    client.force_login(water_staff)
    assert client.get(f"/tickets/{water_ticket.number}/").status_code == 200
    assert client.get(f"/tickets/{registered.number}/").status_code == 404


def test_unknown_ticket_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get("/tickets/19990101999999/").status_code == 404


def test_report_hides_the_reporter_from_the_department(client, water_staff, supervisor, citizen, make_ticket):
    report = make_ticket(Status.DISPATCHED, kind="report", citizen=citizen, caller_number=CALLER, title="举报违建")
    client.force_login(water_staff)
    content = html(client.get(f"/tickets/{report.number}/"))
    assert report.number in content
    assert "张三" not in content and MASKED_ID not in content
    assert CALLER_MASKED not in content and CITIZEN_PHONE_MASKED not in content
    assert "举报人" in content
    assert_no_unmasked_data(content)

    client.force_login(supervisor)
    content = html(client.get(f"/tickets/{report.number}/"))
    assert "张三" in content and MASKED_ID in content and CALLER_MASKED in content


def test_pages_follow_the_clock_override_for_time_left(client, water_staff, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    client.force_login(water_staff)
    with clock.at(ticket.deadline + datetime.timedelta(hours=3)):
        content = html(client.get(f"/tickets/{ticket.number}/"))
    assert "已超期" in content


def test_english_pages_show_english_labels(client, water_staff, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    client.force_login(water_staff)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    content = html(client.get("/department/"))
    assert "Department inbox" in content and "Accepted" in content and "left" in content
    content = html(client.get(f"/tickets/{ticket.number}/"))
    assert "Timeline" in content and "Dispatch" in content
