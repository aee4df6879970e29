"""Open311's writes: API keys issued and revoked, requests submitted and turned into tickets, the request log.

A request becomes a ticket through `ticket_create` (channel Open311, registered), the same
path the REST API and the operators take, so routing dispatches it like any registered ticket.
"""

import datetime
import functools
import logging
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import translation
from django.utils.translation import gettext as _

from tickets import clock
from tickets.actions import ticket_create
from tickets.errors import DomainError
from tickets.models import Channel, User
from tickets.selectors import citizens_by_phone

from .forms import RequestInput
from .models import LIST_DATATYPES, ApiKey, RequestLog, Service, ServiceAttribute, ServiceRequest, ServiceType
from .selectors import api_key_hash, service_attributes

logger = logging.getLogger(__name__)

KEY_PREFIX = "o311_"
# A batch request whose ticket could not be created is tried this many times, then left to an administrator.
MAX_ATTEMPTS = 5
TITLE_MAX = 60


def api_key_issue(key: ApiKey, *, actor: User | None) -> str:
    """Give `key` (unsaved, its holder filled in) a new secret and save it; return the secret, stored nowhere."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key.prefix = raw[: len(KEY_PREFIX) + 6]
    key.key_hash = api_key_hash(raw)
    key.created_by = actor
    key.created_at = clock.now()
    key.full_clean()
    key.save()
    return raw


def api_key_revoke(key: ApiKey, *, actor: User | None) -> bool:
    """Revoke `key` for good (its log and requests keep pointing at it); False if it already was."""
    changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=clock.now(), revoked_by=actor)
    return bool(changed)


def service_request_submit(*, service: Service, api_key: ApiKey, found: RequestInput) -> ServiceRequest:
    """Record a checked POST requests; a realtime service's ticket is created in the same transaction.

    A batch service's ticket is created after the commit by the task `open311.tasks.create_ticket`
    (inline in the embedded mode); `service_requests_pending_create` catches up on any the queue lost.
    """
    with transaction.atomic():
        request = ServiceRequest.objects.create(
            token=secrets.token_urlsafe(16), service=service, api_key=api_key, submitted_at=clock.now(), **vars(found)
        )
        if service.type == ServiceType.REALTIME:
            return service_request_ticket_create(request.pk)
        transaction.on_commit(functools.partial(_enqueue, request.pk), robust=True)
    return request


def _enqueue(request_id: int) -> None:
    from .tasks import create_ticket  # tasks import this module

    create_ticket.delay(request_id)


def service_request_ticket_create(request_id: int) -> ServiceRequest:
    """Create and register the ticket of a request that has none yet; a second call changes nothing.

    Registration routes it (ticket_register → ticket_route): an auto-dispatch rule dispatches it.
    Publishes what ticket_create publishes (ticket.create, ticket.register, maybe ticket.dispatch).
    """
    with transaction.atomic():
        request = (
            ServiceRequest.objects.select_for_update(of=("self",))
            .select_related("service__category", "api_key")
            .get(pk=request_id)
        )
        if request.ticket_id:
            return request
        citizen = citizens_by_phone(request.phone).order_by("-id").first() if request.phone else None
        description, title, address = _ticket_text(request)
        request.ticket = ticket_create(
            actor=None,
            channel=Channel.OPEN311,
            kind=request.service.kind,
            category=request.service.category,
            title=title,
            description=description,
            address=address,
            citizen=citizen,
            caller_number=request.phone,
            external_ref=f"open311-{request.token}",
        )
        request.error = ""
        request.save(update_fields=["ticket", "error"])
    return request


def service_request_ticket_try(request_id: int) -> bool:
    """Create the ticket, recording a refusal on the request instead of raising; True when it exists."""
    try:
        service_request_ticket_create(request_id)
    except (ValidationError, DomainError) as exc:
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        ServiceRequest.objects.filter(pk=request_id).update(attempts=F("attempts") + 1, error=message[:1000])
        logger.warning("open311 request %s could not become a ticket: %s", request_id, message)
        return False
    return True


def service_requests_pending_create(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Create the tickets of batch requests left waiting over a minute (a lost task); return how many."""
    cutoff = (now or clock.now()) - datetime.timedelta(minutes=1)
    pending = ServiceRequest.objects.filter(ticket__isnull=True, attempts__lt=MAX_ATTEMPTS, submitted_at__lte=cutoff)
    created = 0
    for request_id in pending.order_by("submitted_at", "id").values_list("pk", flat=True)[:limit]:
        try:
            created += service_request_ticket_try(request_id)
        except Exception:  # one request must not hold up the others; it is tried again next time
            logger.exception("open311 request %s: creating its ticket failed", request_id)
            ServiceRequest.objects.filter(pk=request_id).update(attempts=F("attempts") + 1)
    return created


def _ticket_text(request: ServiceRequest) -> tuple[str, str, str]:
    """The ticket's description, title and address, in the hotline's language whatever the client's."""
    with translation.override(settings.LANGUAGE_CODE):
        details = [_("Reported through Open311 by “%(holder)s”.") % {"holder": request.api_key.name}]
        if request.latitude is not None:
            details.append(
                _("Location: %(lat)s, %(long)s (WGS84).") % {"lat": request.latitude, "long": request.longitude}
            )
        if request.address_id:
            details.append(_("Address ID: %(id)s.") % {"id": request.address_id})
        for attribute in service_attributes(request.service):
            if attribute.code in request.attributes:
                details.append(
                    f"{attribute.description}: {_answer_text(attribute, request.attributes[attribute.code])}"
                )
        if request.media_url:
            details.append(_("Media: %(url)s") % {"url": request.media_url})
        description = "\n\n".join(part for part in (request.description, "\n".join(details)) if part)
        first_line = request.description.strip().splitlines()[0] if request.description.strip() else ""
        title = first_line if len(first_line) <= TITLE_MAX else first_line[: TITLE_MAX - 1] + "…"
        address = request.address_string or (
            f"{request.latitude}, {request.longitude}"
            if request.latitude is not None
            else _("Address ID %(id)s") % {"id": request.address_id}
        )
        return description, title or request.service.name, address


def _answer_text(attribute: ServiceAttribute, answer: str | list[str]) -> str:
    if attribute.datatype not in LIST_DATATYPES:
        return str(answer)
    names = {value.key: value.name for value in attribute.values.all()}
    keys = answer if isinstance(answer, list) else [answer]
    return ", ".join(names.get(key, key) for key in keys)


def request_log_write(*, api_key: ApiKey | None, **fields) -> None:
    """Append one line to the request log, and note when the key was last used (at most once a minute)."""
    now = clock.now()
    RequestLog.objects.create(at=now, api_key=api_key, **fields)
    if api_key is not None:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - datetime.timedelta(minutes=1))
        ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)


def request_log_prune(*, now: datetime.datetime | None = None, batch: int = 5000) -> int:
    """Delete request log entries older than OPEN311_LOG_DAYS, in batches; return how many."""
    cutoff = (now or clock.now()) - datetime.timedelta(days=settings.OPEN311_LOG_DAYS)
    deleted = 0
    while True:
        ids = list(RequestLog.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += RequestLog.objects.filter(pk__in=ids).delete()[0]
