"""Permissions that come with a role, so granting a role is one field, not a list of groups."""

from django.contrib.auth.backends import BaseBackend

# Permissions each role holds on top of any granted one by one in the admin.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset(),
    "supervisor": frozenset({"tickets.view_citizen_pii"}),
    "department": frozenset(),
    "admin": frozenset({"tickets.view_citizen_pii"}),
}


class RoleBackend(BaseBackend):
    """Grants ROLE_PERMISSIONS; authentication itself stays with ModelBackend."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        return set(ROLE_PERMISSIONS.get(getattr(user_obj, "role", ""), ()))

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)
