"""Open311's reads: the services offered, a service definition, requests by filter, number or token, keys."""

import hashlib

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils.translation import gettext as _

from tickets.models import TERMINAL

from .errors import bad_request, not_found
from .forms import MAX_RESULTS, RequestsQuery
from .models import ApiKey, AttributeValue, Service, ServiceAttribute, ServiceRequest


def services_offered() -> QuerySet[Service]:
    """Active services over active categories, in the admin's order, with `has_attributes` (metadata)."""
    return (
        Service.objects.filter(is_active=True, category__is_active=True)
        .select_related("category__parent")
        .annotate(has_attributes=Exists(ServiceAttribute.objects.filter(service=OuterRef("pk"))))
        .order_by("sort", "code")
    )


def service_offered_get(code: str) -> Service:
    """The offered service with this code, or the standard's 404."""
    service = services_offered().filter(code=code).first()
    if service is None:
        raise not_found(_("service_code “%(code)s” was not found.") % {"code": code})
    return service


def service_attributes(service: Service) -> list[ServiceAttribute]:
    """The service definition: its attributes in their order, each with its list values."""
    values = Prefetch("values", queryset=AttributeValue.objects.order_by("sort", "id"))
    return list(service.attributes.prefetch_related(values).order_by("order", "id"))


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_find(raw: str) -> ApiKey | None:
    """The key whose hash matches, revoked or not (the caller tells the two apart)."""
    return ApiKey.objects.filter(key_hash=api_key_hash(raw)).first()


def _published() -> QuerySet[ServiceRequest]:
    # Only requests that came in through Open311 are published: a phone caller never agreed that
    # their description be shown to the world, as the standard does with every request it lists.
    return ServiceRequest.objects.filter(ticket__isnull=False).select_related(
        "ticket__lead_department", "ticket__citizen", "ticket__merged_into", "service__category__parent"
    )


def service_requests_search(query: RequestsQuery) -> list[ServiceRequest]:
    """GET requests: by numbers, or by service codes, status and a window of submission times; newest first."""
    requests = _published()
    if query.ids:
        requests = requests.filter(ticket__number__in=query.ids)
    else:
        if query.service_codes:
            known = set(Service.objects.filter(code__in=query.service_codes).values_list("code", flat=True))
            unknown = [code for code in query.service_codes if code not in known]
            if unknown:
                raise bad_request(*(_("service_code “%(code)s” was not found.") % {"code": code} for code in unknown))
            requests = requests.filter(service__code__in=query.service_codes)
        requests = requests.filter(submitted_at__gte=query.start, submitted_at__lte=query.end)
        if query.statuses == ["closed"]:
            requests = requests.filter(ticket__status__in=TERMINAL)
        elif query.statuses == ["open"]:
            requests = requests.exclude(ticket__status__in=TERMINAL)
    return list(requests.order_by("-submitted_at", "-id")[:MAX_RESULTS])


def service_request_get(number: str) -> ServiceRequest:
    """GET requests/{id}: the published request whose ticket has this number, or the standard's 404."""
    found = _published().filter(ticket__number=number).first()
    if found is None:
        raise not_found(_("service_request_id “%(id)s” was not found.") % {"id": number})
    return found


def service_request_by_token(token: str) -> ServiceRequest:
    found = ServiceRequest.objects.select_related("ticket").filter(token=token).first()
    if found is None:
        raise not_found(_("token “%(token)s” was not found.") % {"token": token})
    return found
