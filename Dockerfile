# Production image for Welfare Portal.
#
#   docker build -t welfare-portal .
#   docker run --env-file .env -p 127.0.0.1:8000:8000 welfare-portal
#
# The default command serves the WSGI app with gunicorn; the same image runs the
# Celery worker and beat (see docker-compose.yml). Configuration comes from the
# environment at run time (SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, ...).

# --- Stage 1: resolve the locked dependencies into /app/.venv -------------------
FROM python:3.11-slim AS builder

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install uv==0.13.8

WORKDIR /app

# Only the lock inputs first, so code changes do not invalidate this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# --- Stage 2: runtime (no uv, no compilers, no gettext) ----------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH="/app/.venv/bin:$PATH"

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Same base image, so the venv's interpreter symlink (/usr/local/bin/python3.11) resolves.
COPY --from=builder /app/.venv /app/.venv
COPY . .

# collectstatic runs with DEBUG off so the WhiteNoise manifest storage is used. The
# keys and hosts below exist only for this RUN step (they are not ENV, so they do not
# reach the running container); production refuses to start without real ones, which come
# from the environment at run time. tests/test_compose.py runs this step as written.
ARG BUILD_SECRET_KEY=collectstatic-only-build-key-never-used-at-runtime-0000
ARG BUILD_ALLOWED_HOSTS=localhost
ARG BUILD_IDENTITY_ENCRYPTION_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXJlYWwta3k=
ARG BUILD_IDENTITY_HASH_KEY=collectstatic-only-hash-key-never-used-at-runtime
RUN DEBUG=false \
    SECRET_KEY="$BUILD_SECRET_KEY" \
    ALLOWED_HOSTS="$BUILD_ALLOWED_HOSTS" \
    IDENTITY_ENCRYPTION_KEYS="$BUILD_IDENTITY_ENCRYPTION_KEYS" \
    IDENTITY_HASH_KEY="$BUILD_IDENTITY_HASH_KEY" \
    python manage.py collectstatic --noinput \
    && python -m compileall -q -x '/\.venv/' /app

USER app:app

EXPOSE 8000

CMD ["gunicorn", "welfare_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
