"""Reads of the ticket system, always scoped to what the asking user may see."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from .models import Citizen, CitizenPhone, Role, Status, Ticket, User
from .pii import phone_lookup_key


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    """Hotline staff see every ticket; department staff only those dispatched to their department."""
    tickets = Ticket.objects.select_related("lead_department", "district", "category", "citizen")
    if user.is_superuser or user.is_hotline_staff:
        return tickets
    if user.role == Role.DEPARTMENT and user.department_id:
        assisting = Ticket.assisting_departments.through.objects.filter(
            ticket_id=OuterRef("pk"), department_id=user.department_id
        )
        return tickets.filter(Q(lead_department_id=user.department_id) | Exists(assisting)).exclude(
            status__in=[Status.DRAFT, Status.REGISTERED]
        )
    return tickets.none()


def ticket_get_for(user: User, number: str) -> Ticket:
    """The ticket with this number if the user may see it; otherwise 404 (never 403, which would leak)."""
    try:
        return tickets_visible_to(user).get(number=number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def citizens_visible_to(user: User) -> QuerySet[Citizen]:
    """Only hotline staff look citizens up; departments meet citizens through their tickets."""
    if user.is_superuser or user.is_hotline_staff:
        return Citizen.objects.prefetch_related("phones").select_related("district")
    return Citizen.objects.none()


def citizens_by_phone(raw: str) -> QuerySet[Citizen]:
    """Citizens who use this phone number (caller ID lookup); none for withheld numbers."""
    number = phone_lookup_key(raw)
    if number is None:
        return Citizen.objects.none()
    return Citizen.objects.filter(
        Exists(CitizenPhone.objects.filter(citizen_id=OuterRef("pk"), number=number))
    ).prefetch_related("phones")


def reporter_hidden_from(user: User, ticket: Ticket) -> bool:
    """A report (举报) shields the reporter from the department that handles it."""
    return ticket.kind == "report" and not (user.is_superuser or user.is_hotline_staff)
