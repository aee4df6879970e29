"""Permissions that come with a role, so granting a role is one field, not a list of groups."""

from django.contrib.auth.backends import BaseBackend


def _perms(app: str, models: str, actions: str = "view add change delete") -> frozenset[str]:
    return frozenset(f"{app}.{action}_{model}" for model in models.split() for action in actions.split())


# What supervisors (班长) maintain in the admin: routing rules, time limits, return reasons, the
# working calendar, the IVR menus and the knowledge base (retired by unpublishing, not deleted: tickets
# point at the articles they used); the clocks' records and call records they only read.
SUPERVISOR_PERMISSIONS = (
    frozenset({"tickets.view_citizen_pii"})
    | _perms("routing", "rule returnreason timelimit calendaryear calendarday")
    | _perms("routing", "reminder escalation callback report assistinput rulesetversion", "view")
    | _perms("telephony", "ivrmenu ivroption")
    | _perms("telephony", "call queuemember queuecaller", "view")
    | _perms("tickets", "ticket timelineentry department district category", "view")
    | _perms("tickets", "article", "view add change")
)

# Permissions each role holds on top of any granted one by one in the admin.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset(),
    "supervisor": SUPERVISOR_PERMISSIONS,
    "department": frozenset(),
    # Administrators also keep the organisation: departments, districts, categories and staff.
    "admin": SUPERVISOR_PERMISSIONS
    | _perms("tickets", "department district category user")
    | _perms("tickets", "article", "delete")
    | frozenset({"tickets.view_piiaccess"}),
}


class RoleBackend(BaseBackend):
    """Grants ROLE_PERMISSIONS; authentication itself stays with ModelBackend."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        return set(ROLE_PERMISSIONS.get(getattr(user_obj, "role", ""), ()))

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)
