#!/usr/bin/env bash
# A local demo in a few minutes: an OpenBao dev server with a jwt login and a KV
# secret, the service against it, then tenant, keys, profile, test connection
# and a secret read through the API. Everything runs on 127.0.0.1 and is
# stopped and removed on exit. `--keep` leaves both running until Ctrl-C.
# (For a service you drive yourself, step by step: ./scripts/run.sh --dev.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib-dev.sh
. "$root/scripts/lib-dev.sh"
SKIP_POSTGRES=1 SKIP_PYTHON_TOOLS=1 bash scripts/install-tools.sh
bin=$(dev_service_bin)
dev_work
trap dev_cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

dev_start_bao
echo "== OpenBao at $DEV_VAULT: jwt auth, role app, secret secret/app/db"
dev_configure_bao
# The host's identity provider would write this file; here the demo signs it.
dev_sign_jwt demo-host "$DEV_WORK/identity/demo/token"

export AUTH_SERVICE_OPERATOR_KEY
AUTH_SERVICE_OPERATOR_KEY=$(openssl rand -hex 24)
export AUTH_SERVICE_DATABASE_URL="sqlite://$DEV_WORK/db/auth.db" AUTH_SERVICE_AGENT_BIN="$root/tools/bin/bao" \
  AUTH_SERVICE_ALLOWED_METHODS=aws,jwt AUTH_SERVICE_JWT_ALLOWED_DIRS="$DEV_WORK/identity" \
  AUTH_SERVICE_VAULT_ADDRESSES="$DEV_VAULT"
dev_start_service "$bin"
S=$DEV_AS
echo "== auth-service at $S"

call() { echo "+ curl -X $1 $S$2" >&2; curl -s -X "$1" "$S$2" -H "Authorization: Bearer $3" -H 'content-type: application/json' ${4:+-d "$4"}; echo; }
key() { python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])'; }
call POST /v1/tenants "$AUTH_SERVICE_OPERATOR_KEY" '{"id":"demo","name":"Demo tenant"}'
ADMIN=$(call POST /v1/tenants/demo/api-keys "$AUTH_SERVICE_OPERATOR_KEY" '{"name":"admin","scopes":["admin"]}' | key)
READ=$(call POST /v1/tenants/demo/api-keys "$ADMIN" '{"name":"connector","scopes":["read"]}' | key)
call POST /v1/tenants/demo/profiles "$ADMIN" "{\"name\":\"local\",\"vault_address\":\"$DEV_VAULT\",\"method\":{\"type\":\"jwt\",\"config\":{\"path\":\"$DEV_WORK/identity/demo/token\",\"role\":\"app\"}},\"test_secret_path\":\"secret/data/app/db\"}"
call POST /v1/tenants/demo/profiles/local/test "$ADMIN"
call GET /v1/tenants/demo/profiles/local/secrets/secret/data/app/db "$READ"
echo "== metrics"
curl -s "$S/metrics" | grep -E '^auth_service_(agent_spawns_total|token_cache)'
if [ "${1:-}" = "--keep" ]; then
  echo "Service at $S, OpenBao at $DEV_VAULT (root token: root). Ctrl-C to stop."
  echo "The demo's keys: ADMIN=$ADMIN READ=$READ"
  # Returns when one of them stops (or at once on Ctrl-C, which the trap turns into an exit).
  wait -n "${DEV_PIDS[@]}" || true
fi
