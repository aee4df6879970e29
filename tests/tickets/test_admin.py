"""The admin: every page loads, personal data stays masked, the timeline and audits cannot be changed."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from dashboards.models import OutboxEvent
from telephony.models import Call
from tests.conftest import VALID_ID
from tickets import actions
from tickets.models import Citizen, PiiAccess, Role, Status, Ticket, TimelineEntry, User

CALLER = "13812345678"
UNMASKED = (VALID_ID, CALLER, "+86" + CALLER, "13800138000", "+8613800138000")


def html(response) -> str:
    return response.content.decode()


def assert_no_unmasked_data(content: str) -> None:
    for value in UNMASKED:
        assert value not in content


@pytest.fixture
def world(admin_user, supervisor, water, district, category_tree, citizen, make_ticket):
    """One object of every model the admin shows, keyed by admin URL name."""
    ticket = make_ticket(Status.ACCEPTED, citizen=citizen, caller_number=CALLER)
    actions.citizen_reveal(citizen, user=supervisor, reason="核实举报人身份")
    call = Call.objects.create(uniqueid="1732780800.17", caller_number="+86" + CALLER, ticket=ticket)
    return {
        "tickets_department": water,
        "tickets_district": district,
        "tickets_category": category_tree["water_cut"],
        "tickets_user": supervisor,
        "tickets_citizen": citizen,
        "tickets_piiaccess": PiiAccess.objects.get(),
        "tickets_ticket": ticket,
        "tickets_timelineentry": ticket.timeline.first(),
        "telephony_call": call,
        "dashboards_outboxevent": OutboxEvent.objects.first(),
    }


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def admin_form_data(response) -> dict:
    """The POST a browser would send back from an admin change page, inline management forms included."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
    return data


URL_NAMES = [
    "tickets_department",
    "tickets_district",
    "tickets_category",
    "tickets_user",
    "tickets_citizen",
    "tickets_piiaccess",
    "tickets_ticket",
    "tickets_timelineentry",
    "telephony_call",
    "dashboards_outboxevent",
]


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_changelist_and_change_page_load_for_a_superuser(admin_client, world, url_name):
    app, model = url_name.split("_", 1)
    obj = world[url_name]
    changelist = admin_client.get(f"/admin/{app}/{model}/")
    assert changelist.status_code == 200
    change = admin_client.get(f"/admin/{app}/{model}/{obj.pk}/change/")
    assert change.status_code == 200
    assert_no_unmasked_data(html(changelist))
    assert_no_unmasked_data(html(change))


def test_admin_index_is_translated(admin_client, world):
    content = html(admin_client.get("/admin/"))
    assert "12345 政务服务便民热线管理后台" in content
    assert "流转记录" in content and "承办单位" in content


def test_admin_pages_carry_the_language_switch(admin_client, client, world):
    ticket = world["tickets_ticket"]
    for url in ("/admin/", f"/admin/tickets/ticket/{ticket.pk}/change/"):
        content = html(admin_client.get(url))
        assert 'action="/i18n/setlang/"' in content and f'name="next" value="{url}"' in content
    admin_client.cookies["django_language"] = "en"
    assert "12345 Government Service Hotline administration" in html(admin_client.get("/admin/"))
    admin_client.logout()
    assert 'action="/i18n/setlang/"' in html(client.get("/admin/login/"))


@pytest.mark.parametrize("url_name", ["tickets_department", "tickets_district", "tickets_category", "tickets_user"])
def test_reference_data_and_users_can_be_added(admin_client, url_name):
    app, model = url_name.split("_", 1)
    assert admin_client.get(f"/admin/{app}/{model}/add/").status_code == 200


@pytest.mark.parametrize(
    "url_name",
    ["tickets_citizen", "tickets_piiaccess", "tickets_ticket", "tickets_timelineentry", "telephony_call"],
)
def test_records_written_by_the_system_cannot_be_added_or_deleted_in_admin(admin_client, world, url_name):
    app, model = url_name.split("_", 1)
    obj = world[url_name]
    assert admin_client.get(f"/admin/{app}/{model}/add/").status_code == 403
    assert admin_client.get(f"/admin/{app}/{model}/{obj.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/{app}/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


# The timeline ----------------------------------------------------------------------------------


def test_timeline_entries_cannot_be_changed_or_deleted_even_by_a_superuser(admin_client, admin_user, world):
    entry = world["tickets_timelineentry"]
    url = f"/admin/tickets/timelineentry/{entry.pk}/change/"
    assert admin_client.post(url, {"note": "改写历史", "action": "cancel"}).status_code == 403
    assert admin_client.get(f"/admin/tickets/timelineentry/{entry.pk}/delete/").status_code == 403
    response = admin_client.post(
        "/admin/tickets/timelineentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.note == "" and entry.action == "create"
    assert TimelineEntry.objects.filter(pk=entry.pk).exists()

    request = RequestFactory().get("/")
    request.user = admin_user
    entry_admin = admin.site._registry[TimelineEntry]
    assert not entry_admin.has_change_permission(request, entry)
    assert not entry_admin.has_delete_permission(request, entry)
    assert not entry_admin.has_add_permission(request)
    assert "delete_selected" not in entry_admin.get_actions(request)
    ticket_admin = admin.site._registry[Ticket]
    for inline in ticket_admin.get_inline_instances(request, entry.ticket):
        assert not inline.has_change_permission(request, entry.ticket)
        assert not inline.has_delete_permission(request, entry.ticket)
        assert not inline.has_add_permission(request, entry.ticket)


def test_ticket_page_shows_the_timeline_read_only(admin_client, world):
    ticket = world["tickets_ticket"]
    content = html(admin_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/"))
    assert "签收" in content and "派单" in content
    assert 'name="timeline-0-note"' not in content
    assert 'name="timeline-0-DELETE"' not in content


def test_a_web_ticket_shows_the_name_the_citizen_gave_read_only(admin_client, category_tree, district):
    from tickets.actions.intake import ticket_submit_web

    ticket, _code = ticket_submit_web(
        kind="complaint",
        category=category_tree["water_cut"],
        description="小区停水三天了，没有任何通知",
        address="惠城区江北街道1号",
        district=district,
        contact_name="李四",
        phone="+8613800138000",
    )
    content = html(admin_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/"))
    assert "李四" in content
    assert 'name="web_intake-0-contact_name"' not in content
    assert_no_unmasked_data(content)


# Ticket edits go through the action ------------------------------------------------------------


def test_ticket_content_edit_goes_through_ticket_update_and_is_on_the_timeline(
    admin_client, admin_user, world, housing
):
    ticket = world["tickets_ticket"]
    url = f"/admin/tickets/ticket/{ticket.pk}/change/"
    data = admin_form_data(admin_client.get(url))
    data.update(title="小区停水（已核实）", status=Status.CLOSED, lead_department=housing.pk, deadline="")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    edited = Ticket.objects.get(pk=ticket.pk)
    assert edited.title == "小区停水（已核实）"
    assert edited.status == Status.ACCEPTED  # the status is not the admin's to set
    assert edited.lead_department_id == ticket.lead_department_id and edited.deadline == ticket.deadline
    assert edited.version == ticket.version + 1
    last = edited.timeline.last()
    assert last.action == "edit" and last.actor == admin_user
    assert last.data["changed"] == {"title": ["小区停水", "小区停水（已核实）"]}


def test_stale_ticket_edit_is_refused(admin_client, operator, world):
    ticket = world["tickets_ticket"]
    url = f"/admin/tickets/ticket/{ticket.pk}/change/"
    data = admin_form_data(admin_client.get(url))
    actions.ticket_update(ticket, actor=operator, version=ticket.version, address="江北街道")
    data["title"] = "我的修改"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "已有他人修改" in html(response)
    assert Ticket.objects.get(pk=ticket.pk).title == "小区停水"


def test_closed_ticket_is_read_only_in_admin(admin_client, make_ticket):
    ticket = make_ticket(Status.CLOSED)
    url = f"/admin/tickets/ticket/{ticket.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert 'name="title"' not in html(response)
    assert admin_client.post(url, {"title": "x"}).status_code == 403


def test_ticket_search_by_number(admin_client, world, make_ticket):
    ticket = world["tickets_ticket"]
    other = make_ticket(Status.REGISTERED)
    response = admin_client.get("/admin/tickets/ticket/", {"q": ticket.number})
    assert list(response.context["cl"].result_list) == [ticket]
    assert other.number not in html(response)


# Citizens and personal data --------------------------------------------------------------------


def test_citizen_admin_never_shows_the_plain_id_number_or_phone(admin_client, world):
    citizen = world["tickets_citizen"]
    for url in ("/admin/tickets/citizen/", f"/admin/tickets/citizen/{citizen.pk}/change/"):
        content = html(admin_client.get(url))
        assert citizen.id_masked in content and "138****8000" in content
        assert citizen.id_hash not in content and citizen.id_encrypted not in content
        assert_no_unmasked_data(content)
    change = admin_client.get(f"/admin/tickets/citizen/{citizen.pk}/change/")
    assert 'name="id_number"' not in html(change) and 'name="name"' not in html(change)


def test_citizen_admin_finds_citizens_by_full_id_number_or_phone(admin_client, world):
    citizen = world["tickets_citizen"]
    other = Citizen.objects.create(name="李四")
    for term in (VALID_ID, "138 0013 8000", "张三"):
        response = admin_client.get("/admin/tickets/citizen/", {"q": term})
        assert list(response.context["cl"].result_list) == [citizen], term
    assert list(admin_client.get("/admin/tickets/citizen/", {"q": "李四"}).context["cl"].result_list) == [other]


def test_pii_access_audit_is_read_only(admin_client, world):
    access = world["tickets_piiaccess"]
    url = f"/admin/tickets/piiaccess/{access.pk}/change/"
    assert "核实举报人身份" in html(admin_client.get(url))
    assert admin_client.post(url, {"reason": "掩盖"}).status_code == 403
    access.refresh_from_db()
    assert access.reason == "核实举报人身份"


def test_call_admin_masks_the_caller(admin_client, world):
    call = world["telephony_call"]
    content = html(admin_client.get(f"/admin/telephony/call/{call.pk}/change/"))
    assert "138****5678" in content
    assert_no_unmasked_data(content)


# Reference data and users ----------------------------------------------------------------------


def test_category_cannot_move_under_its_own_subcategory(admin_client, category_tree):
    utilities = category_tree["utilities"]
    url = f"/admin/tickets/category/{utilities.pk}/change/"
    data = admin_form_data(admin_client.get(url))
    data["parent"] = category_tree["water_cut"].pk
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "下级分类" in html(response)
    utilities.refresh_from_db()
    assert utilities.parent_id is None


def test_category_changelist_shows_the_tree(admin_client, category_tree):
    content = html(admin_client.get("/admin/tickets/category/"))
    water_cut = category_tree["water_cut"]
    assert water_cut.path in content and "└ 停水" in content
    response = admin_client.get("/admin/tickets/category/", {"q": "停水"})
    assert list(response.context["cl"].result_list) == [water_cut]


def test_department_staff_need_a_department(admin_client, water):
    data = {
        "username": "new_staff",
        "usable_password": "true",
        "password1": "a-Long-pass-phrase-91",
        "password2": "a-Long-pass-phrase-91",
        "role": Role.DEPARTMENT,
        "department": "",
        "extension": "",
    }
    response = admin_client.post("/admin/tickets/user/add/", data)
    assert response.status_code == 200
    assert "必须指定所属单位" in html(response)
    assert not User.objects.filter(username="new_staff").exists()
    data["department"] = water.pk
    assert admin_client.post("/admin/tickets/user/add/", data).status_code == 302
    assert User.objects.get(username="new_staff").department == water


def test_user_changelist_filters_by_role_and_department(admin_client, operator, water_staff, housing_staff):
    response = admin_client.get("/admin/tickets/user/", {"role__exact": Role.DEPARTMENT})
    assert set(response.context["cl"].result_list) == {water_staff, housing_staff}
    response = admin_client.get("/admin/tickets/user/", {"department__id__exact": water_staff.department_id})
    assert list(response.context["cl"].result_list) == [water_staff]


@pytest.mark.parametrize("role", ["department", "operator"])
def test_only_administrators_and_supervisors_enter_the_admin_even_with_is_staff(client, water, make_ticket, role):
    from tests.factories import UserFactory

    user = UserFactory(role=role, department=water if role == "department" else None, is_staff=True)
    ticket = make_ticket("dispatched")
    client.force_login(user)
    for url in ("/admin/", f"/admin/tickets/ticket/{ticket.pk}/change/", "/admin/tickets/citizen/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_supervisor_with_is_staff_enters_the_admin(client, supervisor):
    supervisor.is_staff = True
    supervisor.save()
    client.force_login(supervisor)
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    "url_name",
    [
        "routing_rule_add",
        "routing_returnreason_changelist",
        "routing_timelimit_changelist",
        "routing_calendaryear_add",
        "telephony_ivrmenu_changelist",
        "routing_escalation_changelist",
        "telephony_call_changelist",
        "telephony_queuemember_changelist",
        "telephony_queuecaller_changelist",
    ],
)
def test_a_supervisor_maintains_routing_the_calendar_and_the_ivr_in_the_admin(client, supervisor, url_name):
    client.force_login(supervisor)
    assert client.get(reverse(f"admin:{url_name}")).status_code == 200


@pytest.mark.parametrize(
    "url_name", ["tickets_user_changelist", "tickets_department_add", "tickets_citizen_changelist"]
)
def test_a_supervisor_does_not_manage_staff_departments_or_citizens(client, supervisor, url_name):
    client.force_login(supervisor)
    assert client.get(reverse(f"admin:{url_name}")).status_code == 403


def test_a_supervisor_cannot_add_escalations_by_hand(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("admin:routing_escalation_add")).status_code == 403
