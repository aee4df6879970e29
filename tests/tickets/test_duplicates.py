"""Duplicate suggestions over the API and merging a duplicate: roles, reasons, masking, refusals, the citizen told."""

import importlib
import logging

import pytest
from django.db import connection

from dashboards.models import OutboxEvent
from tickets import actions, duplicates
from tickets.actions import lifecycle
from tickets.duplicates import DuplicateQuery, duplicates_for_draft
from tickets.models import TERMINAL, Action, Status, Ticket, TimelineEntry

pytestmark = pytest.mark.django_db

DRAFTS = "/api/tickets/duplicates/"
LIFT = "市民反映金碧花园3栋电梯近一个月多次停运，曾发生困人情况，物业一直未修，要求尽快修复。"
LIFT_AGAIN = "来电人称金碧花园小区3号楼电梯经常坏，上周还困过人，物业一直拖着不修。"
ADDRESS = "惠城区江北街道金碧花园3栋"


def url(ticket: Ticket, action: str) -> str:
    return f"/api/tickets/{ticket.number}/{action}/"


@pytest.fixture
def lift(make_ticket):
    """A dispatched complaint about a lift, from a caller whose number we know."""
    return make_ticket(Status.DISPATCHED, description=LIFT, address=ADDRESS, caller_number="13826001234")


@pytest.fixture
def second_report(make_ticket):
    """A neighbour's report of the same lift, just registered."""
    return make_ticket(Status.REGISTERED, description=LIFT_AGAIN, address="惠城区金碧花园3号楼")


# --- suggestions --------------------------------------------------------------------------------------


def test_operator_gets_the_ticket_a_saved_report_duplicates_with_its_reasons(api, operator, lift, second_report):
    response = api.as_user(operator).get(url(second_report, "duplicates"))

    assert response.status_code == 200, response.content
    (suggestion,) = response.json()
    assert suggestion["number"] == lift.number
    assert suggestion["mergeable"] is True
    assert suggestion["place"] == "same_address"
    codes = [reason["code"] for reason in suggestion["reasons"]]
    assert codes[:2] == ["similar_description", "same_address"]
    assert all(reason["text"] for reason in suggestion["reasons"])
    assert suggestion["caller"] == "138****1234"
    assert "13826001234" not in response.content.decode()


def test_draft_suggestions_as_the_operator_types(api, operator, lift, district):
    body = {"description": LIFT_AGAIN, "address": "惠城区金碧花园3号楼", "district": district.pk}

    response = api.as_user(operator).post(DRAFTS, body, format="json")

    assert response.status_code == 200, response.content
    assert [s["number"] for s in response.json()] == [lift.number]


def test_same_phone_chasing_an_earlier_report_is_suggested_in_a_few_words(api, supervisor, lift, district):
    body = {"description": "之前反映的电梯还没有修好", "district": district.pk, "phone": "138 2600 1234"}

    response = api.as_user(supervisor).post(DRAFTS, body, format="json")

    (suggestion,) = response.json()
    assert suggestion["number"] == lift.number
    assert suggestion["same_caller"] == "phone"
    assert [r["code"] for r in suggestion["reasons"]][:2] == ["same_phone", "follow_up"]


def test_a_draft_is_not_its_own_duplicate(api, operator, lift):
    body = {"description": LIFT, "address": ADDRESS, "ticket": lift.number}
    assert api.as_user(operator).post(DRAFTS, body, format="json").json() == []


def test_another_matter_at_the_same_address_or_the_same_matter_elsewhere_is_not_suggested(operator, lift, district):
    same_place = DuplicateQuery(description="市民反映金碧花园3栋楼下化粪池堵塞，污水外溢。", address=ADDRESS)
    elsewhere = DuplicateQuery(description=LIFT.replace("金碧花园", "翠湖苑"), address="惠城区江北街道翠湖苑3栋")
    other_building = DuplicateQuery(description=LIFT.replace("3栋", "5栋"), address="惠城区江北街道金碧花园5栋")
    for query in (same_place, elsewhere, other_building):
        assert duplicates_for_draft(operator, query) == [], query


def test_finished_tickets_are_suggested_for_the_same_caller_only_and_not_mergeable(make_ticket, operator):
    closed = make_ticket(Status.CLOSED, description=LIFT, address=ADDRESS, caller_number="13826001234")

    by_someone_else = duplicates_for_draft(operator, DuplicateQuery(description=LIFT, address=ADDRESS))
    by_the_caller = duplicates_for_draft(operator, DuplicateQuery(description=LIFT, phone="13826001234"))

    assert by_someone_else == []
    (suggestion,) = by_the_caller
    assert suggestion.ticket == closed and not suggestion.mergeable
    assert "finished" in [reason["code"] for reason in suggestion.reasons]


def test_department_staff_see_no_suggestions_and_cannot_ask_for_a_draft(
    api, water_staff, housing_staff, lift, second_report, make_ticket
):
    dispatched = make_ticket(Status.DISPATCHED, description=LIFT_AGAIN, address=ADDRESS)

    own = api.as_user(water_staff).get(url(dispatched, "duplicates"))
    other = api.as_user(housing_staff).get(url(dispatched, "duplicates"))
    draft = api.as_user(water_staff).post(DRAFTS, {"description": LIFT_AGAIN}, format="json")

    assert (own.status_code, own.json()) == (200, [])
    assert other.status_code == 404
    assert draft.status_code == 403
    assert draft.json()["error"]["code"] == "permission_denied"


def test_the_schema_documents_both_endpoints(api, operator):
    schema = api.as_user(operator).get("/api/schema/", {"format": "json"}).json()
    assert "post" in schema["paths"]["/api/tickets/duplicates/"]
    assert "get" in schema["paths"]["/api/tickets/{number}/duplicates/"]


def test_open_statuses_are_the_same_everywhere():
    migration = importlib.import_module("tickets.migrations.0005_duplicate_search")
    open_statuses = {status for status in Status if status not in TERMINAL} - {Status.DRAFT}
    assert set(duplicates.OPEN) == set(migration.OPEN) == set(lifecycle.MERGE_TARGETS) == open_statuses
    assert duplicates.FORMULAE == migration.FORMULAE


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram search is PostgreSQL's")
def test_postgresql_narrows_by_its_trigram_indexes():
    assert duplicates._trigram_search(connection.alias)


# --- merging ------------------------------------------------------------------------------------------


def test_operator_merges_a_duplicate_and_the_main_ticket_records_it(api, operator, lift, second_report):
    events = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = api.as_user(operator).post(url(second_report, "merge"), {"into": lift.number, "note": "同一部电梯"})

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["merged_into"]) == (Status.MERGED, lift.number)
    main = Ticket.objects.get(pk=lift.pk)
    assert (main.status, main.version) == (Status.DISPATCHED, lift.version)
    entry = main.timeline.last()
    assert (entry.action, entry.from_status, entry.to_status) == ("merge", Status.DISPATCHED, Status.DISPATCHED)
    assert (entry.data, entry.note, entry.actor) == ({"merged": second_report.number}, "同一部电梯", operator)
    (event,) = OutboxEvent.objects.filter(id__gt=events)
    assert (event.type, event.payload["ticket"], event.payload["into"]) == (
        "ticket.merge",
        second_report.number,
        lift.number,
    )
    timeline = api.as_user(operator).get(url(lift, "timeline")).json()
    assert timeline[-1]["action_display"] != str(Action.MERGE.label)  # "duplicate merged in", not "merge into"


def test_a_merged_ticket_is_no_longer_suggested_and_its_main_ticket_is(operator, lift, second_report):
    actions.ticket_merge(second_report, actor=operator, into=lift)
    found = duplicates_for_draft(operator, DuplicateQuery(description=LIFT_AGAIN, address=ADDRESS))
    assert [s.ticket.pk for s in found] == [lift.pk]


@pytest.mark.parametrize("main_status", [Status.CLOSED, Status.CLOSED_FIRST_CONTACT, Status.MERGED, Status.DRAFT])
def test_merging_into_a_finished_merged_or_draft_ticket_is_refused_and_changes_nothing(
    api, operator, make_ticket, second_report, ticket_state, main_status
):
    if main_status == Status.MERGED:
        main = actions.ticket_merge(make_ticket(), actor=operator, into=make_ticket())
    else:
        main = make_ticket(main_status)
    before, main_before = ticket_state(second_report), ticket_state(main)

    response = api.as_user(operator).post(url(second_report, "merge"), {"into": main.number})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and "into" in error["fields"]
    assert main.number in error["message"]
    assert (ticket_state(second_report), ticket_state(main)) == (before, main_before)


def test_merging_a_ticket_into_itself_is_refused_and_changes_nothing(api, supervisor, second_report, ticket_state):
    before = ticket_state(second_report)
    response = api.as_user(supervisor).post(url(second_report, "merge"), {"into": second_report.number})
    assert response.status_code == 400
    assert "into" in response.json()["error"]["fields"]
    assert ticket_state(second_report) == before


def test_department_staff_cannot_merge(api, water_staff, housing_staff, make_ticket, lift, ticket_state):
    own = make_ticket(Status.DISPATCHED, description=LIFT_AGAIN)
    before = ticket_state(own)

    mine = api.as_user(water_staff).post(url(own, "merge"), {"into": lift.number})
    theirs = api.as_user(housing_staff).post(url(own, "merge"), {"into": lift.number})

    assert (mine.status_code, mine.json()["error"]["code"]) == (403, "not_allowed")
    assert theirs.status_code == 404
    assert ticket_state(own) == before


# --- telling the citizen --------------------------------------------------------------------------------

SENT = []


def notifier(**kwargs):
    SENT.append(kwargs)


def broken_notifier(**kwargs):
    raise ConnectionError("SMS gateway down")


def test_the_sms_hook_gets_the_merged_ticket_its_main_ticket_and_the_number_after_commit(
    settings, operator, lift, make_ticket, django_capture_on_commit_callbacks
):
    settings.HOTLINE_MERGE_NOTIFIER = f"{__name__}.notifier"
    SENT.clear()
    duplicate = make_ticket(Status.REGISTERED, description=LIFT_AGAIN, caller_number="13927005678")

    with django_capture_on_commit_callbacks(execute=True):
        actions.ticket_merge(duplicate, actor=operator, into=lift)

    (sent,) = SENT
    assert (sent["ticket"].pk, sent["into"].pk, sent["phone"]) == (duplicate.pk, lift.pk, "+8613927005678")


def test_a_failing_sms_hook_is_logged_and_the_merge_stands(
    settings, operator, lift, second_report, django_capture_on_commit_callbacks, caplog
):
    settings.HOTLINE_MERGE_NOTIFIER = f"{__name__}.broken_notifier"
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        actions.ticket_merge(second_report, actor=operator, into=lift)
    assert Ticket.objects.get(pk=second_report.pk).status == Status.MERGED
    assert "merge notice" in caplog.text


def test_without_an_sms_hook_nothing_is_sent(
    settings, operator, lift, second_report, django_capture_on_commit_callbacks
):
    settings.HOTLINE_MERGE_NOTIFIER = ""
    SENT.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.ticket_merge(second_report, actor=operator, into=lift)
    assert SENT == []
    assert TimelineEntry.objects.filter(ticket=lift, data__merged=second_report.number).exists()


def test_a_saved_draft_brings_its_callers_phone(api, operator, lift, make_ticket):
    draft = make_ticket(Status.DRAFT, description="", caller_number="13826001234")
    body = {"description": "之前反映的电梯还没有修好", "ticket": draft.number}
    (suggestion,) = api.as_user(operator).post(DRAFTS, body, format="json").json()
    assert (suggestion["number"], suggestion["same_caller"]) == (lift.number, "phone")


# --- pages ---------------------------------------------------------------------------------------------


def test_the_console_and_a_ticket_page_show_duplicates_to_hotline_staff_only(
    client, operator, water_staff, lift, second_report
):
    client.force_login(operator)
    console = client.get("/operator/").content.decode()
    page = client.get(f"/tickets/{second_report.number}/").content.decode()
    assert 'id="duplicate-suggestions"' in console and 'data-api-duplicates="/api/tickets/duplicates/"' in console
    assert f'data-api="/api/tickets/{second_report.number}/duplicates/"' in page

    client.force_login(water_staff)
    assert 'id="ticket-duplicates"' not in client.get(f"/tickets/{lift.number}/").content.decode()


def test_a_main_tickets_page_names_the_duplicate_merged_into_it(client, operator, lift, second_report):
    actions.ticket_merge(second_report, actor=operator, into=lift)
    client.force_login(operator)
    page = client.get(f"/tickets/{lift.number}/").content.decode()
    assert second_report.number in page
    merged_page = client.get(f"/tickets/{second_report.number}/").content.decode()
    assert 'id="ticket-duplicates"' not in merged_page  # merged: nothing left to merge
