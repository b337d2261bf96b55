"""Rules for deploy/auth-service.service: the hardening it must keep, and a
syscall filter that still lets the service run and stop agent processes."""

from __future__ import annotations

import os

from .common import Findings

TRUTHY = {"yes", "true", "1", "on"}

# Settings the unit must have, with the value each must hold ("yes": any
# spelling systemd reads as true).
EXPECTED = {
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

# What spawning, waiting for and signalling agent children needs.
AGENT_SYSCALLS = ("fork", "vfork", "clone", "clone3", "execve", "setpgid", "kill",
                  "wait4", "waitid", "pipe2", "dup3", "socket", "connect", "prlimit64")


def unit_settings(path: str) -> list[tuple[str | None, str, str]]:
    """[(section, key, value)] of a unit file, continuation lines joined."""
    out, section, buf = [], None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
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


def syscall_groups(path: str) -> dict[str, list[str]]:
    """The groups (@system-service, ...) as `systemd-analyze syscall-filter` prints them."""
    groups: dict[str, list[str]] = {}
    cur = None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            if not raw[0].isspace():
                cur = raw.strip()
                groups[cur] = []
            elif cur:
                groups[cur].append(raw.strip())
    return groups


def expand(name: str, groups: dict[str, list[str]], seen: set[str] | None = None) -> set[str]:
    """The syscall names a filter token stands for (groups expanded, cycles cut)."""
    seen = seen if seen is not None else set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out: set[str] = set()
    for m in groups.get(name, []):
        out |= expand(m, groups, seen)
    return out


def check(deploy: str, syscall_file: str) -> Findings:
    """The unit's rules; `syscall_file` holds `systemd-analyze syscall-filter`'s output."""
    found = Findings()
    svc: dict[str, list[str]] = {}
    for sec, k, v in unit_settings(os.path.join(deploy, "auth-service.service")):
        if sec == "Service":
            svc.setdefault(k, []).append(v)
    last = {k: v[-1] for k, v in svc.items()}
    for k, want in EXPECTED.items():
        got = last.get(k)
        if want == "yes":
            found.need(got is not None and got.lower() in TRUTHY, f"unit: {k}=yes expected, found {got!r}")
        else:
            found.need(got == want, f"unit: {k}={want} expected, found {got!r}")
    rw = " ".join(svc.get("ReadWritePaths", [])).split()
    for p in ("/var/lib/auth-service", "/run/auth-service"):
        found.need(p in rw, f"unit: ReadWritePaths must include {p}")
    env = " ".join(svc.get("Environment", []))
    found.need("AUTH_SERVICE_AGENT_TEMP_DIR=/run/auth-service" in env,
               "unit: Environment=AUTH_SERVICE_AGENT_TEMP_DIR=/run/auth-service expected")
    # Options that would break spawning and signalling the agent children.
    for k in ("PrivatePIDs",):
        found.need(k not in last or last[k].lower() not in TRUTHY, f"unit: {k} must stay off")
    filters = svc.get("SystemCallFilter", [])
    if filters:
        groups = syscall_groups(syscall_file) if os.path.exists(syscall_file) else {}
        found.need(groups, "unit: cannot read `systemd-analyze syscall-filter`")
        allow: set[str] = set()
        deny: set[str] = set()
        allow_list = not filters[0].startswith("~")
        for f in filters:
            names: set[str] = set()
            for tok in f.lstrip("~").split():
                names |= expand(tok, groups)
            (deny if f.startswith("~") else allow).update(names)
        for sc in AGENT_SYSCALLS:
            ok = (sc in allow if allow_list else True) and sc not in deny
            found.need(ok, f"unit: SystemCallFilter blocks {sc}, which running agents needs")
    return found
