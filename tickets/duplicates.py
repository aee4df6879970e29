"""Duplicate suggestions (重复件): the tickets a new report is likely a second report of, each with its reasons.

Chinese is written without spaces, so descriptions are compared as sets of characters and of
character pairs (bigrams), after taking out the operators' formulae ("市民反映…", "要求尽快处理")
that every ticket shares. Precision matters more than recall: a wrong merge loses a citizen's
matter, a missed one costs a department a second reply. So a suggestion needs location evidence
as well as text: the same address (then only the "what" is compared, the place's own characters
taken out), or, when either side has no address, a more similar description in the same district;
a ticket at another address or in another district is never suggested for its text. The same
caller (phone or citizen) within `HOTLINE_DUPLICATE_DAYS` needs less text, or none when the caller
says they are chasing an earlier report ("之前反映的…还没有…"). Consultations and praise are
each caller's own: someone else's is never suggested. The thresholds were chosen on the labelled
set in tests/tickets/test_duplicates_quality.py (docs/duplicates.md).

Candidates are tickets still open (any age), and tickets of the same caller created within the
window (finished ones included: the citizen may be calling about them again; they cannot be merged
into). On PostgreSQL, indexes narrow them first (migration 0005): pg_trgm similarity over open
tickets' normalised descriptions (the stored `search_words`: formulae out, clause by clause), word
similarity over their addresses, and the caller's indexes; at most PATH_LIMIT per path, the most
similar first. SQLite (the embedded mode) scores the district's latest open tickets in Python; so
does a PostgreSQL without the column (0005 not applied) or whose locale does not count Chinese
characters as letters (pg_trgm then sees no trigrams at all).
"""

import datetime
import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import clock
from .models import District, Kind, Status, Ticket, User
from .pii import phone_lookup_key
from .selectors import tickets_visible_to

logger = logging.getLogger(__name__)

# Open tickets: the candidates of every path. The partial indexes of migration 0005 name the same list.
OPEN = ("registered", "dispatched", "accepted", "extension_requested", "returned", "replied", "reopened")
# Each caller's own matter: another citizen's consultation or praise is never the same matter.
PERSONAL_KINDS = (Kind.CONSULTATION, Kind.PRAISE)
# Formulae operators write into every ticket; migration 0005's tickets_search_words() takes out the same.
FORMULAE = (
    "市民来电反映|市民来电表示|市民来电称|市民再次来电|市民来电|市民反映|市民投诉|市民举报|市民咨询|市民建议|"
    "市民表示|来电人称|来电人反映|市民称|要求|请求|希望|尽快|处理|相关部门|有关部门"
)
_FORMULAE = re.compile(FORMULAE)
# A caller chasing an earlier report (催办) says so.
_FOLLOW_UP = re.compile(
    r"之前反映|此前反映|上次反映|再次来电|又来电|催办|还没(有)?(修|处理|解决|人管|回复)|仍未(处理|解决)"
)
_WORDS = re.compile(r"[0-9a-z\u3400-\u9fff]+")
_CITY_PREFIX = re.compile(r"^[\u4e00-\u9fff]{2,3}市")
# An address's street (街道, a town 镇 or township 乡) and, after it, the spot.
_STREET = re.compile(r"^(.+?(?:街道|镇|乡)|)(.*)$", re.S)
_UNIT_NUMBER = re.compile(r"(\d+)(?=栋|号|单元|室|房)")
_UNITS = (("号楼", "栋"), ("幢", "栋"), ("座", "栋"), ("小区", ""))
# Characters that say nothing about the matter (function words), left out of the character comparison.
_FUNCTION_CHARACTERS = frozenset("的了有在是和与及其到就都也还又很把被给让向从对为一个不没这那里上下后前多已经")

# The rules, on the similarity of the descriptions (0–1) and the relation of the addresses.
SAME_ADDRESS = 0.8  # bigram overlap of the two addresses (the shorter one's share in the longer)
NEAR_ADDRESS = 0.5  # the same estate or road, not the same building
TEXT_SAME_ADDRESS = 0.2
TEXT_NEAR_ADDRESS = 0.3
TEXT_NO_ADDRESS = 0.3
TEXT_SAME_CALLER = 0.1
# PostgreSQL narrowing, below the rules so that it loses nothing they would take (measured on the set).
NARROW_SIMILARITY = 0.08  # pg_trgm similarity of the normalised descriptions
NARROW_ADDRESS = 0.5  # pg_trgm word similarity of the draft's address within the ticket's
PATH_LIMIT = 100  # candidates per path; the best by pg_trgm similarity
PORTABLE_LIMIT = 2000  # open tickets of the district scored in Python on SQLite
SHOWN = 5


def window_days() -> int:
    return settings.HOTLINE_DUPLICATE_DAYS


@dataclass(frozen=True)
class DuplicateQuery:
    """What a report says: the operator's draft, or a saved ticket (`exclude` is then its id)."""

    description: str = ""
    title: str = ""
    address: str = ""
    district: int | None = None
    phone: str = ""
    citizen: int | None = None
    exclude: int | None = None

    @classmethod
    def for_ticket(cls, ticket: Ticket) -> "DuplicateQuery":
        return cls(
            description=ticket.description,
            title=ticket.title,
            address=ticket.address,
            district=ticket.district_id,
            phone=ticket.caller_number,
            citizen=ticket.citizen_id,
            exclude=ticket.pk,
        )


@dataclass
class Suggestion:
    ticket: Ticket
    score: float
    similarity: float  # of the descriptions, 0–1
    place: str  # same_address, near_address, same_district, unknown
    caller: str  # phone, citizen or ""
    reasons: list[dict] = field(default_factory=list)

    @property
    def mergeable(self) -> bool:
        """Whether a report may be merged into it: an open ticket (ticket_merge refuses finished ones)."""
        return self.ticket.status in OPEN


# --- text ---------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    for old, new in _UNITS:
        text = text.replace(old, new)
    return text


def _words(text: str) -> list[str]:
    return _WORDS.findall(_FORMULAE.sub(" ", _normalise(text)))


def _pairs(words: list[str]) -> set[str]:
    return {word[i : i + 2] for word in words for i in range(len(word) - 1)}


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


@dataclass(frozen=True)
class _Text:
    pairs: frozenset[str]
    characters: frozenset[str]

    @classmethod
    def of(cls, text: str) -> "_Text":
        words = _words(text)
        characters = {c for word in words for c in word} - _FUNCTION_CHARACTERS
        return cls(frozenset(_pairs(words)), frozenset(characters))

    def similarity(self, other: "_Text", *, without: frozenset[str] = frozenset()) -> float:
        """The mean of the character-pair and the character Dice coefficients, the place's own left out."""
        alone = {c for pair in without for c in pair}
        pairs = _dice(self.pairs - without, other.pairs - without)
        characters = _dice(self.characters - alone, other.characters - alone)
        return (pairs + characters) / 2


def _place_words(address: str, districts: tuple[str, ...]) -> str:
    """The address without the city and district names, which say nothing about which building it is."""
    text = _CITY_PREFIX.sub("", _normalise(address).strip())
    for name in districts:
        text = text.replace(name, " ")
    return text.strip()


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """The shorter one's share in the longer: "金碧花园3栋" lies wholly inside "江北街道金碧花园3栋"."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


@dataclass(frozen=True)
class _Place:
    """An address as its street (街道, 镇, 乡) and its spot within it (an estate and building, a road and number)."""

    street: frozenset[str]
    spot: frozenset[str]
    units: frozenset[str]  # building and house numbers

    @classmethod
    def of(cls, address: str, districts: tuple[str, ...] = ()) -> "_Place | None":
        text = _place_words(address, districts)
        street, spot = _STREET.match(text).groups()
        place = cls(
            frozenset(_pairs(_WORDS.findall(street))),
            frozenset(_pairs(_WORDS.findall(spot))),
            frozenset(_UNIT_NUMBER.findall(spot)),
        )
        return place if place.street or place.spot else None

    def relation(self, other: "_Place") -> str:
        if self.units and other.units and not self.units & other.units:
            return "other_address"  # another building or house number on the same estate or road
        if self.street and other.street and _overlap(self.street, other.street) < NEAR_ADDRESS:
            return "other_address"
        if not (self.spot and other.spot):
            return "near_address"  # one of them names only the street: the same street at most
        overlap = _overlap(self.spot, other.spot)
        if overlap >= SAME_ADDRESS:
            return "same_address"
        return "near_address" if overlap >= NEAR_ADDRESS else "other_address"

    @property
    def pairs(self) -> frozenset[str]:
        return self.street | self.spot


# --- the rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Report:
    query: DuplicateQuery
    text: _Text
    place: _Place | None
    phone: str | None
    follow_up: bool
    has_text: bool
    districts: tuple[str, ...]  # every district's name, left out of addresses

    @classmethod
    def of(cls, query: DuplicateQuery, districts: tuple[str, ...]) -> "_Report":
        written = _written(query.description, query.title)
        return cls(
            query=query,
            text=_Text.of(written),
            place=_Place.of(query.address, districts),
            phone=phone_lookup_key(query.phone) if query.phone else None,
            follow_up=bool(_FOLLOW_UP.search(written)),
            # A few characters are not yet a matter (the operator has only started typing).
            has_text=len("".join(_words(written))) >= 4,
            districts=districts,
        )


def _written(description: str, title: str) -> str:
    """What a ticket says: its description, or while there is none its title."""
    return description if description.strip() else title


def _judge(report: _Report, ticket: Ticket, now: datetime.datetime) -> Suggestion | None:
    """Whether `ticket` is likely the same matter as `report`, and why; None when it is not."""
    query = report.query
    since = now - datetime.timedelta(days=window_days())
    caller = ""
    if ticket.created_at >= since:
        if query.citizen and ticket.citizen_id == query.citizen:
            caller = "citizen"
        elif report.phone and ticket.caller_number == report.phone:
            caller = "phone"
    other_district = bool(query.district and ticket.district_id and query.district != ticket.district_id)
    theirs = _Place.of(ticket.address, report.districts)
    relation = report.place.relation(theirs) if report.place and theirs else "unknown"
    text = _Text.of(_written(ticket.description, ticket.title))
    without = report.place.pairs | theirs.pairs if relation == "same_address" else frozenset()
    similarity = report.text.similarity(text, without=without) if report.has_text else 0.0
    if caller:
        taken = not report.has_text or report.follow_up or similarity >= TEXT_SAME_CALLER
    elif ticket.status not in OPEN or other_district or ticket.kind in PERSONAL_KINDS:
        taken = False
    else:
        needed = {"same_address": TEXT_SAME_ADDRESS, "near_address": TEXT_NEAR_ADDRESS, "unknown": TEXT_NO_ADDRESS}
        taken = relation in needed and similarity >= needed[relation]
    if not taken:
        return None
    if relation == "unknown" and not other_district and query.district and ticket.district_id:
        relation = "same_district"
    score = similarity + (0.3 if caller else 0) + {"same_address": 0.2, "near_address": 0.1}.get(relation, 0)
    suggestion = Suggestion(ticket, round(min(score, 1.0), 3), round(similarity, 2), relation, caller)
    suggestion.reasons = _reasons(suggestion, report, now)
    return suggestion


def _ago(moment: datetime.datetime, now: datetime.datetime) -> str:
    seconds = max((now - moment).total_seconds(), 0)
    if seconds < 3600:
        minutes = max(int(seconds // 60), 1)
        return ngettext("%(count)d minute ago", "%(count)d minutes ago", minutes) % {"count": minutes}
    if seconds < 86400:
        hours = int(seconds // 3600)
        return ngettext("%(count)d hour ago", "%(count)d hours ago", hours) % {"count": hours}
    days = int(seconds // 86400)
    return ngettext("%(count)d day ago", "%(count)d days ago", days) % {"count": days}


def _reasons(suggestion: Suggestion, report: _Report, now: datetime.datetime) -> list[dict]:
    ticket, reasons = suggestion.ticket, []
    ago = _ago(ticket.created_at, now)
    if suggestion.caller == "phone":
        reasons.append({"code": "same_phone", "text": _("same phone, %(ago)s") % {"ago": ago}})
    elif suggestion.caller == "citizen":
        reasons.append({"code": "same_citizen", "text": _("same citizen, %(ago)s") % {"ago": ago}})
    if suggestion.caller and report.follow_up:
        reasons.append({"code": "follow_up", "text": _("the caller mentions an earlier report")})
    if report.has_text and suggestion.similarity > 0:
        percent = round(suggestion.similarity * 100)
        text = _("description %(percent)d%% similar") % {"percent": percent}
        reasons.append({"code": "similar_description", "similarity": suggestion.similarity, "text": text})
    places = {
        "same_address": _("same address"),
        "near_address": _("nearby address (same estate or road)"),
        "same_district": _("same district"),
    }
    if suggestion.place in places:
        reasons.append({"code": suggestion.place, "text": places[suggestion.place]})
    if not suggestion.caller:
        reasons.append({"code": "reported", "text": _("reported %(ago)s") % {"ago": ago}})
    if not suggestion.mergeable:
        reasons.append({"code": "finished", "text": _("already finished: it cannot be merged into")})
    return reasons


# --- candidates -------------------------------------------------------------------------------------


@functools.cache
def _trigram_search(alias: str) -> bool:
    """Whether this PostgreSQL database can narrow by trigrams: migration 0005's column, and Chinese trigrams.

    pg_trgm keeps only what the database's LC_CTYPE calls letters or digits: under C.UTF-8 or
    zh_CN.UTF-8 a Chinese character is one, under plain C none is, and every similarity is 0.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'tickets_ticket' "
            "AND column_name = 'search_words'), coalesce(array_length(show_trgm('重复'), 1), 0) > 0"
        )
        column, trigrams = cursor.fetchone()
    if not (column and trigrams):
        missing = "pg_trgm sees no Chinese characters" if column else "no search_words column (tickets.0005)"
        logger.warning("duplicate suggestions score in Python: %s", missing)
    return bool(column and trigrams)


# The paths PostgreSQL's indexes serve. Only constants are interpolated here; values are parameters.
_OPEN_SQL = ", ".join(f"'{status}'" for status in OPEN)
# The district leads both indexes (btree_gin); it must be compared as bigint for the index to take it.
# Tickets without a district are reached only by drafts without one (or by the caller's paths).
_DISTRICT_SQL = "(%(district)s::bigint IS NULL OR district_id = %(district)s::bigint)"
_TEXT_PATH = (
    f"(SELECT id FROM tickets_ticket WHERE status IN ({_OPEN_SQL}) AND {_DISTRICT_SQL} "  # noqa: S608
    "AND search_words %% tickets_search_words(%(text)s) "
    f"ORDER BY similarity(search_words, tickets_search_words(%(text)s)) DESC LIMIT {PATH_LIMIT})"
)
_ADDRESS_PATH = (
    f"(SELECT id FROM tickets_ticket WHERE status IN ({_OPEN_SQL}) AND {_DISTRICT_SQL} "  # noqa: S608
    "AND tickets_search_words(%(address)s) <%% tickets_search_words(address) "
    "ORDER BY word_similarity(tickets_search_words(%(address)s), tickets_search_words(address)) DESC "
    f"LIMIT {PATH_LIMIT})"
)
_PHONE_PATH = "(SELECT id FROM tickets_ticket WHERE caller_number = %(phone)s AND created_at >= %(since)s LIMIT 50)"
_CITIZEN_PATH = "(SELECT id FROM tickets_ticket WHERE citizen_id = %(citizen)s AND created_at >= %(since)s LIMIT 50)"


def _candidate_ids(report: _Report, since: datetime.datetime) -> list[int]:
    """Ids of the tickets worth scoring, by the paths PostgreSQL's indexes serve; at most PATH_LIMIT each."""
    query = report.query
    params = {"district": query.district, "since": since, "phone": report.phone, "citizen": query.citizen}
    paths = []
    if report.has_text:
        paths.append(_TEXT_PATH)
        params["text"] = _written(query.description, query.title)
    if report.place:
        paths.append(_ADDRESS_PATH)
        params["address"] = _place_words(query.address, report.districts)
    if report.phone:
        paths.append(_PHONE_PATH)
    if query.citizen:
        paths.append(_CITIZEN_PATH)
    if not paths:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: the thresholds of pg_trgm's operators, for this transaction only.
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true), "
            "set_config('pg_trgm.word_similarity_threshold', %s, true)",
            [str(NARROW_SIMILARITY), str(NARROW_ADDRESS)],
        )
        cursor.execute(" UNION ".join(paths), params)
        return [row[0] for row in cursor.fetchall()]


# What a suggestion shows and the rules read: the candidates are loaded with these only.
_FIELDS = (
    "number", "kind", "status", "title", "description", "address", "district__name", "lead_department__name",
    "caller_number", "citizen", "created_at",
)  # fmt: skip


def _candidates(user: User, report: _Report, since: datetime.datetime) -> list[Ticket]:
    query = report.query
    tickets = (
        tickets_visible_to(user)
        .exclude(status__in=(Status.DRAFT, Status.MERGED, Status.CANCELLED))
        .select_related(None)
        .select_related("district", "lead_department")
        .only(*_FIELDS)
    )
    if query.exclude:
        tickets = tickets.exclude(pk=query.exclude)
    if connection.vendor == "postgresql" and _trigram_search(connection.alias):
        return list(tickets.filter(pk__in=_candidate_ids(report, since)))
    callers = Q(pk__in=[])
    if report.phone:
        callers |= Q(caller_number=report.phone, created_at__gte=since)
    if query.citizen:
        callers |= Q(citizen_id=query.citizen, created_at__gte=since)
    nearby = tickets.filter(status__in=OPEN)
    if query.district:
        nearby = nearby.filter(Q(district_id=query.district) | Q(district__isnull=True))
    found = {t.pk: t for t in nearby.order_by("-created_at")[:PORTABLE_LIMIT]}
    found.update((t.pk, t) for t in tickets.filter(callers)[:100])
    return list(found.values())


def duplicates_for_draft(user: User, query: DuplicateQuery, *, limit: int = SHOWN) -> list[Suggestion]:
    """The tickets `query` likely duplicates, most likely first, each with its reasons.

    For operators, supervisors and administrators; anyone else gets none (a department must never
    see another department's tickets, and duplicates are the hotline's business).
    """
    if not (getattr(user, "is_superuser", False) or getattr(user, "is_hotline_staff", False)):
        return []
    report = _Report.of(query, tuple(District.objects.values_list("name", flat=True)))
    if not (report.has_text or report.phone or query.citizen):
        return []
    now = clock.now()
    since = now - datetime.timedelta(days=window_days())
    judged = (_judge(report, ticket, now) for ticket in _candidates(user, report, since))
    found = sorted((s for s in judged if s), key=lambda s: (-s.score, -s.ticket.created_at.timestamp()))
    return found[:limit]


def duplicates_for_ticket(user: User, ticket: Ticket, *, limit: int = SHOWN) -> list[Suggestion]:
    """The tickets `ticket` likely duplicates (itself, and those already merged into it, left out)."""
    return duplicates_for_draft(user, DuplicateQuery.for_ticket(ticket), limit=limit)
