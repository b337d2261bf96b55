#!/usr/bin/env bash
# Benchmark of the warm read path (auth-service vs direct vs bao proxy), cold
# logins and memory, on a release build against a real OpenBao dev server.
# Not part of the test command: a release build takes about 10 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 bash scripts/install-tools.sh
cargo build --release --locked -p auth-service
export BAO_BIN="$root/tools/bin/bao" AUTH_SERVICE_PROFILE=release
exec cargo run --release --locked -p api-tests --example warm_read
