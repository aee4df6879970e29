"""Writes on the knowledge base (知识库): supervisors maintain articles; reading one counts a view."""

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from dashboards.publish import OPERATORS, SUPERVISORS, publish

from .. import clock
from ..errors import NotAllowed
from ..models import Article, User

ARTICLE_FIELDS = ("title", "question", "answer", "category", "keywords", "is_published")


def _authorize(actor: User | None, permission: str) -> None:
    # The role's permissions (tickets.auth.ROLE_PERMISSIONS) are the gate, as in the admin.
    if actor is not None and not actor.has_perm(permission):
        raise NotAllowed(_("Only supervisors maintain the knowledge base."))


def _event(article: Article, changed: list[str]) -> dict[str, Any]:
    return {
        "id": article.pk,
        "published": article.is_published,
        "category": article.category_id,
        "changed": sorted(changed),
    }


def article_create(*, actor: User | None, **fields: Any) -> Article:
    """Write a new article (unpublished unless `is_published`). Publishes knowledge.create."""
    unknown = set(fields) - set(ARTICLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown article fields: {sorted(unknown)}")
    _authorize(actor, "tickets.add_article")
    with transaction.atomic():
        now = clock.now()
        article = Article(updated_by=actor, created_at=now, updated_at=now, **fields)
        article.full_clean()
        article.save()
        publish("knowledge.create", _event(article, list(fields)), [SUPERVISORS, OPERATORS])
    return article


def article_update(article: Article, *, actor: User | None, **changes: Any) -> Article:
    """Change an article's text, category, keywords or publication. Publishes knowledge.update.

    Tickets that used the article keep pointing at it; their own `answer` holds what was said.
    """
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    _authorize(actor, "tickets.change_article")
    with transaction.atomic():
        locked = Article.objects.select_for_update().get(pk=article.pk)
        changed = []
        for field, value in changes.items():
            old = getattr(locked, "category_id" if field == "category" else field)
            if old != getattr(value, "pk", value):
                setattr(locked, field, value)
                changed.append(field)
        if not changed:
            return locked
        locked.full_clean()
        locked.updated_by = actor
        locked.updated_at = clock.now()
        locked.save(update_fields=[*changed, "updated_by", "updated_at"])
        locked.refresh_from_db(fields=["search_text"])
        publish("knowledge.update", _event(locked, changed), [SUPERVISORS, OPERATORS])
    return locked


def article_viewed(article: Article) -> None:
    """Count one reading of the article (its detail was opened)."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


def article_used(article: Article) -> None:
    """Count one answer given with the article; runs inside the closing ticket's transaction."""
    Article.objects.filter(pk=article.pk).update(use_count=F("use_count") + 1)
