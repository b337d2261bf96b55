"""Command line: `python -m deploy_checks.rules RULE_SET DEPLOY_DIR [options]`.

Prints one line per broken rule and exits 1 when there is any, else 0.
Rule sets: systemd, k8s, k8s-built, compose, image, consistency, settings,
monitoring, runbooks.
"""

from __future__ import annotations

import argparse
import sys

from . import compose, image, kubernetes, monitoring, settings, systemd
from .common import Findings


def run(which: str, deploy: str, args: argparse.Namespace) -> Findings:
    """The findings of one rule set."""
    if which == "systemd":
        return systemd.check(deploy, args.syscalls)
    if which == "k8s":
        return kubernetes.check(deploy)
    if which == "k8s-built":
        return kubernetes.check_built(deploy, args.built)
    if which == "compose":
        return compose.check(deploy)
    if which == "image":
        return image.check(deploy)
    if which == "consistency":
        # Each side's own rules are reported by their rule sets.
        uid = image.runtime_uid(deploy)[1]
        k8s_uid = kubernetes.deployment_uid(deploy)
        found = Findings()
        found.need(uid is not None and uid == k8s_uid,
                   f"the image's USER ({uid}) and the Deployment's runAsUser ({k8s_uid}) must agree")
        return found
    if which == "settings":
        return settings.check(deploy, args.config_source)
    if which == "monitoring":
        return monitoring.check(deploy)
    if which == "runbooks":
        return monitoring.check_runbooks(deploy, args.troubleshooting)
    return Findings([f"unknown rule set {which}"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploy_checks.rules", description=__doc__.splitlines()[0])
    p.add_argument("which", help="the rule set")
    p.add_argument("deploy", help="the deploy/ folder to check")
    p.add_argument("--syscalls", default="", help="systemd: output of `systemd-analyze syscall-filter`")
    p.add_argument("--built", default="", help="k8s-built: output of `kubectl kustomize deploy/kubernetes`")
    p.add_argument("--config-source", default="", help="settings: service/src/config/sources.rs")
    p.add_argument("--troubleshooting", default="", help="runbooks: docs/troubleshooting.md")
    args = p.parse_args(argv)
    try:
        found = run(args.which, args.deploy, args)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # A file missing or shaped so differently that a rule could not read it.
        found = Findings([f"{args.which}: cannot check: {type(e).__name__}: {e}"])
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
