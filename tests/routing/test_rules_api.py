"""The routing API under /api/routing/: rules, bulk changes, explain, simulate, the queue, and who may use them."""

import pytest
from django.utils import translation

from dashboards.models import OutboxEvent
from dashboards.publish import SUPERVISORS
from routing.actions import ticket_assist_input
from routing.models import Rule, RulesetVersion
from tickets import actions
from tickets.models import Status

RULES = "/api/routing/rules/"


@pytest.fixture(autouse=True)
def _english():
    # Messages are checked for the words that explain them; the lead translates them later.
    with translation.override("en"):
        yield


def post(api, user, path: str, body: dict | None = None):
    return api.as_user(user).post(path, body or {}, format="json", HTTP_ACCEPT_LANGUAGE="en")


def fields(response) -> dict:
    return response.json()["error"]["fields"]


def saved_state() -> tuple:
    rules = list(Rule.objects.order_by("id").values_list("id", "priority", "name"))
    return rules, RulesetVersion.objects.get(pk=1).token


@pytest.fixture
def body(water, housing, category_tree):
    return {
        "name": "停水投诉",
        "kinds": ["complaint"],
        "categories": [category_tree["utilities"].pk],
        "keywords": ["停水", "断水"],
        "lead_department": water.pk,
        "assisting_departments": [housing.pk],
        "limit_working_days": 3,
        "auto_dispatch": True,
    }


# --- rules ---------------------------------------------------------------------------------------


def test_a_supervisor_creates_reads_changes_and_deletes_a_rule(api, supervisor, body, water, housing):
    created = post(api, supervisor, RULES, body)

    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["name"], rule["lead_department"], rule["assisting_departments"]) == (
        "停水投诉",
        water.pk,
        [housing.pk],
    )
    assert rule["keywords"] == ["停水", "断水"] and rule["updated_by"] == "supervisor"
    path = f"{RULES}{rule['id']}/"

    patched = api.as_user(supervisor).patch(path, {"priority": 5, "keywords": ["停水"]}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["priority"], patched.json()["keywords"], patched.json()["kinds"]) == (
        5,
        ["停水"],
        ["complaint"],
    )

    replaced = api.as_user(supervisor).put(
        path, {"name": "举报", "kinds": ["report"], "lead_department": housing.pk}, format="json"
    )
    assert replaced.status_code == 200, replaced.content
    assert (replaced.json()["keywords"], replaced.json()["auto_dispatch"], replaced.json()["priority"]) == (
        [],
        False,
        100,
    )

    assert [r["id"] for r in api.as_user(supervisor).get(RULES).json()] == [rule["id"]]
    assert api.as_user(supervisor).delete(path).status_code == 204
    assert not Rule.objects.exists()
    assert api.as_user(supervisor).get(path).status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"lead_department": 99999}, "lead_department", "Unknown department 99999"),
        ({"assisting_departments": [99998]}, "assisting_departments", "Unknown department 99998"),
        ({"kinds": [], "categories": [], "keywords": []}, "conditions", "at least one condition"),
        ({"limit_working_days": 3, "limit_hours": 2}, "time_limit", "either in working days or in hours"),
        ({"limit_working_days": 365}, "limit_working_days", "between 1 and"),
        ({"limit_working_days": None, "limit_hours": 0}, "limit_hours", "between 1 and"),
        ({"limit_working_days": None, "limit_hours": 100}, "limit_hours", "between 1 and"),
        ({"lead_department": 2**64}, "lead_department", "less than or equal to"),
        ({"categories": [2**64]}, "categories", "9223372036854775807"),
        ({"repeat_count": 40000, "repeat_days": 7}, "repeat_count", "less than or equal to"),
        ({"repeat_count": 5000, "repeat_days": 7}, "repeat_count", "at most 1000 tickets"),
    ],
)
def test_a_bad_rule_is_refused_with_a_clear_message_and_nothing_is_saved(api, supervisor, body, change, field, words):
    before = saved_state()

    response = post(api, supervisor, RULES, {**body, **change})

    assert response.status_code == 400, response.content
    assert words in str(fields(response)[field])
    assert response.json()["error"]["message"]
    assert saved_state() == before


def test_a_bad_change_to_an_existing_rule_leaves_it_as_it_was(api, supervisor, body):
    rule = post(api, supervisor, RULES, body).json()
    before = saved_state()

    response = api.as_user(supervisor).patch(f"{RULES}{rule['id']}/", {"lead_department": None}, format="json")

    assert response.status_code == 400
    assert "lead_department" in fields(response)
    assert saved_state() == before


def test_operators_read_rules_but_only_supervisors_change_them(api, operator, supervisor, water_staff, body):
    assert post(api, operator, RULES, body).status_code == 403
    rule = post(api, supervisor, RULES, body).json()

    assert api.as_user(operator).get(RULES).status_code == 200
    assert api.as_user(operator).patch(f"{RULES}{rule['id']}/", {"priority": 1}, format="json").status_code == 403
    assert api.as_user(operator).delete(f"{RULES}{rule['id']}/").status_code == 403
    for path in (RULES, "/api/routing/queue/"):
        assert api.as_user(water_staff).get(path).status_code == 403
    assert post(api, water_staff, "/api/routing/explain/", {"kind": "complaint"}).status_code == 403
    assert post(api, operator, f"{RULES}reorder/", {"order": [rule["id"]]}).status_code == 403
    assert Rule.objects.get().priority == 100


def test_a_bulk_change_applies_whole_or_not_at_all(api, supervisor, body, water, housing):
    first = post(api, supervisor, RULES, body).json()
    second = post(api, supervisor, RULES, {**body, "name": "第二", "kinds": ["report"]}).json()
    before = saved_state()
    new = {"name": "新规则", "kinds": ["help"], "lead_department": housing.pk, "priority": 1}

    refused = post(
        api,
        supervisor,
        f"{RULES}apply/",
        {"save": [new, {**body, "id": first["id"], "lead_department": 424242}], "delete": [second["id"]]},
    )
    assert refused.status_code == 400
    assert "save.1.lead_department" in fields(refused)
    assert saved_state() == before

    applied = post(
        api,
        supervisor,
        f"{RULES}apply/",
        {"save": [new, {**body, "id": first["id"], "name": "改名"}], "delete": [second["id"]]},
    )
    assert applied.status_code == 200, applied.content
    assert [r["name"] for r in applied.json()] == ["新规则", "改名"]
    assert sorted(Rule.objects.values_list("name", flat=True)) == ["改名", "新规则"]
    assert saved_state()[1] != before[1]


def test_reorder_sets_priorities_in_the_order_given(api, supervisor, body):
    ids = [post(api, supervisor, RULES, {**body, "name": f"r{n}"}).json()["id"] for n in range(3)]

    response = post(api, supervisor, f"{RULES}reorder/", {"order": ids[::-1]})

    assert response.status_code == 200, response.content
    assert [(r["id"], r["priority"]) for r in response.json()] == list(zip(ids[::-1], (10, 20, 30), strict=True))
    assert post(api, supervisor, f"{RULES}reorder/", {"order": ids[:2]}).status_code == 400


# --- explain, simulate, the queue ---------------------------------------------------------------


def test_explain_a_draft_body_before_it_is_saved(api, operator, supervisor, body, water, category_tree):
    rule = post(api, supervisor, RULES, body).json()
    draft = {"kind": "complaint", "category": category_tree["water_cut"].pk, "description": "小区断水两天"}

    response = post(api, operator, "/api/routing/explain/", draft)

    assert response.status_code == 200, response.content
    explained = response.json()
    assert explained["rule"]["id"] == rule["id"]
    assert [(c["code"], c["held"]) for c in explained["conditions"]] == [
        ("kind", True),
        ("category", True),
        ("keywords", True),
    ]
    assert "断水" in explained["conditions"][2]["detail"]
    assert explained["suggestion"]["lead_department"]["id"] == water.pk
    assert explained["queue"] == "auto"
    everything = post(api, operator, "/api/routing/explain/?all=1", {**draft, "kind": "report"}).json()
    assert everything["matched"] is False
    assert everything["tried"][0]["conditions"][0] == {
        "code": "kind",
        "held": False,
        "detail": "“Report” is not one of: Complaint.",
    }


def test_explain_a_saved_ticket(api, operator, supervisor, body, make_ticket, category_tree):
    body = {**body, "auto_dispatch": False}
    rule = post(api, supervisor, RULES, body).json()
    ticket = make_ticket(kind="complaint", category=category_tree["water_cut"])

    response = api.as_user(operator).get(f"/api/tickets/{ticket.number}/routing/?all=true")

    assert response.status_code == 200, response.content
    assert response.json()["rule"]["id"] == rule["id"]
    assert response.json()["queue"] == "manual"
    assert [t["matched"] for t in response.json()["tried"]] == [True]


def test_simulate_shows_the_from_to_table_and_saves_nothing(
    api, supervisor, operator, body, make_ticket, water, housing
):
    post(api, supervisor, RULES, {**body, "auto_dispatch": False, "categories": [], "keywords": []})
    for description in ("楼上噪音扰民", "工地夜间噪音", "小区停水"):
        make_ticket(kind="complaint", description=description)
    before = saved_state()
    change = {
        "save": [{"name": "噪音", "keywords": ["噪音"], "lead_department": housing.pk, "priority": 1}],
        "last": 10,
    }

    response = post(api, supervisor, "/api/routing/simulate/", change)

    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["tickets"], result["changed"], result["unchanged"]) == (3, 2, 1)
    assert [(r["from"]["id"], r["to"]["id"], r["count"]) for r in result["table"]] == [(water.pk, housing.pk, 2)]
    assert saved_state() == before
    bad = post(api, supervisor, "/api/routing/simulate/", {"save": [{"name": "坏", "lead_department": housing.pk}]})
    assert bad.status_code == 400 and "save" not in fields(bad) and "conditions" in fields(bad)
    assert post(api, operator, "/api/routing/simulate/", change).status_code == 200  # reading is not changing


def test_the_dispatch_queue_lists_what_waits_with_its_suggestion(api, operator, supervisor, body, make_ticket, water):
    post(api, supervisor, RULES, {**body, "auto_dispatch": False, "categories": [], "keywords": []})
    complaint = make_ticket(kind="complaint")
    unmatched = make_ticket(kind="help")
    make_ticket(Status.DISPATCHED)

    response = api.as_user(operator).get("/api/routing/queue/")

    assert response.status_code == 200
    rows = {row["number"]: row for row in response.json()["results"]}
    assert set(rows) == {complaint.number, unmatched.number}
    assert rows[complaint.number]["suggestion"]["lead_department"]["id"] == water.pk
    assert rows[complaint.number]["suggestion"]["rule"]["name"] == "停水投诉"
    assert rows[complaint.number]["created_at"].endswith("+08:00")  # Shanghai time, as the ticket API gives it
    assert rows[unmatched.number]["suggestion"] == {
        "source": None,
        "rule": None,
        "lead_department": None,
        "close_first_contact": False,
    }


# --- the admin -----------------------------------------------------------------------------------


@pytest.fixture
def staff_supervisor(supervisor):
    supervisor.is_staff = True  # the admin's own gate; the role decides what they may change there
    supervisor.save(update_fields=["is_staff"])
    return supervisor


def admin_rule(water, **changes) -> dict:
    data = {
        "name": "路灯",
        "priority": "10",
        "is_active": "on",
        "kinds": ["complaint"],
        "keywords": "路灯不亮\n路灯 坏了\n\n",
        "day_type": "",
        "urgency": "",
        "lead_department": str(water.pk),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_supervisor_edits_rules_in_the_admin_and_every_process_recompiles(client, staff_supervisor, water):
    supervisor = staff_supervisor
    client.force_login(supervisor)
    token = RulesetVersion.objects.get(pk=1).token
    assert client.get("/admin/routing/rule/add/").status_code == 200

    response = client.post("/admin/routing/rule/add/", admin_rule(water))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    rule = Rule.objects.get()
    assert (rule.kinds, rule.keywords, rule.updated_by) == (["complaint"], ["路灯不亮", "路灯 坏了"], supervisor)
    assert RulesetVersion.objects.get(pk=1).token != token
    assert client.get(f"/admin/routing/rule/{rule.pk}/change/").status_code == 200
    [saved] = OutboxEvent.objects.filter(type="routing.rules")
    assert (saved.payload["saved"], saved.groups) == ([rule.pk], [SUPERVISORS])

    response = client.post(f"/admin/routing/rule/{rule.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not Rule.objects.exists()
    assert OutboxEvent.objects.filter(type="routing.rules").last().payload["deleted"] == [rule.pk]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kinds": None, "keywords": ""}, None),
        ({"lead_department": None}, "lead_department"),
        ({"limit_working_days": "3", "limit_hours": "2"}, None),
        ({"limit_working_days": "0"}, "limit_working_days"),
    ],
)
def test_the_admin_refuses_a_bad_rule_and_saves_nothing(client, staff_supervisor, water, changes, field):
    client.force_login(staff_supervisor)
    token = RulesetVersion.objects.get(pk=1).token

    response = client.post("/admin/routing/rule/add/", admin_rule(water, **changes))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors[field or "__all__"]
    assert not Rule.objects.exists()
    assert RulesetVersion.objects.get(pk=1).token == token


def test_operators_do_not_reach_the_rules_in_the_admin(client, operator):
    client.force_login(operator)

    assert client.get("/admin/routing/rule/").status_code in (302, 403)


def test_the_workflow_admin_pages_load(client, staff_supervisor, water, housing, housing_staff, make_ticket):
    ticket = make_ticket()
    ticket = actions.ticket_dispatch(ticket, actor=None, department=water, assisting=[housing])
    ticket_assist_input(ticket, actor=housing_staff, text="协办意见")
    client.force_login(staff_supervisor)

    for model in ("rule", "returnreason", "assistinput"):
        assert client.get(f"/admin/routing/{model}/").status_code == 200, model
    assert client.get("/admin/routing/returnreason/add/").status_code == 200
    assert client.get("/admin/routing/assistinput/add/").status_code == 403
