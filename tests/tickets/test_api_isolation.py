"""Department isolation: another department's ticket is a 404 on every endpoint and never in a list.

The endpoints are found by walking the URL resolver, so an endpoint added later is covered
without touching this file.
"""

import contextlib
import datetime
import itertools

import pytest
import time_machine
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from rest_framework.test import APIClient

from tests.conftest import VALID_ID
from tickets import actions, clock
from tickets.api.filters import TicketFilter
from tickets.models import TRANSITIONS, CitizenPhone, PiiAccess, Status, Ticket

pytestmark = pytest.mark.django_db


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}", pattern


def _methods(pattern: URLPattern) -> list[str]:
    """The methods an endpoint answers: a viewset route's action map, else a view class's handlers."""
    callback = pattern.callback
    if getattr(callback, "actions", None):
        return sorted(callback.actions)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]
    return ["get", "post"]


def routes_with(kwarg: str, *, api: bool) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(url name, other kwargs, methods) of every route taking `kwarg`, API routes or pages."""
    found = []
    for route, name, pattern in _walk(get_resolver().url_patterns):
        groups = set(pattern.pattern.regex.groupindex)
        if kwarg in groups and route.startswith("api/") == api:
            found.append((name, tuple(sorted(groups - {kwarg})), _methods(pattern)))
    return found


def route_url(name: str, extra: tuple[str, ...], **kwargs) -> str:
    kwargs.update({key: "json" for key in extra})  # the router's format-suffix twins: /dispatch.json
    path = reverse(name, kwargs=kwargs)
    assert resolve(path).url_name == name.rsplit(":", 1)[-1]
    return path


TICKET_ROUTES = routes_with("number", api=True)
TICKET_READS = [route for route in TICKET_ROUTES if "get" in route[2]]
TICKET_PAGES = routes_with("number", api=False)
CITIZEN_ROUTES = [r for r in routes_with("pk", api=True) if r[0].rsplit(":", 1)[-1].startswith("citizen-")]
ROUTE = ("name", "extra", "methods")
# Pages of something only some tickets have (404 when this one has none); they are still walked for
# isolation above, and their own tests show them opening: a web ticket's photo (tests/intake).
ATTACHMENT_PAGES = {"intake-photo"}


def route_ids(routes) -> list[str]:
    return [name + (".json" if extra else "") for name, extra, _methods in routes]


def test_the_walk_finds_every_ticket_endpoint():
    names = {name for name, _extra, _methods in TICKET_ROUTES}
    slugs = {action.replace("_", "-") for action in TRANSITIONS}
    assert {"ticket-detail", "ticket-timeline"} | {f"ticket-{slug}" for slug in slugs} <= names
    assert {"citizen-detail", "citizen-phones", "citizen-reveal"} <= {name for name, _e, _m in CITIZEN_ROUTES}


@pytest.fixture
def request_body(housing, operator, water):
    """A well-formed body for any endpoint, so a missing scope would show as a change, not as a 400."""

    def body(ticket: Ticket, method: str) -> dict:
        if method == "patch":
            return {"title": "改了别人的工单", "version": ticket.version}
        later = (ticket.deadline or clock.now()) + datetime.timedelta(days=30)
        into = actions.ticket_create(actor=operator, description="另一件")
        return {
            "note": "越权操作",
            "reason": "越权操作",
            "reply": "越权操作",
            "answer": "越权操作",
            "department": housing.pk,
            "assisting": [housing.pk, water.pk],
            "deadline": later.isoformat(),
            "until": later.isoformat(),
            "satisfaction": "satisfied",
            "into": into.number,
        }

    return body


@pytest.fixture
def hidden_tickets(make_ticket, housing_staff, water_staff):
    """(user, ticket) pairs where the ticket is not the user's, in the statuses an action starts from."""

    def pairs(name: str) -> list[tuple[object, Ticket]]:
        action = name.rsplit(":", 1)[-1].removeprefix("ticket-").replace("-", "_")
        sources = list(TRANSITIONS[action][0]) if action in TRANSITIONS else []
        statuses = list(dict.fromkeys([*sources, Status.DISPATCHED, Status.ACCEPTED]))
        found = []
        for status in statuses:
            if status in (Status.MERGED, Status.DRAFT, Status.REGISTERED):  # merged needs two; early ones below
                continue
            found.append((housing_staff, make_ticket(status)))  # the water department's
        returned = make_ticket(Status.RETURNED)  # water sent it back: no longer water's
        found += [(water_staff, returned), (housing_staff, returned)]
        for early in (Status.DRAFT, Status.REGISTERED):  # not dispatched to anyone yet
            ticket = make_ticket(early)
            found += [(water_staff, ticket), (housing_staff, ticket)]
        return found

    return pairs


def assert_json_error(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(ROUTE, TICKET_ROUTES, ids=route_ids(TICKET_ROUTES))
def test_every_ticket_endpoint_is_404_for_a_ticket_not_of_your_department(
    api, name, extra, methods, hidden_tickets, request_body, ticket_state
):
    for user, ticket in hidden_tickets(name):
        path = route_url(name, extra, number=ticket.number)
        for method in methods:
            before = ticket_state(ticket)
            data = request_body(ticket, method) if method != "get" else None
            response = getattr(api.as_user(user), method)(path, data, format="json")
            assert_json_error(response, 404)
            assert ticket.number not in response.content.decode()
            assert ticket_state(ticket) == before, (method, path, user)


@pytest.mark.parametrize(ROUTE, TICKET_READS, ids=route_ids(TICKET_READS))
def test_own_department_reads_every_ticket_endpoint(api, name, extra, methods, make_ticket, water_staff):
    for status in (Status.DISPATCHED, Status.ACCEPTED, Status.EXTENSION_REQUESTED, Status.REPLIED, Status.CLOSED):
        ticket = make_ticket(status)
        response = api.as_user(water_staff).get(route_url(name, extra, number=ticket.number))
        assert response.status_code == 200, (status, response.content[:300])


@pytest.mark.parametrize(ROUTE, TICKET_ROUTES, ids=route_ids(TICKET_ROUTES))
def test_anonymous_gets_a_json_refusal_on_every_ticket_endpoint(name, extra, methods, make_ticket, ticket_state):
    ticket = make_ticket(Status.DISPATCHED)
    before = ticket_state(ticket)
    path = route_url(name, extra, number=ticket.number)

    for method in methods:
        response = getattr(APIClient(), method)(path, {}, format="json")
        assert response.status_code in (401, 403), (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"
        assert ticket.number not in response.content.decode()
    assert ticket_state(ticket) == before


def test_every_ticket_page_is_404_for_a_ticket_not_of_your_department(
    client, make_ticket, housing_staff, water_staff, ticket_state
):
    if not TICKET_PAGES:
        pytest.skip("no ticket pages yet")
    hidden = [(housing_staff, make_ticket(Status.ACCEPTED)), (water_staff, make_ticket(Status.REGISTERED))]
    for (name, extra, _methods), (user, ticket) in itertools.product(TICKET_PAGES, hidden):
        client.force_login(user)
        before = ticket_state(ticket)
        path = route_url(name, extra, number=ticket.number)
        assert client.get(path).status_code == 404, path
        assert client.post(path, {"title": "x"}).status_code in (404, 405), path
        assert ticket_state(ticket) == before


def test_ticket_page_opens_for_your_own_department(client, make_ticket, water_staff):
    if not TICKET_PAGES:
        pytest.skip("no ticket pages yet")
    ticket = make_ticket(Status.ACCEPTED)
    client.force_login(water_staff)
    for name, extra, _methods in TICKET_PAGES:
        if name in ATTACHMENT_PAGES:
            continue
        assert client.get(route_url(name, extra, number=ticket.number)).status_code == 200


# --- lists ---------------------------------------------------------------------------------------


@pytest.fixture
def city(operator, supervisor, water, housing, water_staff, housing_staff, citizen, category_tree, make_ticket):
    """Tickets in every status for both departments, joint ones both ways, reports, drafts, a merge."""
    tickets = []
    for status in Status:
        if status == Status.MERGED:
            continue
        tickets.append(make_ticket(status, category=category_tree["water_cut"], citizen=citizen))
        tickets.append(make_ticket(status, department_user=housing_staff, category=category_tree["street_lights"]))
    for lead, helper, kind in ((water, housing, "complaint"), (housing, water, "report")):
        joint = make_ticket(Status.REGISTERED, kind=kind, caller_number="13800138000")
        tickets.append(actions.ticket_dispatch(joint, actor=operator, department=lead, assisting=[helper]))
    main = make_ticket(Status.ACCEPTED)
    tickets.append(actions.ticket_merge(make_ticket(Status.DISPATCHED), actor=operator, into=main))
    tickets.append(main)
    return tickets


def visible_numbers(user) -> set[str]:
    """What a department may see, computed from the rows without the code under test."""
    return {
        t.number
        for t in Ticket.objects.prefetch_related("assisting_departments")
        if t.status not in (Status.DRAFT, Status.REGISTERED)
        and (t.lead_department_id == user.department_id or user.department in t.assisting_departments.all())
    }


def filter_values(water, housing, district, category_tree, tickets) -> dict[str, list[str]]:
    """Sample values for every filter of the ticket list; a new filter must be given some here."""
    values: dict[str, list[str]] = {}
    for name, flt in TicketFilter.base_filters.items():
        choices = flt.extra.get("choices")
        if name in ("department",):
            values[name] = [str(water.pk), str(housing.pk)]
        elif name == "district":
            values[name] = [str(district.pk)]
        elif name == "category":
            values[name] = [str(c.pk) for c in category_tree.values()]
        elif name in ("created_after", "created_before"):
            values[name] = ["2000-01-01", (clock.now() + datetime.timedelta(days=1)).isoformat()]
        elif name == "q":
            values[name] = ["停水", "", *(t.number for t in tickets[:6]), tickets[0].number[:8]]
        elif choices:
            pairs = list(choices() if callable(choices) else choices)
            values[name] = [value for value, _label in pairs] + [",".join(value for value, _label in pairs)]
            if "In" not in type(flt).__name__ and "Comma" not in type(flt).__name__:
                values[name] = values[name][:-1]
        else:
            raise AssertionError(f"give the new ticket filter {name!r} sample values in this test")
    return values


def test_ticket_list_never_includes_another_departments_ticket_under_any_filter(
    api, city, water, housing, water_staff, housing_staff, district, category_tree
):
    values = filter_values(water, housing, district, category_tree, city)
    later = max(t.deadline for t in city if t.deadline) + datetime.timedelta(days=1)

    for user in (water_staff, housing_staff):
        allowed = visible_numbers(user)
        assert allowed  # the city gives each department something to see
        for moment in (None, later):  # "overdue" means something different after the deadlines
            with time_machine.travel(moment, tick=False) if moment else contextlib.nullcontext():
                unfiltered = _numbers(api, user, {})
                assert unfiltered == allowed
                for name, samples in values.items():
                    for value in samples:
                        found = _numbers(api, user, {name: value})
                        assert found <= allowed, (user.username, name, value, found - allowed)


def test_joint_ticket_is_seen_by_the_assisting_department_until_returned(
    api, operator, water, housing, water_staff, housing_staff, make_ticket
):
    ticket = make_ticket(Status.REGISTERED)
    assert ticket.number not in _numbers(api, housing_staff, {})
    api.as_user(operator).post(
        f"/api/tickets/{ticket.number}/dispatch/", {"department": water.pk, "assisting": [housing.pk]}, format="json"
    )

    assert ticket.number in _numbers(api, housing_staff, {})
    assert ticket.number in _numbers(api, housing_staff, {"department": water.pk})
    assert api.as_user(housing_staff).get(f"/api/tickets/{ticket.number}/").status_code == 200
    assert api.as_user(housing_staff).get(f"/api/tickets/{ticket.number}/timeline/").status_code == 200

    api.as_user(water_staff).post(f"/api/tickets/{ticket.number}/return/", {"reason": "非本单位"}, format="json")

    for user in (water_staff, housing_staff):
        assert ticket.number not in _numbers(api, user, {})
        assert api.as_user(user).get(f"/api/tickets/{ticket.number}/").status_code == 404


def test_drafts_and_registered_tickets_are_invisible_to_departments(api, make_ticket, water_staff, housing_staff):
    draft = make_ticket(Status.DRAFT)
    registered = make_ticket(Status.REGISTERED)

    for user in (water_staff, housing_staff):
        found = _numbers(api, user, {"status": "draft,registered"})
        assert found == set()
        for ticket in (draft, registered):
            assert ticket.number not in _numbers(api, user, {"q": ticket.number})


def test_department_staff_cannot_open_a_ticket_about_a_citizen_they_cannot_see(api, water_staff, citizen):
    response = api.as_user(water_staff).post(
        "/api/tickets/", {"kind": "complaint", "description": "x", "citizen": citizen.pk}, format="json"
    )
    unknown = api.as_user(water_staff).post(
        "/api/tickets/", {"kind": "complaint", "description": "x", "citizen": citizen.pk + 1000}, format="json"
    )

    # Same answer for an existing and a missing citizen: the error does not confirm who exists.
    assert response.status_code == unknown.status_code
    assert response.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert not Ticket.objects.exists()


# --- citizens ------------------------------------------------------------------------------------


def test_department_staff_find_no_citizens(api, water_staff, citizen):
    for params in ({}, {"phone": "13800138000"}, {"id_number": VALID_ID}, {"q": "张"}):
        response = api.as_user(water_staff).get("/api/citizens/", params)
        assert response.status_code == 200
        assert response.json()["results"] == []


@pytest.mark.parametrize(ROUTE, CITIZEN_ROUTES, ids=route_ids(CITIZEN_ROUTES))
def test_every_citizen_endpoint_is_404_for_department_staff(api, name, extra, methods, water_staff, citizen):
    path = route_url(name, extra, pk=citizen.pk)
    for method in methods:
        body = {"reason": "查看身份证号码", "number": "13912345678"} if method != "get" else None
        response = getattr(api.as_user(water_staff), method)(path, body, format="json")
        assert_json_error(response, 404)
    assert not PiiAccess.objects.exists()
    assert list(CitizenPhone.objects.values_list("number", flat=True)) == ["+8613800138000"]


def test_department_staff_cannot_create_citizens(api, water_staff):
    response = api.as_user(water_staff).post("/api/citizens/", {"name": "李四"}, format="json")

    assert_json_error(response, 404)


@pytest.mark.parametrize(ROUTE, CITIZEN_ROUTES, ids=route_ids(CITIZEN_ROUTES))
def test_anonymous_gets_a_json_refusal_on_every_citizen_endpoint(name, extra, methods, citizen):
    path = route_url(name, extra, pk=citizen.pk)
    for method in methods:
        response = getattr(APIClient(), method)(path, {"reason": "x"}, format="json")
        assert response.status_code in (401, 403)
        assert response.json()["error"]["code"] == "not_authenticated"
    assert not PiiAccess.objects.exists()


# --- helpers -------------------------------------------------------------------------------------


def _numbers(api, user, params: dict) -> set[str]:
    response = api.as_user(user).get("/api/tickets/", {"page_size": 500, **params})
    assert response.status_code == 200, (params, response.content[:300])
    return {row["number"] for row in response.json()["results"]}
