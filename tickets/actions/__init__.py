"""Every write of the ticket system. Views, consumers, AGI handlers and tasks call these."""

from .citizens import citizen_add_phone, citizen_create, citizen_reveal
from .knowledge import article_create, article_update, article_used, article_viewed
from .lifecycle import (
    ticket_accept,
    ticket_approve_extension,
    ticket_cancel,
    ticket_close,
    ticket_close_first_contact,
    ticket_create,
    ticket_deny_extension,
    ticket_dispatch,
    ticket_merge,
    ticket_register,
    ticket_reopen,
    ticket_reply,
    ticket_request_extension,
    ticket_return,
    ticket_update,
)

__all__ = [
    "article_create",
    "article_update",
    "article_used",
    "article_viewed",
    "citizen_add_phone",
    "citizen_create",
    "citizen_reveal",
    "ticket_accept",
    "ticket_approve_extension",
    "ticket_cancel",
    "ticket_close",
    "ticket_close_first_contact",
    "ticket_create",
    "ticket_deny_extension",
    "ticket_dispatch",
    "ticket_merge",
    "ticket_register",
    "ticket_reopen",
    "ticket_reply",
    "ticket_request_extension",
    "ticket_return",
    "ticket_update",
]
