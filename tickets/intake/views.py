"""The public pages (no login): send a request, check its progress, rate the reply; and the staff-only photo.

Each view parses its form, applies the rate limits (limits.py), calls one action or selector and
renders. Pages that show a query code or a ticket's progress are never cached (`no-store`).
"""

import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from .. import clock
from ..actions.intake import RatingUnavailable, ticket_rate_web, ticket_submit_web
from ..models import Status, Ticket, WebIntake
from ..selectors import ticket_get_for
from . import limits
from .challenge import ChallengeError, challenge_spend
from .codes import query_code_display
from .forms import CHALLENGE_MESSAGES, IntakeForm, ProgressForm, RatingForm
from .selectors import progress_find, progress_public, ticket_number_normalise
from .tokens import rating_token_read

logger = logging.getLogger(__name__)


def _private(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


def _too_many(limit: limits.Limit) -> str:
    return _("Too many requests have been sent recently. Please try again after %(time)s, or call 12345.") % {
        "time": limits.local_time(limit.retry_at())
    }


@require_http_methods(["GET", "HEAD", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    """The request form; a valid one registers a web ticket and shows its number and query code once."""
    if request.method != "POST":
        return _private(render(request, "public/submit.html", {"form": IntakeForm()}))
    form = IntakeForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        refusal, status = _submit_refusal(request, form)
        if refusal:
            form.add_error(None, refusal)
        else:
            data = form.cleaned_data
            ticket, code = ticket_submit_web(
                kind=data["kind"],
                category=data["category"],
                description=data["description"],
                address=data["address"],
                district=data["district"],
                contact_name=data["contact_name"],
                phone=data["phone"],
                photo=data["photo"],
            )
            logger.info("web request registered as ticket %s", ticket.number)
            context = {"ticket": ticket, "code": query_code_display(code), "phone_given": bool(data["phone"])}
            return _private(render(request, "public/submitted.html", context))
    form.prepare_redisplay()
    return _private(render(request, "public/submit.html", {"form": form}, status=status))


def _submit_refusal(request: HttpRequest, form: IntakeForm) -> tuple[str, int]:
    """Why a valid form may not become a ticket now (a rate limit, a spent question) and the status; ("", 200)."""
    per_ip = limits.submits_per_ip()
    if per_ip.hit(limits.client_ip(request)):
        return _too_many(per_ip), 429
    phone = form.cleaned_data["phone"]
    per_phone = limits.submits_per_phone()
    if phone and per_phone.hit(phone):
        return _too_many(per_phone), 429
    try:
        challenge_spend(form.challenge)
    except ChallengeError as exc:
        form.renew_challenge(exc.code)
        return str(CHALLENGE_MESSAGES["used"]), 400
    return "", 200


@require_http_methods(["GET", "HEAD", "POST"])
def progress(request: HttpRequest) -> HttpResponse:
    """Progress by ticket number and query code (or the phone's last four digits); wrong tries are rate-limited."""
    if request.method != "POST":
        return _private(render(request, "public/progress.html", {"form": ProgressForm()}))
    form = ProgressForm(request.POST)
    if not form.is_valid():
        return _private(render(request, "public/progress.html", {"form": form}, status=400))
    number = ticket_number_normalise(form.cleaned_data["number"])
    per_ip, per_ticket = limits.query_failures_per_ip(), limits.query_failures_per_ticket()
    ip = limits.client_ip(request)
    if per_ip.exceeded(ip):
        form.add_error(None, _too_many_tries(per_ip))
        return _private(render(request, "public/progress.html", {"form": form}, status=429))
    # A ticket number with too many wrong tries keeps accepting its query code (about 50 bits, not
    # guessable) but no longer the last four digits of a phone (10,000 possibilities).
    locked = per_ticket.exceeded(number)
    ticket, proof = progress_find(number, form.cleaned_data["secret"], allow_last_four=not locked)
    if ticket is None:
        per_ip.hit(ip)
        per_ticket.hit(number)
        message = _too_many_tries(per_ticket) if locked else _("The ticket number and the code do not match.")
        form.add_error(None, message)
        return _private(render(request, "public/progress.html", {"form": form}, status=429 if locked else 400))
    view = progress_public(ticket, proof=proof, now=clock.now())
    return _private(render(request, "public/progress.html", {"form": ProgressForm(), "progress": view}))


def _too_many_tries(limit: limits.Limit) -> str:
    return _(
        "Too many wrong attempts. For your security, please try again after %(time)s, or call 12345 for the progress."
    ) % {"time": limits.local_time(limit.retry_at())}


@require_http_methods(["GET", "HEAD", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time rating page for a reply: its verdict is recorded as the callback (回访)."""
    read = rating_token_read(token)
    ticket = Ticket.objects.filter(number=read.number).first() if read is not None else None
    if read is None or ticket is None:
        return _private(render(request, "public/rate.html", {"problem": "invalid"}, status=404))
    now = clock.now()
    context = {"ticket_number": ticket.number, "until": read.expires_at}
    if now > read.expires_at:
        return _private(render(request, "public/rate.html", {**context, "problem": "expired"}, status=410))
    if ticket.status != Status.REPLIED or ticket.replied_at != read.replied_at:
        return _private(render(request, "public/rate.html", {**context, "problem": "used"}, status=409))
    context["reply"] = ticket.reply
    if request.method != "POST":
        return _private(render(request, "public/rate.html", {**context, "form": RatingForm()}))
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            ticket_rate_web(
                ticket,
                replied_at=read.replied_at,
                result=form.cleaned_data["result"],
                comment=form.cleaned_data["comment"],
            )
        except RatingUnavailable:
            return _private(render(request, "public/rate.html", {**context, "problem": "used"}, status=409))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            done = {**context, "done": form.cleaned_data["result"]}
            return _private(render(request, "public/rate.html", done))
    return _private(render(request, "public/rate.html", {**context, "form": form}, status=400))


@require_safe
@login_required
def photo(request: HttpRequest, number: str) -> FileResponse:
    """The photo of a web ticket, for staff who may see the ticket (404 otherwise, as for the ticket)."""
    ticket = ticket_get_for(request.user, number)
    intake = WebIntake.objects.filter(ticket=ticket).exclude(photo="").first()
    if intake is None or not default_storage.exists(intake.photo.name):
        raise Http404("No photo.")
    response = FileResponse(default_storage.open(intake.photo.name, "rb"), content_type=intake.photo_type)
    response["Content-Disposition"] = f'inline; filename="{ticket.number}.{intake.photo.name.rsplit(".", 1)[-1]}"'
    patch_cache_control(response, private=True, max_age=0, no_store=True)
    return response
