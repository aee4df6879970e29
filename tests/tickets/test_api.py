"""The REST API: tickets through their lifecycle, errors people can read, auth, masking, citizens, schema."""

import datetime
import inspect
import json

import pytest
import yaml
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import VALID_ID
from tests.factories import DepartmentFactory
from tickets import actions, clock
from tickets.api.serializers import TRANSITION_INPUT
from tickets.api.views import TRANSITION_FUNCTIONS
from tickets.models import Action, PiiAccess, Status, Ticket, TimelineEntry

pytestmark = pytest.mark.django_db

TICKETS = "/api/tickets/"


def url(ticket: Ticket, action: str = "") -> str:
    return f"{TICKETS}{ticket.number}/" + (f"{action}/" if action else "")


def post(api, user, path: str, data: dict | None = None, **extra):
    return api.as_user(user).post(path, data or {}, format="json", **extra)


def error(response) -> dict:
    """The error body every failure shares: {"error": {"code", "message", ...}}."""
    assert response["Content-Type"].startswith("application/json"), response.content
    body = response.json()["error"]
    assert body["code"] and body["message"].strip()
    return body


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


# --- creating tickets ---------------------------------------------------------------------------


def test_operator_creates_a_registered_ticket(api, operator, district, category_tree):
    response = post(
        api,
        operator,
        TICKETS,
        {
            "kind": "complaint",
            "title": "小区停水",
            "description": "江北街道小区停水三天",
            "district": district.pk,
            "category": category_tree["water_cut"].pk,
            "caller_number": "13800138000",
        },
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == Status.REGISTERED
    assert data["number"].isdigit() and len(data["number"]) == 13
    assert data["caller_number"] == "138****8000"
    assert data["category_name"] == "水电气 / 停水"
    assert data["allowed_actions"] == ["close_first_contact", "dispatch", "merge", "cancel"]
    ticket = Ticket.objects.get(number=data["number"])
    assert ticket.caller_number == "+8613800138000"
    assert list(ticket.timeline.values_list("action", flat=True)) == [Action.CREATE, Action.REGISTER]


def test_operator_creates_a_draft_and_registers_it_later(api, operator):
    response = post(api, operator, TICKETS, {"register": False, "kind": "consultation"})

    assert response.status_code == 201, response.content
    assert response.json()["status"] == Status.DRAFT
    ticket = Ticket.objects.get(number=response.json()["number"])

    refused = post(api, operator, url(ticket, "register"))
    assert refused.status_code == 400
    assert "description" in error(refused)["fields"]

    edit = {"description": "咨询公积金提取", "version": ticket.version}
    assert api.as_user(operator).patch(url(ticket), edit, format="json").status_code == 200
    registered = post(api, operator, url(ticket, "register"))
    assert registered.status_code == 200, registered.content
    assert registered.json()["status"] == Status.REGISTERED


def test_registering_without_a_description_is_refused_with_the_field(api, operator):
    response = post(api, operator, TICKETS, {"kind": "complaint"})

    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid"
    assert "description" in body["fields"]
    assert not Ticket.objects.exists()


def test_ticket_create_rejects_unknown_choices_with_field_messages(api, operator):
    response = post(api, operator, TICKETS, {"kind": "rumour", "description": "x", "district": 99999})

    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"kind", "district"}


def test_department_staff_cannot_open_tickets(api, water_staff):
    response = post(api, water_staff, TICKETS, {"kind": "complaint", "description": "x"})

    assert response.status_code == 403
    assert error(response)["code"] == "not_allowed"
    assert not Ticket.objects.exists()


# --- the lifecycle over HTTP ---------------------------------------------------------------------


def test_full_lifecycle_through_http_transitions(api, operator, supervisor, water_staff, water, make_ticket):
    ticket = make_ticket(Status.REGISTERED)

    dispatched = post(api, operator, url(ticket, "dispatch"), {"department": water.pk, "note": "请尽快处理"})
    assert dispatched.status_code == 200, dispatched.content
    assert dispatched.json()["status"] == Status.DISPATCHED
    assert dispatched.json()["lead_department"] == water.pk
    deadline = datetime.datetime.fromisoformat(dispatched.json()["deadline"])

    assert post(api, water_staff, url(ticket, "accept")).json()["status"] == Status.ACCEPTED

    until = deadline + datetime.timedelta(days=5)
    requested = post(api, water_staff, url(ticket, "request-extension"), {"until": iso(until), "reason": "需现场勘查"})
    assert requested.status_code == 200, requested.content
    assert requested.json()["status"] == Status.EXTENSION_REQUESTED
    assert datetime.datetime.fromisoformat(requested.json()["extension_until"]) == until

    approved = post(api, supervisor, url(ticket, "approve-extension"), {"note": "同意"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == Status.ACCEPTED
    assert datetime.datetime.fromisoformat(approved.json()["deadline"]) == until
    assert approved.json()["extension_until"] is None

    replied = post(api, water_staff, url(ticket, "reply"), {"reply": "已修复管道，恢复供水"})
    assert replied.status_code == 200, replied.content
    assert replied.json()["reply"] == "已修复管道，恢复供水"

    closed = post(api, operator, url(ticket, "close"), {"satisfaction": "satisfied"})
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == Status.CLOSED
    assert closed.json()["allowed_actions"] == []
    assert closed.json()["seconds_left"] is None

    timeline = api.as_user(operator).get(url(ticket, "timeline")).json()
    assert [entry["action"] for entry in timeline] == [
        Action.CREATE,
        Action.REGISTER,
        Action.DISPATCH,
        Action.ACCEPT,
        Action.REQUEST_EXTENSION,
        Action.APPROVE_EXTENSION,
        Action.REPLY,
        Action.CLOSE,
    ]


def test_deny_extension_keeps_the_deadline(api, supervisor, make_ticket):
    ticket = make_ticket(Status.EXTENSION_REQUESTED)

    assert post(api, supervisor, url(ticket, "deny-extension")).status_code == 400
    response = post(api, supervisor, url(ticket, "deny-extension"), {"note": "时限内可以完成"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.ACCEPTED
    assert datetime.datetime.fromisoformat(response.json()["deadline"]) == ticket.deadline


def test_department_returns_a_ticket_and_the_hotline_redispatches_it(
    api, operator, water_staff, housing_staff, housing, make_ticket
):
    ticket = make_ticket(Status.DISPATCHED)

    returned = post(api, water_staff, url(ticket, "return"), {"reason": "非本单位职责"})

    assert returned.status_code == 200, returned.content
    assert returned.json()["status"] == Status.RETURNED
    assert returned.json()["lead_department"] is None
    # The ticket has left the department: it no longer sees it.
    assert api.as_user(water_staff).get(url(ticket)).status_code == 404

    redispatched = post(api, operator, url(ticket, "dispatch"), {"department": housing.pk})
    assert redispatched.status_code == 200, redispatched.content
    assert redispatched.json()["return_count"] == 1
    assert api.as_user(housing_staff).get(url(ticket)).status_code == 200


def test_unsatisfied_callback_reopens_to_the_same_department(api, operator, water_staff, water, make_ticket):
    ticket = make_ticket(Status.REPLIED)

    reopened = post(api, operator, url(ticket, "reopen"), {"note": "问题未解决"})

    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["status"] == Status.REOPENED
    assert reopened.json()["satisfaction"] == "unsatisfied"
    assert reopened.json()["lead_department"] == water.pk
    assert post(api, water_staff, url(ticket, "accept")).json()["status"] == Status.ACCEPTED


def test_close_refuses_an_unsatisfied_result(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.REPLIED)
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "close"), {"satisfaction": "unsatisfied"})

    assert response.status_code == 400
    assert "satisfaction" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_merge_a_duplicate_into_the_main_ticket(api, operator, make_ticket):
    main = make_ticket(Status.DISPATCHED)
    duplicate = make_ticket(Status.REGISTERED)

    response = post(api, operator, url(duplicate, "merge"), {"into": main.number, "note": "同一小区停水"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.MERGED
    assert response.json()["merged_into"] == main.number


def test_merge_into_an_unknown_ticket_is_a_field_error(api, operator, make_ticket, ticket_state):
    duplicate = make_ticket(Status.REGISTERED)
    before = ticket_state(duplicate)

    response = post(api, operator, url(duplicate, "merge"), {"into": "2099010100001"})

    assert response.status_code == 400
    assert "into" in error(response)["fields"]
    assert ticket_state(duplicate) == before


def test_supervisor_cancels_a_test_call_but_an_operator_may_not(api, operator, supervisor, make_ticket, ticket_state):
    ticket = make_ticket(Status.REGISTERED)
    before = ticket_state(ticket)

    refused = post(api, operator, url(ticket, "cancel"), {"reason": "测试来电"})
    assert refused.status_code == 403
    assert error(refused)["code"] == "not_allowed"
    assert ticket_state(ticket) == before

    cancelled = post(api, supervisor, url(ticket, "cancel"), {"reason": "测试来电"})
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == Status.CANCELLED


def test_operator_closes_at_first_contact(api, operator, make_ticket):
    ticket = make_ticket(Status.REGISTERED, kind="consultation")

    response = post(api, operator, url(ticket, "close-first-contact"), {"answer": "公积金可在线提取"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.CLOSED_FIRST_CONTACT
    assert response.json()["answer"] == "公积金可在线提取"


# --- refused transitions -------------------------------------------------------------------------


def test_illegal_transition_is_409_with_the_allowed_next_states_and_changes_nothing(
    api, operator, make_ticket, water, ticket_state
):
    ticket = make_ticket(Status.ACCEPTED)
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "dispatch"), {"department": water.pk})

    assert response.status_code == 409
    body = error(response)
    assert body["code"] == "invalid_transition"
    assert ticket.number in body["message"]
    assert body["status"] == Status.ACCEPTED
    assert body["action"] == Action.DISPATCH
    assert body["allowed_actions"] == ["return", "request_extension", "reply", "merge", "reassign"]
    assert body["allowed_next_statuses"] == ["returned", "extension_requested", "replied", "merged", "dispatched"]
    assert ticket_state(ticket) == before


def test_department_accepting_twice_is_409(api, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.ACCEPTED)
    before = ticket_state(ticket)

    response = post(api, water_staff, url(ticket, "accept"))

    assert response.status_code == 409
    assert error(response)["allowed_next_statuses"] == [
        "returned",
        "extension_requested",
        "replied",
        "merged",
        "dispatched",
    ]
    assert ticket_state(ticket) == before


def test_closed_ticket_allows_nothing(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.CLOSED)
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "reopen"), {"note": "again"})

    assert response.status_code == 409
    assert error(response)["allowed_actions"] == []
    assert ticket_state(ticket) == before


def test_assisting_department_may_see_but_not_act(
    api, operator, housing_staff, water, housing, make_ticket, ticket_state
):
    ticket = make_ticket(Status.REGISTERED)
    post(api, operator, url(ticket, "dispatch"), {"department": water.pk, "assisting": [housing.pk]})
    before = ticket_state(ticket)

    response = post(api, housing_staff, url(ticket, "accept"))

    assert response.status_code == 403
    assert error(response)["code"] == "not_allowed"
    assert ticket_state(ticket) == before


# --- field errors --------------------------------------------------------------------------------


def test_return_without_reason_names_the_field(api, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.DISPATCHED)
    before = ticket_state(ticket)

    for body in ({}, {"reason": "   "}):
        response = post(api, water_staff, url(ticket, "return"), body)
        assert response.status_code == 400
        assert "reason" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_dispatch_to_an_unknown_department_names_the_field(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.REGISTERED)
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "dispatch"), {"department": 99999})

    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid"
    assert body["fields"]["department"]
    assert body["message"].startswith("department")
    assert ticket_state(ticket) == before


def test_dispatch_to_an_inactive_department_is_refused(api, operator, make_ticket, ticket_state):
    closed_down = DepartmentFactory(code="old", name="已撤销局", is_active=False)
    ticket = make_ticket(Status.REGISTERED)
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "dispatch"), {"department": closed_down.pk})

    assert response.status_code == 400
    assert "department" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_dispatch_with_a_past_deadline_names_the_field(api, operator, water, make_ticket, ticket_state):
    ticket = make_ticket(Status.REGISTERED)
    before = ticket_state(ticket)

    past = clock.now() - datetime.timedelta(hours=1)
    response = post(api, operator, url(ticket, "dispatch"), {"department": water.pk, "deadline": iso(past)})

    assert response.status_code == 400
    assert "deadline" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_extension_to_a_past_date_names_the_field(api, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.ACCEPTED)
    before = ticket_state(ticket)

    past = clock.now() - datetime.timedelta(days=1)
    response = post(api, water_staff, url(ticket, "request-extension"), {"until": iso(past), "reason": "需勘查"})

    assert response.status_code == 400
    assert "until" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_extension_before_the_current_deadline_names_the_field(api, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.ACCEPTED)
    before = ticket_state(ticket)

    early = ticket.deadline - datetime.timedelta(minutes=1)
    response = post(api, water_staff, url(ticket, "request-extension"), {"until": iso(early), "reason": "需勘查"})

    assert response.status_code == 400
    assert "until" in error(response)["fields"]
    assert ticket_state(ticket) == before


def test_malformed_json_is_a_readable_400(api, operator, make_ticket):
    ticket = make_ticket(Status.REGISTERED)

    response = api.as_user(operator).post(url(ticket, "dispatch"), "{not json", content_type="application/json")

    assert response.status_code == 400
    assert error(response)["code"] == "parse_error"


def test_unknown_ticket_is_a_json_404(api, operator):
    response = api.as_user(operator).get(f"{TICKETS}2000010100001/")

    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_wrong_method_is_a_json_405(api, operator, make_ticket):
    ticket = make_ticket(Status.REGISTERED)

    response = api.as_user(operator).get(url(ticket, "dispatch"))

    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


# --- edits with a version ------------------------------------------------------------------------


def test_patch_with_the_current_version_edits_and_bumps_it(api, operator, make_ticket):
    ticket = make_ticket(Status.REGISTERED)

    response = api.as_user(operator).patch(
        url(ticket), {"title": "小区停水（第三天）", "version": ticket.version}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "小区停水（第三天）"
    assert response.json()["version"] == ticket.version + 1
    edit = TimelineEntry.objects.filter(ticket=ticket, action=Action.EDIT).get()
    assert edit.data["changed"]["title"] == ["小区停水", "小区停水（第三天）"]


def test_patch_with_a_stale_version_is_409_and_changes_nothing(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.REGISTERED)
    api.as_user(operator).patch(url(ticket), {"title": "first", "version": ticket.version}, format="json")
    before = ticket_state(ticket)

    response = api.as_user(operator).patch(url(ticket), {"title": "second", "version": ticket.version}, format="json")

    assert response.status_code == 409
    body = error(response)
    assert body["code"] == "stale_version"
    assert body["current_version"] == ticket.version + 1
    assert ticket_state(ticket) == before
    assert Ticket.objects.get(pk=ticket.pk).title == "first"


def test_patch_without_a_version_is_428(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.REGISTERED)
    before = ticket_state(ticket)

    response = api.as_user(operator).patch(url(ticket), {"title": "no version"}, format="json")

    assert response.status_code == 428
    assert error(response)["code"] == "version_required"
    assert ticket_state(ticket) == before


def test_patch_of_a_closed_ticket_is_409(api, operator, make_ticket, ticket_state):
    ticket = make_ticket(Status.CLOSED)
    before = ticket_state(ticket)

    response = api.as_user(operator).patch(url(ticket), {"title": "late", "version": ticket.version}, format="json")

    assert response.status_code == 409
    assert error(response)["code"] == "invalid_transition"
    assert ticket_state(ticket) == before


def test_department_staff_may_not_edit_their_ticket(api, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.ACCEPTED)
    before = ticket_state(ticket)

    response = api.as_user(water_staff).patch(url(ticket), {"title": "x", "version": ticket.version}, format="json")

    assert response.status_code == 403
    assert ticket_state(ticket) == before


# --- timeline ------------------------------------------------------------------------------------


def test_timeline_lists_every_move_with_actor_statuses_and_reason(api, operator, water_staff, make_ticket):
    ticket = make_ticket(Status.RETURNED)

    response = api.as_user(operator).get(url(ticket, "timeline"))

    assert response.status_code == 200
    entries = response.json()
    assert [(e["action"], e["from_status"], e["to_status"]) for e in entries] == [
        ("create", "", "draft"),
        ("register", "draft", "registered"),
        ("dispatch", "registered", "dispatched"),
        ("return", "dispatched", "returned"),
    ]
    returned = entries[-1]
    assert returned["actor"] == water_staff.username
    assert returned["note"] == "非本单位职责"
    assert returned["data"]["reason"] == "非本单位职责"
    assert returned["action_display"]
    assert datetime.datetime.fromisoformat(returned["at"])


# --- authentication ------------------------------------------------------------------------------


def test_token_auth(operator, make_ticket):
    make_ticket(Status.REGISTERED)
    client = APIClient()

    issued = client.post("/api/auth/token/", {"username": "operator", "password": "pw-for-tests-1"}, format="json")
    assert issued.status_code == 200, issued.content
    token = issued.json()["token"]
    assert Token.objects.get(user=operator).key == token

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(TICKETS)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_token_auth_with_a_wrong_password_is_a_readable_400(operator):
    response = APIClient().post("/api/auth/token/", {"username": "operator", "password": "nope"}, format="json")

    assert response.status_code == 400
    assert error(response)["fields"]["non_field_errors"]


def test_an_invalid_token_is_refused_with_a_json_error(operator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")

    response = client.get(TICKETS)

    assert response.status_code in (401, 403)
    assert error(response)["code"] == "authentication_failed"


def test_session_auth(operator, make_ticket):
    make_ticket(Status.REGISTERED)
    client = APIClient()
    assert client.login(username="operator", password="pw-for-tests-1")

    response = client.get(TICKETS)

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_session_auth_writes_need_the_csrf_token(operator, make_ticket, water):
    ticket = make_ticket(Status.REGISTERED)
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="operator", password="pw-for-tests-1")

    response = client.post(url(ticket, "dispatch"), {"department": water.pk}, format="json")

    assert response.status_code == 403
    assert "CSRF" in error(response)["message"]
    assert Ticket.objects.get(pk=ticket.pk).status == Status.REGISTERED


@pytest.mark.parametrize("path", [TICKETS, "/api/citizens/", "/api/departments/", "/api/categories/"])
def test_anonymous_is_refused_with_a_json_error(path, make_ticket):
    make_ticket(Status.DISPATCHED)

    response = APIClient().get(path)

    assert response.status_code in (401, 403)
    assert error(response)["code"] == "not_authenticated"


# --- pagination ----------------------------------------------------------------------------------


def test_ticket_list_is_paginated_with_a_client_page_size(api, operator, make_ticket):
    numbers = [make_ticket(Status.REGISTERED).number for _ in range(3)]

    first = api.as_user(operator).get(TICKETS, {"page_size": 2}).json()
    second = api.as_user(operator).get(TICKETS, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["next"] and first["previous"] is None
    assert len(second["results"]) == 1
    # Newest first, and the pages together hold each ticket once.
    assert [t["number"] for t in first["results"] + second["results"]] == numbers[::-1]


def test_page_past_the_end_is_a_json_404(api, operator, make_ticket):
    make_ticket(Status.REGISTERED)

    response = api.as_user(operator).get(TICKETS, {"page": 9})

    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_ticket_list_queries_do_not_grow_with_the_page(
    api, operator, water_staff, housing, citizen, category_tree, make_ticket, django_assert_max_num_queries
):
    for n in range(12):
        make_ticket(
            Status.ACCEPTED if n % 3 else Status.REGISTERED,
            citizen=citizen,
            caller_number="13800138000",
            category=category_tree["water_cut" if n % 2 else "street_lights"],
        )
        if n % 4 == 0:
            main = make_ticket(Status.REGISTERED)
            actions.ticket_merge(make_ticket(Status.REGISTERED), actor=operator, into=main)
    make_ticket(Status.REGISTERED)

    for user in (operator, water_staff):
        with django_assert_max_num_queries(3):  # count, the page's rows with their joins, assisting departments
            response = api.as_user(user).get(TICKETS, {"page_size": 100})
        assert response.status_code == 200
        assert response.json()["count"] >= 8


def test_timeline_and_citizen_list_queries_are_bounded(api, operator, make_ticket, django_assert_max_num_queries):
    ticket = make_ticket(Status.CLOSED)
    for n in range(10):
        actions.citizen_create(name=f"市民{n}", phones=[f"1391234567{n}", f"1381234567{n}"])

    with django_assert_max_num_queries(3):  # the ticket, its timeline with actors
        assert len(api.as_user(operator).get(url(ticket, "timeline")).json()) == 6
    with django_assert_max_num_queries(3):  # count, citizens, their phones
        assert len(api.as_user(operator).get("/api/citizens/").json()["results"]) == 10


# --- masking and the reporter's shield -----------------------------------------------------------


def test_list_and_detail_mask_the_caller_and_the_id_number(api, operator, citizen, make_ticket):
    ticket = make_ticket(Status.REGISTERED, citizen=citizen, caller_number="13800138000")

    listed = api.as_user(operator).get(TICKETS).json()["results"][0]
    detail = api.as_user(operator).get(url(ticket)).json()

    for data in (listed, detail):
        assert data["caller_number"] == "138****8000"
        assert data["citizen"] == {"id": citizen.pk, "name": "张三", "id_masked": "110105********002X"}
        assert "13800138000" not in json.dumps(data)
        assert VALID_ID not in json.dumps(data)


def test_report_hides_the_reporter_from_the_handling_department(api, operator, water_staff, citizen, make_ticket):
    ticket = make_ticket(
        Status.DISPATCHED, kind="report", citizen=citizen, caller_number="13800138000", external_ref="wx-001"
    )

    for response in (
        api.as_user(water_staff).get(url(ticket)).json(),
        api.as_user(water_staff).get(TICKETS).json()["results"][0],
        post(api, water_staff, url(ticket, "accept")).json(),
    ):
        assert response["kind"] == "report"
        assert response["citizen"] is None
        assert response["caller_number"] == ""
        assert response["external_ref"] is None
        assert "138*" not in json.dumps(response)

    seen_by_hotline = api.as_user(operator).get(url(ticket)).json()
    assert seen_by_hotline["citizen"]["id"] == citizen.pk
    assert seen_by_hotline["caller_number"] == "138****8000"


def test_report_timeline_hides_the_reporter_from_the_department(api, operator, water_staff, citizen, make_ticket):
    ticket = make_ticket(Status.DISPATCHED, kind="report")
    edit = {"citizen": citizen.pk, "caller_number": "13800138000", "version": ticket.version}
    assert api.as_user(operator).patch(url(ticket), edit, format="json").status_code == 200

    seen_by_department = api.as_user(water_staff).get(url(ticket, "timeline")).json()
    seen_by_hotline = api.as_user(operator).get(url(ticket, "timeline")).json()

    department_edit = [e for e in seen_by_department if e["action"] == "edit"][0]
    assert "citizen" not in department_edit["data"]["changed"]
    assert "caller_number" not in department_edit["data"]["changed"]
    assert "138*" not in json.dumps(seen_by_department)
    hotline_edit = [e for e in seen_by_hotline if e["action"] == "edit"][0]
    assert hotline_edit["data"]["changed"]["citizen"] == [None, citizen.pk]
    assert hotline_edit["data"]["changed"]["caller_number"] == ["", "138****8000"]


def test_complaint_shows_the_masked_caller_to_the_department(api, water_staff, citizen, make_ticket):
    ticket = make_ticket(Status.DISPATCHED, kind="complaint", citizen=citizen, caller_number="13800138000")

    data = api.as_user(water_staff).get(url(ticket)).json()

    assert data["caller_number"] == "138****8000"
    assert data["citizen"]["id_masked"] == "110105********002X"


# --- citizens ------------------------------------------------------------------------------------


def test_operator_creates_a_citizen_and_sees_it_masked(api, operator, district):
    response = post(
        api,
        operator,
        "/api/citizens/",
        {"name": "李四", "id_number": VALID_ID, "phones": ["138-0013-8000", "0752 2345678"], "district": district.pk},
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id_masked"] == "110105********002X"
    assert data["phones"] == ["138****8000", "075****5678"]
    assert VALID_ID not in json.dumps(data)


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "check digit"), ("zh-hans", "校验码")],
)
def test_citizen_with_a_bad_id_number_is_a_readable_400(api, operator, language, words):
    bad_checksum = VALID_ID[:-1] + "1"

    response = post(
        api, operator, "/api/citizens/", {"name": "李四", "id_number": bad_checksum}, HTTP_ACCEPT_LANGUAGE=language
    )

    assert response.status_code == 400
    body = error(response)
    assert words in body["fields"]["id_number"][0]
    assert body["message"].startswith("id_number: ")
    assert words in body["message"]


def test_api_messages_follow_accept_language(api, supervisor, citizen):
    english = post(api, supervisor, f"/api/citizens/{citizen.pk}/reveal/", HTTP_ACCEPT_LANGUAGE="en")
    chinese = post(api, supervisor, f"/api/citizens/{citizen.pk}/reveal/")

    assert error(english)["fields"]["reason"] == ["This field is required."]
    assert error(chinese)["fields"]["reason"] == ["该字段是必填项。"]
    assert not PiiAccess.objects.exists()


def test_duplicate_id_number_is_a_field_error(api, operator, citizen):
    response = post(api, operator, "/api/citizens/", {"name": "张三", "id_number": VALID_ID.lower()})

    assert response.status_code == 400
    assert error(response)["fields"]["id_number"]


def test_bad_phone_number_is_a_field_error(api, operator, citizen):
    created = post(api, operator, "/api/citizens/", {"name": "王五", "phones": ["12"]})
    added = post(api, operator, f"/api/citizens/{citizen.pk}/phones/", {"number": "not a phone"})

    assert created.status_code == 400
    assert error(created)["fields"]["phones"]
    assert added.status_code == 400
    assert error(added)["fields"]["number"]


def test_add_a_phone_to_a_citizen(api, operator, citizen):
    response = post(api, operator, f"/api/citizens/{citizen.pk}/phones/", {"number": "13912345678", "label": "单位"})

    assert response.status_code == 201, response.content
    assert sorted(response.json()["phones"]) == ["138****8000", "139****5678"]


def test_reveal_without_the_permission_is_403_and_not_audited(api, operator, citizen):
    response = post(api, operator, f"/api/citizens/{citizen.pk}/reveal/", {"reason": "核实来电人身份"})

    assert response.status_code == 403
    assert error(response)["code"] == "not_allowed"
    assert VALID_ID not in response.content.decode()
    assert not PiiAccess.objects.exists()


def test_reveal_with_the_permission_and_a_reason_unmasks_and_audits(api, supervisor, citizen):
    response = post(api, supervisor, f"/api/citizens/{citizen.pk}/reveal/", {"reason": "核实来电人身份"})

    assert response.status_code == 200, response.content
    assert response.json() == {"id": citizen.pk, "name": "张三", "id_number": VALID_ID, "phones": ["+8613800138000"]}
    access = PiiAccess.objects.get()
    assert (access.user, access.citizen, access.reason) == (supervisor, citizen, "核实来电人身份")


def test_reveal_with_a_blank_reason_is_refused_and_not_audited(api, supervisor, citizen):
    response = post(api, supervisor, f"/api/citizens/{citizen.pk}/reveal/", {"reason": " ok "})

    assert response.status_code == 400
    assert "reason" in error(response)["fields"]
    assert not PiiAccess.objects.exists()


@pytest.mark.parametrize("phone", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "8613800138000"])
def test_citizen_lookup_by_phone_in_any_format(api, operator, citizen, phone):
    actions.citizen_create(name="别人", phones=["13912345678"])

    response = api.as_user(operator).get("/api/citizens/", {"phone": phone})

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [citizen.pk]


def test_citizen_lookup_by_withheld_number_finds_nobody(api, operator, citizen):
    response = api.as_user(operator).get("/api/citizens/", {"phone": "anonymous"})

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("id_number", [VALID_ID, VALID_ID.lower(), f" {VALID_ID} "])
def test_citizen_lookup_by_id_number(api, operator, citizen, id_number):
    actions.citizen_create(name="别人")

    response = api.as_user(operator).get("/api/citizens/", {"id_number": id_number})

    assert [c["id"] for c in response.json()["results"]] == [citizen.pk]


def test_citizen_lookup_by_an_invalid_id_number_names_the_parameter(api, operator, citizen):
    response = api.as_user(operator).get("/api/citizens/", {"id_number": "123"})

    assert response.status_code == 400
    assert error(response)["fields"]["id_number"]


# --- reference data ------------------------------------------------------------------------------


def test_reference_data_lists(api, water_staff, water, housing, district, category_tree):
    api.as_user(water_staff)

    departments = api.get("/api/departments/").json()["results"]
    districts = api.get("/api/districts/").json()
    categories = api.get("/api/categories/").json()
    children = api.get("/api/categories/", {"parent": category_tree["utilities"].pk}).json()

    assert {d["code"] for d in departments} == {"water", "housing"}
    assert [d["code"] for d in districts] == ["441302"]
    by_code = {c["code"]: c for c in categories}
    assert by_code["utilities"]["is_leaf"] is False
    assert by_code["water_cut"]["is_leaf"] is True
    # Parents come before their children.
    codes = [c["code"] for c in categories]
    assert codes.index("utilities") < codes.index("water_cut")
    assert {c["code"] for c in children} == {"water_cut", "power_cut"}


def test_reference_data_is_read_only(api, operator, water):
    response = api.as_user(operator).post("/api/departments/", {"code": "x", "name": "x"}, format="json")

    assert response.status_code == 405
    assert error(response)


# --- schema and docs -----------------------------------------------------------------------------


def test_openapi_schema_is_valid_and_lists_every_transition(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    paths = schema["paths"]
    for name in TRANSITION_FUNCTIONS:
        assert f"/api/tickets/{{number}}/{name.replace('_', '-')}/" in paths
    assert "/api/tickets/{number}/timeline/" in paths
    assert "/api/citizens/{id}/reveal/" in paths
    listed = {p["name"] for p in paths["/api/tickets/"]["get"]["parameters"]}
    assert {"status", "kind", "department", "district", "category", "overdue", "q"} <= listed
    assert {"created_after", "created_before", "page", "page_size"} <= listed
    dispatch = paths["/api/tickets/{number}/dispatch/"]["post"]
    assert {"200", "400", "404", "409"} <= set(dispatch["responses"])


def test_openapi_schema_as_json(api):
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.")


def test_swagger_ui_is_served_locally_not_from_a_cdn(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset


def test_redoc_is_served_locally(api):
    response = api.get("/api/redoc/")

    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in response.content.decode()
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")


def test_every_transition_input_is_accepted_by_its_action():
    for name, function in TRANSITION_FUNCTIONS.items():
        accepted = set(inspect.signature(function).parameters) - {"ticket", "actor"}
        assert set(TRANSITION_INPUT[name]().fields) <= accepted, name


def test_swagger_ui_assets_are_served_by_the_app(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True

    response = APIClient().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200


def test_unexpected_server_error_is_json_and_logged(api, operator, monkeypatch, caplog):
    from tickets.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(views.actions, "ticket_create", broken)
    response = api.as_user(operator).post("/api/tickets/", {"kind": "consultation", "description": "x"}, format="json")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "database went away" in caplog.text
