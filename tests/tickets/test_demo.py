"""The demo city: reference data, users, citizens and a month of tickets, loaded idempotently."""

import datetime
import io
import random

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from stdnum.cn import ric

from tickets import demo
from tickets.models import (
    Action,
    Article,
    Category,
    Channel,
    Citizen,
    Department,
    District,
    Kind,
    Role,
    Status,
    Ticket,
    TimelineEntry,
    User,
)
from tickets.pii import id_number_clean, pii_decrypt

# Who may do each step, as the demo should show it.
ACTION_ROLES = {
    Action.DISPATCH: {Role.OPERATOR},
    Action.ACCEPT: {Role.DEPARTMENT},
    Action.RETURN: {Role.DEPARTMENT},
    Action.REQUEST_EXTENSION: {Role.DEPARTMENT},
    Action.REPLY: {Role.DEPARTMENT},
    Action.APPROVE_EXTENSION: {Role.SUPERVISOR},
    Action.DENY_EXTENSION: {Role.SUPERVISOR},
    Action.CANCEL: {Role.SUPERVISOR},
    Action.CLOSE: {Role.OPERATOR},
}


@pytest.fixture(scope="module")
def demo_city(django_db_setup, django_db_blocker):
    """Load the city once for the module; each test runs in a savepoint inside this transaction."""
    # The suite's fast hasher (conftest) is function-scoped; hash the demo passwords with it too.
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with fast, django_db_blocker.unblock(), transaction.atomic():
        summary = demo.load_demo()
        yield summary
        transaction.set_rollback(True)


@pytest.fixture
def city(demo_city, db):
    return demo_city


def test_city_has_departments_districts_and_a_two_level_category_tree(city):
    assert Department.objects.count() >= 10
    assert set(District.objects.values_list("code", flat=True)) >= {"441302", "441303", "441322", "441323", "441324"}
    roots = Category.objects.filter(parent=None)
    leaves = Category.objects.filter(children=None)
    assert roots.count() == 11
    assert leaves.count() >= 35
    assert not leaves.filter(parent=None).exists()
    for leaf in leaves.select_related("parent"):
        assert leaf.name_en
        assert leaf.path == f"{leaf.parent.path}{leaf.pk}/"
    assert Department.objects.get(code="water").name == "市水务局"


def test_every_role_has_demo_users_who_can_log_in(city):
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    for login in demo.DEMO_LOGINS:
        user = User.objects.get(username=login.username)
        assert user.role == login.role
        assert (user.department.name if user.department else "") == login.department
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password(demo.DEMO_PASSWORD)
    assert User.objects.get(username="water").check_password(demo.DEMO_PASSWORD)
    for department in Department.objects.all():
        assert department.staff.filter(username=department.code, role=Role.DEPARTMENT).exists()
    assert User.objects.filter(role=Role.OPERATOR).count() >= 3


def test_tickets_cover_every_kind_channel_and_status(city):
    assert Ticket.objects.count() >= 200
    assert set(Ticket.objects.values_list("kind", flat=True)) == set(Kind.values)
    assert set(Ticket.objects.values_list("channel", flat=True)) == set(Channel.values)
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Status.values)
    leaves_used = Ticket.objects.exclude(category=None).values("category").distinct().count()
    assert leaves_used >= 25


def test_every_timeline_starts_with_create_and_runs_forward_in_the_past(city):
    now = timezone.now()
    for ticket in Ticket.objects.prefetch_related("timeline"):
        entries = list(ticket.timeline.all())
        assert entries[0].action == Action.CREATE, ticket.external_ref
        moments = [entry.at for entry in entries]
        assert moments == sorted(moments), ticket.external_ref
        assert moments[-1] <= now, ticket.external_ref
        assert entries[-1].to_status == ticket.status, ticket.external_ref
        assert ticket.created_at == moments[0]
        # Ticket numbers carry the (simulated) day the ticket was opened.
        assert ticket.number.startswith(timezone.localdate(ticket.created_at).strftime("%Y%m%d"))


def test_tickets_spread_over_the_last_month(city):
    now = timezone.now()
    created = list(Ticket.objects.values_list("created_at", flat=True))
    assert min(created) < now - datetime.timedelta(days=20)
    assert min(created) > now - datetime.timedelta(days=45)
    assert len({timezone.localdate(moment) for moment in created}) >= 20


def test_steps_are_taken_by_the_roles_that_take_them(city):
    for entry in TimelineEntry.objects.filter(action__in=ACTION_ROLES).select_related("actor", "ticket"):
        assert entry.actor is not None
        assert entry.actor.role in ACTION_ROLES[entry.action], (entry.ticket.external_ref, entry.action)
    for ticket in Ticket.objects.filter(status=Status.REPLIED).select_related("lead_department"):
        reply = ticket.timeline.get(action=Action.REPLY)
        assert reply.actor.department == ticket.lead_department


def test_some_tickets_are_overdue_and_some_still_running(city):
    now = timezone.now()
    held = Ticket.objects.filter(status__in=[Status.DISPATCHED, Status.ACCEPTED])
    assert any(ticket.is_overdue(now) for ticket in held)
    assert any(not ticket.is_overdue(now) for ticket in held)


def test_tickets_show_detours_returns_extensions_reopens_and_merges(city):
    assert Ticket.objects.filter(status=Status.CLOSED, return_count__gt=0).exists()
    actions = set(TimelineEntry.objects.values_list("action", flat=True))
    assert {Action.APPROVE_EXTENSION, Action.DENY_EXTENSION, Action.REOPEN, Action.MERGE} <= actions
    for ticket in Ticket.objects.filter(status=Status.MERGED).select_related("merged_into"):
        assert ticket.merged_into is not None
        assert ticket.merged_into.created_at < ticket.created_at
        assert ticket.merged_into.title == ticket.title


def test_some_tickets_are_anonymous(city):
    anonymous = Ticket.objects.filter(citizen=None)
    assert anonymous.exclude(caller_number="").exists()
    assert anonymous.filter(caller_number="").exists()
    assert Ticket.objects.exclude(citizen=None).count() > Ticket.objects.count() / 2


def test_citizens_have_valid_id_numbers_stored_masked_and_encrypted(city):
    citizens = Citizen.objects.prefetch_related("phones")
    assert citizens.count() >= 50
    for citizen in citizens:
        number = pii_decrypt(citizen.id_encrypted)
        assert ric.is_valid(number)
        assert number.startswith("44")
        assert "*" in citizen.id_masked and number not in citizen.id_encrypted
        assert citizen.id_masked[:6] == number[:6]
        phones = [phone.number for phone in citizen.phones.all()]
        assert phones and all(p.startswith(("+8613", "+8615", "+8618")) for p in phones)


def test_demo_id_numbers_pass_the_validator_in_every_district():
    rng = random.Random(7)
    for district in demo.DISTRICTS:
        for _ in range(40):
            number = demo.demo_id_number(rng, district)
            assert id_number_clean(number) == number


def test_running_again_adds_nothing(city):
    models = (Department, District, Category, User, Citizen, Ticket, TimelineEntry, Article)
    before = {model: model.objects.count() for model in models}
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert {model: model.objects.count() for model in models} == before
    assert "tickets: all 220 present" in out.getvalue()
    assert "(0 new)" in out.getvalue()
    assert "banzhang" in out.getvalue()


def test_the_knowledge_base_has_articles_that_first_contact_answers_used(city):
    published = Article.objects.filter(is_published=True)
    assert published.count() >= 20 and Article.objects.filter(is_published=False).exists()
    assert published.filter(title__contains="办公时间").exists() and published.filter(answer__contains="元").exists()
    assert all(article.updated_by.role == Role.SUPERVISOR for article in Article.objects.select_related("updated_by"))
    used = Ticket.objects.filter(article__isnull=False)
    assert used.exists() and set(used.values_list("status", flat=True)) == {Status.CLOSED_FIRST_CONTACT}
    for article in Article.objects.filter(use_count__gt=0):
        assert article.use_count == article.tickets.count() and article.is_published
    assert (
        Article.objects.order_by("created_at").first().created_at
        < Ticket.objects.order_by("created_at").first().created_at
    )
