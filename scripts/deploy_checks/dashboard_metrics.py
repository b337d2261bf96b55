#!/usr/bin/env python3
"""Every metric a dashboard (and alert rules) query must be in a real scrape.

    dashboard_metrics.py DASHBOARD.json SCRAPE.txt [RULES.yaml ...]

Reads the Grafana dashboard's PromQL (panel targets and template variable
queries) and, given as extra arguments, Prometheus rule files (`groups:`, or a
PrometheusRule's `spec.groups:`), extracts every metric name they use, and
checks each against a Prometheus text scrape (text format 0.0.4 or
OpenMetrics), as saved from `GET /metrics`. Histogram and summary series are
matched through their `# TYPE` family: `x_bucket`, `x_sum` and `x_count` exist
when `x` is a histogram, even before its first observation; a bare histogram
name is reported, since only its suffixed series hold data. OpenMetrics
counters match `x_total` through family `x`.

Exit status: 0 when every name is there, 1 when some are missing (each listed
with where it is used), 2 when an input cannot be read.

Standard library only; PyYAML is used for rule files when it is installed
(tools/venv-deploy has it), otherwise a small reader takes their `expr:` values.
"""

from __future__ import annotations

import json
import re
import sys

IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# PromQL words that are never metric names where they stand.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
# Series Prometheus makes itself for every target or rule: never in a scrape.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
             "scrape_samples_post_metric_relabeling", "ALERTS", "ALERTS_FOR_STATE"}
# The series names a `# TYPE family TYPE` line stands for.
SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "counter": ("_total", "_created"),
    "info": ("_info",),
}


# ---------------------------------------------------------------- PromQL
def _skip_string(expr: str, i: int) -> int:
    """The index after the string literal that starts at `i`."""
    quote, i = expr[i], i + 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_balanced(expr: str, i: int, open_: str, close: str) -> int:
    """The index after the bracket closing the one at `i` (strings inside skipped)."""
    depth = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _next_char(expr: str, i: int) -> str:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return expr[i] if i < len(expr) else ""


def _name_matchers(selector: str) -> set[str]:
    """Names given exactly as `__name__="x"` inside a `{...}` selector."""
    return set(re.findall(r"__name__\s*=\s*[\"'`]([a-zA-Z_:][a-zA-Z0-9_:]*)[\"'`]", selector))


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana variables allowed)."""
    names: set[str] = set()
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        elif c == "{":
            j = _skip_balanced(expr, i, "{", "}")
            names |= _name_matchers(expr[i:j])
            i = j
        elif c == "[":
            i = _skip_balanced(expr, i, "[", "]")
        elif c == "$":
            # A Grafana variable ($x, ${x}, ${x:raw}) and anything glued to it.
            i += 1
            if i < n and expr[i] == "{":
                i = _skip_balanced(expr, i, "{", "}")
            while i < n and (expr[i].isalnum() or expr[i] in "_:"):
                i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            # Numbers, hex, exponents and durations (5m, 1h30m).
            while i < n and (expr[i].isalnum() or expr[i] in "._"):
                i += 1
        elif IDENT.match(c):
            m = IDENT.match(expr, i)
            word, i = m.group(0), m.end()
            low, nxt = word.lower(), _next_char(expr, i)
            if low in GROUPING:
                if nxt == "(":
                    i = _skip_balanced(expr, expr.index("(", i), "(", ")")
            elif low in KEYWORDS or low in AGGREGATIONS or nxt == "(":
                pass  # a keyword, an aggregation or a function call
            else:
                names.add(word)
        else:
            i += 1
    return names


def _split_args(inner: str) -> list[str]:
    """Top-level comma-separated arguments."""
    args, depth, cur, i = [], 0, "", 0
    while i < len(inner):
        c = inner[i]
        if c in "\"'`":
            j = _skip_string(inner, i)
            cur, i = cur + inner[i:j], j
            continue
        depth += c in "([{"
        depth -= c in ")]}"
        if c == "," and depth == 0:
            args.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return args + [cur]


def variable_query_names(query: str) -> set[str]:
    """Metric names of a Grafana Prometheus variable query."""
    q = query.strip()
    m = re.fullmatch(r"(\w+)\s*\((.*)\)", q, re.S)
    if not m:
        return metric_names(q)
    func, args = m.group(1), _split_args(m.group(2))
    if func == "label_values":
        return metric_names(args[0]) if len(args) == 2 else set()
    if func == "query_result":
        return metric_names(m.group(2))
    if func in ("label_names", "metrics"):
        return set()
    return metric_names(q)


# ---------------------------------------------------------------- inputs
def dashboard_expressions(dashboard: dict) -> list[tuple[str, str]]:
    """[(where, PromQL)] of every panel target, nested rows included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list) -> None:
        for p in panels or []:
            for t in p.get("targets", []) or []:
                if isinstance(t, dict) and t.get("expr"):
                    out.append((f"panel {p.get('title')!r}", t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    return out


def dashboard_variable_queries(dashboard: dict) -> list[tuple[str, str]]:
    """[(where, query)] of the dashboard's query variables."""
    out = []
    for v in dashboard.get("templating", {}).get("list", []) or []:
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if q:
                out.append((f"variable ${v.get('name')}", q))
    return out


def _rules_from_doc(doc: object) -> list[tuple[str, str]]:
    groups = (doc or {}).get("groups") or ((doc or {}).get("spec") or {}).get("groups") or []
    out = []
    for g in groups:
        for r in g.get("rules", []) or []:
            if r.get("expr") is not None:
                out.append((f"rule {r.get('alert') or r.get('record')!r}", str(r["expr"])))
    return out


def _rules_without_yaml(text: str) -> list[tuple[str, str]]:
    """`expr:` values of a rule file read line by line (plain, quoted or block scalars)."""
    out, name, lines, i = [], None, text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*-?\s*(alert|record):\s*(.+?)\s*$", line)
        if m:
            name = m.group(2).strip("'\"")
        m = re.match(r"^(\s*)-?\s*expr:\s*(.*?)\s*$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2)
            if value[:1] in ("|", ">"):
                block = []
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent):
                    i += 1
                    block.append(lines[i].strip())
                value = "\n".join(block)
            elif value[:1] in ("'", '"'):
                value = value[1:-1]
            out.append((f"rule {name!r}", value))
        i += 1
    return out


def rule_expressions(path: str) -> list[tuple[str, str]]:
    """[(where, PromQL)] of a rule file (YAML or JSON)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        return _rules_from_doc(json.loads(text))
    try:
        import yaml
    except ImportError:
        return _rules_without_yaml(text)
    out = []
    for doc in yaml.safe_load_all(text):
        out += _rules_from_doc(doc)
    return out


def parse_scrape(text: str) -> tuple[set[str], dict[str, str]]:
    """(sample names, {family: type}) of a Prometheus or OpenMetrics text scrape."""
    samples: set[str] = set()
    families: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            parts = s.split(None, 3)
            if len(parts) == 4 and parts[1] == "TYPE":
                families[parts[2]] = parts[3].strip().lower()
            continue
        m = IDENT.match(s)
        if m:
            samples.add(m.group(0))
    return samples, families


def problem(name: str, samples: set[str], families: dict[str, str]) -> str | None:
    """Why `name` cannot be queried from this scrape, or None when it can."""
    if name in samples or name in SYNTHETIC:
        return None
    for fam, typ in families.items():
        suffixes = SUFFIXES.get(typ, ("",))
        if typ == "counter" and fam.endswith("_total"):
            suffixes = ("",)  # text format 0.0.4 names the family with its suffix
        if any(fam + s == name for s in suffixes):
            return None
    if families.get(name) in ("histogram", "gaugehistogram"):
        return f"is a {families[name]}: query {name}_bucket, {name}_sum or {name}_count"
    return "is not in the scrape"


def check(dashboard_path: str, scrape_path: str, rule_paths: list[str]) -> tuple[int, list[str]]:
    """(names checked, report lines of the missing ones)."""
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    with open(scrape_path, encoding="utf-8") as f:
        samples, families = parse_scrape(f.read())
    used: dict[str, list[str]] = {}
    for where, expr in dashboard_expressions(dashboard):
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)
    for where, query in dashboard_variable_queries(dashboard):
        for name in variable_query_names(query):
            used.setdefault(name, []).append(where)
    for path in rule_paths:
        for where, expr in rule_expressions(path):
            for name in metric_names(expr):
                used.setdefault(name, []).append(where)
    report = []
    for name in sorted(used):
        why = problem(name, samples, families)
        if why:
            places = ", ".join(sorted(set(used[name])))
            report.append(f"{name} {why} (used by {places})")
    return len(used), report


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        checked, report = check(argv[0], argv[1], argv[2:])
    except (OSError, ValueError) as e:
        print(f"dashboard_metrics: cannot read the inputs: {e}", file=sys.stderr)
        return 2
    if checked == 0:
        print("dashboard_metrics: no metric name found in the dashboard or rules", file=sys.stderr)
        return 2
    for line in report:
        print(line)
    print(f"dashboard_metrics: {checked} metric names checked against {argv[1]}, "
          f"{len(report)} missing", file=sys.stderr)
    return 1 if report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
