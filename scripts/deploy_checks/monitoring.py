"""Rules for deploy/monitoring/: alert rules written for the person on call
(summary, description, severity, a runbook section), a promtool test that
fires every alert, and a Grafana dashboard whose panels all query the chosen
data source. (promtool itself checks the PromQL and runs the tests.)"""

from __future__ import annotations

import json
import os
import re

from .common import Findings, load_all, read
from .dashboard_metrics import dashboard_expressions

SEVERITIES = {"critical", "warning", "info"}
RUNBOOK = re.compile(r"^docs/troubleshooting\.md#(\S.*)$", re.S)
ANCHOR = re.compile(r"^[a-z0-9-]+$")
DATASOURCE = "${datasource}"


def runbook_anchors(rule: dict) -> list[str]:
    """The sections a rule's runbook_url can name: the text after `#`, or, when
    it is a template choosing by label, every literal between its tags."""
    m = RUNBOOK.match(str(rule.get("annotations", {}).get("runbook_url", "")).strip())
    if not m:
        return []
    parts = re.split(r"\{\{.*?\}\}", m.group(1), flags=re.S)
    return [p.strip() for p in parts if p.strip()]


def alerts(deploy: str) -> list[dict]:
    """The alerting rules of alerts.yaml."""
    doc = load_all(os.path.join(deploy, "monitoring", "alerts.yaml"))[0]
    return [r for g in doc.get("groups", []) for r in g.get("rules", []) if "alert" in r]


def check_alerts(deploy: str) -> Findings:
    """alerts.yaml and alerts.test.yaml."""
    found = Findings()
    rules = alerts(deploy)
    found.need(rules, "alerts.yaml: no alerting rules")
    names = [r["alert"] for r in rules]
    found.need(len(names) == len(set(names)), "alerts.yaml: alert names must be unique")
    for r in rules:
        a = r["alert"]
        found.need(re.fullmatch(r"AuthService[A-Z][A-Za-z0-9]+", a), f"alerts.yaml: {a}: name AuthService<Something> expected")
        found.need(r.get("labels", {}).get("severity") in SEVERITIES,
                   f"alerts.yaml: {a}: labels.severity must be one of {sorted(SEVERITIES)}")
        ann = r.get("annotations", {})
        for key in ("summary", "description"):
            found.need(str(ann.get(key, "")).strip(), f"alerts.yaml: {a}: annotation {key} required")
        anchors = runbook_anchors(r)
        found.need(anchors and all(ANCHOR.match(x) for x in anchors),
                   f"alerts.yaml: {a}: runbook_url docs/troubleshooting.md#<section> required, found {anchors}")
    tests = load_all(os.path.join(deploy, "monitoring", "alerts.test.yaml"))[0]
    found.need("alerts.yaml" in tests.get("rule_files", []), "alerts.test.yaml: rule_files must name alerts.yaml")
    fired = {t.get("alertname") for g in tests.get("tests", []) for t in g.get("alert_rule_test", [])
             if t.get("exp_alerts")}
    for a in names:
        found.need(a in fired, f"alerts.test.yaml: no test in which {a} fires")
    return found


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def check_runbooks(deploy: str, troubleshooting: str) -> Findings:
    """Every runbook_url names a section of `troubleshooting` (docs/troubleshooting.md)."""
    found = Findings()
    anchors = {slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", read(troubleshooting), re.M)}
    anchors |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", read(troubleshooting)))
    for r in alerts(deploy):
        for anchor in runbook_anchors(r):
            found.need(anchor in anchors, f"alerts.yaml: {r['alert']}: docs/troubleshooting.md has no section #{anchor}")
    return found


def check_dashboard(deploy: str) -> Findings:
    """dashboard.json: valid JSON, a data source variable, a query in every panel."""
    found = Findings()
    path = os.path.join(deploy, "monitoring", "dashboard.json")
    try:
        dash = json.loads(read(path))
    except ValueError as e:
        found.append(f"dashboard.json: not valid JSON: {e}")
        return found
    found.need(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36,
               "dashboard.json: schemaVersion 36 or later expected")
    found.need(dash.get("uid") and dash.get("title"), "dashboard.json: uid and title required")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    found.need(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
               "dashboard.json: a `datasource` variable of type datasource (prometheus) expected")
    panels: list[dict] = []

    def walk(ps: list) -> None:
        for p in ps or []:
            panels.append(p)
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    found.need(panels, "dashboard.json: no panels")
    ids = [p.get("id") for p in panels]
    found.need(len(ids) == len(set(ids)), "dashboard.json: panel ids must be unique")
    for p in panels:
        if p.get("type") in ("row", "text"):
            continue
        title = p.get("title")
        found.need(title, f"dashboard.json: panel {p.get('id')} has no title")
        targets = p.get("targets", [])
        found.need(targets and all(str(t.get("expr", "")).strip() for t in targets),
                   f"dashboard.json: panel {title!r} must have a query in every target")
        for obj in [p] + targets:
            uid = (obj.get("datasource") or {}).get("uid")
            found.need(uid == DATASOURCE, f"dashboard.json: panel {title!r} must use the {DATASOURCE} variable, found {uid!r}")
    found.need(dashboard_expressions(dash), "dashboard.json: no PromQL at all")
    return found


def check(deploy: str) -> Findings:
    """All monitoring rules but the runbook anchors."""
    return Findings(check_alerts(deploy) + check_dashboard(deploy))
