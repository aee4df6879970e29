"""Reads of the ticket system, always scoped to what the asking user may see."""

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, Exists, Expression, FloatField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from .models import Article, Category, Citizen, CitizenPhone, Role, Status, Ticket, TimelineEntry, User
from .pii import id_number_clean, phone_lookup_key, pii_hash


def _is_hotline(user: User) -> bool:
    # getattr: an anonymous user (schema generation, a missing login) sees nothing rather than crashing.
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_hotline_staff", False))


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    """Hotline staff see every ticket; department staff only those dispatched to their department.

    Lead or assisting department alike, never a draft or a registered ticket; anyone else sees none.
    The relations every list row shows are joined, so a page costs the same few queries at any size.
    """
    tickets = Ticket.objects.select_related(
        "lead_department", "district", "category__parent", "citizen", "merged_into", "article"
    )
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


# Knowledge base (知识库) -------------------------------------------------------------------------

# A query longer than this is cut: it is a phrase to find, not a document to compare.
SEARCH_MAX_TERMS = 8
SEARCH_MAX_PAIRS = 24


def articles_visible_to(user: User) -> QuerySet[Article]:
    """Supervisors and administrators (who maintain it) see every article, drafts included.

    Operators and department staff see published articles only; anyone else none.
    """
    articles = Article.objects.select_related("category__parent", "updated_by")
    if getattr(user, "is_active", False) and user.has_perm("tickets.change_article"):
        return articles
    if _is_hotline(user) or (getattr(user, "role", None) == Role.DEPARTMENT and user.department_id):
        return articles.filter(is_published=True)
    return articles.none()


def article_get_for(user: User, pk: int | str) -> Article:
    """The article if the user may read it; otherwise 404 (a draft is not there for an operator)."""
    try:
        return articles_visible_to(user).get(pk=pk)
    except (Article.DoesNotExist, ValueError):
        raise Http404("No such article.") from None


def articles_search(user: User, q: str = "", *, category: Category | None = None) -> QuerySet[Article]:
    """The articles the user may read that contain every word of `q`, best first.

    Chinese is written without spaces, so a term is matched as a substring (a phrase inside the
    title, question, answer or keywords), never split into words. On PostgreSQL the GIN trigram
    index on `search_text` serves that match and pg_trgm's similarity ranks the results (the
    title counts most, then keywords, question, answer); on SQLite a hit in the title, then the
    keywords, then the question ranks first. When no article contains the terms as typed
    ("护照费用" for "护照办理费用"), the near matches are offered: articles holding at least half
    of the query's two-character pairs, most pairs first. `category` narrows to that category and
    its subcategories. Without `q`: the most used first.
    """
    articles = articles_visible_to(user)
    if category is not None:
        articles = articles.filter(category__path__startswith=category.path)
    terms = [term.lower() for term in q.split()][:SEARCH_MAX_TERMS]
    if not terms:
        return articles.order_by("-use_count", "-updated_at", "-id")
    matched = articles
    for term in terms:
        # search_text is lower-cased by the database: a plain LIKE, which the trigram index serves.
        matched = matched.filter(search_text__contains=term)
    if matched.exists():
        ranked = matched.annotate(rank=_article_rank(terms), match=Value("exact"))
        return ranked.order_by("-rank", "-use_count", "-id")
    pairs = list(dict.fromkeys(term[i : i + 2] for term in terms for i in range(max(len(term) - 1, 1))))
    pairs = pairs[:SEARCH_MAX_PAIRS]
    if len(pairs) < 2:
        return matched  # one short term, not found: there is nothing nearer
    hits = sum(
        (Case(When(search_text__contains=pair, then=1), default=0) for pair in pairs[1:]),
        Case(When(search_text__contains=pairs[0], then=1), default=0),
    )
    near = articles.annotate(hits=hits).filter(hits__gte=(len(pairs) + 1) // 2)
    ranked = near.annotate(rank=_article_rank(terms), match=Value("near"))
    return ranked.order_by("-hits", "-rank", "-use_count", "-id")


def _article_rank(terms: list[str]) -> Expression:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import TrigramSimilarity, TrigramWordSimilarity

        phrase = " ".join(terms)
        return (
            2 * TrigramSimilarity("title", phrase)
            + 2 * TrigramWordSimilarity(phrase, "title")
            + TrigramWordSimilarity(phrase, "keywords")
            + TrigramWordSimilarity(phrase, "question")
            + 0.5 * TrigramWordSimilarity(phrase, "answer")
        )
    term = terms[0]
    return Case(
        When(title__icontains=term, then=Value(3.0)),
        When(keywords__icontains=term, then=Value(2.0)),
        When(question__icontains=term, then=Value(1.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )
