"""Pages: home redirects by role, the landing page of each role, the read-only ticket page.

Each view is selector -> render; pages do not write in this issue (the consoles' actions
go through the API and arrive with the consoles).
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from tickets.intake.selectors import web_intake_for_staff
from tickets.models import Kind, Role, Urgency

from . import inbox, selectors
from .wallboard_snapshots import supervisor_page

LANDING_PAGES = {
    Role.OPERATOR: "operator",
    Role.SUPERVISOR: "supervisor",
    Role.ADMIN: "supervisor",
    Role.DEPARTMENT: "department",
}


def role_required(*roles: str) -> Callable:
    """Only signed-in users whose page role is one of `roles`; anyone else gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @require_safe
        @login_required
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if selectors.page_role(request.user) not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    page = LANDING_PAGES.get(selectors.page_role(request.user))
    if page is None:
        raise PermissionDenied
    return redirect(page)


@role_required(Role.OPERATOR, Role.ADMIN)
def operator(request: HttpRequest) -> HttpResponse:
    """The operator console: screen pop, ticket form, routing suggestion, knowledge base, own queue."""
    context = {**selectors.operator_home(request.user), **selectors.operator_console(request.user)}
    context.update(kinds=Kind.choices, urgencies=Urgency.choices)
    return render(request, "dashboards/operator.html", context)


@role_required(Role.SUPERVISOR, Role.ADMIN)
def supervisor(request: HttpRequest) -> HttpResponse:
    """The wallboard and the supervision desk; ?wall=1 is the big-screen mode for a wall display."""
    context = {**selectors.supervisor_home(request.user), **supervisor_page(request.user)}
    context["wall"] = request.GET.get("wall", "").lower() in ("1", "true", "yes", "on")
    return render(request, "dashboards/supervisor.html", context)


@role_required(Role.DEPARTMENT)
def department(request: HttpRequest) -> HttpResponse:
    """The department inbox: the department's open tickets, live, with accept, return, extend, reply."""
    return render(request, "dashboards/department.html", inbox.department_page(request.user))


@role_required(Role.DEPARTMENT)
def department_row(request: HttpRequest, number: str) -> JsonResponse:
    """One inbox row as the snapshot has it, for the live page; 404 once the ticket is not in the inbox."""
    row = inbox.inbox_row_get(request.user, number)
    if row is None:
        return JsonResponse({"error": {"code": "not_found", "message": _("Not found.")}}, status=404)
    return JsonResponse({"row": row.as_json(request.user)})


@require_safe
@login_required
def ticket_detail(request: HttpRequest, number: str) -> HttpResponse:
    """The ticket and its timeline; for its department also the actions, and live updates."""
    page = selectors.ticket_page(request.user, number)
    context = {
        "page": page,
        "web_intake": web_intake_for_staff(request.user, page.ticket),  # the name and photo a web form gave
        **inbox.ticket_page_extras(request.user, page.ticket),
    }
    return render(request, "dashboards/ticket_detail.html", context)
