#!/usr/bin/env bash
# The fast-reads benchmark: the release auth-service against direct reads from
# a real OpenBao dev server and against `bao proxy`, driven by wrk at 1, 16 and
# 64 connections; cold reads, a herd, many cold profiles, reads across token
# expiry, the secret cache and memory. Prints markdown tables and writes them
# into docs/performance.md (between the bench markers).
#
#   ./scripts/bench.sh                 full run (about 3 minutes after a 5 to 6.5 minute build)
#   BENCH_QUICK=1 ./scripts/bench.sh   short runs, for development
#
# Optional: BENCH_WRK_THREADS (default 1), BENCH_AUDIT=1 (OpenBao with the test
# bed's raw audit device). Not part of the test command: the release build
# takes several minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SKIP_POSTGRES=1 SKIP_PYTHON_TOOLS=1 WITH_WRK=1 bash scripts/install-tools.sh
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: wrk is missing: install the Debian package wrk (needs root)" >&2
  exit 1
fi
# The herd holds 1000 connections open at once, on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# One cargo invocation, so the service and the harness share one feature set.
build_started=$(date +%s)
cargo build --release --locked -p auth-service -p api-tests --bins --examples
build_secs=$(( $(date +%s) - build_started ))
echo "bench: release build took ${build_secs} s" >&2

target_dir=${CARGO_TARGET_DIR:-$root/target}
run_started=$(date +%s)
BAO_BIN="$root/tools/bin/bao" AUTH_SERVICE_PROFILE=release BENCH_BUILD_SECONDS=$build_secs \
  "$target_dir/release/examples/bench"
echo "bench: build ${build_secs} s, run $(( $(date +%s) - run_started )) s" >&2

# The long soak (issue 27): 5 runs of 150 s on two PostgreSQL replicas; the
# report goes to docs/reliability.md by hand. SOAK_RUNS=0 skips it.
if [ "${SOAK_RUNS:-5}" != 0 ]; then
  cargo build --locked -p api-tests --example soak
  BAO_BIN="$root/tools/bin/bao" SOAK_RUNS="${SOAK_RUNS:-5}" SOAK_SECS="${SOAK_SECS:-150}" \
    "$target_dir/debug/examples/soak"
fi
