"""The project's own rules for the files under deploy/, run by scripts/check-deploy.sh.

How it works: each module checks one kind of file and returns a list of
findings (plain sentences naming the file and what to fix); an empty list
means the files follow the rules. `rules.py` is the command line that
check-deploy.sh calls with the tools venv's Python (PyYAML). The generic
tools (systemd-analyze, kubernetes-validate, check-jsonschema, hadolint,
checkov, promtool) run beside these rules in check-deploy.sh; the rules cover
what those tools cannot know about this service.

`dashboard_metrics.py` stands alone (standard library, PyYAML optional): it
compares the metric names the dashboard and alert rules query with a real
scrape of /metrics.
"""
