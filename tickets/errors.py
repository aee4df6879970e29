"""Domain errors of the ticket system; tickets/api/errors.py maps them to HTTP once."""

from django.utils.translation import gettext as _

from .models import Action, Status, allowed_actions, allowed_next_statuses


class DomainError(Exception):
    """A request the domain refuses; `code` is stable for clients, the message is for people."""

    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, number: str, status: str, action: str):
        message = _("Ticket %(number)s is “%(status)s”: it cannot be “%(action)s” now.") % {
            "number": number,
            "status": Status(status).label,
            "action": Action(action).label,
        }
        # Say what can be done instead, so the person is not left guessing.
        allowed = allowed_actions(status)
        if allowed:
            labels = ", ".join(f"“{Action(name).label}”" for name in allowed)
            message += " " + _("Possible now: %(actions)s.") % {"actions": labels}
        else:
            message += " " + _("Nothing more can be done with it.")
        super().__init__(
            message,
            status=status,
            action=action,
            allowed_actions=allowed,
            allowed_next_statuses=allowed_next_statuses(status),
        )


class StaleVersion(DomainError):
    code = "stale_version"
    http_status = 409

    def __init__(self, *, number: str, expected: int, current: int):
        super().__init__(
            _("Ticket %(number)s was changed by someone else (version %(current)d, you had %(expected)d); reload it.")
            % {"number": number, "current": current, "expected": expected},
            current_version=current,
        )


class NotAllowed(DomainError):
    code = "not_allowed"
    http_status = 403
