"""The ticket lifecycle: every legal and illegal move, edits, roles, the timeline and ticket numbers."""

import datetime
import json
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from dashboards.models import OutboxEvent
from dashboards.publish import department_group
from tests.factories import DepartmentFactory, DistrictFactory
from tickets import actions, clock
from tickets.errors import InvalidTransition, NotAllowed, StaleVersion
from tickets.models import (
    TERMINAL,
    TRANSITIONS,
    Action,
    Satisfaction,
    Status,
    Ticket,
    TimelineEntry,
    allowed_actions,
    allowed_next_statuses,
)

UTC = datetime.UTC
LEGAL = [(status, action) for action, (sources, _target) in TRANSITIONS.items() for status in sources]
ILLEGAL = [(status, action) for status in Status for action in TRANSITIONS if status not in TRANSITIONS[action][0]]

FUNCTIONS = {
    Action.REGISTER: actions.ticket_register,
    Action.CLOSE_FIRST_CONTACT: actions.ticket_close_first_contact,
    Action.DISPATCH: actions.ticket_dispatch,
    Action.ACCEPT: actions.ticket_accept,
    Action.RETURN: actions.ticket_return,
    Action.REQUEST_EXTENSION: actions.ticket_request_extension,
    Action.APPROVE_EXTENSION: actions.ticket_approve_extension,
    Action.DENY_EXTENSION: actions.ticket_deny_extension,
    Action.REPLY: actions.ticket_reply,
    Action.CLOSE: actions.ticket_close,
    Action.REOPEN: actions.ticket_reopen,
    Action.MERGE: actions.ticket_merge,
    Action.CANCEL: actions.ticket_cancel,
    Action.REASSIGN: actions.ticket_reassign,
}
# Who does each move in real life (the ticket belongs to the water bureau).
PERFORMER = {
    Action.REGISTER: "operator",
    Action.CLOSE_FIRST_CONTACT: "operator",
    Action.DISPATCH: "operator",
    Action.ACCEPT: "water_staff",
    Action.RETURN: "water_staff",
    Action.REQUEST_EXTENSION: "water_staff",
    Action.APPROVE_EXTENSION: "supervisor",
    Action.DENY_EXTENSION: "supervisor",
    Action.REPLY: "water_staff",
    Action.CLOSE: "operator",
    Action.REOPEN: "operator",
    Action.MERGE: "operator",
    Action.CANCEL: "supervisor",
    Action.REASSIGN: "supervisor",
}


def test_the_table_covers_every_action_and_terminal_statuses_allow_nothing():
    assert set(FUNCTIONS) == set(TRANSITIONS)
    assert allowed_next_statuses(Status.REGISTERED) == [
        Status.CLOSED_FIRST_CONTACT,
        Status.DISPATCHED,
        Status.MERGED,
        Status.CANCELLED,
    ]
    for status in TERMINAL:
        assert allowed_actions(status) == []
    # Every non-terminal status has a way forward, so no ticket can get stuck.
    for status in set(Status) - TERMINAL:
        assert allowed_actions(status), status


@pytest.fixture
def people(operator, supervisor, water_staff, housing_staff, admin_user, water, housing):
    return SimpleNamespace(
        operator=operator,
        supervisor=supervisor,
        water_staff=water_staff,
        housing_staff=housing_staff,
        admin=admin_user,
        water=water,
        housing=housing,
    )


@pytest.fixture
def ticket_in(make_ticket, operator):
    """ticket_in(status): a water-bureau ticket walked to any status, merged included."""

    def make(status: str) -> Ticket:
        if status == Status.MERGED:
            main = make_ticket(Status.REGISTERED)
            ticket = actions.ticket_merge(make_ticket(Status.REGISTERED), actor=operator, into=main)
        else:
            ticket = make_ticket(status)
        assert Ticket.objects.get(pk=ticket.pk).status == status  # the fixtures reach every status
        return ticket

    return make


@pytest.fixture
def move(people, make_ticket):
    """move(action, ticket, actor=None) -> (perform, expected note): `action` with realistic input, ready to run."""

    def prepare(action: str, ticket: Ticket, actor=None):
        soon = (ticket.deadline or clock.now()) + datetime.timedelta(days=10)
        into = make_ticket(Status.REGISTERED) if action == Action.MERGE else None
        kwargs, note = {
            Action.REGISTER: ({"note": "资料齐全"}, "资料齐全"),
            Action.CLOSE_FIRST_CONTACT: ({"answer": "已电话解答办理流程"}, "已电话解答办理流程"),
            Action.DISPATCH: ({"department": people.water, "note": "请尽快处理"}, "请尽快处理"),
            Action.ACCEPT: ({"note": "已签收"}, "已签收"),
            Action.RETURN: ({"reason": "非本单位职责"}, "非本单位职责"),
            Action.REQUEST_EXTENSION: ({"until": soon, "reason": "需现场勘查"}, "需现场勘查"),
            Action.APPROVE_EXTENSION: ({"note": "同意延期"}, "同意延期"),
            Action.DENY_EXTENSION: ({"note": "理由不充分"}, "理由不充分"),
            Action.REPLY: ({"reply": "已修复供水管道"}, "已修复供水管道"),
            Action.CLOSE: ({"satisfaction": Satisfaction.SATISFIED, "note": "市民满意"}, "市民满意"),
            Action.REOPEN: ({"note": "仍然停水"}, "仍然停水"),
            Action.MERGE: ({"into": into, "note": "重复来电"}, "重复来电"),
            Action.CANCEL: ({"reason": "测试来电"}, "测试来电"),
            Action.REASSIGN: ({"department": people.housing, "note": "应由住建局办理"}, "应由住建局办理"),
        }[action]
        actor = actor or getattr(people, PERFORMER[action])
        return lambda: FUNCTIONS[action](ticket, actor=actor, **kwargs), note

    return prepare


def snapshot(ticket: Ticket) -> dict:
    """Everything a refused request must leave as it was."""
    return {
        "row": Ticket.objects.filter(pk=ticket.pk).values().get(),
        "assisting": sorted(Ticket.objects.get(pk=ticket.pk).assisting_departments.values_list("id", flat=True)),
        "timeline": list(TimelineEntry.objects.filter(ticket=ticket).values()),
        "outbox": OutboxEvent.objects.count(),
    }


def last_event_id() -> int:
    last = OutboxEvent.objects.order_by("-id").first()
    return last.id if last else 0


@pytest.mark.parametrize(("status", "action"), LEGAL, ids=[f"{s}-{a}" for s, a in LEGAL])
def test_legal_move_reaches_its_status_with_one_timeline_entry_and_one_event(status, action, ticket_in, move, people):
    ticket = ticket_in(status)
    perform, note = move(action, ticket)
    version, entries, events = ticket.version, set(ticket.timeline.values_list("id", flat=True)), last_event_id()

    result = perform()

    fresh = Ticket.objects.get(pk=ticket.pk)
    target = TRANSITIONS[action][1]
    assert result.status == fresh.status == target
    assert fresh.version == version + 1
    new_entries = list(fresh.timeline.exclude(id__in=entries))
    assert len(new_entries) == 1
    entry = new_entries[0]
    assert (entry.action, entry.from_status, entry.to_status, entry.note) == (action, status, target, note)
    assert entry.actor == getattr(people, PERFORMER[action])
    assert entry.at == fresh.updated_at
    new_events = list(OutboxEvent.objects.filter(id__gt=events))
    assert [event.type for event in new_events] == [f"ticket.{action}"]
    payload = new_events[0].payload
    assert (payload["id"], payload["ticket"], payload["from"], payload["status"]) == (
        fresh.pk,
        fresh.number,
        status,
        target,
    )


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_illegal_move_is_refused_with_the_allowed_moves_and_changes_nothing(status, action, ticket_in, move, people):
    ticket = ticket_in(status)
    # The administrator may do every move, so only the lifecycle can refuse it.
    perform, _note = move(action, ticket, actor=people.admin)
    before = snapshot(ticket)

    with pytest.raises(InvalidTransition) as refused:
        perform()

    error = refused.value
    assert error.http_status == 409
    assert error.detail["allowed_actions"] == allowed_actions(status)
    assert error.detail["allowed_next_statuses"] == allowed_next_statuses(status)
    assert ticket.number in error.message
    assert str(Status(status).label) in error.message
    for allowed in allowed_actions(status):
        assert str(Action(allowed).label) in error.message
    assert snapshot(ticket) == before


def test_stale_instance_cannot_repeat_a_move(make_ticket, water_staff):
    """The status is read under the lock, not from the caller's copy of the ticket."""
    ticket = make_ticket(Status.DISPATCHED)
    actions.ticket_accept(ticket, actor=water_staff)
    assert ticket.status == Status.DISPATCHED  # the caller's copy is out of date
    with pytest.raises(InvalidTransition):
        actions.ticket_accept(ticket, actor=water_staff)
    assert Ticket.objects.get(pk=ticket.pk).timeline.filter(action=Action.ACCEPT).count() == 1


# Ticket creation -----------------------------------------------------------------------------


def test_create_registers_with_two_entries_and_two_events(operator, district):
    ticket = actions.ticket_create(actor=operator, kind="complaint", description="路灯不亮", district=district)

    assert ticket.status == Status.REGISTERED
    assert ticket.registered_at is not None
    assert list(ticket.timeline.values_list("action", "from_status", "to_status", "actor")) == [
        (Action.CREATE, "", Status.DRAFT, operator.pk),
        (Action.REGISTER, Status.DRAFT, Status.REGISTERED, operator.pk),
    ]
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ["ticket.create", "ticket.register"]


def test_create_without_a_description_is_refused_and_leaves_nothing(operator):
    with pytest.raises(ValidationError) as refused:
        actions.ticket_create(actor=operator, kind="consultation")
    assert "description" in refused.value.message_dict
    assert not Ticket.objects.exists()
    assert not OutboxEvent.objects.exists()
    # The refused ticket did not use up a number.
    assert actions.ticket_create(actor=operator, title="咨询社保").number.endswith("00001")


def test_department_staff_cannot_open_tickets(water_staff):
    with pytest.raises(NotAllowed):
        actions.ticket_create(actor=water_staff, title="自建工单")
    assert not Ticket.objects.exists()


# Numbers ---------------------------------------------------------------------------------------


def test_numbers_are_digits_dated_in_shanghai_and_sequential_per_day(operator):
    # 23:30 UTC on 1 March is 07:30 on 2 March in Shanghai, whatever zone the request runs in.
    with time_machine.travel(datetime.datetime(2024, 3, 1, 23, 30, tzinfo=UTC), tick=False):
        with timezone.override("UTC"):
            first = actions.ticket_create(actor=operator, title="一")
        second = actions.ticket_create(actor=operator, title="二")
    with time_machine.travel(datetime.datetime(2024, 3, 2, 16, 5, tzinfo=UTC), tick=False):  # 00:05 on 3 March
        third = actions.ticket_create(actor=operator, title="三")

    assert [first.number, second.number, third.number] == ["2024030200001", "2024030200002", "2024030300001"]
    assert all(t.number.isdigit() for t in (first, second, third))


def test_numbers_are_unique_across_many_tickets(operator):
    numbers = [actions.ticket_create(actor=operator, title=f"工单{i}", register=False).number for i in range(30)]
    assert len(set(numbers)) == 30
    assert [int(n[-5:]) for n in numbers] == list(range(1, 31))


# Moves with their own rules -------------------------------------------------------------------


def test_return_needs_a_reason(make_ticket, water_staff):
    ticket = make_ticket(Status.DISPATCHED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_return(ticket, actor=water_staff, reason="   ")
    assert "reason" in refused.value.message_dict
    assert snapshot(ticket) == before


def test_return_clears_the_departments_counts_returns_and_tells_every_department(
    make_ticket, operator, water_staff, water, housing
):
    ticket = make_ticket(Status.REGISTERED)
    ticket = actions.ticket_dispatch(ticket, actor=operator, department=water, assisting=[housing])
    events = last_event_id()

    ticket = actions.ticket_return(ticket, actor=water_staff, reason="非本单位职责")

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.status == Status.RETURNED
    assert (fresh.lead_department, fresh.deadline, fresh.return_count) == (None, None, 1)
    assert not fresh.assisting_departments.exists()
    entry = fresh.timeline.last()
    assert entry.data == {"reason": "非本单位职责", "department": water.pk}
    # Both inboxes that held the ticket must hear it is gone.
    (event,) = OutboxEvent.objects.filter(id__gt=events)
    assert {department_group(water.pk), department_group(housing.pk)} <= set(event.groups)

    ticket = actions.ticket_dispatch(ticket, actor=operator, department=water)
    ticket = actions.ticket_return(ticket, actor=water_staff, reason="仍非本单位职责")
    assert Ticket.objects.get(pk=ticket.pk).return_count == 2


def test_extension_moves_the_deadline_only_when_approved(make_ticket, water_staff, supervisor):
    ticket = make_ticket(Status.ACCEPTED)
    deadline = ticket.deadline
    until = deadline + datetime.timedelta(days=7)

    ticket = actions.ticket_request_extension(ticket, actor=water_staff, until=until, reason="需现场勘查")
    assert (ticket.status, ticket.deadline, ticket.extension_until) == (Status.EXTENSION_REQUESTED, deadline, until)

    ticket = actions.ticket_approve_extension(ticket, actor=supervisor)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.deadline, fresh.extension_until) == (Status.ACCEPTED, until, None)
    assert fresh.timeline.last().data == {"previous_deadline": deadline.isoformat(), "deadline": until.isoformat()}


def test_denied_extension_keeps_the_deadline_and_needs_a_reason(make_ticket, supervisor):
    ticket = make_ticket(Status.EXTENSION_REQUESTED)
    deadline = ticket.deadline
    with pytest.raises(ValidationError):
        actions.ticket_deny_extension(ticket, actor=supervisor, note="")

    actions.ticket_deny_extension(ticket, actor=supervisor, note="理由不充分")

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.deadline, fresh.extension_until) == (Status.ACCEPTED, deadline, None)


def test_extension_must_ask_for_a_later_date(make_ticket, water_staff):
    ticket = make_ticket(Status.ACCEPTED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_request_extension(ticket, actor=water_staff, until=ticket.deadline, reason="需现场勘查")
    assert "until" in refused.value.message_dict
    assert snapshot(ticket) == before


@pytest.mark.parametrize("years", [2, 7973])
def test_deadlines_typed_in_by_hand_are_at_most_a_year_ahead(make_ticket, operator, water, water_staff, years):
    far = clock.now() + datetime.timedelta(days=365 * years)
    ticket = make_ticket(Status.ACCEPTED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_request_extension(ticket, actor=water_staff, until=far, reason="需现场勘查")
    assert "until" in refused.value.message_dict
    assert snapshot(ticket) == before

    registered = make_ticket(Status.REGISTERED)
    before = snapshot(registered)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_dispatch(registered, actor=operator, department=water, deadline=far)
    assert "deadline" in refused.value.message_dict
    assert snapshot(registered) == before


def test_overdue_ticket_cannot_be_extended_to_a_date_already_past(make_ticket, water_staff):
    ticket = make_ticket(Status.ACCEPTED)
    with time_machine.travel(ticket.deadline + datetime.timedelta(days=3)):
        before = snapshot(ticket)
        with pytest.raises(ValidationError) as refused:
            actions.ticket_request_extension(
                ticket, actor=water_staff, until=ticket.deadline + datetime.timedelta(days=1), reason="需现场勘查"
            )
        assert "until" in refused.value.message_dict
        assert snapshot(ticket) == before


def test_reopen_marks_unsatisfied_and_returns_to_the_same_department(make_ticket, operator, water_staff, water):
    ticket = make_ticket(Status.REPLIED)
    with time_machine.travel(ticket.replied_at + datetime.timedelta(days=20)):
        ticket = actions.ticket_reopen(ticket, actor=operator, note="仍然停水")
        fresh = Ticket.objects.get(pk=ticket.pk)
        assert fresh.status == Status.REOPENED
        assert fresh.satisfaction == Satisfaction.UNSATISFIED
        assert (fresh.reply, fresh.replied_at, fresh.lead_department) == ("", None, water)
        assert fresh.deadline > clock.now()  # a fresh time limit, not the long-past one
        assert actions.ticket_accept(fresh, actor=water_staff).status == Status.ACCEPTED


def test_reopen_needs_a_note(make_ticket, operator):
    ticket = make_ticket(Status.REPLIED)
    with pytest.raises(ValidationError):
        actions.ticket_reopen(ticket, actor=operator, note=" ")
    assert Ticket.objects.get(pk=ticket.pk).status == Status.REPLIED


def test_close_requires_a_satisfied_result(make_ticket, operator):
    ticket = make_ticket(Status.REPLIED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_close(ticket, actor=operator, satisfaction=Satisfaction.UNSATISFIED)
    assert "satisfaction" in refused.value.message_dict
    assert snapshot(ticket) == before

    closed = actions.ticket_close(ticket, actor=operator, satisfaction=Satisfaction.BASICALLY)
    assert (closed.status, closed.satisfaction) == (Status.CLOSED, Satisfaction.BASICALLY)
    assert closed.closed_at is not None


def test_merge_points_the_duplicate_at_the_main_ticket(make_ticket, operator):
    main, duplicate = make_ticket(Status.DISPATCHED), make_ticket(Status.REGISTERED)
    merged = actions.ticket_merge(duplicate, actor=operator, into=main)
    assert (merged.status, merged.merged_into) == (Status.MERGED, main)
    assert merged.timeline.last().data == {"into": main.number}
    assert Ticket.objects.get(pk=main.pk).status == Status.DISPATCHED


@pytest.mark.parametrize("main_status", [Status.MERGED, Status.CANCELLED])
def test_merge_into_a_merged_or_cancelled_ticket_is_refused(ticket_in, make_ticket, operator, main_status):
    main, duplicate = ticket_in(main_status), make_ticket(Status.REGISTERED)
    before = snapshot(duplicate)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_merge(duplicate, actor=operator, into=main)
    assert "into" in refused.value.message_dict
    assert snapshot(duplicate) == before


def test_merge_into_a_ticket_merged_meanwhile_is_refused(make_ticket, operator):
    """The main ticket's status is read when merging, not from the caller's copy."""
    main, other, duplicate = make_ticket(Status.REGISTERED), make_ticket(Status.REGISTERED), make_ticket()
    actions.ticket_merge(main, actor=operator, into=other)
    assert main.status == Status.REGISTERED  # stale copy
    with pytest.raises(ValidationError):
        actions.ticket_merge(duplicate, actor=operator, into=main)
    assert Ticket.objects.get(pk=duplicate.pk).status == Status.REGISTERED


def test_merge_into_itself_is_refused(make_ticket, operator):
    ticket = make_ticket(Status.REGISTERED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_merge(ticket, actor=operator, into=Ticket.objects.get(pk=ticket.pk))
    assert "into" in refused.value.message_dict
    assert snapshot(ticket) == before


def test_dispatch_to_an_inactive_department_is_refused(make_ticket, operator, water, housing):
    ticket = make_ticket(Status.REGISTERED)
    closed_bureau = DepartmentFactory(code="abolished", name="已撤销局", is_active=False)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_dispatch(ticket, actor=operator, department=closed_bureau)
    assert "department" in refused.value.message_dict
    with pytest.raises(ValidationError):
        actions.ticket_dispatch(ticket, actor=operator, department=water, assisting=[housing, closed_bureau])
    assert snapshot(ticket) == before


def test_dispatch_takes_an_explicit_deadline_or_the_kinds_time_limit(make_ticket, operator, water):
    monday_nine = datetime.datetime(2024, 6, 17, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a week with no holiday
    with time_machine.travel(monday_nine, tick=False):
        complaint = actions.ticket_dispatch(make_ticket(kind="complaint"), actor=operator, department=water)
        assert complaint.deadline == monday_nine + datetime.timedelta(days=7)  # five working days
        with pytest.raises(ValidationError):
            actions.ticket_dispatch(make_ticket(), actor=operator, department=water, deadline=monday_nine)
        chosen = monday_nine + datetime.timedelta(days=2)
        assert actions.ticket_dispatch(make_ticket(), actor=operator, department=water, deadline=chosen).deadline == (
            chosen
        )


# Who may do what -------------------------------------------------------------------------------


def test_another_departments_staff_cannot_accept(make_ticket, housing_staff):
    ticket = make_ticket(Status.DISPATCHED)
    before = snapshot(ticket)
    with pytest.raises(NotAllowed):
        actions.ticket_accept(ticket, actor=housing_staff)
    assert snapshot(ticket) == before


def test_department_acting_on_a_ticket_a_colleague_just_returned_is_told_its_status(make_ticket, water_staff):
    ticket = make_ticket(Status.ACCEPTED)
    actions.ticket_return(Ticket.objects.get(pk=ticket.pk), actor=water_staff, reason="非本单位职责")
    with pytest.raises(InvalidTransition) as refused:
        actions.ticket_reply(ticket, actor=water_staff, reply="已处理")
    assert refused.value.detail["status"] == Status.RETURNED


def test_operator_cannot_approve_an_extension(make_ticket, operator):
    ticket = make_ticket(Status.EXTENSION_REQUESTED)
    before = snapshot(ticket)
    with pytest.raises(NotAllowed):
        actions.ticket_approve_extension(ticket, actor=operator)
    assert snapshot(ticket) == before


def test_department_staff_cannot_dispatch_or_close(make_ticket, water_staff, water):
    registered, replied = make_ticket(Status.REGISTERED), make_ticket(Status.REPLIED)
    with pytest.raises(NotAllowed):
        actions.ticket_dispatch(registered, actor=water_staff, department=water)
    with pytest.raises(NotAllowed):
        actions.ticket_close(replied, actor=water_staff, satisfaction=Satisfaction.SATISFIED)
    assert Ticket.objects.get(pk=replied.pk).status == Status.REPLIED


# Edits -----------------------------------------------------------------------------------------


def test_edit_records_the_changed_fields_with_the_phone_masked(make_ticket, operator):
    ticket = make_ticket(Status.DISPATCHED)
    old_district = ticket.district_id
    elsewhere = DistrictFactory(code="441303", name="惠阳区")
    events = last_event_id()

    edited = actions.ticket_update(
        ticket,
        actor=operator,
        version=ticket.version,
        title="小区停水五天",
        caller_number="138 0013 8000",
        district=elsewhere,
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert edited.version == fresh.version == ticket.version + 1
    assert (fresh.title, fresh.caller_number, fresh.district) == ("小区停水五天", "+8613800138000", elsewhere)
    entry = fresh.timeline.last()
    assert (entry.action, entry.from_status, entry.to_status, entry.actor) == (
        Action.EDIT,
        Status.DISPATCHED,
        Status.DISPATCHED,
        operator,
    )
    assert entry.data == {
        "changed": {
            "title": ["小区停水", "小区停水五天"],
            "caller_number": ["", "138****8000"],
            "district": [old_district, elsewhere.pk],
        }
    }
    (event,) = OutboxEvent.objects.filter(id__gt=events)
    assert event.type == "ticket.edit"
    assert event.payload["changed"] == ["caller_number", "district", "title"]
    assert not any(phone in json.dumps(event.payload) for phone in ("13800138000", "138****8000"))


def test_edit_with_a_stale_version_is_refused_and_the_first_edit_stays(make_ticket, operator, supervisor):
    ticket = make_ticket(Status.ACCEPTED)
    seen = ticket.version
    actions.ticket_update(ticket, actor=operator, version=seen, title="第一人修改")
    before = snapshot(ticket)

    with pytest.raises(StaleVersion) as refused:
        actions.ticket_update(ticket, actor=supervisor, version=seen, title="第二人修改")

    assert refused.value.http_status == 409
    assert refused.value.detail == {"current_version": seen + 1}
    assert snapshot(ticket) == before
    assert Ticket.objects.get(pk=ticket.pk).title == "第一人修改"


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_tickets_refuse_edits(ticket_in, operator, status):
    ticket = ticket_in(status)
    before = snapshot(ticket)
    with pytest.raises(InvalidTransition) as refused:
        actions.ticket_update(ticket, actor=operator, version=ticket.version, title="改标题")
    assert refused.value.detail["allowed_actions"] == []
    assert snapshot(ticket) == before


def test_edit_that_changes_nothing_writes_nothing(make_ticket, operator):
    ticket = make_ticket(Status.REGISTERED)
    before = snapshot(ticket)
    actions.ticket_update(ticket, actor=operator, version=ticket.version, title=ticket.title, kind=ticket.kind)
    assert snapshot(ticket) == before


def test_invalid_edit_is_refused_and_changes_nothing(make_ticket, operator):
    ticket = make_ticket(Status.REGISTERED)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as refused:
        actions.ticket_update(ticket, actor=operator, version=ticket.version, kind="gossip")
    assert "kind" in refused.value.message_dict
    with pytest.raises(TypeError):
        actions.ticket_update(ticket, actor=operator, version=ticket.version, status=Status.CLOSED)
    assert snapshot(ticket) == before


def test_department_staff_cannot_edit(make_ticket, water_staff):
    ticket = make_ticket(Status.ACCEPTED)
    with pytest.raises(NotAllowed):
        actions.ticket_update(ticket, actor=water_staff, version=ticket.version, title="部门改标题")


# The timeline is append-only -------------------------------------------------------------------


@pytest.fixture
def history(make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    return ticket, list(ticket.timeline.values())


def _entry_rewritten():
    entry = TimelineEntry.objects.first()
    entry.note = "改写历史"
    return entry


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(lambda: _entry_rewritten().save(), id="save"),
        pytest.param(lambda: TimelineEntry.objects.first().delete(), id="delete"),
        pytest.param(lambda: TimelineEntry.objects.filter(action="create").update(note="x"), id="queryset-update"),
        pytest.param(lambda: TimelineEntry.objects.all().delete(), id="queryset-delete"),
        pytest.param(lambda: Ticket.objects.first().timeline.update(note="x"), id="related-update"),
        pytest.param(lambda: TimelineEntry.objects.bulk_update([_entry_rewritten()], ["note"]), id="bulk-update"),
        pytest.param(
            lambda: TimelineEntry.objects.update_or_create(pk=TimelineEntry.objects.first().pk, defaults={"note": "x"}),
            id="update-or-create",
        ),
    ],
)
def test_timeline_cannot_be_changed_or_deleted(history, attempt):
    ticket, before = history
    with pytest.raises(TypeError, match="timeline"), transaction.atomic():
        attempt()
    assert list(ticket.timeline.values()) == before


def test_ticket_with_a_history_cannot_be_deleted(history):
    ticket, before = history
    with pytest.raises(ProtectedError), transaction.atomic():
        Ticket.objects.get(pk=ticket.pk).delete()
    assert list(ticket.timeline.values()) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tickets_timelineentry SET note = 'x'",
        pytest.param(
            "DELETE FROM tickets_timelineentry",
            marks=pytest.mark.skipif(
                connection.vendor != "postgresql", reason="SQLite's flush is a DELETE, so only UPDATE is refused there"
            ),
        ),
    ],
)
def test_database_refuses_raw_sql_on_the_timeline(history, statement):
    ticket, before = history
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert list(ticket.timeline.values()) == before


@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
def test_timeline_endpoint_only_reads(history, api, admin_user, method):
    ticket, before = history
    response = getattr(api.as_user(admin_user), method)(
        f"/api/tickets/{ticket.number}/timeline/", {"note": "改写历史"}, format="json"
    )
    assert response.status_code == 405
    assert list(ticket.timeline.values()) == before


@pytest.mark.parametrize("status", [Status.DISPATCHED, Status.ACCEPTED, Status.REOPENED])
def test_kind_cannot_change_while_a_department_holds_the_ticket(make_ticket, operator, status):
    """Turning a report into a complaint would unmask the reporter to the department at once."""
    ticket = make_ticket(status, kind="report")
    with pytest.raises(ValidationError) as refused:
        actions.ticket_update(ticket, actor=operator, version=ticket.version, kind="complaint")
    assert "kind" in refused.value.message_dict
    ticket.refresh_from_db()
    assert ticket.kind == "report"
