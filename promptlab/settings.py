"""PromptLab settings, read from the environment.

Every variable is documented in README.md with its default. Without any of them
set, PromptLab runs on embedded defaults: SQLite and a filesystem Celery broker
under ``var/``, and the offline provider.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    """An environment variable; set-but-empty counts as unset."""
    return os.environ.get(name) or default


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


PLANS = ("free", "starter", "professional", "enterprise")  # accounts.models.Plan's values


def envplans(name: str, default: str) -> dict[str, int]:
    """A number per plan tier, written ``free=4,starter=8,…``: the default's entries for
    the tiers the variable leaves out."""
    values: dict[str, int] = {}
    for text in (default, envstr(name)):
        for item in filter(None, (part.strip() for part in text.split(","))):
            plan, _sep, number = item.partition("=")
            if plan.strip() not in PLANS or not number.strip().isdigit() or int(number) < 1:
                raise ImproperlyConfigured(
                    f"{name}: {item!r} is not plan=number (plans: {', '.join(PLANS)}; numbers from 1)."
                )
            values[plan.strip()] = int(number)
    return values


VAR_DIR = Path(envstr("PROMPTLAB_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)
# Embedded mode: no DATABASE_URL, so SQLite and the rest under var/ on this machine.
EMBEDDED = not envstr("DATABASE_URL")


def _local_secret_key(path: Path) -> str:
    """The key kept in ``path`` (made on first use, readable by this user only), for
    the embedded mode and DEBUG: `make run` then needs no SECRET_KEY, and sessions
    survive a restart. The web process and the worker start together: a key is
    written to a file of its own and linked into place, so both read the same one."""
    if not path.exists():
        import secrets

        draft = path.with_name(f"{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not (EMBEDDED or DEBUG):
        raise ImproperlyConfigured(
            "Set SECRET_KEY: with DATABASE_URL set, PromptLab runs as a shared server and keeps no key of "
            "its own."
        )
    SECRET_KEY = _local_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "accounts",
    "audit",
    "workspaces",
    "sso",
    "providers",
    "templates_app",
    "budgets",
    "jobs",
    "usage",
    "webhooks",
    "batches",
    "agents",
    "graphql_api",
    "promptlab.apps.PromptLabAdminConfig",  # django.contrib.admin, with a guarded login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    # First: every answer (a 413, an error page, a static file) carries its X-Request-ID,
    # every log record the request's id, and every error envelope both.
    "promptlab.logs.RequestIdMiddleware",
    # Then the time of everything after it; not at all with METRICS_ENABLED=0 (below).
    "promptlab.metrics.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Compresses what the next one answered (its ETag is of the uncompressed entity, weakened).
    "promptlab.compression.CompressionMiddleware",
    # An ETag on every GET answer, and 304 with no body when If-None-Match has it.
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in person's language preference, for a browser without a language cookie.
    "accounts.language.PreferredLanguageMiddleware",
    # The request's person and address, for audit entries recorded away from the view.
    "audit.context.RequestContextMiddleware",
    "promptlab.database.RetryReadsOnLostConnection",
    "promptlab.outages.AnswerOutagesWith503",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "promptlab.api.RequestLimitsMiddleware",
]

ROOT_URLCONF = "promptlab.urls"
WSGI_APPLICATION = "promptlab.wsgi.application"
ASGI_APPLICATION = "promptlab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "workspaces.context_processors.workspace_switcher",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Queues a process's writers in-process (see the module): SQLite's own busy
    # wait polls, and many writers at once slowed to a crawl.
    DATABASES["default"]["ENGINE"] = "promptlab.embedded.sqlite_backend"
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while the worker writes output.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool rather than CONN_MAX_AGE: under ASGI persistent connections leak
    # one per thread (docs/architecture.md).
    from .pg_pool import check_pooled_connection

    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Parameters bound by the server rather than quoted into the SQL by psycopg, so
        # that psycopg prepares a statement once a connection has run it a few times
        # (prepare_threshold) and PostgreSQL stops parsing and planning it anew on every
        # call: most of a run's queries are the same dozen statements, and planning
        # cost PostgreSQL more than executing them (docs/architecture.md, "Database").
        "server_side_binding": True,
        # Django turns psycopg's preparing off (None) by default, for PgBouncer's
        # transaction mode, where a statement prepared on one server connection is
        # missing on the next. Django's pool hands a whole connection over, and its
        # prepared statements live as long as it (psycopg keeps up to 100 per connection).
        "prepare_threshold": 5 if envbool("DATABASE_PREPARED_STATEMENTS", True) else None,
        "pool": {
            "min_size": 1,
            "max_size": envint("DATABASE_POOL_SIZE", 10),
            "timeout": 10,
            # A pooled connection the server closed (a restart, pg_terminate_backend, an
            # idle timeout) is found out with a cheap round trip before it is handed over,
            # and replaced, instead of failing the request that drew it.
            "check": check_pooled_connection,
        },
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker, pub/sub ------------------------------------------
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "promptlab.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "promptlab",
            # A Redis that stops answering must fail a cache call in a second, not hang
            # the request (promptlab.outages turns the failure into a clear 503).
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    # Shared between processes (rate limits need that), unlike LocMemCache.
    CACHES = {
        "default": {
            "BACKEND": "promptlab.embedded.cache.AtomicDatabaseCache",
            "LOCATION": "promptlab_cache",
        }
    }

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        # kombu's default is ./control, which would litter the checkout.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # The default 1 s poll would add up to a second before every job starts.
        "polling_interval": 0.01,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connections before and after every task
# and, under the prefork pool, the whole psycopg pool: each job built a pool and opened
# two new PostgreSQL sessions. Set, the fixup does that only every this many tasks; in
# between, promptlab/celery.py gives a task's connection back to the pool, as Django does
# at the end of a request. (A new child process still drops the pool it inherited.)
CELERY_DB_REUSE_MAX = envint("WORKER_DB_REUSE_MAX", 1000)
CELERY_TASK_SOFT_TIME_LIMIT = envint("JOB_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
# Batches have a queue of their own, for their dispatch and their rows' jobs (a job names
# its queue: jobs.Job.queue), so a big batch never queues ahead of single runs; the
# worker consumes both (Procfile; docs/architecture.md, "Batches").
CELERY_TASK_ROUTES = {
    "jobs.tasks.run_job": {"queue": "generation"},
    "batches.tasks.dispatch_batch": {"queue": "batches"},
    # A workflow's advances; its steps' jobs name the same queue themselves (Job.queue).
    "jobs.workflows.tasks.advance_workflow": {"queue": "workflows"},
}
# A down broker must fail a submission quickly and visibly, not hang it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-jobs": {
        "task": "jobs.tasks.sweep_stuck_jobs",
        "schedule": envfloat("JOB_SWEEP_INTERVAL", 10.0),
    },
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_webhook_deliveries",
        "schedule": envfloat("WEBHOOKS_SWEEP_INTERVAL", 30.0),
    },
    "sweep-batches": {
        "task": "batches.tasks.sweep_batches",
        "schedule": envfloat("BATCH_SWEEP_INTERVAL", 10.0),
    },
    "expire-batch-drafts": {
        "task": "batches.tasks.expire_batch_drafts",
        "schedule": 600.0,  # drafts live a day (BATCH_DRAFT_TTL): ten minutes late is nothing
    },
}
# Beat runs as its own process; only the one holding the lock sends (promptlab/beat.py).
CELERY_BEAT_SCHEDULER = "promptlab.beat:SingleBeatScheduler"
# A beat that stops renewing its lock (killed) frees it after this long at most.
BEAT_LOCK_SECONDS = envfloat("BEAT_LOCK_SECONDS", 30.0)

# --- Generation -------------------------------------------------------------
OFFLINE_PROVIDER_DELAY = envfloat("OFFLINE_PROVIDER_DELAY", 0.03)
# With Redis the database copy is only the record (the page streams from Redis); without
# it the page polls the database, so the output is saved more often to arrive smoothly.
JOB_OUTPUT_FLUSH_INTERVAL = envfloat("JOB_OUTPUT_FLUSH_INTERVAL", 0.5 if REDIS_URL else 0.1)
# Without Redis, how often the job page asks for new output (ms): while running, queued.
JOB_PAGE_POLL_RUNNING_MS = envint("JOB_PAGE_POLL_RUNNING_MS", 150)
JOB_PAGE_POLL_QUEUED_MS = envint("JOB_PAGE_POLL_QUEUED_MS", 500)
# Seconds an embedded form's signed token (its CSRF protection: a frame gets no cookie)
# stays valid; a form sent later is shown again, filled, with a fresh token.
EMBED_FORM_MAX_AGE = envint("EMBED_FORM_MAX_AGE", 7200)
JOB_STREAM_KEEPALIVE = envfloat("JOB_STREAM_KEEPALIVE", 15.0)
# Chunks closer together than this go to the streams as one (jobs.streaming.JobPublisher).
JOB_STREAM_CHUNK_INTERVAL = envfloat("JOB_STREAM_CHUNK_INTERVAL", 0.015)
JOB_CACHE_TTL = envint("JOB_CACHE_TTL", 3600)
# API generate with "wait": requests per web process that may wait at once, each holding
# one of the dispatcher's 16 request threads; beyond it a request is answered at once.
JOB_WAIT_MAX_CONCURRENT = envint("JOB_WAIT_MAX_CONCURRENT", 8)
# An MCP tool call answers once its job ends, or after this many seconds with the job as
# it stands (still running: the agent can follow it through the API). It holds no thread.
MCP_CALL_TIMEOUT = envfloat("MCP_CALL_TIMEOUT", 300.0)
JOB_MAX_ATTEMPTS = envint("JOB_MAX_ATTEMPTS", 3)
JOB_RETRY_DELAYS = tuple(float(d) for d in envlist("JOB_RETRY_DELAYS", "1,3,10"))
# A queued job unclaimed this long after its message was due lost the message
# (a broker outage, a task acknowledged unrun): the sweep, every
# JOB_SWEEP_INTERVAL, sends another, so a lost job is running within a minute.
# A job merely waiting behind a backlog gets a harmless duplicate (one claims).
JOB_QUEUE_STALE_AFTER = envint("JOB_QUEUE_STALE_AFTER", 45)
# A running job's lease, renewed by its worker every third of it: a job whose
# lease ran out lost its worker, and the sweep runs it again.
JOB_LEASE_SECONDS = envfloat("JOB_LEASE_SECONDS", 30.0)
PROVIDER_CONNECT_TIMEOUT = envfloat("PROVIDER_CONNECT_TIMEOUT", 5.0)
PROVIDER_READ_TIMEOUT = envfloat("PROVIDER_READ_TIMEOUT", 60.0)
PROVIDER_BREAKER_FAIL_MAX = envint("PROVIDER_BREAKER_FAIL_MAX", 5)
PROVIDER_BREAKER_RESET_TIMEOUT = envfloat("PROVIDER_BREAKER_RESET_TIMEOUT", 30.0)
# Internal networks (CIDR) that named provider connections may reach, e.g. an Ollama on
# 127.0.0.1/32 or a vLLM in 10.0.0.0/24. None by default: a connection's key could
# otherwise be sent to, and its requests made against, the server's own services.
PROVIDER_ALLOWED_NETWORKS = envlist("PROVIDER_ALLOWED_NETWORKS", "")
for _network in PROVIDER_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"PROVIDER_ALLOWED_NETWORKS: {_network!r} is not a network (CIDR)."
        ) from None
# Failures older than this no longer count towards opening the breaker.
PROVIDER_BREAKER_WINDOW = envfloat("PROVIDER_BREAKER_WINDOW", 60.0)
# How long after its submission a job may keep waiting for a provider whose
# breaker is open or that asked us to slow down (429) before it fails.
JOB_PROVIDER_WAIT_LIMIT = envfloat("JOB_PROVIDER_WAIT_LIMIT", 900.0)

# --- Workflows (jobs/workflows) -----------------------------------------------
# Step jobs of one workflow run queued or running at once, whatever its steps' ``parallel``:
# one run's wide fan-out must not fill the workers ahead of other people's runs.
WORKFLOW_MAX_IN_FLIGHT = envint("WORKFLOW_MAX_IN_FLIGHT", 8)

# --- Batches (batches/services.py) -------------------------------------------
# Rows of one batch running at once when the batch names no number, and the most a
# batch may ask for, by plan (a batch asking for more gets its plan's most).
BATCH_CONCURRENCY = envint("BATCH_CONCURRENCY", 4)
BATCH_MAX_CONCURRENCY = envplans("BATCH_MAX_CONCURRENCY", "free=4,starter=8,professional=16,enterprise=32")
# Rows of one file (or pasted, or posted through the API), and bytes of one uploaded file.
BATCH_MAX_ROWS = envplans("BATCH_MAX_ROWS", "free=1000,starter=10000,professional=50000,enterprise=200000")
BATCH_MAX_FILE_BYTES = envplans(
    "BATCH_MAX_FILE_BYTES", "free=5000000,starter=20000000,professional=50000000,enterprise=100000000"
)
# Beat's sweep re-dispatches running batches (a lost dispatch message, a restart).
BATCH_SWEEP_INTERVAL = envfloat("BATCH_SWEEP_INTERVAL", 10.0)
# Seconds a draft (a validated upload never started) and its file are kept.
BATCH_DRAFT_TTL = envint("BATCH_DRAFT_TTL", 86400)

# --- Workflows (templates_app/steps) ------------------------------------------
# Steps of one workflow version (more is refused on save), and items one for_each step
# may run for (more fails the step "too_many_items" when it runs).
WORKFLOW_MAX_STEPS = envint("WORKFLOW_MAX_STEPS", 30)
WORKFLOW_MAX_ITEMS = envint("WORKFLOW_MAX_ITEMS", 100)

# --- Webhooks (webhooks/egress.py says why each rule) -------------------------
# Private, loopback, link-local and other internal addresses as webhook destinations:
# off, so that no user can make the server call its own network. The cloud metadata
# addresses, multicast and 0.0.0.0 stay refused even when on.
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = envbool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", False)
# Plain http:// webhook URLs (the payload and its signature readable on the way): off.
WEBHOOKS_ALLOW_HTTP = envbool("WEBHOOKS_ALLOW_HTTP", False)
# Seconds between a delivery's attempts: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then it has
# failed (7 attempts over about 17.5 hours).
WEBHOOKS_RETRY_DELAYS = tuple(
    float(d) for d in envlist("WEBHOOKS_RETRY_DELAYS", "5,300,1800,7200,18000,36000")
)
WEBHOOKS_CONNECT_TIMEOUT = envfloat("WEBHOOKS_CONNECT_TIMEOUT", 3.0)
# The whole exchange (send, answer, the part of the body read) must end within this.
WEBHOOKS_TIMEOUT = envfloat("WEBHOOKS_TIMEOUT", 10.0)
# How much of a receiver's answer is read and kept with the attempt.
WEBHOOKS_RESPONSE_MAX_BYTES = envint("WEBHOOKS_RESPONSE_MAX_BYTES", 2048)
# A claimed attempt is out of reach of other messages this long: longer than an attempt
# can take, so a worker killed mid-attempt delays the retry by this much at most.
WEBHOOKS_ATTEMPT_LEASE = envfloat("WEBHOOKS_ATTEMPT_LEASE", 60.0)

# --- Accounts ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "templates_app:home"
LOGOUT_REDIRECT_URL = "templates_app:home"
# Password sign-in first; the OpenID Connect backend answers only its own callback.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "sso.backends.OIDCBackend"]

# --- Single sign-on (sso/) ----------------------------------------------------
# OpenID Connect through mozilla-django-oidc, on when OIDC_ISSUER, OIDC_CLIENT_ID and
# OIDC_CLIENT_SECRET are all set (checked at start-up, sso/checks.py). The library's own
# setting names are kept where it reads them; its endpoint settings are not used: the
# endpoints come from the issuer's discovery document (sso/provider.py).
OIDC_ISSUER = envstr("OIDC_ISSUER")
OIDC_RP_CLIENT_ID = envstr("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = envstr("OIDC_CLIENT_SECRET")  # from the environment only
OIDC_PROVIDER_NAME = envstr("OIDC_PROVIDER_NAME", "OpenID Connect")
OIDC_RP_SCOPES = envstr("OIDC_SCOPES", "openid email profile")
# RS256 is the algorithm every provider must offer (OpenID Connect Core 1.0, 15.1).
OIDC_RP_SIGN_ALGO = envstr("OIDC_SIGN_ALGORITHM", "RS256")
OIDC_DOMAIN_WORKSPACES = envstr("OIDC_DOMAIN_WORKSPACES")
OIDC_USE_PKCE = True
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
# client_secret_basic: the method a provider's clients get unless registered otherwise.
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_TIMEOUT = envfloat("OIDC_TIMEOUT", 10.0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Registration answers the same whether or not an address has an account, and e-mails
# the address instead (a confirmation link, or "you already have an account").
# Django 6.1's MAILERS (the EMAIL_* settings are deprecated), from the environment.
_EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_SMTP_OPTIONS = {
    "host": envstr("EMAIL_HOST", "localhost"),
    "port": envint("EMAIL_PORT", 25),
    "username": envstr("EMAIL_HOST_USER"),
    "password": envstr("EMAIL_HOST_PASSWORD"),
    "use_tls": envbool("EMAIL_USE_TLS", False),
    "timeout": 10,  # seconds: a stuck mail server must not hold a registration forever
}
MAILERS = {
    "default": {
        "BACKEND": _EMAIL_BACKEND,
        "OPTIONS": _SMTP_OPTIONS if _EMAIL_BACKEND.endswith("smtp.EmailBackend") else {},
    }
}
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "PromptLab <noreply@localhost>")
# How long an e-mailed invitation to a workspace stays good (inviting again renews it).
INVITATION_DAYS = envint("INVITATION_DAYS", 7)

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Portuguese (Brazil)"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The site's own date formats per language (promptlab/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["promptlab.formats"]
USE_I18N = True
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_TZ = True

# --- Static files -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalTokenAuthentication",
        "accounts.authentication.CachedUserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Views that name their own permission classes keep TokenScopePermission among them
    # (tests/test_token_scopes.py tries every operation of the OpenAPI document).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["promptlab.api.PlanRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["promptlab.api.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "promptlab.api.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=envint("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=envint("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # A password change refuses the access tokens issued before it.
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PromptLab API",
    "DESCRIPTION": (
        "Run prompt templates from scripts. Authenticate with a JWT (`POST /api/v1/auth/token`) or a "
        "personal API token, sent as `Authorization: Bearer …`. Every error has one envelope: "
        '`{"error": {"code", "message", "details", "request_id"}}`; every answer carries its '
        "`X-Request-ID` (the client's own, if it sent a sane one). Answers are compressed (Brotli or "
        "gzip) for a "
        "client that sends `Accept-Encoding`, the event streams excepted; reads carry an `ETag` and "
        "answer `If-None-Match` with `304`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Two choice sets are a "status": a job's keeps the name StatusEnum.
    "ENUM_NAME_OVERRIDES": {"DeliveryStatusEnum": "webhooks.models.DeliveryStatus"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "promptlab.openapi.add_error_responses",
        "promptlab.openapi.add_examples",
        "promptlab.openapi.describe_request_rules",
        "promptlab.openapi.add_conditional_reads",
        "promptlab.openapi.add_request_id_header",
    ],
}
API_MAX_BODY_BYTES = envint("API_MAX_BODY_BYTES", 1_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Site forms (file parameters, logos, template imports) stop here, before Django reads the body.
SITE_MAX_BODY_BYTES = envint("SITE_MAX_BODY_BYTES", 5_000_000)
# Uploads larger than this go to a temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
RATELIMIT_ENABLE = envbool("RATELIMIT_ENABLE", True)

# --- GraphQL (/graphql, graphql_api) -------------------------------------------
# Every caller that reaches a schema is signed in (an anonymous POST is a 401 before any
# query runs), and a caller's schema holds only the templates they may run: introspection
# shows nothing the REST API would not. 0 turns it off (GraphiQL then has no docs).
GRAPHQL_INTROSPECTION = envbool("GRAPHQL_INTROSPECTION", True)
# Refused before execution (strawberry's validation extensions): nesting deeper than this
# (template → versions → template … is a cycle), more tokens or aliases than these.
GRAPHQL_MAX_DEPTH = envint("GRAPHQL_MAX_DEPTH", 8)
GRAPHQL_MAX_TOKENS = envint("GRAPHQL_MAX_TOKENS", 2000)
GRAPHQL_MAX_ALIASES = envint("GRAPHQL_MAX_ALIASES", 15)
# Built schemas (one per language and set of runnable templates) a process keeps.
GRAPHQL_SCHEMA_CACHE_SIZE = envint("GRAPHQL_SCHEMA_CACHE_SIZE", 32)
METRICS_TOKEN = envstr("METRICS_TOKEN")
# Prometheus series of requests and jobs (promptlab.metrics); off, /metrics still answers
# with what it reads from the database at scrape time.
METRICS_ENABLED = envbool("METRICS_ENABLED", True)
if not METRICS_ENABLED:
    MIDDLEWARE.remove("promptlab.metrics.HttpMetricsMiddleware")
# Every process of one PromptLab (web servers and workers) writes its series to files in
# this directory and /metrics adds them up (prometheus-client's multiprocess mode). The
# client reads the variable when it is first imported, hence set here, before any app's
# module is. `make run` empties it before it starts the processes (counters start at 0).
PROMETHEUS_MULTIPROC_DIR = Path(envstr("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

# --- Authors' code: prompt bodies and regular expressions -------------------
# Each render runs in a child process (templates_app/isolation.py), killed after
# RENDER_TIMEOUT seconds and unable to grow by more than RENDER_MEMORY_MB; the
# sandbox refuses the larger texts, ranges and numbers before building them.
RENDER_TIMEOUT = envfloat("RENDER_TIMEOUT", 2.0)
RENDER_MEMORY_MB = envint("RENDER_MEMORY_MB", 256)
RENDER_MAX_OUTPUT = envint("RENDER_MAX_OUTPUT", 1_000_000)
RENDER_MAX_RANGE = envint("RENDER_MAX_RANGE", 10_000)
# Python's own limit for printing an integer: a longer one could not be shown anyway.
RENDER_MAX_DIGITS = envint("RENDER_MAX_DIGITS", 4300)
# Children per server process (reused; a request waits up to RENDER_TIMEOUT + 1 s for one).
RENDER_PROCESSES = envint("RENDER_PROCESSES", 2)
# The regex module compiles a{n} into n copies (about 250 bytes each): counts and the
# size with repeats written out are capped where a pattern is saved.
PATTERN_MAX_REPEAT = envint("PATTERN_MAX_REPEAT", 1000)
PATTERN_MAX_SIZE = envint("PATTERN_MAX_SIZE", 10_000)

# --- Security ---------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
# Behind HTTPS. All off by default, because `make run` serves plain http on localhost
# (a Secure cookie is never sent back over http, and HSTS would pin the browser to https);
# docker-compose.yml turns them on.
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# The header a TLS-terminating proxy sets to "https" (e.g. X-Forwarded-Proto). Only with
# such a proxy in front, one that always sets or strips it: a client could send it too.
_PROXY_SSL_HEADER = envstr("SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.strip().upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
# Connection URLs (they carry passwords) are hidden from error reports too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "promptlab.reporting.SecretSettingsFilter"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# "json": one JSON object per record, with the request id and the job id (promptlab.logs).
LOG_FORMAT = envstr("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT is “text” or “json”, not “{LOG_FORMAT}”.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "promptlab.logs.ContextFilter"}},
    "formatters": {"json": {"()": "promptlab.logs.json_formatter"}} if LOG_FORMAT == "json" else {},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
