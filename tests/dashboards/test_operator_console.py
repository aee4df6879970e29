"""The operator console: the page and its hooks, its own queue, the screen pop in the live snapshot."""

import datetime
import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from callcentre.asgi import application
from dashboards import selectors
from dashboards.snapshots import VIEWS, snapshot_build
from routing.clocks import callbacks_schedule
from telephony import actions as call_actions
from tests.conftest import VALID_ID
from tests.factories import CategoryFactory, UserFactory
from tickets import actions, clock
from tickets.models import Role, Status

CALLER = "13800138000"  # the citizen fixture's phone
CALLER_MASKED = "138****8000"
MASKED_ID = "110105********002X"
UNMASKED = (VALID_ID, CALLER, "+86" + CALLER)
OPERATOR_JS = Path(settings.BASE_DIR) / "callcentre" / "static" / "hotline" / "pages" / "operator.js"


def html(response) -> str:
    return response.content.decode()


def assert_no_unmasked_data(text: str) -> None:
    for value in UNMASKED:
        assert value not in text


@pytest.fixture
def colleague(db):
    return UserFactory(username="colleague", role=Role.OPERATOR, extension="8002")


def answered_call(operator, *, uniqueid="1700000000.1", caller=CALLER, kind="complaint"):
    """A call the bridge opened (draft ticket, IVR choice), queued and answered by `operator`."""
    now = clock.now()
    opened = call_actions.call_open(uniqueid=uniqueid, caller=caller, at=now)
    call_actions.call_ivr_done(opened.call, path=f"main>{kind}", digits="2", kind=kind, at=now)
    call_actions.call_queue_join(uniqueid, queue="hotline", at=now)
    return call_actions.call_answer(uniqueid, agent="PJSIP/8001", operator=operator, at=now)


# The page ---------------------------------------------------------------------------------------


def test_operators_and_administrators_get_the_console(client, operator, admin_user):
    for user in (operator, admin_user):
        client.force_login(user)
        response = client.get("/operator/")
        assert response.status_code == 200
        assert 'id="ticket-form"' in html(response)


@pytest.mark.parametrize("user_fixture", ["water_staff", "supervisor"])
def test_the_console_is_refused_to_other_roles(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get("/operator/").status_code == 403


def test_the_console_carries_the_hooks_the_browser_test_uses(client, operator):
    client.force_login(operator)
    content = html(client.get("/operator/"))
    assert re.search(r'<section[^>]* id="screen-pop"', content)
    form = content.split('<form id="ticket-form"', 1)[1].split("</form>", 1)[0]
    for name in ("kind", "category", "title", "description", "address", "district", "urgency"):
        assert f'name="{name}"' in form, name
    assert 'id="routing-suggestion"' in content
    assert '<button type="button" name="dispatch"' in form
    assert '<button type="button" name="close-first-contact"' in form
    assert re.search(r'id="console-status" role="status"', content)


def test_every_field_has_a_label(client, operator):
    client.force_login(operator)
    content = html(client.get("/operator/"))
    controls = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', content)
    assert controls
    for control in controls:
        assert f'<label for="{control}"' in content, control


def test_the_console_is_in_chinese_by_default_and_english_with_the_language_switch(client, operator):
    client.force_login(operator)
    content = html(client.get("/operator/"))
    assert '<html lang="zh-hans">' in content
    assert "话务员工作台" in content
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    content = html(client.get("/operator/"))
    assert '<html lang="en">' in content
    assert "Operator desk" in content and "Dispatch" in content


def test_every_text_the_script_shows_comes_from_the_page(client, operator):
    """operator.js reads its texts from #console-texts (texts.fooBar is data-foo-bar): none may be missing."""
    client.force_login(operator)
    content = html(client.get("/operator/"))
    texts = content.split('<div id="console-texts"', 1)[1].split(">", 1)[0]
    used = set(re.findall(r"\btexts\.([A-Za-z]+)", OPERATOR_JS.read_text()))
    assert used
    for name in used:
        attribute = "data-" + re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), name)
        assert f'{attribute}="' in texts, attribute


def test_the_category_picker_gets_the_active_tree_depth_first_in_the_pages_language(client, operator, category_tree):
    for code, sort in (("urban", 1), ("utilities", 2), ("water_cut", 1), ("power_cut", 2)):
        node = category_tree[code]
        node.sort = sort
        node.save()
    category_tree["water_cut"].name_en = "Water cut"
    category_tree["water_cut"].save()
    CategoryFactory(code="retired", name="旧分类", is_active=False)
    CategoryFactory(code="under_retired", name="旧子类", parent=category_tree["urban"], is_active=False)
    client.force_login(operator)
    response = client.get("/operator/")
    nodes = response.context["categories"]
    assert [node["label"] for node in nodes] == [
        "城市管理",
        "城市管理 / 路灯",
        "水电气",
        "水电气 / 停水",
        "水电气 / 停电",
    ]
    water_cut = nodes[3]
    assert water_cut["depth"] == 1 and water_cut["leaf"] is True and water_cut["other"] == "Water cut"
    assert nodes[2]["leaf"] is False
    assert 'id="console-categories"' in html(response)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    nodes = client.get("/operator/").context["categories"]
    assert nodes[3]["name"] == "Water cut" and nodes[3]["other"] == "停水"


def test_the_page_lists_the_operators_drafts_and_callbacks_masked(client, operator, colleague, citizen, make_ticket):
    mine = answered_call(operator).ticket  # opened by the bridge: created by no one
    theirs = answered_call(colleague, uniqueid="1700000000.2", caller="13900139000").ticket
    replied = make_ticket(Status.REPLIED, citizen=citizen, caller_number=CALLER, title="等待回访")
    client.force_login(operator)
    response = client.get("/operator/")
    content = html(response)
    assert response.context["drafts"] == [mine]
    assert response.context["callbacks"] == [replied]
    assert mine.number in content and replied.number in content
    assert theirs.number not in content
    assert f'href="/tickets/{replied.number}/"' in content and f'href="/tickets/{mine.number}/"' in content
    assert CALLER_MASKED in content and MASKED_ID in content
    assert_no_unmasked_data(content)


# The queue ----------------------------------------------------------------------------------------


def test_a_call_the_operator_answered_is_their_draft_until_registered(operator, colleague):
    call = answered_call(operator)
    assert selectors.operator_drafts(operator) == [call.ticket]
    assert selectors.operator_drafts(colleague) == []
    actions.ticket_update(call.ticket, actor=operator, version=None, description="路灯不亮")
    registered = actions.ticket_register(call.ticket, actor=operator)
    assert selectors.operator_drafts(operator) == []
    assert registered.number in selectors.operator_watching(operator)
    assert registered.number not in selectors.operator_watching(colleague)


def test_callbacks_are_the_operators_replied_tickets_with_their_due_time(operator, colleague, make_ticket, water_staff):
    replied = make_ticket(Status.REPLIED, title="等待回访")
    make_ticket(Status.CLOSED)
    someone_elses = actions.ticket_create(actor=colleague, title="别人的", description="x")
    someone_elses = actions.ticket_dispatch(someone_elses, actor=colleague, department=water_staff.department)
    assert [t.number for t in selectors.operator_callbacks(operator)] == [replied.number]
    assert selectors.operator_callbacks(operator)[0].callback_due_at is None
    callbacks_schedule(now=clock.now() + datetime.timedelta(minutes=1))
    (row,) = selectors.operator_callbacks(operator)
    assert row.callback_due_at is not None and row.callback_due_at > replied.replied_at
    assert replied.number not in selectors.operator_watching(operator)  # it is in the callbacks already
    assert someone_elses.number not in selectors.operator_watching(operator)
    assert selectors.operator_callbacks(colleague) == []


def test_the_queue_part_gives_rows_like_the_api_and_the_followed_numbers(operator, citizen, make_ticket):
    draft = answered_call(operator).ticket
    replied = make_ticket(Status.REPLIED, citizen=citizen, caller_number=CALLER)
    dispatched = make_ticket(Status.DISPATCHED)
    queue = snapshot_build(VIEWS["operator"], operator)["data"]["queue"]
    assert [row["number"] for row in queue["drafts"]] == [draft.number]
    (callback,) = queue["callbacks"]
    assert callback["number"] == replied.number
    assert callback["replied_at"] == replied.replied_at.isoformat() and callback["callback_due_at"] is None
    assert callback["citizen"]["id_masked"] == MASKED_ID and callback["caller_number"] == CALLER_MASKED
    assert dispatched.number in queue["watching"] and replied.number not in queue["watching"]
    assert_no_unmasked_data(str(queue))


# The screen pop in the snapshot ---------------------------------------------------------------------


def test_the_snapshot_holds_the_call_the_operator_is_on(operator, citizen, make_ticket):
    earlier = make_ticket(Status.CLOSED, citizen=citizen, title="上次的停水")
    call = answered_call(operator)
    pop = snapshot_build(VIEWS["operator"], operator)["data"]["call"]
    assert pop["call"] == call.pk
    assert pop["ticket"]["number"] == call.ticket.number and pop["ticket"]["status"] == Status.DRAFT
    assert pop["caller"] == CALLER_MASKED
    assert pop["citizen"]["id_masked"] == MASKED_ID
    assert pop["ivr"]["choice"] == "kind" and pop["ivr"]["kind"] == "complaint"
    assert [row["number"] for row in pop["history"]] == [earlier.number]
    assert_no_unmasked_data(str(pop))


def test_the_snapshot_never_holds_another_operators_call(operator, colleague, supervisor, admin_user):
    answered_call(colleague)
    for user in (operator, admin_user):
        assert snapshot_build(VIEWS["operator"], user)["data"]["call"] is None
    assert snapshot_build(VIEWS["operator"], colleague)["data"]["call"] is not None


def test_the_snapshot_holds_no_call_after_the_hangup(operator):
    call = answered_call(operator)
    call_actions.call_hangup(call.uniqueid, cause="16")
    assert snapshot_build(VIEWS["operator"], operator)["data"]["call"] is None


@pytest.mark.django_db(transaction=True)
async def test_a_console_that_connects_during_a_call_gets_its_pop_and_the_next_one_live(operator, colleague):
    channel_layers.backends.clear()
    try:
        first = await sync_to_async(answered_call)(operator)
        socket = await _socket(operator)
        snapshot = await socket.receive_json_from(timeout=3)
        assert snapshot["type"] == "snapshot"
        assert snapshot["data"]["call"]["ticket"]["number"] == first.ticket.number
        assert [row["number"] for row in snapshot["data"]["queue"]["drafts"]] == [first.ticket.number]

        await sync_to_async(answered_call)(colleague, uniqueid="1700000000.9", caller="13900139000")
        second = await sync_to_async(answered_call)(operator, uniqueid="1700000000.3", caller="13700137000")
        pops = []
        while True:
            message = await socket.receive_json_from(timeout=3)
            if message.get("event") == "call.pop":
                pops.append(message)
                break
        assert pops[0]["payload"]["ticket"]["number"] == second.ticket.number
        assert pops[0]["stream"] == f"operator.{operator.pk}"
        await socket.disconnect()
    finally:
        channel_layers.backends.clear()
        await sync_to_async(connections.close_all)()


async def _socket(user) -> WebsocketCommunicator:
    def cookie() -> bytes:
        client = Client()
        client.force_login(user)
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()

    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", await sync_to_async(cookie)())]
    communicator = WebsocketCommunicator(application, "/ws/events/?view=operator", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator
