#!/usr/bin/env bash
# One command for the whole suite: lint, migrations check, unit + integration + browser tests.
# Uses PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) when reachable; on CI (CI=true)
# a missing one is a failure, not a fallback.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"

need_apt=()
command -v msgfmt >/dev/null 2>&1 || need_apt+=(gettext)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# Chinese glyphs for the browser tests' screenshots (test-artifacts/screens), else boxes.
fc-list :lang=zh-hk 2>/dev/null | grep -q . || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# axe-core for the browser tests' accessibility checks (tests/e2e/axe.py), from the npm
# registry as package-lock.json pins it; installed again when the lock file changes.
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing and could not be installed: the browser tests need it for axe-core" \
    "(apt-get install nodejs npm, then npm ci --no-audit --no-fund)." >&2
  exit 1
fi
lock_stamp=node_modules/.package-lock.sha256
if [ ! -f node_modules/axe-core/axe.min.js ] || [ ! -f "$lock_stamp" ] \
  || ! sha256sum --check --status "$lock_stamp" 2>/dev/null; then
  echo "==> installing the locked JavaScript test dependencies into node_modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  sha256sum package-lock.json > "$lock_stamp"
fi

reachable() { python - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

PG_HOST="${PG_HOST:-127.0.0.1}" PG_PORT="${PG_PORT:-5432}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}" REDIS_PORT="${REDIS_PORT:-6379}"
if reachable "$PG_HOST" "$PG_PORT"; then
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/welfare_portal}"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable at $PG_HOST:$PG_PORT; CI must test against it." >&2; exit 1
else
  echo "WARNING: PostgreSQL not reachable; testing on SQLite only." >&2
fi
if reachable "$REDIS_HOST" "$REDIS_PORT"; then
  export REDIS_URL="${REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT/15}"
elif [ "${CI:-}" = "true" ]; then
  echo "Redis is not reachable at $REDIS_HOST:$REDIS_PORT; CI must test against it." >&2; exit 1
else
  echo "WARNING: Redis not reachable; tasks run eagerly." >&2
fi

echo "==> ruff"
ruff check .
ruff format --check .
echo "==> layers (import-linter: imports point down, no circles; see pyproject.toml)"
lint-imports --no-cache
echo "==> migrations are up to date"
env -u DATABASE_URL DEBUG=true python manage.py makemigrations --check --dry-run
echo "==> pytest"
exec python -m pytest "$@"
