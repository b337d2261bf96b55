"""Unit tests of dashboard_metrics.py: the PromQL reader, the scrape reader and
the verdict, and the project's dashboard and alerts against a scrape shaped
like the service's own."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import textwrap
import unittest
from contextlib import redirect_stderr, redirect_stdout

from deploy_checks import dashboard_metrics as dm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "deploy", "monitoring", "dashboard.json")
ALERTS = os.path.join(ROOT, "deploy", "monitoring", "alerts.yaml")

# A scrape shaped like the service's: OpenMetrics from prometheus-client, where
# a family without label values yet has its TYPE line but no sample.
SCRAPE = textwrap.dedent("""\
    # HELP auth_service_agent_spawns Agent processes run, by outcome.
    # TYPE auth_service_agent_spawns counter
    auth_service_agent_spawns_total{outcome="success"} 0
    # HELP auth_service_agent_spawn_seconds Time from agent spawn to exit.
    # TYPE auth_service_agent_spawn_seconds histogram
    auth_service_agent_spawn_seconds_sum 0.0
    auth_service_agent_spawn_seconds_count 0
    auth_service_agent_spawn_seconds_bucket{le="0.05"} 0
    auth_service_agent_spawn_seconds_bucket{le="+Inf"} 0
    # TYPE auth_service_agent_queue_wait_seconds histogram
    auth_service_agent_queue_wait_seconds_sum 0.0
    auth_service_agent_queue_wait_seconds_count 0
    auth_service_agent_queue_wait_seconds_bucket{le="+Inf"} 0
    # TYPE auth_service_token_cache_hits counter
    auth_service_token_cache_hits_total 0
    # TYPE auth_service_token_cache_misses counter
    auth_service_token_cache_misses_total 0
    # TYPE auth_service_secret_reads counter
    auth_service_secret_reads_total{outcome="ok",via="rest"} 0
    # TYPE auth_service_http_requests counter
    # TYPE auth_service_http_request_duration_seconds histogram
    # TYPE auth_service_cache_entries gauge
    auth_service_cache_entries{cache="tokens"} 0
    # TYPE auth_service_retiring_tokens gauge
    auth_service_retiring_tokens 0
    # TYPE auth_service_token_refreshes counter
    # TYPE auth_service_audit_write_failures counter
    auth_service_audit_write_failures_total 0
    # TYPE auth_service_token_unseal_failures counter
    auth_service_token_unseal_failures_total 0
    # TYPE process_resident_memory_bytes gauge
    process_resident_memory_bytes 1.2e+07
    # TYPE process_cpu_seconds_total counter
    process_cpu_seconds_total 0.5
    # EOF
    """)


class PromqlTest(unittest.TestCase):
    def test_functions_aggregations_and_grouping_labels_are_not_metrics(self) -> None:
        expr = 'histogram_quantile(0.99, sum by (route, le) (rate(http_seconds_bucket{route!~"/healthz"}[5m])))'
        self.assertEqual(dm.metric_names(expr), {"http_seconds_bucket"})

    def test_grouping_after_the_body_and_vector_matching_are_skipped(self) -> None:
        expr = "sum(rate(a_total[5m])) by (le) / on(instance) group_left(version) build_info * ignoring(x) b"
        self.assertEqual(dm.metric_names(expr), {"a_total", "build_info", "b"})

    def test_keywords_numbers_durations_and_offsets_are_skipped(self) -> None:
        expr = "a > bool 0.85 * 512 * 1e3 and b offset 1h30m or c unless d @ 1609746000 > Inf"
        self.assertEqual(dm.metric_names(expr), {"a", "b", "c", "d"})

    def test_label_values_and_strings_never_count(self) -> None:
        expr = 'label_replace(up_like{job="fake_metric_name"}, "dst", "$1", "src", "(.*)")'
        self.assertEqual(dm.metric_names(expr), {"up_like"})

    def test_grafana_variables_are_skipped(self) -> None:
        expr = 'rate(x_total{job=~"$job", instance=~"${instance:regex}"}[$__rate_interval]) * $factor + ${other}'
        self.assertEqual(dm.metric_names(expr), {"x_total"})

    def test_names_given_as_name_matchers_count(self) -> None:
        self.assertEqual(dm.metric_names('{__name__="via_matcher", job="x"}'), {"via_matcher"})

    def test_comments_and_subqueries_are_skipped(self) -> None:
        expr = "max_over_time(rate(a_total[5m])[1h:1m]) # not_a_metric here\n+ b"
        self.assertEqual(dm.metric_names(expr), {"a_total", "b"})

    def test_recording_rule_names_with_colons_count(self) -> None:
        self.assertEqual(dm.metric_names("job:requests:rate5m > 3"), {"job:requests:rate5m"})

    def test_variable_queries_name_only_their_metric(self) -> None:
        self.assertEqual(dm.variable_query_names('label_values(reads_total{job=~"$job"}, instance)'), {"reads_total"})
        self.assertEqual(dm.variable_query_names("label_values(instance)"), set())
        self.assertEqual(dm.variable_query_names("query_result(topk(3, a_total))"), {"a_total"})
        self.assertEqual(dm.variable_query_names("label_names()"), set())


class ScrapeTest(unittest.TestCase):
    def setUp(self) -> None:
        self.samples, self.families = dm.parse_scrape(SCRAPE)

    def verdict(self, name: str) -> str | None:
        return dm.problem(name, self.samples, self.families)

    def test_samples_and_type_lines_are_read(self) -> None:
        self.assertIn("auth_service_agent_spawns_total", self.samples)
        self.assertEqual(self.families["auth_service_agent_spawn_seconds"], "histogram")

    def test_histogram_series_exist_through_their_family_even_without_samples(self) -> None:
        for suffix in ("_bucket", "_sum", "_count"):
            self.assertIsNone(self.verdict("auth_service_http_request_duration_seconds" + suffix))

    def test_a_bare_histogram_name_is_reported_with_the_names_to_use(self) -> None:
        self.assertIn("query auth_service_agent_spawn_seconds_bucket", self.verdict("auth_service_agent_spawn_seconds"))

    def test_openmetrics_counters_are_queried_with_total(self) -> None:
        self.assertIsNone(self.verdict("auth_service_token_refreshes_total"))
        self.assertIsNotNone(self.verdict("auth_service_token_refreshes"))
        self.assertIsNotNone(self.verdict("auth_service_agent_spawn_seconds_total"))

    def test_text_format_counters_keep_their_total_family_name(self) -> None:
        samples, families = dm.parse_scrape("# TYPE requests_total counter\n")
        self.assertIsNone(dm.problem("requests_total", samples, families))
        self.assertIsNotNone(dm.problem("requests_total_total", samples, families))

    def test_absent_names_are_reported_and_prometheus_own_series_are_not(self) -> None:
        self.assertEqual(self.verdict("auth_service_nonexistent_total"), "is not in the scrape")
        self.assertIsNone(self.verdict("up"))


class CommandTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="dashboard-metrics-")
        self.scrape = os.path.join(self.tmp, "scrape.txt")
        with open(self.scrape, "w", encoding="utf-8") as f:
            f.write(SCRAPE)

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp)

    def run_main(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = dm.main(list(args))
        return code, out.getvalue()

    def test_the_project_dashboard_and_alerts_use_only_scraped_metrics(self) -> None:
        code, out = self.run_main(DASHBOARD, self.scrape, ALERTS)
        self.assertEqual((code, out), (0, ""))

    def test_a_metric_missing_from_the_scrape_fails_and_is_named_with_its_users(self) -> None:
        with open(self.scrape, "w", encoding="utf-8") as f:
            f.write(SCRAPE.replace("# TYPE auth_service_token_unseal_failures counter\n", "")
                    .replace("auth_service_token_unseal_failures_total 0\n", ""))
        code, out = self.run_main(DASHBOARD, self.scrape, ALERTS)
        self.assertEqual(code, 1)
        self.assertIn("auth_service_token_unseal_failures_total is not in the scrape", out)
        self.assertIn("rule 'AuthServiceTokenUnsealFailures'", out)
        self.assertIn("panel 'Audit and sealed-token failures'", out)

    def test_panels_inside_collapsed_rows_are_read(self) -> None:
        dash = {"panels": [{"type": "row", "title": "r", "panels": [
            {"title": "inner", "targets": [{"expr": "rate(hidden_total[5m])"}]}]}]}
        path = os.path.join(self.tmp, "d.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dash, f)
        code, out = self.run_main(path, self.scrape)
        self.assertEqual(code, 1)
        self.assertIn("hidden_total is not in the scrape (used by panel 'inner')", out)

    def test_rules_wrapped_in_a_prometheusrule_are_read(self) -> None:
        path = os.path.join(self.tmp, "rule.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"kind": "PrometheusRule", "spec": {"groups": [
                {"name": "g", "rules": [{"alert": "A", "expr": "wrapped_total > 0"}]}]}}, f)
        self.assertIn("wrapped_total", self.run_main(DASHBOARD, self.scrape, path)[1])

    def test_unreadable_inputs_exit_2(self) -> None:
        with redirect_stderr(io.StringIO()):
            self.assertEqual(dm.main([os.path.join(self.tmp, "none.json"), self.scrape]), 2)
            self.assertEqual(dm.main([DASHBOARD]), 2)

    def test_the_reader_without_yaml_finds_the_same_names(self) -> None:
        with open(ALERTS, encoding="utf-8") as f:
            plain = dm._rules_without_yaml(f.read())
        parsed = dm.rule_expressions(ALERTS)
        self.assertEqual([w for w, _ in plain], [w for w, _ in parsed])
        self.assertEqual([dm.metric_names(e) for _, e in plain], [dm.metric_names(e) for _, e in parsed])


if __name__ == "__main__":
    unittest.main()
