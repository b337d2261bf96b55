#!/usr/bin/env bash
# A local demo in a few minutes: an OpenBao dev server with a jwt login and a KV
# secret, the service against it, then tenant, keys, profile, test connection
# and a secret read through the API. Everything runs on 127.0.0.1 and is
# stopped and removed on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 bash scripts/install-tools.sh
cargo build --locked -q -p auth-service
bao="$root/tools/bin/bao"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

port=$(free_port)
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" -dev-no-store-token >"$work/bao.log" 2>&1 &
pids+=($!)
export BAO_ADDR="http://127.0.0.1:$port" BAO_TOKEN=root
for _ in $(seq 1 50); do curl -sf "$BAO_ADDR/v1/sys/health" >/dev/null && break; sleep 0.2; done

echo "== OpenBao at $BAO_ADDR: jwt auth, role app, secret secret/app/db"
openssl genrsa -out "$work/jwt.key" 2048 2>/dev/null
openssl rsa -in "$work/jwt.key" -pubout -out "$work/jwt.pub" 2>/dev/null
"$bao" auth enable jwt >/dev/null
"$bao" write auth/jwt/config jwt_validation_pubkeys=@"$work/jwt.pub" bound_issuer=https://issuer.test >/dev/null
printf 'path "secret/data/app/*" { capabilities = ["read"] }\n' | "$bao" policy write app-read - >/dev/null
"$bao" write auth/jwt/role/app role_type=jwt bound_audiences=bao-test user_claim=sub \
  token_policies=app-read token_ttl=1h token_max_ttl=4h >/dev/null
"$bao" kv put -mount=secret app/db username=alice password=s3cr3t >/dev/null

mkdir -p "$work/identity"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
claims=$(printf '{"iss":"https://issuer.test","sub":"demo-host","aud":"bao-test","iat":%d,"nbf":%d,"exp":%d}' "$now" "$now" $((now+3600)) | b64url)
sig=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$work/jwt.key" | b64url)
mkdir -p "$work/identity/demo"
printf '%s.%s.%s' "$header" "$claims" "$sig" > "$work/identity/demo/token"

sport=$(free_port)
export AUTH_SERVICE_OPERATOR_KEY=$(openssl rand -hex 24)
unset BAO_ADDR BAO_TOKEN
AUTH_SERVICE_LISTEN="127.0.0.1:$sport" AUTH_SERVICE_DATABASE_URL="sqlite://$work/db/auth.db" \
AUTH_SERVICE_AGENT_BIN="$bao" AUTH_SERVICE_ALLOWED_METHODS=aws,jwt AUTH_SERVICE_JWT_ALLOWED_DIRS="$work/identity" \
AUTH_SERVICE_VAULT_ADDRESSES="http://127.0.0.1:$port" \
  "$root/target/debug/auth-service" serve >"$work/service.out" 2>"$work/service.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/service.out" 2>/dev/null && break; sleep 0.1; done
S="http://127.0.0.1:$sport"
echo "== auth-service at $S"

call() { echo "+ curl -X $1 $S$2" >&2; curl -s -X "$1" "$S$2" -H "Authorization: Bearer $3" -H 'content-type: application/json' ${4:+-d "$4"}; echo; }
call POST /v1/tenants "$AUTH_SERVICE_OPERATOR_KEY" '{"id":"demo","name":"Demo tenant"}'
ADMIN=$(call POST /v1/tenants/demo/api-keys "$AUTH_SERVICE_OPERATOR_KEY" '{"name":"admin","scopes":["admin"]}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
READ=$(call POST /v1/tenants/demo/api-keys "$ADMIN" '{"name":"connector","scopes":["read"]}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
call POST /v1/tenants/demo/profiles "$ADMIN" "{\"name\":\"local\",\"vault_address\":\"http://127.0.0.1:$port\",\"method\":{\"type\":\"jwt\",\"config\":{\"path\":\"$work/identity/demo/token\",\"role\":\"app\"}},\"test_secret_path\":\"secret/data/app/db\"}"
call POST /v1/tenants/demo/profiles/local/test "$ADMIN"
call GET /v1/tenants/demo/profiles/local/secrets/secret/data/app/db "$READ"
echo "== metrics"
curl -s "$S/metrics" | grep -E '^auth_service_(agent_spawns_total|token_cache)'
if [ "${1:-}" = "--keep" ]; then
  echo "Service at $S, OpenBao at http://127.0.0.1:$port (root token: root). Ctrl-C to stop."
  wait
fi
