#!/usr/bin/env bash
# Runs the service with its defaults: embedded SQLite in ./data, listening on
# 127.0.0.1:8080. Installs the OpenBao agent binary into tools/ and uses it
# unless AUTH_SERVICE_AGENT_BIN names another (HashiCorp's `vault` works the same).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 bash scripts/install-tools.sh
export AUTH_SERVICE_AGENT_BIN="${AUTH_SERVICE_AGENT_BIN:-$root/tools/bin/bao}"
# A local run allows Vault servers on this machine only; production lists its own origins.
export AUTH_SERVICE_VAULT_ADDRESSES="${AUTH_SERVICE_VAULT_ADDRESSES:-http://127.0.0.1:*,https://127.0.0.1:*,http://localhost:*,https://localhost:*}"
exec cargo run --locked -p auth-service -- serve "$@"
