"""Routing rules: every condition, priority, the manual queue, explain, simulate, validation and the compiled cache."""

import datetime
import random
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation

from routing.actions import rule_delete, rule_save, rules_apply, rules_reorder
from routing.calendar import calendar_cache_clear, seed_from_chinese_calendar
from routing.models import Rule, RulesetVersion
from routing.rules import (
    Facts,
    RuleChange,
    Ruleset,
    RuleSpec,
    facts_for_body,
    facts_for_ticket,
    rule_conditions,
    rule_specs,
    rules_cache_clear,
    ruleset,
)
from routing.selectors import dispatch_queue, routing_explain, rules_simulate
from tests.factories import CategoryFactory, DepartmentFactory, DistrictFactory
from tickets import actions
from tickets.models import Status, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _fresh_caches():
    # A rolled-back test leaves its compiled rules in this process; the next test must not see them.
    rules_cache_clear()
    calendar_cache_clear()
    yield
    rules_cache_clear()
    calendar_cache_clear()


@pytest.fixture
def rule(water):
    """rule(**fields): a saved rule, sending tickets to the water bureau unless told otherwise."""

    def save(**fields) -> Rule:
        fields.setdefault("name", "测试规则")
        fields.setdefault("lead_department", water.pk)
        return rule_save(RuleSpec(**fields), actor=None)

    return save


def matched(ticket: Ticket) -> int | None:
    """The id of the rule that matches `ticket` now, through the compiled ruleset."""
    found = ruleset().match(facts_for_ticket(Ticket.objects.get(pk=ticket.pk)))
    return found.id if found else None


# --- every condition ------------------------------------------------------------------------------


def test_kind_condition_takes_any_of_its_kinds(rule, make_ticket):
    complaints = rule(kinds=("complaint", "report"))

    assert matched(make_ticket(kind="complaint")) == complaints.pk
    assert matched(make_ticket(kind="report")) == complaints.pk
    assert matched(make_ticket(kind="consultation")) is None


def test_category_condition_matches_the_whole_subtree(rule, make_ticket, category_tree):
    utilities = rule(categories=(category_tree["utilities"].pk,))
    deeper = CategoryFactory(code="water_cut_night", name="夜间停水", parent=category_tree["water_cut"])

    assert matched(make_ticket(category=category_tree["water_cut"])) == utilities.pk
    assert matched(make_ticket(category=deeper)) == utilities.pk
    assert matched(make_ticket(category=category_tree["utilities"])) == utilities.pk
    assert matched(make_ticket(category=category_tree["street_lights"])) is None
    assert matched(make_ticket(category=None)) is None


def test_district_condition(rule, make_ticket, district):
    other = DistrictFactory(code="441303", name="惠阳区")
    huicheng = rule(districts=(district.pk,))

    assert matched(make_ticket(district=district)) == huicheng.pk
    assert matched(make_ticket(district=other)) is None
    assert matched(make_ticket(district=None)) is None


def test_chinese_phrases_match_without_word_segmentation(rule, make_ticket):
    water_cut = rule(keywords=("停水",))

    assert matched(make_ticket(title="投诉", description="我们小区已经停水三天了")) == water_cut.pk
    assert matched(make_ticket(title="小区停水", description="无人处理")) == water_cut.pk
    assert matched(make_ticket(title="停电", description="小区停电三天")) is None


def test_keywords_ignore_case_width_and_spaces_and_never_span_title_and_description(rule, make_ticket):
    wifi = rule(keywords=("免费 WiFi",))
    across = rule(keywords=("路灯坏",), priority=200)

    assert matched(make_ticket(title="图书馆", description="免费ＷＩＦＩ连不上")) == wifi.pk
    assert matched(make_ticket(title="图书馆", description="免 费 wifi 连不上")) == wifi.pk
    assert matched(make_ticket(title="街道路灯", description="坏了")) is None
    assert matched(make_ticket(title="街道", description="路灯坏了")) == across.pk


def test_overlapping_phrases_are_all_found(rule, make_ticket):
    # "小区停水" and "停水三天" overlap in the text, and "停水" lies inside both.
    longer = rule(keywords=("小区停水",), lead_department=DepartmentFactory(code="a").pk, priority=30)
    inner = rule(keywords=("停水",), lead_department=DepartmentFactory(code="b").pk, priority=20)
    other = rule(keywords=("停水三天",), lead_department=DepartmentFactory(code="c").pk, priority=10)
    ticket = make_ticket(title="", description="小区停水三天")

    assert matched(ticket) == other.pk
    Rule.objects.filter(pk=other.pk).update(is_active=False)
    rules_apply(RuleChange(order=[inner.pk, longer.pk, other.pk]), actor=None)
    assert matched(ticket) == inner.pk
    rules_apply(RuleChange(order=[longer.pk, inner.pk, other.pk]), actor=None)
    assert matched(ticket) == longer.pk


def test_urgency_and_channel_conditions(rule, make_ticket):
    urgent_web = rule(urgencies=("urgent",), channels=("web", "app"))

    assert matched(make_ticket(urgency="urgent", channel="web")) == urgent_web.pk
    assert matched(make_ticket(urgency="urgent", channel="app")) == urgent_web.pk
    assert matched(make_ticket(urgency="urgent", channel="phone")) is None
    assert matched(make_ticket(urgency="normal", channel="web")) is None


def test_repeat_caller_counts_this_ticket_and_the_last_days_only(rule, make_ticket, citizen):
    repeat = rule(repeat_count=3, repeat_days=7)
    with time_machine.travel(at(2026, 3, 1, 10, 0), tick=False):
        make_ticket(citizen=citizen)  # eight days before the third: outside the window
    with time_machine.travel(at(2026, 3, 5, 10, 0), tick=False):
        make_ticket(citizen=citizen)
        cancelled = make_ticket(citizen=citizen)
        actions.ticket_cancel(cancelled, actor=None, reason="测试来电")  # a cancelled ticket does not count
    with time_machine.travel(at(2026, 3, 9, 10, 0), tick=False):
        second = make_ticket(citizen=citizen)
        assert matched(second) is None  # 2 within 7 days
        third = make_ticket(citizen=citizen)
        assert matched(third) == repeat.pk
        stranger = make_ticket(caller_number="13912345678")
        assert matched(stranger) is None
        anonymous = make_ticket()
        assert matched(anonymous) is None


def test_repeat_caller_is_recognised_by_phone_number_without_a_citizen(rule, make_ticket):
    repeat = rule(repeat_count=2, repeat_days=30)
    make_ticket(caller_number="13912345678")

    assert matched(make_ticket(caller_number="+86 139 1234 5678")) == repeat.pk


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (at(2026, 3, 2, 18, 0), True),
        (at(2026, 3, 2, 23, 59), True),
        (at(2026, 3, 3, 7, 59), True),
        (at(2026, 3, 3, 8, 0), False),
        (at(2026, 3, 3, 12, 0), False),
    ],
)
def test_time_window_over_midnight_in_shanghai_time(rule, make_ticket, moment, inside):
    night = rule(time_from=datetime.time(18, 0), time_to=datetime.time(8, 0))

    with time_machine.travel(moment.astimezone(datetime.UTC), tick=False):
        ticket = make_ticket()

    assert matched(ticket) == (night.pk if inside else None)


def test_day_type_follows_the_working_calendar(rule, make_ticket):
    seed_from_chinese_calendar(years=[2026])
    holidays = rule(day_type="off")
    with time_machine.travel(at(2026, 10, 1, 10, 0), tick=False):  # National Day, a Thursday
        holiday = make_ticket()
    with time_machine.travel(at(2026, 10, 10, 10, 0), tick=False):  # the make-up working Saturday
        make_up_saturday = make_ticket()
    with time_machine.travel(at(2026, 9, 30, 10, 0), tick=False):
        wednesday = make_ticket()

    assert matched(holiday) == holidays.pk
    assert matched(make_up_saturday) is None
    assert matched(wednesday) is None


def test_conditions_combine_with_and(rule, make_ticket, category_tree):
    both = rule(kinds=("complaint",), keywords=("停水",), categories=(category_tree["utilities"].pk,))

    assert matched(make_ticket(kind="complaint", category=category_tree["water_cut"])) == both.pk
    assert matched(make_ticket(kind="consultation", category=category_tree["water_cut"])) is None
    assert matched(make_ticket(kind="complaint", category=category_tree["street_lights"])) is None
    assert matched(make_ticket(kind="complaint", description="路灯不亮", title="")) is None


# --- priority, inactive rules, the manual queue ---------------------------------------------------


def test_the_first_matching_rule_by_priority_wins(rule, make_ticket, housing):
    broad = rule(name="投诉", kinds=("complaint",), priority=50)
    narrow = rule(name="停水投诉", kinds=("complaint",), keywords=("停水",), priority=10, lead_department=housing.pk)
    ticket = make_ticket(kind="complaint")

    assert matched(ticket) == narrow.pk
    rules_reorder([broad.pk, narrow.pk], actor=None)
    assert matched(ticket) == broad.pk
    assert [r.pk for r in Rule.objects.order_by("priority")] == [broad.pk, narrow.pk]


def test_equal_priorities_go_to_the_older_rule_and_inactive_rules_are_skipped(rule, make_ticket, housing):
    older = rule(kinds=("complaint",), priority=10)
    newer = rule(kinds=("complaint",), priority=10, lead_department=housing.pk)
    ticket = make_ticket(kind="complaint")

    assert matched(ticket) == older.pk
    rule_save(next(s for s in rule_specs() if s.id == older.pk).replace(is_active=False), actor=None)
    assert matched(ticket) == newer.pk


def test_no_match_leaves_the_ticket_on_the_manual_dispatch_queue(rule, make_ticket, operator, water_staff):
    rule(kinds=("report",), auto_dispatch=True)
    unmatched = make_ticket(kind="complaint")
    returned = make_ticket(Status.RETURNED)
    dispatched = make_ticket(Status.DISPATCHED)
    draft = make_ticket(Status.DRAFT)

    assert unmatched.status == Status.REGISTERED and unmatched.lead_department_id is None
    queue = list(dispatch_queue())
    assert unmatched in queue and returned in queue
    assert dispatched not in queue and draft not in queue


def test_the_queue_puts_tickets_returned_twice_first_then_urgent_ones(make_ticket, operator, water, water_staff):
    old = make_ticket()
    urgent = make_ticket(urgency="urgent")
    twice = make_ticket(Status.RETURNED)
    twice = actions.ticket_dispatch(twice, actor=operator, department=water)
    twice = actions.ticket_return(twice, actor=water_staff, reason="仍非本单位职责")

    queue = list(dispatch_queue())
    assert queue[:3] == [twice, urgent, old]
    assert queue[0].flagged == 1


# --- explain ------------------------------------------------------------------------------------


def test_explain_names_the_rule_and_each_condition_that_held(rule, make_ticket, category_tree, water):
    chosen = rule(
        name="停水投诉",
        kinds=("complaint",),
        categories=(category_tree["utilities"].pk,),
        keywords=("停水", "断水"),
        limit_working_days=3,
    )
    ticket = make_ticket(kind="complaint", category=category_tree["water_cut"], description="小区停水三天")

    explained = routing_explain(facts_for_ticket(ticket), ticket=ticket)

    assert explained["matched"] is True
    assert explained["rule"] == {"id": chosen.pk, "name": "停水投诉", "priority": 100}
    conditions = {c["code"]: c for c in explained["conditions"]}
    assert set(conditions) == {"kind", "category", "keywords"}
    assert all(c["held"] for c in conditions.values())
    assert "停水" in conditions["keywords"]["detail"] and "断水" not in conditions["keywords"]["detail"]
    assert "停水" in conditions["category"]["detail"] and "水电气" in conditions["category"]["detail"]
    assert explained["suggestion"]["lead_department"]["id"] == water.pk
    assert explained["suggestion"]["source"] == "rule"
    assert explained["queue"] == "manual"


def test_explain_with_every_rule_shows_why_earlier_rules_failed(rule, make_ticket, housing):
    rule(name="举报", kinds=("report",), priority=10, lead_department=housing.pk)
    rule(name="夜间", time_from=datetime.time(22, 0), time_to=datetime.time(6, 0), priority=20)
    last = rule(name="投诉", kinds=("complaint",), priority=30, auto_dispatch=True)
    with time_machine.travel(at(2026, 3, 3, 12, 0), tick=False):
        ticket = make_ticket(Status.DRAFT, kind="complaint")
        explained = routing_explain(facts_for_ticket(ticket), ticket=ticket, every=True)

    assert [t["name"] for t in explained["tried"]] == ["举报", "夜间", "投诉"]
    assert [t["matched"] for t in explained["tried"]] == [False, False, True]
    assert explained["tried"][0]["conditions"][0]["held"] is False
    assert "12:00" in explained["tried"][1]["conditions"][0]["detail"]
    assert explained["rule"]["id"] == last.pk
    assert explained["queue"] == "auto"


def test_explain_a_draft_body_that_matches_nothing(rule):
    rule(kinds=("report",))

    explained = routing_explain(facts_for_body({"kind": "complaint", "description": "噪音扰民"}))

    assert explained == {
        "matched": False,
        "rule": None,
        "conditions": [],
        "suggestion": {
            "source": None,
            "lead_department": None,
            "assisting_departments": [],
            "urgency": "normal",
            "deadline": None,
            "auto_dispatch": False,
            "close_first_contact": False,
        },
        "queue": "manual",
        "rules_checked": 1,
    }


def test_compiled_matching_agrees_with_the_condition_by_condition_explanation(db, water, housing, category_tree):
    """Random rules and tickets: the masks and the plain evaluation must always agree."""
    rng = random.Random(12345)
    districts = [DistrictFactory(code=f"4499{n}").pk for n in range(3)]
    categories = [c.pk for c in category_tree.values()]
    paths = {c.pk: c.path for c in category_tree.values()}
    words = ["停水", "停电", "噪音", "路灯", "水压", "小区停水", "ＡＢＣ", "abc"]
    specs = []
    for n in range(60):
        specs.append(
            RuleSpec(
                id=n + 1,
                name=f"r{n}",
                priority=rng.randint(0, 20),
                kinds=tuple(rng.sample(["complaint", "report", "help"], rng.randint(0, 2))),
                categories=tuple(rng.sample(categories, rng.randint(0, 1))),
                districts=tuple(rng.sample(districts, rng.randint(0, 2))),
                keywords=tuple(rng.sample(words, rng.randint(0, 2))),
                urgencies=tuple(rng.sample(["normal", "urgent"], rng.randint(0, 1))),
                channels=tuple(rng.sample(["phone", "web"], rng.randint(0, 1))),
                repeat_count=2 if rng.random() < 0.1 else None,
                repeat_days=7 if rng.random() < 0.1 else None,
                lead_department=rng.choice([water.pk, housing.pk]),
            )
        )
    specs = [
        s if (s.repeat_count is None) == (s.repeat_days is None) else s.replace(repeat_days=None, repeat_count=None)
        for s in specs
    ]
    compiled = Ruleset(specs)
    for _ in range(300):
        category = rng.choice([None, *categories])
        facts = Facts(
            kind=rng.choice(["complaint", "report", "help", "consultation"]),
            urgency=rng.choice(["normal", "urgent"]),
            channel=rng.choice(["phone", "web", "app"]),
            district=rng.choice([None, *districts]),
            category_path=paths[category] if category else "",
            title=rng.choice(["", "小区停水", "abc"]),
            description="".join(rng.sample(words, 3)),
            count_repeats=lambda facts, days: 2,
        )
        expected = next(
            (s for s in compiled.rules if all(c.held for c in rule_conditions(s, facts, {}))),
            None,
        )
        assert compiled.match(facts) == expected


# --- simulate ------------------------------------------------------------------------------------


def test_simulate_counts_tickets_that_would_change_department(rule, make_ticket, water, housing):
    complaints = rule(kinds=("complaint",))
    for _ in range(3):
        make_ticket(kind="complaint", description="小区噪音扰民")
    make_ticket(kind="complaint", description="小区停水")
    make_ticket(kind="report")
    before = (Rule.objects.count(), RulesetVersion.objects.get(pk=1).token)

    noise = RuleSpec(name="噪音", keywords=("噪音",), lead_department=housing.pk, priority=1)
    result = rules_simulate(RuleChange(save=[noise]), last=100)

    assert result["tickets"] == 5
    assert result["changed"] == 3
    assert result["unchanged"] == 2
    (row,) = result["table"]
    assert (row["from"]["id"], row["to"]["id"], row["count"]) == (water.pk, housing.pk, 3)
    assert len(row["examples"]) == 3
    assert (Rule.objects.count(), RulesetVersion.objects.get(pk=1).token) == before

    deleted = rules_simulate(RuleChange(delete=[complaints.pk]), last=2)
    assert deleted["tickets"] == 2
    assert [(r["from"]["id"], r["to"], r["count"]) for r in deleted["table"]] == [(water.pk, None, 1)]


def test_simulate_refuses_a_bad_rule_like_saving_it(rule, make_ticket):
    make_ticket()
    with pytest.raises(ValidationError) as refused:
        rules_simulate(RuleChange(save=[RuleSpec(name="空", lead_department=99999)]))

    assert "lead_department" in refused.value.message_dict
    assert "conditions" in refused.value.message_dict


# --- validation ----------------------------------------------------------------------------------


def assert_refused(spec: RuleSpec, field: str, words: str) -> None:
    rules, token = Rule.objects.count(), RulesetVersion.objects.get(pk=1).token
    with pytest.raises(ValidationError) as refused, translation.override("en"):
        rule_save(spec, actor=None)
    messages = refused.value.message_dict
    assert field in messages, messages
    assert words in " ".join(messages[field]), messages
    assert (Rule.objects.count(), RulesetVersion.objects.get(pk=1).token) == (rules, token)


def test_an_unknown_department_is_refused(db, water):
    assert_refused(RuleSpec(name="x", kinds=("complaint",), lead_department=99999), "lead_department", "99999")
    spec = RuleSpec(name="x", kinds=("complaint",), lead_department=water.pk, assisting_departments=(88888,))
    assert_refused(spec, "assisting_departments", "88888")


def test_an_inactive_department_is_refused(db):
    closed = DepartmentFactory(code="abolished", name="已撤销局", is_active=False)
    assert_refused(RuleSpec(name="x", kinds=("complaint",), lead_department=closed.pk), "lead_department", "已撤销局")


def test_a_rule_without_conditions_is_refused(db, water):
    assert_refused(RuleSpec(name="全部", lead_department=water.pk, auto_dispatch=True), "conditions", "condition")
    assert_refused(RuleSpec(name="全部", lead_department=water.pk, keywords=("  ", "")), "conditions", "condition")


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"limit_working_days": 3, "limit_hours": 4}, "time_limit"),
        ({"limit_working_days": 0}, "limit_working_days"),
        ({"limit_working_days": 400}, "limit_working_days"),
        ({"limit_hours": 0}, "limit_hours"),
        ({"limit_hours": 1000}, "limit_hours"),
    ],
)
def test_an_impossible_time_limit_is_refused(db, water, limits, field):
    assert_refused(RuleSpec(name="x", kinds=("complaint",), lead_department=water.pk, **limits), field, "")


def test_other_impossible_rules_are_refused_with_a_clear_message(db, water, category_tree):
    base = RuleSpec(name="x", kinds=("complaint",), lead_department=water.pk)
    assert_refused(base.replace(name=" "), "name", "name")
    assert_refused(base.replace(kinds=("gossip",)), "kinds", "gossip")
    assert_refused(base.replace(categories=(77777,)), "categories", "77777")
    assert_refused(base.replace(repeat_count=3), "repeat_count", "days")
    assert_refused(base.replace(repeat_count=1, repeat_days=7), "repeat_count", "2")
    assert_refused(base.replace(time_from=datetime.time(8, 0)), "time_from", "end")
    assert_refused(base.replace(time_from=datetime.time(8, 0), time_to=datetime.time(8, 0)), "time_to", "empty")
    assert_refused(base.replace(assisting_departments=(water.pk,)), "assisting_departments", "lead")
    assert_refused(base.replace(lead_department=None), "lead_department", "lead department")
    assert_refused(base.replace(close_first_contact=True), "close_first_contact", "consultation")
    consult = base.replace(kinds=("consultation",), close_first_contact=True, lead_department=None)
    assert_refused(consult.replace(auto_dispatch=True), "auto_dispatch", "")
    assert rule_save(consult, actor=None).close_first_contact is True


def test_a_bulk_change_with_one_bad_rule_saves_nothing(rule, water, housing):
    kept = rule(kinds=("complaint",))
    token = RulesetVersion.objects.get(pk=1).token
    good = RuleSpec(name="好", kinds=("report",), lead_department=housing.pk)
    bad = RuleSpec(name="坏", lead_department=water.pk)

    with pytest.raises(ValidationError) as refused:
        rules_apply(RuleChange(save=[good, bad], delete=[kept.pk]), actor=None)

    assert "save.1.conditions" in refused.value.message_dict
    assert list(Rule.objects.values_list("pk", flat=True)) == [kept.pk]
    assert RulesetVersion.objects.get(pk=1).token == token


def test_a_reorder_must_list_every_rule_once(rule):
    first, second = rule(kinds=("complaint",)), rule(kinds=("report",))
    for order in ([first.pk], [first.pk, first.pk, second.pk], [first.pk, second.pk, 99999]):
        with pytest.raises(ValidationError) as refused:
            rules_reorder(order, actor=None)
        assert "order" in refused.value.message_dict


def test_saving_keeps_keywords_tidy(rule):
    saved = rule(keywords=(" 停水 ", "停水", "ＷＩＦＩ", "wifi", ""))

    assert saved.keywords == ["停水", "ＷＩＦＩ"]


# --- the compiled ruleset and its cache -----------------------------------------------------------


def test_the_ruleset_is_compiled_once_and_recompiled_after_a_change(rule, django_assert_num_queries):
    rule(kinds=("complaint",))
    first = ruleset()
    with django_assert_num_queries(1):  # the version token, nothing per rule
        assert ruleset() is first

    rule(kinds=("report",))

    second = ruleset()
    assert second is not first and len(second) == 2


def test_another_process_sees_a_change_through_the_token(rule):
    rule(kinds=("complaint",))
    stale = ruleset()
    RulesetVersion.objects.filter(pk=1).update(token="changed-elsewhere")  # as another process's save would

    assert ruleset() is not stale


def test_a_deleted_rule_no_longer_matches_the_next_ticket(rule, make_ticket, housing):
    doomed = rule(kinds=("complaint",), priority=10)
    fallback = rule(kinds=("complaint",), priority=20, lead_department=housing.pk)
    ticket = make_ticket(kind="complaint")
    assert matched(ticket) == doomed.pk  # compiled and cached with the doomed rule

    rule_delete(doomed.pk, actor=None)

    assert matched(ticket) == fallback.pk


def test_a_changed_keyword_is_in_force_for_the_next_ticket(rule, make_ticket):
    saved = rule(keywords=("停水",))
    ticket = make_ticket(title="路灯", description="楼道路灯不亮")
    assert matched(ticket) is None

    rule_save(next(s for s in rule_specs() if s.id == saved.pk).replace(keywords=("路灯",)), actor=None)

    assert matched(ticket) == saved.pk


def test_a_rolled_back_rule_change_never_comes_into_force(rule, make_ticket):
    kept = rule(kinds=("complaint",), priority=20)
    ticket = make_ticket(kind="complaint")
    assert matched(ticket) == kept.pk

    with pytest.raises(RuntimeError), transaction.atomic():
        rule(kinds=("complaint",), priority=10)
        assert len(ruleset()) == 2  # the saving transaction sees its own rule (and caches it)...
        raise RuntimeError("the change is abandoned")

    assert len(ruleset()) == 1  # ...but the token rolled back with it, so the cache is not trusted
    assert matched(ticket) == kept.pk


def test_an_auto_dispatch_rule_saved_now_dispatches_the_very_next_registration(make_ticket, water):
    before = make_ticket(kind="help", description="路灯不亮")
    assert before.status == Status.REGISTERED  # no rule yet; the empty ruleset is compiled and cached

    rule_save(RuleSpec(name="路灯", keywords=("路灯",), lead_department=water.pk, auto_dispatch=True), actor=None)
    after = make_ticket(kind="help", description="路灯不亮")

    assert after.status == Status.DISPATCHED and after.lead_department_id == water.pk


def test_matching_many_tickets_runs_no_query(db, water, housing, django_assert_num_queries):
    specs = [
        RuleSpec(id=n, name=f"r{n}", kinds=("complaint",), keywords=(f"词{n:04d}号",), lead_department=water.pk)
        for n in range(1, 1001)
    ]
    compiled = Ruleset(specs)
    facts = [Facts(kind="complaint", description=f"内容词{n:04d}号结束") for n in range(1, 1001, 7)]

    with django_assert_num_queries(0):
        results = [compiled.match(f) for f in facts]

    assert [r.id for r in results] == list(range(1, 1001, 7))


def test_a_consultation_rule_suggests_closing_at_first_contact_instead_of_dispatching(make_ticket, operator):
    rule_save(
        RuleSpec(name="办事指南", kinds=("consultation",), keywords=("怎么办理",), close_first_contact=True), actor=None
    )
    ticket = make_ticket(kind="consultation", description="居住证怎么办理")

    explained = routing_explain(facts_for_ticket(ticket), ticket=ticket)

    assert ticket.status == Status.REGISTERED
    assert explained["suggestion"]["close_first_contact"] is True
    assert explained["suggestion"]["lead_department"] is None
    assert explained["queue"] == "manual"
    closed = actions.ticket_close_first_contact(ticket, actor=operator, answer="携带身份证到派出所办理")
    assert closed.status == Status.CLOSED_FIRST_CONTACT
