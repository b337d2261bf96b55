#!/usr/bin/env bash
# Installs what the console's real-browser test needs:
#   chromium     Debian's package (/usr/bin/chromium); Playwright drives it through
#                `executable_path`, so `playwright install` (which downloads its own
#                browser builds) is never run
#   playwright   the Python package from PyPI, pinned, into the private venv
#                tools/venv-test (created here when missing)
#   axe-core     the accessibility rules engine (npm, pinned) into the private prefix
#                tools/npm; the console test injects node_modules/axe-core/axe.min.js
#                into every screen. Debian's nodejs + npm are installed when missing
# Idempotent: a second run does nothing that is already done. Every step is bounded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/tools/venv-test"
playwright_version="${PLAYWRIGHT_VERSION:-1.65.2}"
chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"
axe_version="${AXE_CORE_VERSION:-4.14.1}"
npm_prefix="$root/tools/npm"

need_apt=()
if [ ! -x "$chromium" ]; then need_apt+=(chromium fonts-dejavu-core); fi
if ! command -v npm >/dev/null 2>&1; then need_apt+=(nodejs npm); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-browser: please install Debian's ${need_apt[*]} (needs root)" >&2
    exit 1
  fi
  echo "install-browser: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when apt does not know the package yet.
  if ! apt-cache show chromium >/dev/null 2>&1; then
    timeout 600 apt-get update -qq
  fi
  if ! timeout 1200 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null; then
    # A stale list (a package version gone from the mirror): refresh once and retry.
    timeout 600 apt-get update -qq
    timeout 1200 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
fi
# (stdout to our stderr; the launcher's own shell warnings dropped)
timeout 60 "$chromium" --version >&2 2>/dev/null

if [ ! -x "$venv/bin/python" ]; then
  echo "install-browser: creating $venv" >&2
  timeout 300 python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$playwright_version')" 2>/dev/null; then
  echo "install-browser: playwright $playwright_version into tools/venv-test" >&2
  timeout 900 "$venv/bin/pip" install --quiet --disable-pip-version-check "playwright==$playwright_version"
fi
timeout 60 "$venv/bin/python" -c "import importlib.metadata as m; print('install-browser: playwright', m.version('playwright'))" >&2

axe_js="$npm_prefix/node_modules/axe-core/axe.min.js"
installed_axe=$(node -e "try{console.log(require(process.argv[1]).version)}catch(e){}" "$npm_prefix/node_modules/axe-core/package.json" 2>/dev/null || true)
if [ ! -f "$axe_js" ] || [ "$installed_axe" != "$axe_version" ]; then
  echo "install-browser: axe-core $axe_version into tools/npm" >&2
  mkdir -p "$npm_prefix"
  timeout 600 npm install --prefix "$npm_prefix" --no-audit --no-fund --silent --save-exact "axe-core@$axe_version" >&2
fi
echo "install-browser: axe-core $(node -e "console.log(require(process.argv[1]).version)" "$npm_prefix/node_modules/axe-core/package.json")" >&2
