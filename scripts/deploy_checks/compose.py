"""Rules for deploy/compose.yaml (SQLite, one replica) and
deploy/compose.postgres.yaml (PostgreSQL, two replicas)."""

from __future__ import annotations

import os

from .common import Findings, load_all


def compose_service(path: str, name: str) -> tuple[dict, dict]:
    """(the whole document, one of its services)."""
    doc = load_all(path)[0]
    return doc, doc.get("services", {}).get(name, {})


def mounts_of(svc: dict) -> dict:
    """{target: source} of a service's volumes, short or long syntax."""
    out = {}
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = parts[0]
        else:
            out[v.get("target")] = v.get("source")
    return out


def check(deploy: str) -> Findings:
    """Both compose files' rules."""
    found = Findings()
    path = os.path.join(deploy, "compose.yaml")
    doc, svc = compose_service(path, "auth-service")
    found.need(svc, "compose.yaml: service auth-service expected")
    found.need(svc.get("deploy", {}).get("replicas", 1) == 1, "compose.yaml: SQLite allows one replica only")
    env = svc.get("environment", {})
    found.need(str(env.get("AUTH_SERVICE_DATABASE_URL", "sqlite:")).startswith("sqlite:"), "compose.yaml: SQLite expected")
    vol = mounts_of(svc).get("/var/lib/auth-service")
    found.need(vol and vol in (doc.get("volumes") or {}), "compose.yaml: a named volume on /var/lib/auth-service expected")
    for p in (path, os.path.join(deploy, "compose.postgres.yaml")):
        _, s = compose_service(p, "auth-service")
        e = s.get("environment", {})
        found.need(str(e.get("AUTH_SERVICE_OPERATOR_KEY", "")).startswith("${AUTH_SERVICE_OPERATOR_KEY:?"),
                   f"{os.path.basename(p)}: AUTH_SERVICE_OPERATOR_KEY must be a required variable (${{...:?...}})")
        found.need("AUTH_SERVICE_VAULT_ADDRESSES" in e, f"{os.path.basename(p)}: AUTH_SERVICE_VAULT_ADDRESSES expected")
    path = os.path.join(deploy, "compose.postgres.yaml")
    doc, svc = compose_service(path, "auth-service")
    found.need(svc.get("deploy", {}).get("replicas") == 2, "compose.postgres.yaml: replicas: 2 expected")
    found.need(str(svc.get("environment", {}).get("AUTH_SERVICE_DATABASE_URL", "")).startswith("postgres://"),
               "compose.postgres.yaml: a postgres:// database URL expected")
    dep = svc.get("depends_on", {})
    found.need(isinstance(dep, dict) and dep.get("postgres", {}).get("condition") == "service_healthy",
               "compose.postgres.yaml: depends_on postgres with condition service_healthy expected")
    pg = doc.get("services", {}).get("postgres", {})
    found.need(pg.get("healthcheck", {}).get("test"), "compose.postgres.yaml: postgres needs a healthcheck")
    vol = mounts_of(pg).get("/var/lib/postgresql/data")
    found.need(vol and vol in (doc.get("volumes") or {}), "compose.postgres.yaml: a named volume for PostgreSQL expected")
    return found
