#!/usr/bin/env bash
# From an installed `registry` command and an empty directory: migrate, create a key, serve with
# gunicorn, and exercise health, OpenAPI, authentication, scopes, errors and accounts over HTTP.
#   scripts/smoke.sh [DATABASE_URL]     (default: the embedded SQLite file)
set -euo pipefail
REGISTRY=${REGISTRY:-registry}
work=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
export REGISTRY_INSTANCE_PATH=$work/instance
[ -n "${1:-}" ] && export REGISTRY_DATABASE_URL=$1
cd "$work"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

"$REGISTRY" db upgrade >/dev/null 2>&1 || fail "db upgrade"
admin=$("$REGISTRY" keys create --name smoke-admin --scope admin 2>/dev/null | tail -n 1)
reader=$("$REGISTRY" keys create --name smoke-checker --scope check 2>/dev/null | tail -n 1)
"$REGISTRY" serve --port "$port" --workers 2 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
url=http://127.0.0.1:$port
expect() {  # expect STATUS METHOD PATH [KEY] [BODY]
  local want=$1 method=$2 path=$3 key=${4:-} body=${5:-}
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$method" "$url$path")
  [ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  local got
  got=$(curl "${args[@]}")
  [ "$got" = "$want" ] || fail "$method $path: expected $want, got $got: $(cat "$work/body")"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/body" || fail "$method $path: body is not JSON"
}
expect 200 GET /healthz
expect 200 GET /openapi.json
expect 401 GET /v1/accounts
expect 401 GET /v1/accounts "rk_wrong"
expect 403 GET /v1/accounts "$reader"
expect 400 POST /v1/accounts "$admin" '{"id": '
expect 422 POST /v1/accounts "$admin" '{"id": "u1", "username": "zhang", "phone": "12"}'
expect 201 POST /v1/accounts "$admin" '{"id": "u1", "username": "zhangsan_88", "phone": "+86 138 0013 8000"}'
expect 409 POST /v1/accounts "$admin" '{"id": "u1", "username": "again"}'
expect 200 GET /v1/accounts/u1 "$admin"
expect 404 GET /v1/accounts/nobody "$admin"
expect 200 GET "/v1/accounts?tier=standard" "$admin"
grep -q "13800138000" "$work/serve.log" && fail "a raw phone number reached the log"
echo "smoke: OK (${REGISTRY_DATABASE_URL:-embedded SQLite})"
