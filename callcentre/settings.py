"""Settings for the hotline platform: environment variables with embedded defaults.

No environment at all gives the embedded mode: a SQLite file, the in-memory channel
layer and eager Celery, so one process runs everything. DATABASE_URL and REDIS_URL switch
to PostgreSQL and Redis; DJANGO_DEBUG=0 is production (see docs/configuration.md).
"""

from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HOTLINE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET = "dev-only-secret-key-not-for-production-0123456789-abcdefghijklmnop"  # noqa: S105  (DEBUG only; production refuses it)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required when DJANGO_DEBUG=0")

# Key for citizens' ID numbers: a keyed hash for lookup and encryption at rest. Losing it
# makes stored ID numbers unreadable, so production must set it explicitly.
_DEV_PII_KEY = "dev-only-pii-key-not-for-production"
PII_KEY = env_str("HOTLINE_PII_KEY", _DEV_PII_KEY if DEBUG else "")
if not PII_KEY:
    raise ImproperlyConfigured("HOTLINE_PII_KEY (or HOTLINE_PII_KEY_FILE) is required when DJANGO_DEBUG=0")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "callcentre.admin.HotlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tickets",
    "tickets.open311",
    "telephony",
    "routing",
    "dashboards",
    "callcentre",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "callcentre.urls"
ASGI_APPLICATION = "callcentre.asgi.application"
WSGI_APPLICATION = "callcentre.wsgi.application"
AUTH_USER_MODEL = "tickets.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "tickets.auth.RoleBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "callcentre" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "routing.context_processors.calendar_warnings",
            ],
        },
    },
]

# Database: SQLite file by default (with a busy timeout so concurrent writers wait instead of
# failing), PostgreSQL from DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Fail fast when PostgreSQL is unreachable: the AGI bridge falls back to its spool rather
        # than keep a caller waiting on the operating system's TCP timeout.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 3))
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "hotline.sqlite3")),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: channel layer and Celery broker. Without it, the in-memory layer and eager tasks.
# Whatever the layer, every event carries its number in its stream, so a socket that misses
# one notices and reloads a snapshot (docs/dashboards.md); the choices below keep that rare.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # The pub/sub layer, not channels-redis's default (core) layer: the core layer keeps a
    # per-channel list capped at `capacity` (100) and silently drops group messages for a
    # consumer whose list is full. A burst of 300 events to 100 sockets lost 63% of them here;
    # the pub/sub layer delivered all, and several daphne processes on one Redis each get every
    # group message (Redis fans out). It has no capacity setting: each socket's queue is an
    # in-process asyncio.Queue, bounded by memory, which a dashboard's event rate never fills.
    # Events published while a process is cut off from Redis are lost to its sockets: the
    # sequence numbers and heartbeats make the clients resync.
    # Redis pub/sub channels ignore the database number in REDIS_URL: two deployments (or a test
    # run and a benchmark) sharing one Redis hear each other's groups unless their prefixes differ.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 2, "socket_timeout": 5}],
                "prefix": env_str("HOTLINE_LAYER_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {
                # The in-memory layer also drops a group message when a socket's queue is full:
                # 100 (the default) is less than one burst of a busy morning.
                "capacity": env_int("HOTLINE_LAYER_CAPACITY", 2000),
                # Memberships expire silently after group_expiry (default a day, daphne's own
                # websocket timeout): two days, so a socket is always reconnected first.
                "group_expiry": 2 * 86400,
            },
        }
    }
# The cache (rate limits of the public pages, docs/intake.md, and of the Open311 API, docs/open311.md):
# Redis when REDIS_URL is set, so every process counts against the same limits; otherwise local
# memory, enough for the one embedded process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("HOTLINE_CACHE_PREFIX", "hotline"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hotline"}}

# Seconds between the live sockets' heartbeats (stream numbers, for detecting a lost last event,
# and traffic for proxies that close idle connections after 60 s); 0 turns them off.
LIVE_HEARTBEAT_SECONDS = env_int("HOTLINE_LIVE_HEARTBEAT", 25)
# Hours an event stays in the outbox once relayed to the sockets (dashboards.tasks.prune_outbox, hourly):
# for looking into what was sent; nothing reads a relayed event to deliver it (a resync sends a
# snapshot). Events still owed are never pruned. 0 keeps every event.
OUTBOX_RETENTION_HOURS = env_int("HOTLINE_OUTBOX_RETENTION_HOURS", 72)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The same schedule drives Celery beat in production and the in-process scheduler of
# `manage.py runhotline` in the embedded mode.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "dashboards.tasks.relay_outbox", "schedule": 5.0},
    "prune-outbox": {"task": "dashboards.tasks.prune_outbox", "schedule": 3600.0, "options": {"expires": 3000}},
    # Reminders, overdue escalation and callbacks due. A run missed while the worker was down is
    # not worth queueing (expires): the next one catches up on everything that fell due.
    "routing-clocks": {"task": "routing.tasks.sweep_clocks", "schedule": 60.0, "options": {"expires": 55}},
    # Daily and weekly reports (定期通报): today, this week, last week and any recent day never built.
    "routing-reports": {"task": "routing.tasks.build_reports", "schedule": 3600.0, "options": {"expires": 3000}},
    # Open311 (docs/open311.md): batch requests whose ticket-creating task was lost, and the request log's retention.
    "open311-sweep": {"task": "open311.tasks.sweep", "schedule": 60.0, "options": {"expires": 55}},
    "open311-prune-log": {"task": "open311.tasks.prune_log", "schedule": 86400.0, "options": {"expires": 3600}},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# The region used to read local phone numbers (caller IDs without a country code).
PHONE_REGION = env_str("HOTLINE_PHONE_REGION", "CN")

STATIC_URL = "static/"
# The charting library's browser bundle, from its Python package: {% static "vendor/plotly/plotly.min.js" %}.
STATICFILES_DIRS = [("vendor/plotly", str(Path(plotly.__file__).parent / "package_data"))]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "tickets.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tickets.api.errors.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "12345 Hotline API",
    "DESCRIPTION": "Tickets, citizens and reference data of the government service hotline.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"TicketStatusEnum": "tickets.models.Status"},
}

# Production hardening: every `check --deploy` item is on when DEBUG is off. TLS ends at the
# reverse proxy, which sets X-Forwarded-Proto.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per periodic task run is noise; failures still log at ERROR.
        "celery.app.trace": {"level": "WARNING"},
    },
}

# The FastAGI bridge (telephony/bridge/): listen address, the Asterisk hosts allowed in (empty:
# any), where calls are spooled while the database is down, how many ticket numbers it holds
# for such calls, how long SIGTERM waits for calls in progress, and how many calls one bridge holds
# before it refuses connections (so that Asterisk fails over to the next hagi:// target).
AGI_HOST = env_str("HOTLINE_AGI_HOST", "127.0.0.1")
AGI_PORT = env_int("HOTLINE_AGI_PORT", 4573)
AGI_ALLOWED_HOSTS = env_list("HOTLINE_AGI_ALLOWED_HOSTS", [])
AGI_SPOOL_DIR = Path(env_str("HOTLINE_SPOOL_DIR", str(VAR_DIR / "agi-spool")))
AGI_RESERVED_NUMBERS = env_int("HOTLINE_AGI_RESERVED_NUMBERS", 100)
AGI_MAX_CALLS = env_int("HOTLINE_AGI_MAX_CALLS", 1000)
AGI_DRAIN_SECONDS = env_int("HOTLINE_AGI_DRAIN_SECONDS", 30)
# Worker threads (each with its own database connection) that run the bridge's ORM work.
AGI_DB_CONNECTIONS = env_int("HOTLINE_AGI_DB_CONNECTIONS", 4)
# The AMI listener (manage.py ami_listener): Asterisk's manager interface, one listener per Asterisk.
AMI_HOST = env_str("HOTLINE_AMI_HOST", "127.0.0.1")
AMI_PORT = env_int("HOTLINE_AMI_PORT", 5038)
AMI_USERNAME = env_str("HOTLINE_AMI_USERNAME", "hotline")
AMI_SECRET = env_str("HOTLINE_AMI_SECRET", "")

# The supervisor wallboard's service level: the share of queued calls answered within this many
# seconds (dashboards/wallboard.py; the definition is in docs/dashboards.md).
HOTLINE_SERVICE_LEVEL_SECONDS = env_int("HOTLINE_SERVICE_LEVEL_SECONDS", 20)
# Duplicate suggestions (docs/duplicates.md): how far back the same caller's tickets are candidates.
HOTLINE_DUPLICATE_DAYS = env_int("HOTLINE_DUPLICATE_DAYS", 30)
# Dotted path of a callable(ticket=, into=, phone=) that tells the citizen of a merged ticket
# (an SMS gateway, say); empty: nobody is told beyond the progress query.
HOTLINE_MERGE_NOTIFIER = env_str("HOTLINE_MERGE_NOTIFIER", "")

# Web intake (tickets/intake/, docs/intake.md): the public form, the progress query and the rating link.
# Photos are stored under MEDIA_ROOT with random names and never served by URL: staff get them
# through a view that checks the ticket is theirs to see.
MEDIA_ROOT = Path(env_str("HOTLINE_MEDIA_ROOT", str(VAR_DIR / "media")))
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
# Reverse proxies in front of the application that append to X-Forwarded-For: the client address
# for the rate limits is the one this many entries from the right. 0: REMOTE_ADDR.
HOTLINE_PROXY_COUNT = env_int("HOTLINE_PROXY_COUNT", 0)
INTAKE_PHOTO_MAX_BYTES = env_int("HOTLINE_INTAKE_PHOTO_MAX_BYTES", 5 * 1024 * 1024)
INTAKE_PHOTO_MAX_PIXELS = env_int("HOTLINE_INTAKE_PHOTO_MAX_PIXELS", 40_000_000)
INTAKE_SUBMITS_PER_IP_HOUR = env_int("HOTLINE_INTAKE_SUBMITS_PER_IP_HOUR", 20)
INTAKE_SUBMITS_PER_PHONE_DAY = env_int("HOTLINE_INTAKE_SUBMITS_PER_PHONE_DAY", 5)
INTAKE_QUERY_FAILURES_PER_IP_HOUR = env_int("HOTLINE_INTAKE_QUERY_FAILURES_PER_IP_HOUR", 30)
INTAKE_QUERY_FAILURES_PER_TICKET_DAY = env_int("HOTLINE_INTAKE_QUERY_FAILURES_PER_TICKET_DAY", 10)
INTAKE_MIN_FILL_SECONDS = env_int("HOTLINE_INTAKE_MIN_FILL_SECONDS", 3)
INTAKE_CHALLENGE_MAX_AGE = env_int("HOTLINE_INTAKE_CHALLENGE_MAX_AGE", 2 * 3600)
INTAKE_RATING_DAYS = env_int("HOTLINE_INTAKE_RATING_DAYS", 7)

# Open311 GeoReport v2 (tickets/open311/, docs/open311.md): the jurisdiction_id this endpoint serves
# (another one is answered 404; empty accepts any), requests a minute per API key (a key may have
# its own limit in the admin) and per client address without a key (0: no limit), and how many days
# the request log is kept.
OPEN311_JURISDICTION_ID = env_str("HOTLINE_OPEN311_JURISDICTION", "huizhou.gov.cn")
OPEN311_RATE_LIMIT = env_int("HOTLINE_OPEN311_RATE_LIMIT", 60)
OPEN311_ANON_RATE_LIMIT = env_int("HOTLINE_OPEN311_ANON_RATE_LIMIT", 30)
OPEN311_LOG_DAYS = env_int("HOTLINE_OPEN311_LOG_DAYS", 90)
