"""The operator view's screen pop: the call the operator is on, as the call.pop event shows it."""

from typing import Any

from dashboards.snapshots import snapshot_part
from tickets.models import User

from .selectors import call_current_for, call_pop_payload


@snapshot_part("operator", "call")
def operator_call(user: User) -> dict[str, Any] | None:
    """The call.pop payload of the call the user answered and is still on; None between calls.

    A console that connects (or reconnects) during a call shows the pop it would have had from the
    event. Only the user's own call: never a colleague's, whatever the role.
    """
    call = call_current_for(user)
    return call_pop_payload(call) if call is not None else None
