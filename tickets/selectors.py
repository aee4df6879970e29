"""Reads of the ticket system, always scoped to what the asking user may see."""

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from .models import Citizen, CitizenPhone, Role, Status, Ticket, TimelineEntry, User
from .pii import id_number_clean, phone_lookup_key, pii_hash


def _is_hotline(user: User) -> bool:
    # getattr: an anonymous user (schema generation, a missing login) sees nothing rather than crashing.
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_hotline_staff", False))


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    """Hotline staff see every ticket; department staff only those dispatched to their department.

    Lead or assisting department alike, never a draft or a registered ticket; anyone else sees none.
    The relations every list row shows are joined, so a page costs the same few queries at any size.
    """
    tickets = Ticket.objects.select_related("lead_department", "district", "category__parent", "citizen", "merged_into")
    if _is_hotline(user):
        return tickets
    if getattr(user, "role", None) == Role.DEPARTMENT and user.department_id:
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
        return tickets_visible_to(user).prefetch_related("assisting_departments").get(number=number)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def ticket_timeline(ticket: Ticket) -> QuerySet[TimelineEntry]:
    """The ticket's history, oldest first; the caller has already checked the ticket is visible."""
    return TimelineEntry.objects.filter(ticket=ticket).select_related("actor").order_by("at", "id")


def citizens_visible_to(user: User) -> QuerySet[Citizen]:
    """Only hotline staff look citizens up; departments meet citizens through their tickets."""
    if _is_hotline(user):
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


def citizens_search(user: User, *, phone: str = "", id_number: str = "", name: str = "") -> QuerySet[Citizen]:
    """Citizens the user may see, narrowed by phone (any format), exact ID number and name.

    An ID number that cannot be valid raises ValidationError keyed `id_number`: a typo should
    say so, not look like "nobody".
    """
    citizens = citizens_visible_to(user).order_by("-id")
    if phone:
        number = phone_lookup_key(phone)
        if number is None:
            return citizens.none()
        citizens = citizens.filter(Exists(CitizenPhone.objects.filter(citizen_id=OuterRef("pk"), number=number)))
    if id_number:
        try:
            citizens = citizens.filter(id_hash=pii_hash(id_number_clean(id_number)))
        except ValidationError as exc:
            raise ValidationError({"id_number": exc.messages}) from None
    if name:
        citizens = citizens.filter(name__icontains=name)
    return citizens


def reporter_hidden_from(user: User, ticket: Ticket) -> bool:
    """A report (举报) shields the reporter from the department that handles it."""
    return ticket.kind == "report" and not _is_hotline(user)
