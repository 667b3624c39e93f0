#!/usr/bin/env bash
# Run the whole test suite on SQLite, then on PostgreSQL (a throwaway database is created and dropped).
#   scripts/test.sh                 # both backends
#   scripts/test.sh sqlite -k check # one backend, extra pytest arguments
# VENV (default .venv) is created and the project installed with its test extras if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/pytest" ] || [ ! -x "$VENV/bin/registry" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e ".[test]"
fi
backends=(sqlite postgres)
if [ $# -gt 0 ] && { [ "$1" = sqlite ] || [ "$1" = postgres ]; }; then
  backends=("$1")
  shift
fi
"$VENV/bin/ruff" check registry tests scripts
"$VENV/bin/mypy" registry
status=0
for backend in "${backends[@]}"; do
  echo "=== tests on $backend"
  if [ "$backend" = postgres ] && [ -n "${REGISTRY_TEST_PG_DATABASE_URL:-}" ]; then
    REGISTRY_TEST_DATABASE_URL=$REGISTRY_TEST_PG_DATABASE_URL "$VENV/bin/pytest" "$@" || status=$?
  else
    REGISTRY_TEST_DATABASE_URL= REGISTRY_TEST_BACKEND=$backend "$VENV/bin/pytest" "$@" || status=$?
  fi
done
exit $status
