"""Rules for deploy/Containerfile: a multi-stage build whose runtime stage runs
a numeric non-root user with umask 0077, and a vault binary that is pinned,
signature-checked and digest-checked."""

from __future__ import annotations

import os
import re

from .common import Findings, read


def instructions(text: str) -> list[tuple[str, str]]:
    """[(INSTRUCTION, rest)], continuation lines joined, comments dropped."""
    out = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            word, _, rest = s.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages(instrs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[dict]]:
    """(instructions before the first FROM, [{"from": ..., "body": [...]}])."""
    out: list[dict] = []
    pre = []
    for word, rest in instrs:
        if word == "FROM":
            out.append({"from": rest, "body": []})
        elif out:
            out[-1]["body"].append((word, rest))
        else:
            pre.append((word, rest))
    return pre, out


def runtime_uid(deploy: str) -> tuple[Findings, int | None]:
    """The rules, and the runtime stage's numeric USER when it has one."""
    found = Findings()
    text = read(os.path.join(deploy, "Containerfile"))
    pre, st = stages(instructions(text))
    found.need(len(st) >= 2, "Containerfile: a multi-stage build expected")
    if not st:
        return found, None
    found.need(st[0]["from"].startswith("rust:1.95-bookworm"), "Containerfile: builder FROM rust:1.95-bookworm expected")
    final = st[-1]
    found.need(final["from"].split()[0] == "debian:bookworm-slim", "Containerfile: runtime FROM debian:bookworm-slim expected")
    body = final["body"]

    def all_of(word: str) -> list[str]:
        return [r for w, r in body if w == word]

    users = all_of("USER")
    uid = None
    found.need(users, "Containerfile: the runtime stage must set USER")
    if users:
        m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
        found.need(m is not None, f"Containerfile: USER must be numeric (UID[:GID]), found {users[-1]!r}")
        if m:
            uid = int(m.group(1))
            found.need(uid != 0 and (m.group(2) is None or int(m.group(2)) != 0), "Containerfile: USER must not be root")
    entry = " ".join(all_of("ENTRYPOINT") + all_of("CMD"))
    found.need("umask 0077" in entry and "exec " in entry,
               "Containerfile: the entrypoint must set umask 0077 and exec the service")
    runs = " ".join(all_of("RUN"))
    found.need("ca-certificates" in runs, "Containerfile: the runtime needs ca-certificates")
    found.need("libssl" not in runs, "Containerfile: the runtime must not install libssl (rustls build)")
    env = " ".join(all_of("ENV"))
    for want in ("AUTH_SERVICE_AGENT_BIN=/usr/local/bin/vault", "AUTH_SERVICE_LISTEN=0.0.0.0:8080",
                 "AUTH_SERVICE_DATABASE_URL=sqlite:///var/lib/auth-service/"):
        found.need(want in env, f"Containerfile: ENV {want} expected")
    found.need(any("/var/lib/auth-service" in v for v in all_of("VOLUME")), "Containerfile: VOLUME /var/lib/auth-service expected")
    found.need(re.search(r"--home-dir /var/lib/auth-service\b", runs) is not None,
               "Containerfile: the service user's home must be /var/lib/auth-service")
    found.need(any(r.rstrip().endswith("/usr/local/bin/vault") for r in all_of("COPY")),
               "Containerfile: vault must be installed to /usr/local/bin/vault")
    # vault: pinned, signature-checked, digest-checked; no digest typed in by hand.
    args = " ".join(r for w, r in pre + [x for s in st for x in s["body"]] if w == "ARG")
    found.need(re.search(r"\bVAULT_VERSION=\d+\.\d+\.\d+\b", args), "Containerfile: ARG VAULT_VERSION=X.Y.Z (pinned) expected")
    found.need("VAULT_SHA256" in args, "Containerfile: the optional ARG VAULT_SHA256 expected")
    found.need("C874011F0AB405110D02105534365D9472D7468F" in text, "Containerfile: HashiCorp's pinned key fingerprint expected")
    allruns = " ".join(r for s in st for w, r in s["body"] if w == "RUN")
    found.need("SHA256SUMS.sig" in allruns and re.search(r"\bgpgv\b|gpg [^;]*--verify", allruns),
               "Containerfile: the SHA256SUMS signature must be verified")
    found.need(re.search(r"sha256sum (--check|-c)\b", allruns), "Containerfile: sha256sum --check of the zip expected")
    found.need("TARGETARCH" in text, "Containerfile: TARGETARCH expected (amd64/arm64)")
    found.need(not re.search(r"\b[0-9a-fA-F]{64}\b", text), "Containerfile: no hand-written SHA-256 digests")
    found.need(not any(w == "RUN" and re.search(r"\b(gnupg|unzip|curl)\b", r) for w, r in body),
               "Containerfile: gpg/unzip/curl must not stay in the runtime image")
    return found, uid


def check(deploy: str) -> Findings:
    """The Containerfile's rules."""
    return runtime_uid(deploy)[0]
