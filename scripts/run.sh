#!/usr/bin/env bash
# Runs the service with its defaults: embedded SQLite in ./data, listening on
# 127.0.0.1:8080. Installs the OpenBao agent binary into tools/ and uses it
# unless AUTH_SERVICE_AGENT_BIN names another (HashiCorp's `vault` works the same).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 bash scripts/install-tools.sh
export AUTH_SERVICE_AGENT_BIN="${AUTH_SERVICE_AGENT_BIN:-$root/tools/bin/bao}"
exec cargo run --locked -p auth-service -- serve "$@"
