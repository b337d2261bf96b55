#!/usr/bin/env bash
# Runs the service with its defaults: embedded SQLite in ./data, listening on
# 127.0.0.1:8080. Installs the OpenBao agent binary into tools/ and uses it
# unless AUTH_SERVICE_AGENT_BIN names another (HashiCorp's `vault` works the same).
# Arguments go to `auth-service serve` (for example --config FILE).
#
# ./scripts/run.sh --dev: a throw-away local setup instead, for trying the API
# by hand: an OpenBao dev server with a jwt login and a KV secret (or the one
# DEV_VAULT_ADDR names, with DEV_VAULT_TOKEN, default root), the service on a
# free port against it with jwt enabled, a database and token folder in a
# private temp folder; prints the variables and the next commands to paste in
# another terminal, and stops and removes everything on Ctrl-C.
# AUTH_SERVICE_BINARY=path skips the build and uses that binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 SKIP_PYTHON_TOOLS=1 bash scripts/install-tools.sh
export AUTH_SERVICE_AGENT_BIN="${AUTH_SERVICE_AGENT_BIN:-$root/tools/bin/bao}"
# A local run allows Vault servers on this machine only; production lists its own origins.
local_vaults="http://127.0.0.1:*,https://127.0.0.1:*,http://localhost:*,https://localhost:*"
vault_addresses_given=${AUTH_SERVICE_VAULT_ADDRESSES:-}
export AUTH_SERVICE_VAULT_ADDRESSES="${AUTH_SERVICE_VAULT_ADDRESSES:-$local_vaults}"
if [ "${1:-}" != "--dev" ]; then
  exec cargo run --locked -p auth-service -- serve "$@"
fi
shift

# shellcheck source=scripts/lib-dev.sh
. "$root/scripts/lib-dev.sh"
bin=$(dev_service_bin)
dev_work
trap dev_cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
dev_start_bao
# A reused OpenBao elsewhere than on this machine must be allowed too.
if [ -z "$vault_addresses_given" ]; then export AUTH_SERVICE_VAULT_ADDRESSES="$local_vaults,$DEV_VAULT"; fi
dev_configure_bao
# Stands in for the identity provider: one JWT (valid 24 h) the role app accepts.
# The walk-through copies it into the tenant's folder, as a provider would write it there.
dev_sign_jwt dev-workload "$DEV_WORK/issuer/token.jwt" 86400
mkdir -p "$DEV_WORK/identity"

if [ -z "${AUTH_SERVICE_OPERATOR_KEY:-}" ]; then
  AUTH_SERVICE_OPERATOR_KEY=$(openssl rand -hex 24)
fi
export AUTH_SERVICE_OPERATOR_KEY
export AUTH_SERVICE_DATABASE_URL="${AUTH_SERVICE_DATABASE_URL:-sqlite://$DEV_WORK/db/auth-service.db}"
export AUTH_SERVICE_ALLOWED_METHODS="${AUTH_SERVICE_ALLOWED_METHODS:-aws,jwt}"
export AUTH_SERVICE_JWT_ALLOWED_DIRS="${AUTH_SERVICE_JWT_ALLOWED_DIRS:-$DEV_WORK/identity}"
dev_start_service "$bin" "$@"

jwt_dir=${AUTH_SERVICE_JWT_ALLOWED_DIRS%%,*}
bao_log=", $DEV_WORK/bao.log (OpenBao)" what="both"
if [ -n "${DEV_VAULT_ADDR:-}" ]; then bao_log="" what="the service (the reused OpenBao keeps running)"; fi
have_jq=yes
command -v jq >/dev/null 2>&1 || have_jq=no
cat <<EOF

auth-service is running at $DEV_AS against OpenBao at $DEV_VAULT (root token: $DEV_VAULT_TOKEN_VALUE).
Logs: $DEV_WORK/service.log (service)$bao_log. Ctrl-C stops $what and removes $DEV_WORK.

In another terminal, set these variables (docs/api.md uses the same names):

export AS=$DEV_AS
export OP=$AUTH_SERVICE_OPERATOR_KEY
export VAULT=$DEV_VAULT
export JWT_DIR=$jwt_dir
export DEV_JWT=$DEV_WORK/issuer/token.jwt

then paste, in order:

# operator: a tenant and its admin key (shown once)
curl -sS --fail-with-body -XPOST "\$AS/v1/tenants" -H "Authorization: Bearer \$OP" \\
  -H 'content-type: application/json' -d '{"id":"team-a","name":"Team A"}'; echo
KEY=\$(curl -sS --fail-with-body -XPOST "\$AS/v1/tenants/team-a/api-keys" -H "Authorization: Bearer \$OP" \\
  -H 'content-type: application/json' -d '{"name":"admin","scopes":["admin"]}' | jq -r .key)

# the identity provider's job: the tenant's token file in <JWT_DIR>/<tenant id>/
mkdir -p "\$JWT_DIR/team-a" && cp "\$DEV_JWT" "\$JWT_DIR/team-a/token"

# tenant admin: a read key for a connector, a jwt profile, test connection
READ=\$(curl -sS --fail-with-body -XPOST "\$AS/v1/tenants/team-a/api-keys" -H "Authorization: Bearer \$KEY" \\
  -H 'content-type: application/json' -d '{"name":"connector","scopes":["read"]}' | jq -r .key)
curl -sS --fail-with-body -XPOST "\$AS/v1/tenants/team-a/profiles" -H "Authorization: Bearer \$KEY" \\
  -H 'content-type: application/json' -d @- <<JSON; echo
{ "name": "app", "vault_address": "\$VAULT",
  "method": { "type": "jwt", "mount_path": "auth/jwt",
              "config": { "path": "\$JWT_DIR/team-a/token", "role": "app" } },
  "test_secret_path": "secret/data/app/db" }
JSON
curl -sS --fail-with-body -XPOST "\$AS/v1/tenants/team-a/profiles/app/test" -H "Authorization: Bearer \$KEY"; echo

# connector: read the secret
curl -sS --fail-with-body "\$AS/v1/tenants/team-a/profiles/app/secrets/secret/data/app/db" -H "Authorization: Bearer \$READ"; echo

More: docs/api.md (every call, same variables), the console at $DEV_AS/console, the API at $DEV_AS/docs.
EOF
if [ "$have_jq" = no ]; then
  echo "(jq is not installed: the KEY=\$(...) and READ=\$(...) lines need it; or copy \"key\" from the answer by hand.)"
fi
# Returns when one of them stops (or at once on Ctrl-C, which the trap turns into an exit).
wait -n "${DEV_PIDS[@]}" || true
echo "a process of the dev setup stopped; last lines of the service log:" >&2
tail -n 20 "$DEV_WORK/service.log" >&2
exit 1
