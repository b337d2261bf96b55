# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/run.sh --dev (source it; it runs nothing
# by itself): a local OpenBao dev server with a jwt login and a KV secret, a
# signed JWT, and the service started against it. Every wait is bounded, every
# port is picked free (the service binds port 0 and says which it got), and
# dev_cleanup stops exactly the processes these functions started.
#
# Needs: $root (the repository), bash 4+, curl, openssl, python3.
#
# What the OpenBao side holds after dev_configure_bao:
#   auth/jwt          jwt auth; tokens signed by $DEV_WORK/jwt.key, issuer https://issuer.test
#   auth/jwt/role/app role_type=jwt, bound_audiences=bao-test, user_claim=sub, policy app-read, ttl 1h
#   policy app-read   read on secret/data/app/*
#   secret/app/db     KV v2: username=alice password=s3cr3t

: "${root:?set root to the repository before sourcing lib-dev.sh}"
DEV_PIDS=()
DEV_WORK=""
DEV_VAULT=""
DEV_VAULT_TOKEN_VALUE=""
DEV_AS=""

# A free loopback port whose neighbour is free too (OpenBao's dev server also
# binds PORT+1 for its cluster listener).
dev_free_port() {
  python3 - <<'PY'
import socket
for _ in range(50):
    a = socket.socket()
    a.bind(("127.0.0.1", 0))
    port = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", port + 1))
    except OSError:
        continue
    finally:
        b.close()
        a.close()
    print(port)
    break
else:
    raise SystemExit("no free pair of ports found")
PY
}

# dev_wait_ok URL [TRIES]: wait (0.2 s a try, 50 tries by default) for a 2xx answer.
dev_wait_ok() {
  local url=$1 tries=${2:-50}
  for _ in $(seq 1 "$tries"); do
    curl -sf -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.2
  done
  return 1
}

# The OpenBao CLI against the dev server (never the caller's own BAO_*/VAULT_* settings).
dev_bao() {
  env -u VAULT_ADDR -u VAULT_TOKEN -u VAULT_NAMESPACE -u BAO_NAMESPACE \
    BAO_ADDR="$DEV_VAULT" BAO_TOKEN="$DEV_VAULT_TOKEN_VALUE" "$root/tools/bin/bao" "$@"
}

# dev_work: a private work folder for this run (removed by dev_cleanup).
dev_work() {
  DEV_WORK=$(mktemp -d "${TMPDIR:-/tmp}/auth-service-dev.XXXXXX")
  chmod 700 "$DEV_WORK"
}

# dev_start_bao: start an OpenBao dev server on a free port, or reuse the one
# named by DEV_VAULT_ADDR (with DEV_VAULT_TOKEN, default root). Sets DEV_VAULT.
dev_start_bao() {
  if [ -n "${DEV_VAULT_ADDR:-}" ]; then
    DEV_VAULT=${DEV_VAULT_ADDR%/}
    DEV_VAULT_TOKEN_VALUE=${DEV_VAULT_TOKEN:-root}
    if ! dev_wait_ok "$DEV_VAULT/v1/sys/health" 10; then
      echo "DEV_VAULT_ADDR=$DEV_VAULT does not answer /v1/sys/health (is it running and unsealed?)" >&2
      return 1
    fi
    echo "== reusing OpenBao at $DEV_VAULT" >&2
    return 0
  fi
  local port
  port=$(dev_free_port)
  DEV_VAULT="http://127.0.0.1:$port"
  DEV_VAULT_TOKEN_VALUE=root
  "$root/tools/bin/bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
    -dev-no-store-token >"$DEV_WORK/bao.log" 2>&1 &
  DEV_PIDS+=($!)
  if ! dev_wait_ok "$DEV_VAULT/v1/sys/health" 50; then
    echo "OpenBao did not become ready within 10 s; its log:" >&2
    tail -n 20 "$DEV_WORK/bao.log" >&2
    return 1
  fi
}

# dev_configure_bao: jwt auth (enabled if missing; its key is this run's), the
# app-read policy, the role app and the secret secret/app/db. Safe to repeat.
dev_configure_bao() {
  openssl genrsa -out "$DEV_WORK/jwt.key" 2048 2>/dev/null
  openssl rsa -in "$DEV_WORK/jwt.key" -pubout -out "$DEV_WORK/jwt.pub" 2>/dev/null
  if ! dev_bao auth list -format=json | grep -q '"jwt/"'; then
    dev_bao auth enable jwt >/dev/null
  fi
  dev_bao write auth/jwt/config jwt_validation_pubkeys=@"$DEV_WORK/jwt.pub" bound_issuer=https://issuer.test >/dev/null
  printf 'path "secret/data/app/*" { capabilities = ["read"] }\n' | dev_bao policy write app-read - >/dev/null
  dev_bao write auth/jwt/role/app role_type=jwt bound_audiences=bao-test user_claim=sub \
    token_policies=app-read token_ttl=1h token_max_ttl=4h >/dev/null
  dev_bao kv put -mount=secret app/db username=alice password=s3cr3t >/dev/null
}

# dev_sign_jwt SUBJECT OUT [LIFETIME_SECONDS]: an RS256 JWT the role app accepts,
# written to OUT (mode 0600, atomically).
dev_sign_jwt() {
  local sub=$1 out=$2 life=${3:-3600} now header claims sig
  b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  claims=$(printf '{"iss":"https://issuer.test","sub":"%s","aud":"bao-test","iat":%d,"nbf":%d,"exp":%d}' \
    "$sub" "$now" "$now" $((now + life)) | b64url)
  sig=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$DEV_WORK/jwt.key" | b64url)
  mkdir -p "$(dirname "$out")"
  (umask 077 && printf '%s.%s.%s' "$header" "$claims" "$sig" >"$out.tmp") && mv "$out.tmp" "$out"
}

# dev_service_bin: the auth-service binary. AUTH_SERVICE_BINARY names a built
# one (no build then); otherwise a debug build (a no-op when up to date).
dev_service_bin() {
  if [ -n "${AUTH_SERVICE_BINARY:-}" ]; then
    echo "$AUTH_SERVICE_BINARY"
    return 0
  fi
  (cd "$root" && cargo build --locked -q -p auth-service) >&2
  echo "$root/target/debug/auth-service"
}

# dev_start_service BIN [ARGS...]: start `BIN serve ARGS` with the AUTH_SERVICE_* variables
# already exported (AUTH_SERVICE_LISTEN defaults to 127.0.0.1:0) and wait for
# its "listening on" line (30 s at most). Sets DEV_AS to the address it bound.
dev_start_service() {
  local bin=$1
  shift
  AUTH_SERVICE_LISTEN="${AUTH_SERVICE_LISTEN:-127.0.0.1:0}" \
    "$bin" serve "$@" >"$DEV_WORK/service.out" 2>"$DEV_WORK/service.log" &
  local pid=$!
  DEV_PIDS+=("$pid")
  for _ in $(seq 1 300); do
    DEV_AS=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$DEV_WORK/service.out" 2>/dev/null | head -n 1)
    [ -n "$DEV_AS" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the service did not start; its log:" >&2
  tail -n 20 "$DEV_WORK/service.log" >&2
  return 1
}

# dev_cleanup: stop what was started (SIGTERM, then SIGKILL after 10 s) and
# remove the work folder. Meant for `trap dev_cleanup EXIT`.
dev_cleanup() {
  local p
  # A second Ctrl-C must not cut the cleanup short.
  trap '' INT TERM HUP
  for p in "${DEV_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${DEV_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  DEV_PIDS=()
  if [ -n "$DEV_WORK" ] && [ -d "$DEV_WORK" ]; then rm -rf "$DEV_WORK"; fi
}
