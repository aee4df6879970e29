"""The supervisor wallboard live: its part of the snapshot, throttled refreshes over the socket, the page and its hooks.

Socket tests drive the real ASGI application like tests/dashboards/test_consumers.py (on Redis when
REDIS_URL is set); the refresh interval is shortened instead of sleeping for seconds.
"""

import asyncio
import functools
import re

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from dashboards import consumers, wallboard, wallboard_snapshots
from dashboards.publish import SUPERVISORS, publish
from tests.dashboards.test_consumers import (  # noqa: F401 - the socket fixtures
    _close_thread_connections,
    _layer,
    live,
)
from tickets import actions
from tickets.models import Status

FIGURE_KEYS = (
    "waiting",
    "longest_wait",
    "logged_in",
    "available",
    "on_call",
    "ringing",
    "paused",
    "calls_today",
    "answered",
    "abandoned",
    "self_service",
    "in_progress",
    "service_level",
    "average_speed_of_answer",
    "average_handle_time",
    "tickets_today",
    "open",
    "overdue",
    "on_time_today",
    "on_time_week",
    "satisfaction_today",
    "satisfaction_week",
)


@pytest.fixture(autouse=True)
def _fresh_wallboard_cache():
    """The wallboard computation is shared by a process's sockets for a second: not across tests."""
    wallboard._cache.clear()
    yield
    wallboard._cache.clear()


@pytest.fixture
def interval(monkeypatch):
    """Refresh at most every `seconds` (a second in production), so the tests wait fractions of one."""

    def set_interval(seconds: float) -> float:
        monkeypatch.setattr(consumers, "WALLBOARD_INTERVAL", seconds)
        return seconds

    return set_interval


async def collect(socket, seconds: float) -> list[dict]:
    """Every message the socket receives within `seconds` (a receive that times out would end the application)."""
    messages = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        if await socket.communicator.receive_nothing(timeout=left, interval=0.01):
            break
        messages.append(await socket.receive())
    return messages


async def next_wallboard(socket, timeout: float = 3.0) -> tuple[dict, list[dict]]:
    """The next wallboard refresh, and the messages that came before it."""
    before = []
    while True:
        message = await socket.receive(timeout=timeout)
        if message["type"] == "wallboard":
            return message, before
        before.append(message)


def new_ticket(operator, description: str = "咨询公积金提取"):
    return actions.ticket_create(actor=operator, kind="consultation", description=description)


# The socket ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_supervisor_snapshot_carries_the_wallboard_and_the_supervision_lists(supervisor, make_ticket):
    await sync_to_async(make_ticket)(Status.REGISTERED)
    returned = await sync_to_async(make_ticket)(Status.RETURNED)

    socket, snapshot = await live(supervisor, "supervisor")

    board = snapshot["data"]["wallboard"]
    assert board["tickets"]["total"] == 2
    assert {"queue", "calls", "tickets", "departments", "rates", "hot_topics", "labels"} <= set(board)
    supervision = snapshot["data"]["supervision"]
    assert set(supervision) == {"extensions", "returned", "overdue", "escalations"}
    assert [row["number"] for row in supervision["returned"]] == [returned.number]
    assert supervision["returned"][0]["return"]["reason"] == "非本单位职责"
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_events_bring_a_wallboard_refresh_at_most_once_an_interval_and_the_last_change_always(
    supervisor, operator, interval
):
    seconds = interval(0.5)
    socket, snapshot = await live(supervisor, "supervisor")
    loop = asyncio.get_running_loop()
    assert snapshot["data"]["wallboard"]["tickets"]["total"] == 0
    snapshot_at = loop.time()

    await sync_to_async(new_ticket)(operator)
    first, before = await next_wallboard(socket)
    first_at = loop.time()
    assert [m["event"] for m in before] == ["ticket.create", "ticket.register"]
    assert first["data"]["tickets"]["total"] == 1
    assert first_at - snapshot_at >= seconds * 0.8  # the snapshot counts as the last wallboard sent

    # A burst: one refresh for all of it, an interval after the previous one, with the final figures.
    for number in range(3):
        await sync_to_async(new_ticket)(operator, f"第{number}件")
    second, before = await next_wallboard(socket)
    assert loop.time() - first_at >= seconds * 0.8
    assert len(before) == 6 and all(m["type"] == "event" for m in before)
    assert second["data"]["tickets"]["total"] == 4
    assert "stream" not in second and "seq" not in second  # not a delta: it replaces the part
    assert not [m for m in await collect(socket, seconds * 1.5) if m["type"] == "wallboard"]
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_refresh_that_changes_no_figure_is_not_sent(supervisor, interval):
    interval(0.2)
    socket, _snapshot = await live(supervisor, "supervisor")

    def remind():
        with transaction.atomic():
            publish("ticket.reminder", {"ticket": "2026112500001", "id": 1}, [SUPERVISORS])

    await sync_to_async(remind)()
    messages = await collect(socket, 0.8)
    assert [m["type"] for m in messages] == ["event"]
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_snapshot_with_a_wallboard_computed_before_it_is_corrected_right_after(
    supervisor, operator, interval, monkeypatch
):
    interval(0.2)
    # Sockets share a computation for a while: here it is made before the ticket and outlives it.
    shared = functools.partial(wallboard.wallboard_cached, max_age=60)
    monkeypatch.setattr(wallboard_snapshots, "wallboard_cached", shared)
    await sync_to_async(shared)()
    ticket = await sync_to_async(new_ticket)(operator)

    socket, snapshot = await live(supervisor, "supervisor")
    assert snapshot["data"]["tickets"]["status_counts"][Status.REGISTERED] == 1  # the events are in the snapshot
    assert snapshot["data"]["wallboard"]["tickets"]["total"] == 0  # the shared wallboard predates them

    refresh, before = await next_wallboard(socket, timeout=2)
    assert before == []  # no event will come for that ticket: the check after the snapshot corrects it
    assert refresh["data"]["tickets"]["total"] == 1 and ticket.number
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_the_sockets_of_a_process_refresh_on_one_tick_and_share_one_computation(
    supervisor, admin_user, interval, monkeypatch
):
    seconds = interval(0.3)
    computed = []
    real = wallboard.wallboard_snapshot

    def counted():
        computed.append(1)
        return real()

    def remind():
        with transaction.atomic():
            publish("ticket.reminder", {"ticket": "2026112500001", "id": 1}, [SUPERVISORS])

    monkeypatch.setattr(wallboard, "wallboard_snapshot", counted)
    first, _ = await live(supervisor, "supervisor")
    await asyncio.sleep(seconds / 2)  # the two sockets' refreshes start half an interval apart
    second, _ = await live(admin_user, "supervisor")
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < seconds * 5:  # events all the time, as on a busy morning
        await sync_to_async(remind)()
        await asyncio.sleep(seconds / 3)
    elapsed = loop.time() - started

    # One computation a tick for both sockets; with a timer each, every tick of each socket computed.
    assert len(computed) <= elapsed / seconds + 2
    for socket in (first, second):
        await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_department_and_operator_sockets_never_get_the_wallboard(
    operator, water_staff, supervisor, make_ticket, interval
):
    interval(0.1)
    operator_socket, operator_snapshot = await live(operator, "operator")
    department_socket, department_snapshot = await live(water_staff, "department")
    supervisor_socket, _ = await live(supervisor, "supervisor")
    assert "wallboard" not in operator_snapshot["data"] and "wallboard" not in department_snapshot["data"]
    assert "supervision" not in operator_snapshot["data"] and "supervision" not in department_snapshot["data"]

    await sync_to_async(make_ticket)(Status.ACCEPTED)  # create, register, dispatch, accept

    operator_messages = await collect(operator_socket, 0.6)
    department_messages = await collect(department_socket, 0.1)
    supervisor_messages = await collect(supervisor_socket, 0.1)
    assert operator_messages and {m["type"] for m in operator_messages} == {"event"}
    assert department_messages and {m["type"] for m in department_messages} == {"event"}
    assert "wallboard" in {m["type"] for m in supervisor_messages}
    for socket in (operator_socket, department_socket, supervisor_socket):
        await socket.close()


# The page -----------------------------------------------------------------------------------------


def figure(content: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}"[^>]*>([^<]*)<', content)
    assert match, key
    return match.group(1)


@pytest.mark.django_db
def test_the_wallboard_page_has_a_hook_for_every_figure_whose_text_is_the_number(client, supervisor, make_ticket):
    for status in (Status.REGISTERED, Status.ACCEPTED, Status.RETURNED):
        make_ticket(status)
    client.force_login(supervisor)

    content = client.get("/supervisor/").content.decode()

    for key in FIGURE_KEYS:
        assert content.count(f'data-figure="{key}"') == 1, key
    assert figure(content, "tickets_today") == "3"
    assert figure(content, "calls_today") == "0"
    assert figure(content, "waiting") == "0"
    assert figure(content, "open") == "1"  # the accepted one; the returned one is back at the hotline
    assert figure(content, "service_level") == "—"  # no calls yet: no rate
    for chart in ("by_kind", "by_channel", "departments"):
        assert f'data-chart="{chart}"' in content
    assert 'id="wallboard-data"' in content  # the figures the charts are drawn from until the socket is up
    assert content.index("/static/vendor/plotly/plotly.min.js") < content.index("/static/hotline/pages/supervisor.js")
    assert "/static/hotline/pages/supervisor.css" in content
    assert 'href="/supervisor/?wall=1"' in content and "is-wall" not in content.split("<main", 1)[1].split(">", 1)[0]


@pytest.mark.django_db
def test_the_desk_lists_what_needs_a_supervisor_with_its_actions(client, supervisor, make_ticket):
    returned = make_ticket(Status.RETURNED)
    extension = make_ticket(Status.EXTENSION_REQUESTED)
    client.force_login(supervisor)

    content = client.get("/supervisor/").content.decode()

    assert f'data-action="dispatch" data-number="{returned.number}"' in content
    assert "非本单位职责" in content  # the return reason
    assert f'data-action="approve" data-number="{extension.number}"' in content
    assert f'data-action="deny" data-number="{extension.number}"' in content
    assert "需现场勘查" in content  # the extension's reason
    assert "<dialog" in content and 'name="csrfmiddlewaretoken"' in content
    assert 'data-escalate-url="/api/routing/tickets/0/escalate/"' in content
    assert 'data-reassign-url="/api/tickets/0/reassign/"' in content


@pytest.mark.django_db
def test_big_screen_mode_renders_the_figures_without_the_desk(client, supervisor, make_ticket):
    make_ticket(Status.REGISTERED)
    client.force_login(supervisor)

    content = client.get("/supervisor/?wall=1").content.decode()

    assert 'class="wallboard is-wall"' in content
    assert figure(content, "tickets_today") == "1" and figure(content, "calls_today") == "0"
    assert "data-fullscreen" in content
    assert 'href="/supervisor/"' in content  # the way back to the desk
    assert 'href="/supervisor/?wall=1"' not in content


@pytest.mark.django_db
@pytest.mark.parametrize("user_fixture", ["operator", "water_staff"])
def test_only_supervisors_and_administrators_open_the_wallboard(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get("/supervisor/?wall=1").status_code == 403
