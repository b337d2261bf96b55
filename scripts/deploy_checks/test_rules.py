"""Unit tests of the deploy rules: each rule passes the project's own files and
refuses a copy broken in the one way it is about.

    tools/venv-deploy/bin/python -m unittest discover -s scripts/deploy_checks -t scripts
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import textwrap
import unittest

import yaml

from deploy_checks import compose, image, kubernetes, monitoring, mutate, settings, systemd
from deploy_checks.common import Findings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
CONFIG_SOURCE = os.path.join(ROOT, "service", "src", "config", "sources.rs")


class CopyOfDeploy(unittest.TestCase):
    """Each test gets its own copy of deploy/ to break."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="deploy-checks-")
        self.deploy = os.path.join(self.tmp, "deploy")
        shutil.copytree(DEPLOY, self.deploy)

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp)

    def path(self, rel: str) -> str:
        return os.path.join(self.deploy, rel)

    def edit(self, rel: str, pattern: str, repl: str) -> None:
        """Replace `pattern` (a regex, multi-line) in a copied file; it must match."""
        with open(self.path(rel), encoding="utf-8") as f:
            text = f.read()
        new, n = re.subn(pattern, repl, text, flags=re.M)
        self.assertGreater(n, 0, f"{pattern!r} not found in {rel}")
        with open(self.path(rel), "w", encoding="utf-8") as f:
            f.write(new)

    def edit_yaml(self, rel: str, change) -> None:
        """Load every document of a copied YAML file, let `change` edit the list, write it back."""
        with open(self.path(rel), encoding="utf-8") as f:
            docs = list(yaml.safe_load_all(f))
        change(docs)
        with open(self.path(rel), "w", encoding="utf-8") as f:
            yaml.safe_dump_all(docs, f, sort_keys=False)

    def assertFinds(self, found: Findings, fragment: str) -> None:
        self.assertTrue(any(fragment in f for f in found), f"no finding with {fragment!r} in {found}")


# ---------------------------------------------------------------- common
class FindingsTest(unittest.TestCase):
    def test_need_records_the_message_only_when_the_condition_fails(self) -> None:
        found = Findings()
        found.need(True, "kept quiet")
        found.need(0, "reported")
        self.assertEqual(found, ["reported"])


class MutateTest(CopyOfDeploy):
    def test_every_match_is_replaced_and_no_match_is_an_error(self) -> None:
        unit = self.path("auth-service.service")
        self.assertGreater(mutate.mutate(unit, r"^UMask=0077$", "UMask=0022"), 0)
        with open(unit, encoding="utf-8") as f:
            self.assertIn("UMask=0022", f.read())
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(mutate.main([unit, r"^NoSuchKey=", "x"]), 1)


# ---------------------------------------------------------------- systemd
GROUPS = textwrap.dedent("""\
    @process
        # Process control
        fork
        vfork
        clone
        clone3
        execve
        kill
        setpgid
        wait4
        waitid
        prlimit64
    @io
        pipe2
        dup3
    @network-io
        socket
        connect
    @privileged
        # root only
        reboot
        @clock
    @clock
        settimeofday
        @privileged
    @system-service
        @process
        @io
        @network-io
    """)


class SystemdTest(CopyOfDeploy):
    def setUp(self) -> None:
        super().setUp()
        self.groups = os.path.join(self.tmp, "syscalls.txt")
        with open(self.groups, "w", encoding="utf-8") as f:
            f.write(GROUPS)

    def test_continuation_lines_are_joined_and_comments_skipped(self) -> None:
        unit = os.path.join(self.tmp, "x.service")
        with open(unit, "w", encoding="utf-8") as f:
            f.write("[Service]\n# comment\n; also a comment\nEnvironment=A=1\\\n  B=2\nUMask=0077\n[Install]\nWantedBy=x\n")
        self.assertEqual(systemd.unit_settings(unit), [
            ("Service", "Environment", "A=1 B=2"), ("Service", "UMask", "0077"), ("Install", "WantedBy", "x")])

    def test_groups_expand_recursively_and_cycles_end(self) -> None:
        groups = systemd.syscall_groups(self.groups)
        self.assertEqual(systemd.expand("@privileged", groups), {"reboot", "settimeofday"})
        self.assertIn("kill", systemd.expand("@system-service", groups))
        self.assertEqual(systemd.expand("kill", groups), {"kill"})

    def test_the_project_unit_passes(self) -> None:
        self.assertEqual(systemd.check(self.deploy, self.groups), [])

    def test_a_unit_without_umask_is_refused(self) -> None:
        self.edit("auth-service.service", r"^UMask=0077\n", "")
        self.assertFinds(systemd.check(self.deploy, self.groups), "UMask=0077 expected")

    def test_a_filter_denying_process_calls_is_refused(self) -> None:
        self.edit("auth-service.service", r"^SystemCallFilter=~@privileged$", "SystemCallFilter=~@process")
        self.assertFinds(systemd.check(self.deploy, self.groups), "blocks kill")

    def test_an_unreadable_syscall_list_is_reported(self) -> None:
        self.assertFinds(systemd.check(self.deploy, os.path.join(self.tmp, "none")), "cannot read")


# ---------------------------------------------------------------- kubernetes
def _by_kind(docs: list, kind: str) -> dict:
    return next(d for d in docs if d and d.get("kind") == kind)


class KubernetesTest(CopyOfDeploy):
    def test_the_project_manifests_pass(self) -> None:
        self.assertEqual(kubernetes.check(self.deploy), [])

    def test_a_pod_allowed_to_run_as_root_is_refused(self) -> None:
        self.edit("kubernetes/deployment.yaml", r"^        runAsNonRoot: true$", "        runAsNonRoot: false")
        self.assertFinds(kubernetes.check(self.deploy), "pod runAsNonRoot: true")

    def test_a_manifest_missing_from_the_kustomization_is_reported(self) -> None:
        self.edit("kubernetes/kustomization.yaml", r"^  - networkpolicy.yaml\n", "")
        self.assertFinds(kubernetes.check(self.deploy), "does not list networkpolicy.yaml")

    def test_a_budget_that_blocks_every_drain_is_refused(self) -> None:
        def change(docs):
            spec = _by_kind(docs, "PodDisruptionBudget")["spec"]
            del spec["maxUnavailable"]
            spec["minAvailable"] = 2
        self.edit_yaml("kubernetes/poddisruptionbudget.yaml", change)
        self.assertFinds(kubernetes.check(self.deploy), "lets no pod be evicted")

    def test_a_budget_that_waits_for_unhealthy_pods_is_refused(self) -> None:
        self.edit_yaml("kubernetes/poddisruptionbudget.yaml",
                       lambda docs: _by_kind(docs, "PodDisruptionBudget")["spec"].pop("unhealthyPodEvictionPolicy"))
        self.assertFinds(kubernetes.check(self.deploy), "AlwaysAllow")

    def test_a_network_policy_open_to_every_pod_is_refused(self) -> None:
        def change(docs):
            _by_kind(docs, "NetworkPolicy")["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]
        self.edit_yaml("kubernetes/networkpolicy.yaml", change)
        self.assertFinds(kubernetes.check(self.deploy), "ingress[0] must admit only pods picked by their labels")

    def test_a_network_policy_without_dns_over_tcp_is_refused(self) -> None:
        def change(docs):
            dns = _by_kind(docs, "NetworkPolicy")["spec"]["egress"][3]
            dns["ports"] = [p for p in dns["ports"] if p["protocol"] != "TCP"]
        self.edit_yaml("kubernetes/networkpolicy.yaml", change)
        self.assertFinds(kubernetes.check(self.deploy), "egress to 53/TCP expected")

    def test_a_network_policy_selecting_other_pods_is_refused(self) -> None:
        self.edit_yaml("kubernetes/networkpolicy.yaml", lambda docs: _by_kind(docs, "NetworkPolicy")["spec"].update(
            podSelector={"matchLabels": {"app.kubernetes.io/name": "something-else"}}))
        self.assertFinds(kubernetes.check(self.deploy), "networkpolicy.yaml: selector does not match the pods")

    def test_an_image_pinned_by_tag_only_is_refused(self) -> None:
        self.edit("kubernetes/kustomization.yaml", r"^    digest: sha256:[0-9a-f]{64}$", "    newTag: 0.1.0")
        self.assertFinds(kubernetes.check(self.deploy), "must be pinned by digest")

    def test_the_default_namespace_is_refused(self) -> None:
        self.edit("kubernetes/kustomization.yaml", r"^namespace: auth-service$", "namespace: default")
        self.assertFinds(kubernetes.check(self.deploy), "never default")

    def test_network_settings_applied_to_the_cluster_are_refused(self) -> None:
        self.edit("kubernetes/kustomization.yaml", r'^        config.kubernetes.io/local-config: "true"\n', "")
        self.assertFinds(kubernetes.check(self.deploy), "must be local-config")

    def test_the_example_secret_must_keep_placeholders(self) -> None:
        self.edit("kubernetes/secret.example.yaml", r'operator-key: "REPLACE-ME"', 'operator-key: "hunter2"')
        self.assertFinds(kubernetes.check(self.deploy), "operator-key must be an obvious placeholder")

    def test_field_paths_split_at_unescaped_dots_only(self) -> None:
        self.assertEqual(kubernetes.field_path(r"spec.to.0.matchLabels.kubernetes\.io/metadata\.name"),
                         ["spec", "to", "0", "matchLabels", "kubernetes.io/metadata.name"])
        self.assertEqual(kubernetes.at_path({"a": [{"b.c": 5}]}, r"a.0.b\.c"), 5)
        self.assertIsNone(kubernetes.at_path({"a": []}, "a.3"))


class KustomizeBuildTest(CopyOfDeploy):
    """check_built on hand-made `kubectl kustomize` output (no kubectl needed here)."""

    def built(self, objects: list) -> str:
        path = os.path.join(self.tmp, "built.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(objects, f)
        return path

    def good_objects(self) -> list:
        """The manifests as kustomize would emit them with the settings applied."""
        kust = kubernetes.kustomization(self.deploy)
        objs = [d for _, ds in kubernetes.manifests(self.deploy).items() for _, d in ds if d.get("kind") != "Secret"]
        for o in objs:
            if o["kind"] != "Namespace":
                o["metadata"]["namespace"] = kust["namespace"]
            if o["kind"] == "Deployment":
                image = kust["images"][0]
                o["spec"]["template"]["spec"]["containers"][0]["image"] = f"{image['newName']}@{image['digest']}"
        values = kubernetes.network_settings(kust)
        np = next(o for o in objs if o["kind"] == "NetworkPolicy")
        for r in kust["replacements"]:
            value = values[r["source"]["fieldPath"].removeprefix("data.")]
            for fp in r["targets"][0]["fieldPaths"]:
                *parents, last = kubernetes.field_path(fp)
                node = np
                for p in parents:
                    node = node[int(p)] if isinstance(node, list) else node[p]
                node[last] = int(value) if value.isdigit() else value
        return objs

    def test_a_faithful_build_passes(self) -> None:
        self.assertEqual(kubernetes.check_built(self.deploy, self.built(self.good_objects())), [])

    def test_an_object_left_in_the_default_namespace_is_reported(self) -> None:
        objs = self.good_objects()
        next(o for o in objs if o["kind"] == "Service")["metadata"]["namespace"] = "default"
        self.assertFinds(kubernetes.check_built(self.deploy, self.built(objs)), "built Service/auth-service: namespace")

    def test_a_setting_that_did_not_reach_the_policy_is_reported(self) -> None:
        objs = self.good_objects()
        np = next(o for o in objs if o["kind"] == "NetworkPolicy")
        np["spec"]["egress"][0]["ports"][0]["port"] = 9999
        self.assertFinds(kubernetes.check_built(self.deploy, self.built(objs)), "the setting vault-port")

    def test_an_image_without_digest_is_reported(self) -> None:
        objs = self.good_objects()
        next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] = "x:1"
        self.assertFinds(kubernetes.check_built(self.deploy, self.built(objs)), "is not pinned by digest")

    def test_a_port_left_as_text_is_reported(self) -> None:
        objs = self.good_objects()
        next(o for o in objs if o["kind"] == "NetworkPolicy")["spec"]["egress"][1]["ports"][0]["port"] = "5432"
        self.assertFinds(kubernetes.check_built(self.deploy, self.built(objs)), "must be a number")


# ---------------------------------------------------------------- compose, image
class ComposeAndImageTest(CopyOfDeploy):
    def test_the_project_compose_files_pass(self) -> None:
        self.assertEqual(compose.check(self.deploy), [])

    def test_postgres_compose_with_one_replica_is_refused(self) -> None:
        self.edit("compose.postgres.yaml", "replicas: 2", "replicas: 1")
        self.assertFinds(compose.check(self.deploy), "replicas: 2 expected")

    def test_compose_volumes_in_both_syntaxes_are_read(self) -> None:
        svc = {"volumes": ["data:/var/lib/x:rw", {"type": "volume", "source": "pg", "target": "/pg"}]}
        self.assertEqual(compose.mounts_of(svc), {"/var/lib/x": "data", "/pg": "pg"})

    def test_the_project_containerfile_passes_and_its_uid_matches_the_deployment(self) -> None:
        found, uid = image.runtime_uid(self.deploy)
        self.assertEqual(found, [])
        self.assertEqual(uid, kubernetes.deployment_uid(self.deploy))

    def test_a_named_user_is_refused(self) -> None:
        self.edit("Containerfile", r"^USER 10001:10001$", "USER auth-service")
        self.assertFinds(image.check(self.deploy), "USER must be numeric")

    def test_continuation_lines_make_one_instruction(self) -> None:
        self.assertEqual(image.instructions("# c\nRUN a \\\n  && b\nUSER 1\n"), [("RUN", "a    && b"), ("USER", "1")])


# ---------------------------------------------------------------- settings
class SettingsTest(CopyOfDeploy):
    def test_the_example_settings_match_the_loader(self) -> None:
        self.assertEqual(settings.check(self.deploy, CONFIG_SOURCE), [])

    def test_an_integer_written_as_a_string_is_refused(self) -> None:
        self.edit("auth-service.toml", r"^max_concurrent_agents = 4\b", 'max_concurrent_agents = "4"')
        self.assertFinds(settings.check(self.deploy, CONFIG_SOURCE), "max_concurrent_agents must be a bare integer")

    def test_an_unknown_key_is_refused(self) -> None:
        self.edit("auth-service.toml", r"^listen = ", "listn = ")
        self.assertFinds(settings.check(self.deploy, CONFIG_SOURCE), "unknown key 'listn'")

    def test_durations_need_a_unit_and_must_not_be_zero(self) -> None:
        self.assertIsNone(settings.value_problem("Dur", "1h 30m"))
        self.assertIsNone(settings.value_problem("Dur", "90days"))
        self.assertIn("duration string", settings.value_problem("Dur", "30"))
        self.assertIn("duration string", settings.value_problem("Dur", 30))
        self.assertIn("longer than zero", settings.value_problem("Dur", "0s"))

    def test_lists_enums_and_booleans_are_typed(self) -> None:
        self.assertIsNone(settings.value_problem("List", ["aws", "jwt"]))
        self.assertIsNone(settings.value_problem("List", "aws,jwt"))
        self.assertIsNotNone(settings.value_problem("List", [1]))
        self.assertIsNone(settings.value_problem("LogFormat", "json"))
        self.assertIsNotNone(settings.value_problem("LogFormat", "xml"))
        self.assertIsNotNone(settings.value_problem("u64", True))
        self.assertIn("teach it", settings.value_problem("Url", "x"))

    def test_the_loader_struct_is_read_from_the_rust_source(self) -> None:
        source = "struct Raw {\n    pub(super) listen: Option<String>,\n    pub(super) workers: Option<u64>,\n}\n"
        self.assertEqual(settings.raw_fields(source), {"listen": "String", "workers": "u64"})

    def test_a_missing_rust_source_is_reported(self) -> None:
        self.assertFinds(settings.check(self.deploy, os.path.join(self.tmp, "none.rs")), "cannot read the settings struct")


# ---------------------------------------------------------------- monitoring
class MonitoringTest(CopyOfDeploy):
    def test_the_project_alerts_and_dashboard_pass(self) -> None:
        self.assertEqual(monitoring.check(self.deploy), [])

    def test_an_alert_without_runbook_is_refused(self) -> None:
        self.edit("monitoring/alerts.yaml", r"^          runbook_url: docs/troubleshooting.md#no-agent-slot\n", "")
        self.assertFinds(monitoring.check(self.deploy), "AuthServiceAgentSlotsSaturated: runbook_url")

    def test_a_runbook_template_names_every_section_it_can_choose(self) -> None:
        rule = {"annotations": {"runbook_url": 'docs/troubleshooting.md#{{ if eq $labels.outcome "x" }}one-section{{\n'
                                               '  else }}other-section{{ end }}'}}
        self.assertEqual(monitoring.runbook_anchors(rule), ["one-section", "other-section"])
        self.assertEqual(monitoring.runbook_anchors({"annotations": {"runbook_url": "https://x/#a"}}), [])

    def test_an_alert_no_test_fires_is_reported(self) -> None:
        self.edit("monitoring/alerts.yaml", r"^      - alert: AuthServiceNotReady$", "      - alert: AuthServiceNotReadyAtAll")
        self.assertFinds(monitoring.check(self.deploy), "no test in which AuthServiceNotReadyAtAll fires")

    def edit_dashboard(self, change) -> None:
        path = self.path("monitoring/dashboard.json")
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        change(dash)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dash, f)

    def test_a_panel_without_a_query_is_refused(self) -> None:
        def change(dash):
            panel = next(p for p in dash["panels"] if p["title"] == "Resident memory")
            panel["targets"][0]["expr"] = " "
        self.edit_dashboard(change)
        self.assertFinds(monitoring.check(self.deploy), "'Resident memory' must have a query")

    def test_a_hard_coded_data_source_is_refused(self) -> None:
        self.edit("monitoring/dashboard.json", r'"uid": "\$\{datasource\}"', '"uid": "P1809F7CD0C75ACF3"')
        self.assertFinds(monitoring.check(self.deploy), "must use the ${datasource} variable")

    def test_a_dashboard_that_is_not_json_is_refused(self) -> None:
        self.edit("monitoring/dashboard.json", r"\A\{", "{{")
        self.assertFinds(monitoring.check(self.deploy), "not valid JSON")

    def test_headings_become_github_anchors(self) -> None:
        self.assertEqual(monitoring.slug("Server errors (5xx)"), "server-errors-5xx")
        self.assertEqual(monitoring.slug("Memory near the limit"), "memory-near-the-limit")

    def test_runbook_sections_must_exist_in_the_troubleshooting_guide(self) -> None:
        guide = os.path.join(self.tmp, "troubleshooting.md")
        anchors = sorted({a for r in monitoring.alerts(self.deploy) for a in monitoring.runbook_anchors(r)})
        with open(guide, "w", encoding="utf-8") as f:
            f.write("# Troubleshooting\n\n" + "".join(f"## {a.replace('-', ' ').title()}\n\ntext\n\n" for a in anchors))
        self.assertEqual(monitoring.check_runbooks(self.deploy, guide), [])
        with open(guide, "w", encoding="utf-8") as f:
            f.write("# Troubleshooting\n\n## Login back-off\n")
        self.assertFinds(monitoring.check_runbooks(self.deploy, guide), "no section #store-unavailable")


if __name__ == "__main__":
    unittest.main()
