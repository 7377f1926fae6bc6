"""Settings for Welfare Portal, read from the environment.

With nothing set, the portal runs as a self-contained demo: SQLite in the project
folder and Celery tasks executed eagerly in-process. Setting ``DATABASE_URL`` and
``REDIS_URL`` switches to PostgreSQL and a Redis broker/cache. With ``DEBUG`` off
(the default), a missing ``SECRET_KEY`` or ``ALLOWED_HOSTS`` stops start-up.
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from welfare_portal import api_settings
from welfare_portal.api_settings import oauth2_provider_settings
from welfare_portal.broker import transport_for
from welfare_portal.cache import cache_settings
from welfare_portal.observability import init_sentry, logging_settings, request_id_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-demo-key-only-for-debug-mode")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (at least 32 characters) when DEBUG is off."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "welfare_portal.third_party_apps.OAuthToolkitConfig",  # oauth2_provider, names translated
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "import_export",
    "phonenumber_field",
    "django_otp",
    "welfare_portal.third_party_apps.TOTPConfig",  # django_otp.plugins.otp_totp
    "welfare_portal.third_party_apps.StaticOTPConfig",  # otp_static: backup codes
    "welfare_portal.third_party_apps.AxesConfig",  # axes
    "csp",
    "django_guid",  # request ids (welfare_portal/observability.py)
    "accounts",
    "districts",
    "services",
    "referrals",
    "outreach",
]

MIDDLEWARE = [
    # First: the request id (X-Request-ID) is set before anything logs, and sent back on every
    # answer (welfare_portal/observability.py).
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages gzipped (BREACH-padded), after WhiteNoise's precompressed static, before body readers.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # A NUL in the query string: the translated 400, never PostgreSQL's refusal (a 500).
    "welfare_portal.middleware.RefuseNulInQueryMiddleware",
    # PostgreSQL unreachable: a 503 with Retry-After, not a 500 (after Locale: translated).
    "welfare_portal.database_unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Answers to a signed-in person or an API token: Cache-Control: no-store.
    "welfare_portal.middleware.NoStoreWhenAuthenticatedMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a lockout flagged during the request into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
# The covering indexes' INCLUDE columns are a PostgreSQL speed-up; SQLite (the demo) builds the
# same indexes without them, which is all the demo needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
WSGI_APPLICATION = "welfare_portal.wsgi.application"

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
                "referrals.web.context_processors.notifications",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# An empty DATABASE_URL counts as unset.
database_url = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(database_url)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when PostgreSQL is unreachable instead of hanging a worker. No JIT: the
    # portal's queries are short; compiling one cost the dashboard up to 0.2 s (issue 20).
    options = {"connect_timeout": 5, "options": "-c jit=off"}
    DATABASES["default"]["OPTIONS"] = options | DATABASES["default"].get("OPTIONS", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and cache -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport with a fix that keeps the worker alive when Redis restarts
    # under a running task (welfare_portal/broker.py).
    CELERY_BROKER_TRANSPORT = transport_for(REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = False
    # Redis down or silent: reads miss and writes do nothing (with a warning a minute), so the
    # API throttle, token-failure counts and dashboard figures degrade instead of failing
    # requests; short socket timeouts (welfare_portal/cache.py).
    CACHES = {"default": cache_settings(env.str("CACHE_URL", default=REDIS_URL))}
else:
    # Embedded demo: no broker, tasks run in the web process as they are enqueued.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 3}
CELERY_TIMEZONE = "Asia/Hong_Kong"
# How long Redis waits for an unacknowledged task before handing it to another worker
# (a worker killed mid-task): longer than any task runs and than the longest retry delay
# (``referrals.deliveries.retry_countdown``, ten minutes), short enough that a lost
# notification comes back within a quarter of an hour.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env.int(
    "CELERY_VISIBILITY_TIMEOUT", default=900
)
# A broker that accepts the connection but never answers must not hang a request: the
# publish fails after this many seconds and the sweeps pick the work up later.
CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] = env.int(
    "CELERY_BROKER_SOCKET_TIMEOUT", default=5
)
CELERY_BEAT_SCHEDULE = {
    # Referrals whose routing task was never queued (broker down at submission).
    "sweep-unrouted": {"task": "referrals.tasks.sweep_unrouted", "schedule": 60.0},
    # Assignments past their acknowledge-by time.
    "sweep-overdue": {"task": "referrals.tasks.sweep_overdue", "schedule": 300.0},
    # Follow-up jobs (notifications, e-mails, webhooks, routing) the broker lost or a
    # killed worker dropped: sent again once overdue (referrals/outbox.py).
    "sweep-outbox": {"task": "referrals.tasks.sweep_outbox", "schedule": 60.0},
    "office-digest": {
        "task": "referrals.tasks.send_office_digests",
        "schedule": crontab(hour=8, minute=0),
    },
    # Closed referrals past RETENTION_YEARS lose their personal data (referrals/privacy.py).
    "anonymise-expired": {
        "task": "referrals.tasks.anonymise_expired_referrals",
        "schedule": crontab(hour=3, minute=30),
    },
    # Units' load counters, which routing ranks by, set back to the referrals they hold
    # where they drifted (referrals/services.py reconcile_unit_loads).
    "reconcile-unit-loads": {"task": "referrals.tasks.reconcile_unit_loads", "schedule": 900.0},
    # Transfer plans whose effective date has come move their cases (referrals/transfers.py).
    "run-due-transfers": {"task": "referrals.tasks.run_due_transfers", "schedule": 900.0},
    # Outreach households that refused, past OUTREACH_REFUSED_RETENTION_DAYS, lose their
    # people's details and are kept only as "refused" (outreach/privacy.py).
    "outreach-retention": {
        "task": "outreach.tasks.remove_refused_details",
        "schedule": crontab(hour=3, minute=45),
    },
}

# --- Caseloads and transfers (issue 17) ------------------------------------------
# Open cases a worker may own when their membership sets no limit of its own.
CASELOAD_LIMIT = env.int("CASELOAD_LIMIT", default=40)
# A moved case whose new unit has given it no owner for this many days is counted as
# having lost its owner (the plan's continuity figures).
TRANSFER_OWNERLESS_DAYS = env.int("TRANSFER_OWNERLESS_DAYS", default=7)
# Cases moved per transaction: no plan holds locks on more rows than this at once.
TRANSFER_BATCH_SIZE = env.int("TRANSFER_BATCH_SIZE", default=200)

# --- Outreach (issue 18) ---------------------------------------------------------
# Visits with nobody at home after which a household is closed as unreachable (until the
# office reopens it).
OUTREACH_NOT_AT_HOME_LIMIT = env.int("OUTREACH_NOT_AT_HOME_LIMIT", default=3)
# Days a household that refused keeps its people's details; then only "refused" is kept.
OUTREACH_REFUSED_RETENTION_DAYS = env.int("OUTREACH_REFUSED_RETENTION_DAYS", default=90)
# Rows one file or one API call may load into a visit list.
OUTREACH_MAX_ROWS = env.int("OUTREACH_MAX_ROWS", default=100_000)

# --- Routing and notification -------------------------------------------------
# Offices' opening hours (Hong Kong time, weekdays; general holidays closed) for SLAs.
BUSINESS_HOURS = (
    env.int("BUSINESS_HOURS_OPEN", default=9),
    env.int("BUSINESS_HOURS_CLOSE", default=18),
)
# Routed referrals no rule gives a time for are due within this many business days.
DEFAULT_SLA_BUSINESS_DAYS = 2
# Risk levels on a 24 x 7 clock (nights, holidays count); rule-less urgent work: URGENT_SLA_HOURS.
SLA_AROUND_THE_CLOCK_RISK_LEVELS = env.list("SLA_AROUND_THE_CLOCK_RISK_LEVELS", default=["urgent"])
URGENT_SLA_HOURS = env.int("URGENT_SLA_HOURS", default=4)
# Unit types on call day and night: urgent work past its time is given to one at once.
ON_CALL_UNIT_TYPES = env.list("ON_CALL_UNIT_TYPES", default=["CARER_HOTLINE"])
# Urgent notices (a carer admitted to hospital): tries to reach the person cared for before
# the district office is alerted, and when the next try is due by default.
NOTICE_CONTACT_ATTEMPTS = env.int("NOTICE_CONTACT_ATTEMPTS", default=3)
NOTICE_RETRY_MINUTES = env.int("NOTICE_RETRY_MINUTES", default=60)
# A referral still "submitted" this long after submission is re-queued by the sweep.
ROUTING_SWEEP_AFTER_SECONDS = env.int("ROUTING_SWEEP_AFTER_SECONDS", default=60)
# A follow-up job not done this long after it was queued (or was due to run again) is
# sent again by ``sweep_outbox``: the broker lost it, or the worker running it died.
OUTBOX_SWEEP_AFTER_SECONDS = env.int("OUTBOX_SWEEP_AFTER_SECONDS", default=120)
# E-mail retries: attempts, and the first back-off in seconds (doubling each time).
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=8)
DELIVERY_RETRY_BACKOFF = env.int("DELIVERY_RETRY_BACKOFF", default=30)
WEBHOOK_TIMEOUT = env.int("WEBHOOK_TIMEOUT", default=10)
# Webhooks go to public internet addresses only (welfare_portal/outbound.py); these CIDRs
# are let through anyway (the tests' listeners on 127.0.0.1, a partner on a private link).
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = env.list("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Users and authentication ------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out username or address before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# People's passwords: PBKDF2 (the first). Partner clients' secrets, long random strings: a
# keyed HMAC-SHA256 (accounts/hashers.py, OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]), so a
# wrong secret costs the server no PBKDF2. Any listed hasher verifies what it made.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "accounts.hashers.HMACSHA256SecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hant", _("Traditional Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Hong_Kong"
USE_I18N = True
USE_TZ = True
PHONENUMBER_DEFAULT_REGION = "HK"

# --- Static files --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and the demo run without collectstatic; WhiteNoise then serves from the finders.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- REST framework -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON nested past 64 levels is a 400, not a RecursionError (issue 14 item 4).
    "DEFAULT_PARSER_CLASSES": [
        "welfare_portal.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "welfare_portal.api.schema.ApiSchema",
    "EXCEPTION_HANDLER": "welfare_portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["welfare_portal.api.throttling.PartnerRateThrottle"],
}
# Requests per client (or person) and period, e.g. "600/min".
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")
# A sync pass holds back changes younger than this, so none still committing is skipped.
API_SYNC_SETTLE_SECONDS = env.float("API_SYNC_SETTLE_SECONDS", default=2.0)
# Failed token requests (/o/token/) per client id and, separately, per address in a window;
# past the limit the endpoint answers 429 "slow_down" before checking any secret.
API_TOKEN_FAILURE_LIMIT = env.int("API_TOKEN_FAILURE_LIMIT", default=10)
API_TOKEN_FAILURE_WINDOW_SECONDS = 60
# The key of client secrets' HMAC (accounts/hashers.py); derived from SECRET_KEY unless set.
# Changing it invalidates every client secret hashed with it: set it before rotating SECRET_KEY.
CLIENT_SECRET_HASH_KEY = env.str("CLIENT_SECRET_HASH_KEY", default="") or (
    f"client-secret-hash:{SECRET_KEY}"
)

# --- Partner API: OAuth2 client credentials, scopes, OpenAPI ------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = oauth2_provider_settings(token_seconds=env.int("API_TOKEN_SECONDS", default=3600))
SPECTACULAR_SETTINGS = api_settings.SPECTACULAR_SETTINGS

# --- Security -------------------------------------------------------------------
# X-Forwarded-Proto says "this came over HTTPS" only when a proxy we run sets it; without
# one in front (gunicorn published directly) any client could send it, so it is believed
# only when the operator says a TLS-terminating proxy is there.
TRUST_X_FORWARDED_PROTO = env.bool("TRUST_X_FORWARDED_PROTO", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# No script reads the CSRF cookie: forms carry the token, htmx sends the form's.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = env.bool("LANGUAGE_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# An absolute cap from sign-in (8 hours), and a sign-out after this long without a request
# (accounts.middleware.SessionActivityMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only the app's own files: no inline script or style anywhere (the API docs load Swagger UI's
# start-up script as a file too), images may be data: URIs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
        "form-action": [CSP_SELF],
    },
}
# Browser features the portal never uses, switched off for it and anything it embeds.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "fullscreen", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment",
        "publickey-credentials-get", "screen-wake-lock", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip

# --- Login security: two-factor codes and lockout ----------------------------------
# TOTP (django-otp): compulsory for district officers, unit supervisors and administrators,
# optional for others (accounts.two_factor). Wrong codes are throttled per device
# (1, 2, 4 ... seconds) and count as failed logins for the lockout below.
OTP_TOTP_ISSUER = "Welfare Portal"
OTP_TOTP_THROTTLE_FACTOR = 1
# Nobody, not even an administrator, reads another person's authenticator secret in the admin.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# django-axes: AXES_FAILURE_LIMIT failed passwords or codes (authenticator, backup or
# enrolment codes) lock out, for the cool-off, the address that made them (whatever
# usernames it tries) and the username from that address only. A username is never locked
# everywhere: that would let anyone who knows it keep its owner out (issue 14 item 12), so
# the owner still signs in from an address that has not failed. Guessing one account from
# many addresses is slowed per address; the second factor and the password rules stand
# behind it. A successful login does not clear the count, so one's own account cannot be
# used to reset an address's failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every management command

# --- Personal data ------------------------------------------------------------
# Identity numbers (HKID, Taiwan ID) are encrypted at rest with Fernet; the first key
# encrypts, every key decrypts (rotation: put the new key first). A separate HMAC key
# gives the keyed hash used to find duplicates without decrypting. In debug mode both
# are derived from SECRET_KEY so the demo runs with nothing set; with DEBUG off they
# must be set, and kept apart from SECRET_KEY.
IDENTITY_ENCRYPTION_KEYS = env.list("IDENTITY_ENCRYPTION_KEYS", default=[])
IDENTITY_HASH_KEY = env.str("IDENTITY_HASH_KEY", default="")
if DEBUG:
    IDENTITY_ENCRYPTION_KEYS = IDENTITY_ENCRYPTION_KEYS or [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"identity-encryption:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]
    IDENTITY_HASH_KEY = IDENTITY_HASH_KEY or f"identity-hash:{SECRET_KEY}"
elif not IDENTITY_ENCRYPTION_KEYS or len(IDENTITY_HASH_KEY) < 32:
    raise ImproperlyConfigured(
        "IDENTITY_ENCRYPTION_KEYS (Fernet keys) and IDENTITY_HASH_KEY (32+ characters) "
        "must be set when DEBUG is off."
    )
# How long a possible duplicate (same identity, or same phone and name) counts.
DUPLICATE_WINDOW_DAYS = env.int("DUPLICATE_WINDOW_DAYS", default=90)
# How many different people (identity or phone numbers) one referrer may check for open
# referrals in an hour: the form's duplicate warning must not become a lookup service.
DUPLICATE_CHECKS_PER_HOUR = env.int("DUPLICATE_CHECKS_PER_HOUR", default=30)
# Years after closing before a referral's personal data is removed (the statistics stay).
RETENTION_YEARS = env.int("RETENTION_YEARS", default=7)
# Where the privacy notice sends data access and correction requests.
PRIVACY_CONTACT_EMAIL = env.str("PRIVACY_CONTACT_EMAIL", default="privacy@example.org")
if RETENTION_YEARS < 1:
    raise ImproperlyConfigured("RETENTION_YEARS must be at least 1.")

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="welfare-portal@example.org")

# --- Logs, request ids and error reporting -------------------------------------------------
# Every request has an id (a valid UUID from X-Request-ID, or new), sent back, carried into the
# Celery tasks it queues and written on every log line, web and worker (observability.py).
DJANGO_GUID = request_id_settings()
# "json" (one object a line, for a log collector) or "text" (a developer's terminal, the demo).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = logging_settings(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))

# Error reports to Sentry, only when SENTRY_DSN is set (empty: sentry-sdk is not started).
# No personal data leaves: see observability.init_sentry and scrub_event.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
