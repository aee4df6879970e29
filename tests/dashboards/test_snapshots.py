"""Live views: the registry of snapshot parts, rows shaped like the API's ticket, one consistent read."""

import pytest

from dashboards import snapshots
from dashboards.publish import SUPERVISORS, department_group, publish
from dashboards.snapshots import VIEWS, snapshot_build, snapshot_part, ticket_row, view_get
from tickets.api.serializers import TicketSerializer
from tickets.models import Status


@pytest.fixture
def extra_part():
    """Register a part for a test and take it away afterwards."""
    added = []

    def register(view: str, key: str, function):
        snapshot_part(view, key)(function)
        added.append((view, key))

    yield register
    for view, key in added:
        del VIEWS[view].parts[key]


def test_an_app_adds_a_part_to_a_view_and_the_page_finds_it_under_its_key(supervisor, extra_part):
    extra_part("supervisor", "queues", lambda user: {"waiting": 3, "for": user.username})
    snapshot = snapshot_build(VIEWS["supervisor"], supervisor)
    assert snapshot["data"]["queues"] == {"waiting": 3, "for": "supervisor"}
    assert "tickets" in snapshot["data"]  # the view's own part is still there


def test_a_key_can_be_registered_once_per_view(extra_part):
    with pytest.raises(ValueError, match="already has a snapshot part 'tickets'"):
        snapshot_part("supervisor", "tickets")(lambda user: {})
    with pytest.raises(ValueError, match="already registered"):
        snapshots.view_register("supervisor", roles=(), streams=lambda user: [])


def test_the_snapshot_carries_the_last_number_of_each_stream(supervisor, water_staff):
    publish("ticket.test", {"id": 1}, [SUPERVISORS, department_group(water_staff.department_id)])
    publish("ticket.test", {"id": 2}, [SUPERVISORS])
    assert snapshot_build(VIEWS["supervisor"], supervisor)["streams"] == {SUPERVISORS: 2}
    department = snapshot_build(VIEWS["department"], water_staff)
    assert department["streams"] == {department_group(water_staff.department_id): 1}


def test_default_views_follow_the_landing_page_of_the_role(operator, supervisor, water_staff, admin_user):
    assert [view_get(None, user).name for user in (operator, supervisor, water_staff, admin_user)] == [
        "operator",
        "supervisor",
        "department",
        "supervisor",
    ]
    assert view_get("nonsense", operator) is None


def test_rows_use_the_apis_keys_so_pages_can_mix_both(rf, operator, water_staff, citizen, make_ticket):
    ticket = make_ticket(Status.DISPATCHED, citizen=citizen, caller_number="13800138000")
    api_keys = set(TicketSerializer.Meta.fields)
    hotline = ticket_row(ticket, operator, now=ticket.created_at)
    department = ticket_row(ticket, water_staff, now=ticket.created_at)
    assert set(hotline) - {"urgency_display"} <= api_keys
    assert set(department) - {"is_lead", "urgency_display"} <= api_keys
    assert hotline["citizen"]["id_masked"] == "110105********002X" and hotline["caller_number"] == "138****8000"
    assert "citizen" not in department and "caller_number" not in department and department["is_lead"] is True
    request = rf.get("/")
    request.user = operator
    api = TicketSerializer(ticket, context={"request": request, "now": ticket.created_at}).data
    for key in ("number", "status", "status_display", "kind_display", "lead_department", "version", "overdue"):
        assert hotline[key] == api[key], key


def test_a_reports_reporter_reaches_hotline_rows_masked_and_department_rows_not_at_all(
    operator, water_staff, citizen, make_ticket
):
    report = make_ticket(Status.DISPATCHED, kind="report", citizen=citizen, caller_number="13800138000")
    assert ticket_row(report, operator, now=report.created_at)["citizen"]["id_masked"] == "110105********002X"
    department = ticket_row(report, water_staff, now=report.created_at)
    assert "citizen" not in department and "caller_number" not in department
