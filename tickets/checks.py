"""System checks: production must not run on the embedded defaults."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def production_services(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Refuse production (DEBUG off) on SQLite or the in-memory channel layer."""
    if settings.DEBUG:
        return []
    errors = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        errors.append(
            checks.Error(
                "Production (DJANGO_DEBUG=0) needs PostgreSQL: set DATABASE_URL=postgres://...",
                id="hotline.E001",
            )
        )
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        errors.append(
            checks.Error(
                "Production (DJANGO_DEBUG=0) needs Redis for websockets and Celery: set REDIS_URL=redis://...",
                id="hotline.E002",
            )
        )
    return errors
