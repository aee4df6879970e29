"""The department inbox (/department/): rows, hooks, isolation, masking, actions through the API, the ticket page."""

import datetime
import json
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from dashboards.inbox import countdown, duration_text, inbox_actions
from dashboards.snapshots import VIEWS, snapshot_build
from routing.actions import ticket_assist_input
from tests.conftest import VALID_ID
from tickets import actions
from tickets.models import Status

CALLER = "13812345678"
UNMASKED = (VALID_ID, CALLER, "13800138000", "+8613800138000")


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row_tag(content: str, number: str) -> str:
    """The opening <tr> of a ticket's row (its hooks live there)."""
    match = re.search(rf'<tr [^>]*data-ticket="{number}"[^>]*>', content)
    assert match, f"no row for {number}"
    return match.group(0)


def row_html(content: str, number: str) -> str:
    start = content.index(row_tag(content, number))
    return content[start : content.index("</tr>", start)]


def inbox_snapshot(user) -> dict:
    return snapshot_build(VIEWS["department"], user)["data"]["inbox"]


@pytest.fixture
def joint(operator, housing, water, make_ticket):
    """A ticket led by water with housing assisting (联办), dispatched."""
    ticket = make_ticket(Status.REGISTERED)
    return actions.ticket_dispatch(ticket, actor=operator, department=water, assisting=[housing])


# Who may open it ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user_fixture", ["operator", "supervisor", "admin_user"])
def test_inbox_page_is_for_department_staff_only(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get("/department/").status_code == 403
    assert client.get("/department/rows/2026010100001/").status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, db):
    assert client.get("/department/").status_code == 302
    assert client.get("/department/rows/2026010100001/").status_code == 302


def test_department_staff_get_the_inbox_with_its_hooks(client, water_staff, make_ticket):
    dispatched = make_ticket(Status.DISPATCHED)
    accepted = make_ticket(Status.ACCEPTED)
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    assert '<table id="inbox"' in content
    assert 'id="inbox-status"' in content and 'role="status"' in content.split('id="inbox-status"')[1][:80]
    tag = row_tag(content, dispatched.number)
    assert 'data-status="dispatched"' in tag and 'data-role="lead"' in tag
    row = row_html(content, dispatched.number)
    assert 'data-action="accept"' in row and 'data-action="return"' in row
    assert 'data-action="reply"' not in row and 'data-action="extend"' not in row
    row = row_html(content, accepted.number)
    assert 'data-status="accepted"' in row_tag(content, accepted.number)
    for action in ("reply", "extend", "return"):
        assert f'data-action="{action}"' in row
    assert 'data-action="accept"' not in row
    assert "hotline/pages/department.js" in content and "hotline/pages/department.css" in content


def test_rows_show_kind_category_district_status_and_both_deadlines(client, water_staff, category_tree, make_ticket):
    ticket = make_ticket(Status.DISPATCHED, category=category_tree["water_cut"])
    client.force_login(water_staff)
    content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    row = row_html(content, ticket.number)
    assert "Complaint" in row and "水电气 / 停水" in row and "Huicheng District" in row and "Dispatched" in row
    assert 'data-countdown="deadline"' in row and 'data-countdown="accept"' in row  # not accepted yet: sign-for time
    tag = row_tag(content, ticket.number)
    for hook in ("data-deadline", "data-window-start", "data-accept-by"):  # what the countdowns tick from
        assert re.search(hook + r'="\d{4}-\d\d-\d\dT[^"]+"', tag), hook


def test_the_heading_counts_open_and_overdue_tickets(client, water_staff, make_ticket):
    tickets = [make_ticket(Status.ACCEPTED), make_ticket(Status.DISPATCHED)]
    client.force_login(water_staff)
    with time_machine.travel(tickets[0].deadline + datetime.timedelta(hours=2)):
        content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "2 open tickets" in content and "2 overdue" in content
    assert "Overdue by 2h" in row_html(content, tickets[0].number)


# Only the department's own tickets -----------------------------------------------------------------


def test_another_departments_ticket_is_never_in_the_page_the_snapshot_or_the_row_endpoint(
    client, operator, water_staff, housing_staff, housing, joint, make_ticket
):
    own = make_ticket(Status.DISPATCHED)
    theirs = actions.ticket_dispatch(make_ticket(Status.REGISTERED), actor=operator, department=housing)
    undispatched = make_ticket(Status.REGISTERED)
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    numbers = [row["number"] for row in inbox_snapshot(water_staff)["rows"]]
    assert own.number in content and own.number in numbers and joint.number in numbers
    for hidden in (theirs, undispatched):
        assert hidden.number not in content and hidden.number not in numbers
        assert client.get(f"/department/rows/{hidden.number}/").status_code == 404
    assert client.get(f"/department/rows/{own.number}/").status_code == 200

    client.force_login(housing_staff)
    numbers = [row["number"] for row in inbox_snapshot(housing_staff)["rows"]]
    assert sorted(numbers) == sorted([theirs.number, joint.number])  # lead of one, assisting on the other
    assert client.get(f"/department/rows/{own.number}/").status_code == 404


def test_closed_and_returned_tickets_leave_the_inbox(client, water_staff, make_ticket):
    closed = make_ticket(Status.CLOSED)
    returned = make_ticket(Status.RETURNED)
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    for gone in (closed, returned):
        assert gone.number not in content
        assert client.get(f"/department/rows/{gone.number}/").status_code == 404


def test_rows_carry_no_citizen_and_a_report_hides_its_reporter(client, water_staff, citizen, make_ticket):
    report = make_ticket(Status.DISPATCHED, kind="report", citizen=citizen, caller_number=CALLER, title="举报违建")
    complaint = make_ticket(Status.DISPATCHED, citizen=citizen, caller_number=CALLER)
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    snapshot = json.dumps(inbox_snapshot(water_staff), ensure_ascii=False)
    row = client.get(f"/department/rows/{report.number}/").content.decode()
    assert report.number in content and complaint.number in content and report.number in snapshot
    for text in (content, snapshot, row):
        assert "张三" not in text and "138****" not in text and "********" not in text
        for value in UNMASKED:
            assert value not in text
    for key in ("citizen", "caller_number", "external_ref"):
        assert key not in json.loads(row)["row"]


# Rows: joint handling, the sign-for time, the snapshot ---------------------------------------------


def test_the_lead_sees_whose_assisting_input_is_missing_and_the_assisting_department_gives_input(
    client, water_staff, housing_staff, joint
):
    client.force_login(water_staff)
    lead = client.get(f"/department/rows/{joint.number}/").json()["row"]
    assert lead["is_lead"] is True and [d["name"] for d in lead["assisting"]] == ["市住房和城乡建设局"]
    assert [d["name"] for d in lead["assist_missing"]] == ["市住房和城乡建设局"]
    content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    row = row_html(content, joint.number)
    assert "Joint handling" in row and "Waiting for input from:" in row and 'data-action="accept"' in row

    client.force_login(housing_staff)
    content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    row = row_html(content, joint.number)
    assert 'data-role="assisting"' in row_tag(content, joint.number)
    assert 'data-action="assist"' in row and 'data-action="accept"' not in row and 'data-action="reply"' not in row
    assert 'data-countdown="accept"' not in row  # signing for it is the lead's business
    ticket_assist_input(joint, actor=housing_staff, text="管网产权属供水公司")
    assisting = client.get(f"/department/rows/{joint.number}/").json()["row"]
    assert assisting["is_lead"] is False and assisting["input_given"] is True

    client.force_login(water_staff)
    assert client.get(f"/department/rows/{joint.number}/").json()["row"]["assist_missing"] == []


def test_snapshot_rows_are_inbox_rows_nearest_deadline_first(water_staff, make_ticket):
    later = make_ticket(Status.ACCEPTED, kind="suggestion")  # ten working days
    sooner = make_ticket(Status.DISPATCHED, kind="help")  # one working day
    inbox = inbox_snapshot(water_staff)
    assert [row["number"] for row in inbox["rows"]] == [sooner.number, later.number]
    assert inbox["total"] == 2 and inbox["overdue_count"] == 0
    assert inbox["department"] == {"id": water_staff.department_id, "name": "市水务局"}
    first = inbox["rows"][0]
    for key in ("number", "kind_display", "status", "deadline", "version", "is_lead", "district_name", "category_name"):
        assert key in first
    assert first["accept_by"] and first["window_start"] and inbox["rows"][1]["accept_by"] is None
    assert first["assisting"] == [] and first["assist_missing"] == [] and first["input_given"] is False


def test_the_snapshot_reads_a_fixed_number_of_queries_whatever_the_inbox_size(
    water_staff, operator, water, housing, make_ticket
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            inbox_snapshot(water_staff)
        return len(captured)

    def joint() -> None:
        actions.ticket_dispatch(make_ticket(Status.REGISTERED), actor=operator, department=water, assisting=[housing])

    make_ticket(Status.DISPATCHED)
    joint()
    few = queries()
    for _ in range(4):
        make_ticket(Status.ACCEPTED)
        joint()
    assert queries() == few


def test_a_department_with_more_open_tickets_than_the_inbox_holds_says_how_many(
    client, water_staff, make_ticket, monkeypatch
):
    monkeypatch.setattr("dashboards.inbox.INBOX_LIMIT", 2)
    for _ in range(3):
        make_ticket(Status.DISPATCHED)
    inbox = inbox_snapshot(water_staff)
    assert len(inbox["rows"]) == 2 and inbox["total"] == 3
    client.force_login(water_staff)
    content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "3 open tickets" in content and 'data-hidden="1"' in content


# Actions through the API, as the page sends them ---------------------------------------------------


def test_accept_through_the_pages_api_call_changes_the_row(client, water_staff, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    client.force_login(water_staff)
    response = client.post(f"/api/tickets/{ticket.number}/accept/", {}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    row = client.get(f"/department/rows/{ticket.number}/").json()["row"]
    assert row["status"] == "accepted" and row["accept_by"] is None and row["version"] == response.json()["version"]
    content = html(client.get("/department/"))
    assert 'data-status="accepted"' in row_tag(content, ticket.number)
    assert 'data-action="accept"' not in row_html(content, ticket.number)


def test_a_refused_action_shows_the_apis_message_and_changes_nothing(
    client, water_staff, housing_staff, joint, make_ticket, ticket_state
):
    ticket = make_ticket(Status.DISPATCHED)
    client.force_login(water_staff)
    before = ticket_state(ticket)
    response = client.post(
        f"/api/tickets/{ticket.number}/return/",
        {"code": "not_ours", "note": ""},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["responsible"] and "responsible" in error["message"]
    assert ticket_state(ticket) == before

    client.force_login(housing_staff)  # assisting: accepting is the lead's
    before = ticket_state(joint)
    response = client.post(f"/api/tickets/{joint.number}/accept/", {}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["message"]
    assert ticket_state(joint) == before


def test_extension_request_shows_pending_and_the_deadline_stays(client, water_staff, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    until = (ticket.deadline + datetime.timedelta(days=3)).astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    client.force_login(water_staff)
    # The page sends the hotline's local time without a zone, as a datetime-local input gives it.
    response = client.post(
        f"/api/tickets/{ticket.number}/request-extension/",
        {"until": until.strftime("%Y-%m-%dT%H:%M"), "reason": "需现场核查"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    row = client.get(f"/department/rows/{ticket.number}/").json()["row"]
    assert row["status"] == "extension_requested" and row["deadline"] == ticket.deadline.isoformat()
    assert datetime.datetime.fromisoformat(row["extension_until"]) == until.replace(second=0, microsecond=0)
    content = html(client.get("/department/", HTTP_ACCEPT_LANGUAGE="en"))
    row = row_html(content, ticket.number)
    assert "waiting for a supervisor" in row and "data-action=" not in row


def test_the_return_dialog_offers_the_configurable_reasons_and_other_departments(client, water_staff, housing):
    client.force_login(water_staff)
    content = html(client.get("/department/"))
    dialog = content[content.index('data-dialog="return"') :]
    dialog = dialog[: dialog.index("</dialog>")]
    assert 'value="not_ours" data-needs-note="0" data-names-department="1"' in dialog
    assert 'value="insufficient_info" data-needs-note="1" data-names-department="0"' in dialog
    assert f'value="{housing.pk}"' in dialog and f'value="{water_staff.department_id}"' not in dialog
    for action in ("extend", "reply", "assist"):
        assert f'data-dialog="{action}"' in content


def test_a_deactivated_return_reason_is_not_offered(client, water_staff):
    from routing.models import ReturnReason

    ReturnReason.objects.filter(code="duplicate").update(is_active=False)
    client.force_login(water_staff)
    assert 'value="duplicate"' not in html(client.get("/department/"))


# The ticket page for the department ----------------------------------------------------------------


def test_the_ticket_page_offers_the_departments_actions_and_is_live_for_it(client, water_staff, joint):
    client.force_login(water_staff)
    content = html(client.get(f"/tickets/{joint.number}/"))
    assert "hotline/live.js" in content and "hotline/pages/ticket.js" in content
    assert f'data-ticket-live data-ticket="{joint.number}"' in content
    assert 'data-action="accept"' in content and 'data-dialog="return"' in content
    assert 'id="ticket-row"' in content  # the row the dialogs read (deadline, missing input)
    assert "<form" not in content.split('id="timeline-title"')[1]


def test_the_ticket_page_shows_the_assisting_input(client, water_staff, housing_staff, supervisor, joint):
    ticket_assist_input(joint, actor=housing_staff, text="管网产权属供水公司")
    for user in (water_staff, housing_staff, supervisor):
        client.force_login(user)
        assert "管网产权属供水公司" in html(client.get(f"/tickets/{joint.number}/"))
    client.force_login(housing_staff)
    content = html(client.get(f"/tickets/{joint.number}/"))
    assert 'data-action="assist"' in content and 'data-action="accept"' not in content


def test_the_ticket_page_of_a_closed_ticket_offers_nothing(client, water_staff, make_ticket):
    ticket = make_ticket(Status.CLOSED)
    client.force_login(water_staff)
    content = html(client.get(f"/tickets/{ticket.number}/"))
    assert "data-action=" not in content.split("data-ticket-live")[1]


# Rules behind the page -----------------------------------------------------------------------------


def test_actions_per_status_and_part():
    assert inbox_actions("dispatched", is_lead=True) == ["accept", "return"]
    assert inbox_actions("reopened", is_lead=True) == ["accept", "return"]
    assert inbox_actions("accepted", is_lead=True) == ["reply", "extend", "return"]
    assert inbox_actions("extension_requested", is_lead=True) == []
    assert inbox_actions("replied", is_lead=True) == []
    assert inbox_actions("accepted", is_lead=False) == ["assist"]
    assert inbox_actions("replied", is_lead=False) == []


@translation.override("en")
def test_countdowns_turn_amber_under_a_fifth_of_the_window_and_red_past_it():
    start = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
    due = start + datetime.timedelta(hours=10)
    assert countdown(due, now=start + datetime.timedelta(hours=1), start=start) == ("ok", "9h 0m left")
    assert countdown(due, now=start + datetime.timedelta(hours=8, minutes=30), start=start)[0] == "warn"
    assert countdown(due, now=due + datetime.timedelta(hours=2), start=start) == ("overdue", "Overdue by 2h 0m")
    assert countdown(None, now=start) == ("none", "—")
    assert duration_text(3 * 86400 + 5 * 3600 + 59) == "3d 5h"
    assert duration_text(-(12 * 60 + 5)) == "12m 5s"
