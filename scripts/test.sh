#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests, the store suite on
# SQLite and PostgreSQL, the real OpenBao server + agent tests and the black-box
# API tests against the real auth-service binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-tools.sh
# Chromium (Debian), Playwright (PyPI, private venv) and axe-core (npm, tools/npm) for the console's browser test.
bash scripts/install-browser.sh
export BAO_BIN="$root/tools/bin/bao"
# CI must not silently skip the PostgreSQL half of the store suite.
if [ "${CI:-}" = "true" ]; then export AUTH_SERVICE_TEST_REQUIRE_POSTGRES=1; fi
export CARGO_TERM_COLOR=never
echo "== deploy files (systemd, Kubernetes, compose, Containerfile)"
bash scripts/check-deploy.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
