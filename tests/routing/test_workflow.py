"""Dispatch and the departments' workflow: auto-dispatch, suggestions, returns with reasons, joint input, sign-for."""

import datetime
import importlib
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError

from dashboards.models import OutboxEvent
from dashboards.publish import SUPERVISORS
from routing.actions import rule_save, ticket_assist_input
from routing.calendar import seed_from_chinese_calendar
from routing.deadlines import sign_for_deadline
from routing.models import AssistInput
from routing.rules import RuleSpec
from tests.factories import DepartmentFactory, UserFactory
from tickets import actions
from tickets.models import Action, Department, Role, Status, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def return_reasons(db):
    """The migration's default return reasons (a flushing test elsewhere may have removed them)."""
    importlib.import_module("routing.migrations.0005_seed_return_reasons").seed(apps, None)


@pytest.fixture
def rule(water):
    def save(**fields):
        fields.setdefault("name", "测试规则")
        fields.setdefault("lead_department", water.pk)
        return rule_save(RuleSpec(**fields), actor=None)

    return save


@pytest.fixture
def urban(db):
    return DepartmentFactory(code="urban", name="市城市管理局")


@pytest.fixture
def urban_staff(urban):
    return UserFactory(username="urban_staff", role=Role.DEPARTMENT, department=urban)


def post(api, user, path: str, body: dict | None = None):
    return api.as_user(user).post(path, body or {}, format="json")


def url(ticket: Ticket, action: str = "") -> str:
    return f"/api/tickets/{ticket.number}/" + (f"{action}/" if action else "")


def last_event_id() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def last_entry(ticket: Ticket):
    return ticket.timeline.order_by("-id").first()  # by id: time-travelling tests write entries out of time order


# --- auto-dispatch and the suggestion -------------------------------------------------------------


def test_a_matching_auto_dispatch_rule_dispatches_at_registration(rule, operator, water, housing, category_tree):
    chosen = rule(
        categories=(category_tree["utilities"].pk,),
        assisting_departments=(housing.pk,),
        urgency="urgent",
        limit_hours=4,
        auto_dispatch=True,
    )
    events = last_event_id()

    with time_machine.travel(at(2026, 3, 3, 10, 0), tick=False):
        ticket = actions.ticket_create(
            actor=operator, kind="complaint", description="小区停水", category=category_tree["water_cut"]
        )

    ticket = fresh(ticket)
    assert (ticket.status, ticket.lead_department, ticket.urgency) == (Status.DISPATCHED, water, "urgent")
    assert list(ticket.assisting_departments.all()) == [housing]
    assert ticket.deadline == at(2026, 3, 3, 14, 0)
    entry = last_entry(ticket)
    assert (entry.action, entry.actor, entry.data["rule"]) == (Action.DISPATCH, None, chosen.pk)
    assert entry.data["urgency"] == ["normal", "urgent"]
    assert entry.data["accept_by"] == at(2026, 3, 3, 14, 0).isoformat()  # never later than the deadline
    assert "测试规则" in entry.note
    types = list(OutboxEvent.objects.filter(id__gt=events).order_by("id").values_list("type", flat=True))
    assert types == ["ticket.create", "ticket.register", "ticket.dispatch"]


def test_a_draft_registered_through_the_api_is_dispatched_by_its_rule(api, rule, operator, water):
    rule(kinds=("help",), auto_dispatch=True)
    draft = actions.ticket_create(actor=operator, register=False, kind="help", description="老人被困电梯")

    response = post(api, operator, url(draft, "register"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.DISPATCHED
    assert response.json()["lead_department"] == water.pk


def test_a_rule_without_auto_dispatch_leaves_the_ticket_for_a_person(rule, operator, water):
    rule(kinds=("complaint",))

    ticket = actions.ticket_create(actor=operator, kind="complaint", description="噪音")

    assert fresh(ticket).status == Status.REGISTERED
    assert not fresh(ticket).timeline.filter(action=Action.DISPATCH).exists()


def test_auto_dispatch_to_a_department_closed_since_leaves_the_ticket_on_the_queue(rule, operator, water, housing):
    rule(kinds=("complaint",), assisting_departments=(housing.pk,), auto_dispatch=True)
    Department.objects.filter(pk=water.pk).update(is_active=False)

    ticket = actions.ticket_create(actor=operator, kind="complaint", description="噪音")

    ticket = fresh(ticket)
    assert (ticket.status, ticket.lead_department, ticket.deadline) == (Status.REGISTERED, None, None)
    assert not ticket.assisting_departments.exists()
    assert [e.action for e in ticket.timeline.all()] == [Action.CREATE, Action.REGISTER]


def test_a_manual_dispatch_without_choices_takes_the_suggestion(api, rule, operator, water, housing, make_ticket):
    chosen = rule(kinds=("complaint",), assisting_departments=(housing.pk,), limit_hours=24)

    with time_machine.travel(at(2026, 3, 3, 10, 0), tick=False):
        ticket = make_ticket(kind="complaint")
        suggestion = api.as_user(operator).get(url(ticket, "routing")).json()["suggestion"]
        response = post(api, operator, url(ticket, "dispatch"))

    assert suggestion["lead_department"]["id"] == water.pk
    assert [d["id"] for d in suggestion["assisting_departments"]] == [housing.pk]
    assert suggestion["deadline"] == at(2026, 3, 4, 10, 0).isoformat()
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["lead_department"], body["assisting_departments"]) == (water.pk, [housing.pk])
    assert datetime.datetime.fromisoformat(body["deadline"]) == at(2026, 3, 4, 10, 0)
    assert last_entry(ticket).data["rule"] == chosen.pk


def test_choosing_another_department_drops_the_rules_helpers_and_limit(api, rule, operator, housing, make_ticket):
    rule(kinds=("complaint",), assisting_departments=(housing.pk,), limit_hours=24)
    urban = DepartmentFactory(code="urban")
    ticket = make_ticket(kind="complaint")

    response = post(api, operator, url(ticket, "dispatch"), {"department": urban.pk})

    assert response.status_code == 200, response.content
    assert response.json()["assisting_departments"] == []
    assert "rule" not in last_entry(ticket).data


def test_a_dispatch_without_department_or_suggestion_names_the_field(api, operator, make_ticket, ticket_state):
    ticket = make_ticket()
    before = ticket_state(ticket)

    response = post(api, operator, url(ticket, "dispatch"))

    assert response.status_code == 400
    assert "department" in response.json()["error"]["fields"]
    assert ticket_state(ticket) == before


# --- sign-for ------------------------------------------------------------------------------------


def test_dispatch_and_reopen_record_when_the_department_must_accept(api, operator, water, water_staff, make_ticket):
    seed_from_chinese_calendar(years=[2026])
    with time_machine.travel(at(2026, 9, 30, 16, 0), tick=False):
        ticket = make_ticket()
        ticket = actions.ticket_dispatch(ticket, actor=operator, department=water)
        shown = api.as_user(water_staff).get(url(ticket, "routing")).json()

    # One working day, across the National Day week.
    assert last_entry(ticket).data["accept_by"] == at(2026, 10, 8, 16, 0).isoformat()
    assert datetime.datetime.fromisoformat(shown["accept_by"]) == at(2026, 10, 8, 16, 0)

    ticket = actions.ticket_accept(ticket, actor=water_staff)
    assert api.as_user(water_staff).get(url(ticket, "routing")).json()["accept_by"] is None

    ticket = actions.ticket_reply(ticket, actor=water_staff, reply="已修复")
    with time_machine.travel(at(2026, 10, 12, 9, 0), tick=False):
        ticket = actions.ticket_reopen(ticket, actor=operator, note="仍然停水")
    expected = sign_for_deadline(
        at(2026, 10, 12, 9, 0), kind=ticket.kind, urgency=ticket.urgency, deadline=ticket.deadline
    )
    assert last_entry(ticket).data["accept_by"] == expected.isoformat()


# --- returns -------------------------------------------------------------------------------------


def test_departments_read_the_configurable_return_reasons(api, water_staff):
    response = api.as_user(water_staff).get("/api/routing/return-reasons/")

    assert response.status_code == 200
    codes = [r["code"] for r in response.json()]
    assert codes == ["not_ours", "insufficient_info", "duplicate", "outside_powers", "other"]
    assert response.json()[0]["names_department"] is True


def test_return_with_a_reason_code_and_a_note(api, water, water_staff, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)

    response = post(api, water_staff, url(ticket, "return"), {"code": "insufficient_info", "note": "缺少具体地址"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.RETURNED
    entry = last_entry(ticket)
    assert entry.data == {"reason": "诉求信息不全", "code": "insufficient_info", "department": water.pk}
    assert entry.note == "缺少具体地址"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "lazy", "note": "不想办"}, "code"),
        ({"code": "insufficient_info"}, "note"),
        ({"code": "not_ours", "note": "不归我们管"}, "responsible"),
        ({}, "reason"),
    ],
)
def test_a_bad_return_is_refused_and_changes_nothing(api, water_staff, make_ticket, ticket_state, body, field):
    ticket = make_ticket(Status.DISPATCHED)
    before = ticket_state(ticket)

    response = post(api, water_staff, url(ticket, "return"), body)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert ticket_state(ticket) == before


def test_a_return_naming_the_responsible_department_suggests_it_next(api, operator, water_staff, housing, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    body = {"code": "not_ours", "responsible": housing.pk, "note": "属住建部门职责"}

    assert post(api, water_staff, url(ticket, "return"), body).status_code == 200
    assert last_entry(ticket).data["responsible"] == housing.pk
    suggestion = api.as_user(operator).get(url(ticket, "routing")).json()["suggestion"]
    assert (suggestion["source"], suggestion["lead_department"]["id"]) == ("return", housing.pk)
    queue = api.as_user(operator).get("/api/routing/queue/").json()["results"]
    assert queue[0]["suggestion"]["lead_department"]["id"] == housing.pk

    response = post(api, operator, url(ticket, "dispatch"))
    assert response.status_code == 200, response.content
    assert response.json()["lead_department"] == housing.pk


def test_a_department_cannot_name_itself_as_responsible(api, water, water_staff, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)

    response = post(api, water_staff, url(ticket, "return"), {"code": "not_ours", "responsible": water.pk})

    assert response.status_code == 400
    assert "responsible" in response.json()["error"]["fields"]


def test_a_ticket_returned_twice_is_flagged_and_only_a_supervisor_dispatches_it(
    api, operator, supervisor, water, water_staff, make_ticket
):
    ticket = make_ticket(Status.RETURNED)
    assert post(api, operator, url(ticket, "dispatch"), {"department": water.pk}).status_code == 200
    events = last_event_id()

    returned = post(api, water_staff, url(ticket, "return"), {"code": "outside_powers", "note": "属司法程序"})

    assert returned.status_code == 200
    assert returned.json()["return_count"] == 2 and returned.json()["return_flagged"] is True
    assert last_entry(ticket).data["flagged"] is True
    flagged = OutboxEvent.objects.get(id__gt=events, type="ticket.return_flagged")
    assert flagged.groups == [SUPERVISORS]
    assert flagged.payload["return_count"] == 2
    assert flagged.payload["from"] == Status.DISPATCHED and flagged.payload["status"] == Status.RETURNED
    assert "lead_department" in flagged.payload["changed"]

    refused = post(api, operator, url(ticket, "dispatch"), {"department": water.pk})
    assert refused.status_code == 403
    assert fresh(ticket).status == Status.RETURNED
    assert post(api, supervisor, url(ticket, "dispatch"), {"department": water.pk}).status_code == 200


# --- joint handling (联办) ------------------------------------------------------------------------


@pytest.fixture
def joint(operator, water, housing, urban, water_staff, make_ticket):
    """A ticket led by water with housing and urban assisting, accepted by water."""
    ticket = make_ticket()
    ticket = actions.ticket_dispatch(ticket, actor=operator, department=water, assisting=[housing, urban])
    return actions.ticket_accept(ticket, actor=water_staff)


def test_the_lead_replies_only_after_every_assisting_department_gave_input_or_was_waived(
    api, joint, supervisor, water_staff, housing_staff, housing, urban
):
    refused = post(api, water_staff, url(joint, "reply"), {"reply": "已处理"})
    assert refused.status_code == 400
    assert "assisting" in refused.json()["error"]["fields"]

    given = post(api, housing_staff, url(joint, "assist"), {"text": "已核实该小区管网产权"})
    assert given.status_code == 201, given.content
    assert (given.json()["department"], given.json()["waived"]) == (housing.pk, False)
    assert post(api, water_staff, url(joint, "reply"), {"reply": "已处理"}).status_code == 400

    waived = post(
        api, supervisor, url(joint, "assist"), {"department": urban.pk, "text": "城管局逾期未反馈，准予先行答复"}
    )
    assert waived.status_code == 201, waived.content
    assert waived.json()["waived"] is True

    replied = post(api, water_staff, url(joint, "reply"), {"reply": "已处理"})
    assert replied.status_code == 200, replied.content
    listed = api.as_user(water_staff).get(url(joint, "assist")).json()
    assert [(i["department"], i["waived"]) for i in listed] == [(housing.pk, False), (urban.pk, True)]


def test_input_given_before_a_new_dispatch_does_not_count(
    operator, water, housing, water_staff, housing_staff, make_ticket
):
    with time_machine.travel(at(2026, 3, 3, 9, 0), tick=False):
        ticket = actions.ticket_dispatch(make_ticket(), actor=operator, department=water, assisting=[housing])
    with time_machine.travel(at(2026, 3, 3, 10, 0), tick=False):
        ticket_assist_input(ticket, actor=housing_staff, text="第一次意见")
        ticket = actions.ticket_return(ticket, actor=water_staff, reason="非本单位职责")
    with time_machine.travel(at(2026, 3, 3, 11, 0), tick=False):
        ticket = actions.ticket_dispatch(ticket, actor=operator, department=water, assisting=[housing])
        ticket = actions.ticket_accept(ticket, actor=water_staff)
        with pytest.raises(ValidationError) as refused:
            actions.ticket_reply(ticket, actor=water_staff, reply="已处理")
    assert "assisting" in refused.value.message_dict


def test_a_reopened_ticket_needs_the_assisting_departments_input_again(
    operator, water, housing, water_staff, housing_staff, make_ticket
):
    with time_machine.travel(at(2026, 3, 3, 9, 0), tick=False):
        ticket = actions.ticket_dispatch(make_ticket(), actor=operator, department=water, assisting=[housing])
        ticket = actions.ticket_accept(ticket, actor=water_staff)
        ticket_assist_input(ticket, actor=housing_staff, text="第一次意见")
        ticket = actions.ticket_reply(ticket, actor=water_staff, reply="已处理")
    with time_machine.travel(at(2026, 3, 4, 9, 0), tick=False):
        ticket = actions.ticket_reopen(ticket, actor=operator, note="市民反映问题仍未解决")
        ticket = actions.ticket_accept(ticket, actor=water_staff)
        with pytest.raises(ValidationError) as refused:
            actions.ticket_reply(ticket, actor=water_staff, reply="再次处理")
        assert "assisting" in refused.value.message_dict
        ticket_assist_input(ticket, actor=housing_staff, text="已再次配合核查")
        assert actions.ticket_reply(ticket, actor=water_staff, reply="再次处理").status == Status.REPLIED


def test_who_may_give_assisting_input(api, joint, operator, water_staff, urban_staff, housing_staff, make_ticket):
    body = {"text": "意见"}
    assert post(api, water_staff, url(joint, "assist"), body).status_code == 403  # the lead replies instead
    assert post(api, operator, url(joint, "assist"), body).status_code == 403
    stranger = UserFactory(username="ecology_staff", role=Role.DEPARTMENT, department=DepartmentFactory(code="eco"))
    assert post(api, stranger, url(joint, "assist"), body).status_code == 404
    assert api.as_user(stranger).get(url(joint, "assist")).status_code == 404
    assert post(api, urban_staff, url(joint, "assist"), body).status_code == 201
    assert AssistInput.objects.filter(ticket=joint).count() == 1


def test_no_input_once_the_departments_no_longer_hold_the_ticket(api, joint, housing_staff, urban_staff, water_staff):
    for staff in (housing_staff, urban_staff):
        assert post(api, staff, url(joint, "assist"), {"text": "意见"}).status_code == 201
    assert post(api, water_staff, url(joint, "reply"), {"reply": "已处理"}).status_code == 200

    late = post(api, housing_staff, url(joint, "assist"), {"text": "补充意见"})

    assert late.status_code == 409
    assert late.json()["error"]["code"] == "not_with_departments"


# --- who may do each department action ------------------------------------------------------------

DEPARTMENT_ACTIONS = {
    "accept": (Status.DISPATCHED, {}),
    "return": (Status.DISPATCHED, {"code": "duplicate", "note": "与另一工单重复"}),
    "request-extension": (Status.ACCEPTED, {"reason": "需现场勘查"}),
    "reply": (Status.ACCEPTED, {"reply": "已处理"}),
}


@pytest.mark.parametrize("name", DEPARTMENT_ACTIONS)
def test_only_the_lead_department_acts_assisting_ones_are_refused_and_others_see_nothing(
    api, name, operator, water, housing, water_staff, housing_staff, urban_staff, make_ticket, ticket_state
):
    status, body = DEPARTMENT_ACTIONS[name]
    ticket = actions.ticket_dispatch(make_ticket(), actor=operator, department=water, assisting=[housing])
    if status == Status.ACCEPTED:
        ticket = actions.ticket_accept(ticket, actor=water_staff)
    ticket_assist_input(ticket, actor=housing_staff, text="协办意见")
    if name == "request-extension":
        body = {**body, "until": (fresh(ticket).deadline + datetime.timedelta(days=5)).isoformat()}
    before = ticket_state(ticket)

    assert post(api, urban_staff, url(ticket, name), body).status_code == 404
    assert post(api, housing_staff, url(ticket, name), body).status_code == 403
    assert ticket_state(ticket) == before
    done = post(api, water_staff, url(ticket, name), body)
    assert done.status_code == 200, done.content


def test_an_extension_moves_the_deadline_only_when_a_supervisor_approves(api, supervisor, water_staff, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    deadline = fresh(ticket).deadline
    until = deadline + datetime.timedelta(days=7)
    request = {"until": until.isoformat(), "reason": "需检测"}
    requested = post(api, water_staff, url(ticket, "request-extension"), request)
    assert datetime.datetime.fromisoformat(requested.json()["deadline"]) == deadline

    assert post(api, supervisor, url(ticket, "deny-extension"), {"note": "理由不足"}).status_code == 200
    assert fresh(ticket).deadline == deadline
    post(api, water_staff, url(ticket, "request-extension"), request)
    assert post(api, supervisor, url(ticket, "approve-extension")).status_code == 200
    assert fresh(ticket).deadline == until


def test_the_routing_explanation_does_not_tell_a_department_about_a_reporters_calls(
    api, rule, operator, water, water_staff, citizen, make_ticket
):
    rule(kinds=("report",), repeat_count=2, repeat_days=30)
    make_ticket(kind="report", citizen=citizen)
    ticket = actions.ticket_dispatch(make_ticket(kind="report", citizen=citizen), actor=operator, department=water)

    hotline = api.as_user(operator).get(url(ticket, "routing") + "?all=1").json()
    department = api.as_user(water_staff).get(url(ticket, "routing") + "?all=1").json()

    assert "repeat_caller" in [c["code"] for c in hotline["conditions"]]
    assert "repeat_caller" not in [c["code"] for c in department["conditions"]]
    assert "repeat_caller" not in [c["code"] for t in department["tried"] for c in t["conditions"]]
