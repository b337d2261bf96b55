"""Rules for deploy/auth-service.toml: every key is one the service knows and
every value has the type its loader reads (service/src/config/sources.rs, the
`Raw` struct with deny_unknown_fields): integers bare, durations as strings
like "30s", lists as arrays or one comma-separated string."""

from __future__ import annotations

import os
import re
import tomllib

from .common import Findings, read

# humantime's units (the service parses durations with humantime).
_UNIT = (r"(?:nsec|ns|usec|us|msec|ms|seconds|second|sec|s|minutes|minute|min|m|"
         r"hours|hour|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)")
DURATION = re.compile(rf"^\s*(?:\d+\s*{_UNIT}\s*)+$")
# Enumerations: the values serde accepts (kebab-case / lowercase renames).
ENUMS = {
    "LogFormat": {"pretty", "json"},
    "AwsIdentityMode": {"per-tenant-role", "host"},
}
_FIELD = re.compile(r"^\s*pub(?:\([^)]*\))?\s+(\w+)\s*:\s*Option<\s*(\w+)\s*>\s*,", re.M)


def raw_fields(source: str) -> dict[str, str]:
    """{key: Rust type} of the `Raw` settings struct in `source` (sources.rs)."""
    m = re.search(r"struct\s+Raw\s*\{(.*?)\n\}", source, re.S)
    return dict(_FIELD.findall(m.group(1))) if m else {}


def value_problem(rust_type: str, value: object) -> str | None:
    """Why `value` does not fit `rust_type`, or None when it does."""
    if rust_type in ("u64", "u32", "usize"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"must be a bare integer like 4, found {value!r}"
    if rust_type in ("String", "PathBuf"):
        return None if isinstance(value, str) else f"must be a string, found {value!r}"
    if rust_type == "Dur":
        if not (isinstance(value, str) and DURATION.match(value)):
            return f"must be a duration string like \"30s\" or \"5m\", found {value!r}"
        return None if re.search(r"[1-9]", value) else "must be longer than zero"
    if rust_type == "List":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        return None if ok else f"must be an array of strings or one comma-separated string, found {value!r}"
    if rust_type in ENUMS:
        return None if value in ENUMS[rust_type] else f"must be one of {sorted(ENUMS[rust_type])}, found {value!r}"
    return f"has type {rust_type}, which deploy_checks/settings.py does not know yet: teach it"


def check(deploy: str, config_source: str) -> Findings:
    """auth-service.toml against the loader's struct in `config_source`."""
    found = Findings()
    fields = raw_fields(read(config_source)) if os.path.exists(config_source) else {}
    found.need(fields, f"cannot read the settings struct Raw from {config_source}")
    path = os.path.join(deploy, "auth-service.toml")
    try:
        with open(path, "rb") as f:
            settings = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        found.append(f"auth-service.toml: not valid TOML: {e}")
        return found
    if not fields:
        return found
    for key, value in settings.items():
        if key not in fields:
            found.append(f"auth-service.toml: unknown key {key!r} (the service refuses the file)")
            continue
        problem = value_problem(fields[key], value)
        found.need(problem is None, f"auth-service.toml: {key} {problem}")
    found.need("operator_key" not in settings,
               "auth-service.toml: operator_key belongs in the environment (AUTH_SERVICE_OPERATOR_KEY), not the file")
    return found
