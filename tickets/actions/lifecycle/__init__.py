"""The ticket lifecycle: creation, edits and every transition of the state machine.

Each transition locks the row, checks the TRANSITIONS table, writes the ticket and one
timeline entry, and publishes an event on commit (core.transition). Nothing else sets
`Ticket.status`. By stage: opening (create, register, first contact, edits), handling (the
departments' part), closing (callback, reopen, merge, cancel); numbers hands out ticket numbers.
"""

from .closing import MERGE_TARGETS, merge_notice_send, ticket_cancel, ticket_close, ticket_merge, ticket_reopen
from .core import ACTION_ROLES, EDITABLE_FIELDS, HOTLINE_ROLES
from .handling import (
    OTHER_RETURN_REASON,
    ticket_accept,
    ticket_approve_extension,
    ticket_deny_extension,
    ticket_dispatch,
    ticket_reassign,
    ticket_reply,
    ticket_request_extension,
    ticket_return,
)
from .numbers import NUMBER_ZONE, ticket_number_preassigned, ticket_numbers_reserve
from .opening import (
    ticket_choose_kind,
    ticket_close_first_contact,
    ticket_create,
    ticket_create_draft,
    ticket_register,
    ticket_update,
)

__all__ = [
    "ACTION_ROLES",
    "EDITABLE_FIELDS",
    "HOTLINE_ROLES",
    "MERGE_TARGETS",
    "NUMBER_ZONE",
    "OTHER_RETURN_REASON",
    "merge_notice_send",
    "ticket_accept",
    "ticket_approve_extension",
    "ticket_cancel",
    "ticket_choose_kind",
    "ticket_close",
    "ticket_close_first_contact",
    "ticket_create",
    "ticket_create_draft",
    "ticket_deny_extension",
    "ticket_dispatch",
    "ticket_merge",
    "ticket_number_preassigned",
    "ticket_numbers_reserve",
    "ticket_reassign",
    "ticket_register",
    "ticket_reopen",
    "ticket_reply",
    "ticket_request_extension",
    "ticket_return",
    "ticket_update",
]
