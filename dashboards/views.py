"""Pages: home redirects by role, the landing page of each role, the read-only ticket page.

Each view is selector -> render; pages do not write in this issue (the consoles' actions
go through the API and arrive with the consoles).
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from tickets.models import Role

from . import selectors

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
    return render(request, "dashboards/operator.html", selectors.operator_home(request.user))


@role_required(Role.SUPERVISOR, Role.ADMIN)
def supervisor(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboards/supervisor.html", selectors.supervisor_home(request.user))


@role_required(Role.DEPARTMENT)
def department(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboards/department.html", selectors.department_home(request.user))


@require_safe
@login_required
def ticket_detail(request: HttpRequest, number: str) -> HttpResponse:
    return render(request, "dashboards/ticket_detail.html", {"page": selectors.ticket_page(request.user, number)})
