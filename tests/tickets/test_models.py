"""Small model behaviour: names follow the interface language; superusers are administrators."""

from django.utils import translation

from tickets.models import Role, User


def test_department_and_category_names_follow_the_interface_language(water, category_tree):
    leaf = category_tree["water_cut"]
    leaf.name_en, leaf.parent.name_en = "Water cut", "Utilities"
    with translation.override("zh-hans"):
        assert str(water) == "市水务局"
        assert str(leaf) == "水电气 / 停水"
    with translation.override("en"):
        assert str(water) == "Water Affairs Bureau"
        assert str(leaf) == "Utilities / Water cut"


def test_createsuperuser_makes_an_administrator(db):
    user = User.objects.create_superuser("root", "root@example.org", "a-strong-pass-123")
    assert user.role == Role.ADMIN and user.is_staff
