#!/usr/bin/env bash
# One command for the demo: install, migrate, seed, print the logins, serve on 127.0.0.1:8000.
# Embedded defaults: SQLite in ./db.sqlite3 and Celery tasks run in-process (no Redis needed).
set -euo pipefail
BOOTSTRAP_GROUPS=--no-dev . "$(dirname "$0")/bootstrap.sh"

export DEBUG="${DEBUG:-true}"
python manage.py migrate --noinput
python manage.py seed_demo --referrals 300
echo
echo "Welfare Portal demo: open http://127.0.0.1:8000/ and log in with one of the users above."
echo "Press Ctrl+C to stop."
exec python manage.py runserver 127.0.0.1:8000
