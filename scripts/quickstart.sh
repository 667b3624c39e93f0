#!/usr/bin/env bash
# One command from a fresh clone to a running service on the embedded SQLite default:
# creates .venv, installs the project, migrates the database, prints a new admin key, serves on :8000.
#   scripts/quickstart.sh [--port 8000] [--workers 2]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/registry" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e ".[test]"
fi
"$VENV/bin/registry" db upgrade
name="quickstart-admin-$(date +%Y%m%d%H%M%S)"
key=$("$VENV/bin/registry" keys create --name "$name" --scope admin | tail -n 1)
cat <<MSG

  Registry ready on the embedded SQLite database (instance/registry.sqlite3).
  Admin API key (shown once; create narrower ones with 'registry keys create'):

    $key

  Try:  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \\
          -d '{"username": "zhangsan_88"}' http://127.0.0.1:8000/v1/check
  Docs: http://127.0.0.1:8000/docs

MSG
exec "$VENV/bin/registry" serve "$@"
