"""Fixtures shared by the whole suite: a small city, one user per role, tickets in any status."""

import pytest
from rest_framework.test import APIClient

from tests.factories import CategoryFactory, DepartmentFactory, DistrictFactory, UserFactory, advance
from tickets import actions
from tickets.models import Role, Status, Ticket

# A real, checksum-valid resident ID number (GB 11643 example) and its masked form.
VALID_ID = "11010519491231002X"


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    """Unit tests use the in-memory layer unless a test opts into Redis explicitly."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def water(db):
    return DepartmentFactory(code="water", name="市水务局", name_en="Water Affairs Bureau")


@pytest.fixture
def housing(db):
    return DepartmentFactory(code="housing", name="市住房和城乡建设局", name_en="Housing Bureau")


@pytest.fixture
def district(db):
    return DistrictFactory(code="441302", name="惠城区", name_en="Huicheng District")


@pytest.fixture
def category_tree(db):
    """Two roots with two leaves each; returns a dict by code."""
    utilities = CategoryFactory(code="utilities", name="水电气")
    urban = CategoryFactory(code="urban", name="城市管理")
    return {
        "utilities": utilities,
        "water_cut": CategoryFactory(code="water_cut", name="停水", parent=utilities),
        "power_cut": CategoryFactory(code="power_cut", name="停电", parent=utilities),
        "urban": urban,
        "street_lights": CategoryFactory(code="street_lights", name="路灯", parent=urban),
    }


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", role=Role.OPERATOR)


@pytest.fixture
def supervisor(db):
    return UserFactory(username="supervisor", role=Role.SUPERVISOR)


@pytest.fixture
def water_staff(water):
    return UserFactory(username="water_staff", role=Role.DEPARTMENT, department=water)


@pytest.fixture
def housing_staff(housing):
    return UserFactory(username="housing_staff", role=Role.DEPARTMENT, department=housing)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def citizen(db):
    return actions.citizen_create(name="张三", id_number=VALID_ID, phones=["13800138000"], address="惠城区江北街道1号")


@pytest.fixture
def make_ticket(operator, supervisor, water_staff, district):
    """make_ticket(status=..., **fields): a ticket walked to `status` by the real actions (water dept)."""

    def make(status: str = Status.REGISTERED, *, department_user=None, **fields) -> Ticket:
        fields.setdefault("kind", "complaint")
        fields.setdefault("title", "小区停水")
        fields.setdefault("description", "小区停水三天无人处理")
        fields.setdefault("district", district)
        if status == Status.DRAFT:
            return actions.ticket_create(actor=operator, register=False, **fields)
        ticket = actions.ticket_create(actor=operator, **fields)
        return advance(
            ticket, status, hotline=operator, department_user=department_user or water_staff, supervisor=supervisor
        )

    return make


@pytest.fixture
def api():
    """An API client; call api.as_user(user) to authenticate."""

    class Client(APIClient):
        def as_user(self, user):
            self.force_authenticate(user=user)
            return self

    return Client()


@pytest.fixture
def ticket_state():
    """ticket_state(ticket): what a refused request must leave untouched, read fresh from the database."""

    def read(ticket: Ticket) -> dict:
        fresh = Ticket.objects.get(pk=ticket.pk)
        return {
            "status": fresh.status,
            "version": fresh.version,
            "timeline": fresh.timeline.count(),
            "lead_department": fresh.lead_department_id,
            "assisting": sorted(fresh.assisting_departments.values_list("id", flat=True)),
        }

    return read


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 costs a fifth of a second per user; tests check behaviour, not hashing strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_routing_caches():
    """Each test starts with the rules, working calendar and time limits read from its own database."""
    from routing.calendar import calendar_cache_clear
    from routing.deadlines import time_limits_cache_clear
    from routing.rules.matching import rules_cache_clear

    for clear in (rules_cache_clear, calendar_cache_clear, time_limits_cache_clear):
        clear()
    yield
    for clear in (rules_cache_clear, calendar_cache_clear, time_limits_cache_clear):
        clear()
