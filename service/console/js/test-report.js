/*
 * Test connection and test before saving: progress with the time against
 * the limit, a cancel button, and the report with the hint's commands and
 * trust policy in copyable blocks. Focus moves to the result.
 */
import { Cancelled, api, session } from "./api.js";
import { $, copyBlock, duration, el, isObject, setText } from "./dom.js";
import { adminWords } from "./wording.js";

const STEP_LABELS = {
  assume_role: "Take on your AWS role",
  agent_login: "Sign in to Vault with the agent",
  verify_token: "Check the token Vault gave",
  read_test_secret: "Read the test secret",
};

let running = null; // { controller, timer }

/** The longest a login may take on this service (seconds). */
function limitSeconds() {
  const o = session.options;
  return o && typeof o.agent_timeout_seconds === "number" ? o.agent_timeout_seconds : 30;
}

export function hideReport() {
  $("report").hidden = true;
  $("report").removeAttribute("aria-busy");
}

export function isRunning() {
  return running !== null;
}

/** Cancel a running test (the request is dropped; the service finishes on its own). */
function cancelTest() {
  if (running) running.controller.abort();
}

function showPending() {
  const report = $("report");
  report.hidden = false;
  report.setAttribute("aria-busy", "true");
  setText("report-context", "");
  setText("report-outcome", "Running\u2026");
  $("report-outcome").className = "outcome";
  $("report-progress").hidden = false;
  $("hint").hidden = true;
  $("hint-body").replaceChildren();
  $("report-steps").replaceChildren();
  $("report-token").hidden = true;
  $("report-warnings").hidden = true;
}

function tick(started) {
  const limit = limitSeconds();
  const elapsed = Math.floor((Date.now() - started) / 1000);
  const bar = $("report-progress-bar");
  bar.max = limit;
  bar.value = Math.min(elapsed, limit);
  setText("report-progress-text", duration(elapsed) + " of at most " + duration(limit));
}

/**
 * Run a test: `path` and `body` of the request, `context` for the report.
 * `busy(true|false)` disables the editor's buttons meanwhile; `trigger` (the button
 * that started it) gets the focus back after a cancel. Resolves to the report,
 * or throws (ApiError, Cancelled, SessionEnded) after the report panel was tidied.
 */
export async function runTest(path, body, context, busy, trigger) {
  const controller = new AbortController();
  const started = Date.now();
  showPending();
  tick(started);
  running = { controller, timer: setInterval(() => tick(started), 500) };
  busy(true);
  $("cancel-test").hidden = false;
  $("cancel-test").disabled = false;
  $("cancel-test").focus();
  try {
    const report = await api("POST", path, body, { signal: controller.signal });
    renderReport(report, context);
    return report;
  } catch (err) {
    hideReport();
    if (err instanceof Cancelled) setText("form-status", "Test cancelled after " + duration((Date.now() - started) / 1000) + ".");
    throw err;
  } finally {
    const cancelHadFocus = document.activeElement === $("cancel-test");
    clearInterval(running.timer);
    running = null;
    $("cancel-test").hidden = true;
    $("report-progress").hidden = true;
    busy(false);
    // Focus stays near the action rather than falling back to the page.
    if (cancelHadFocus && trigger) trigger.focus();
  }
}

/** A hint split into words and copyable blocks (commands for the Vault admin, a trust policy). */
function hintParts(hint) {
  const parts = [];
  let text = String(hint);
  const json = text.indexOf("{");
  let policy = null;
  if (json >= 0) {
    try {
      policy = JSON.parse(text.slice(json));
      text = text.slice(0, json).replace(/[:\s]+$/, ".");
    } catch (e) {
      policy = null;
    }
  }
  const command = /(?:run|Run):\s*((?:vault|bao) [^;]+?)(?:;|$)/.exec(text);
  if (command) {
    parts.push(el("p", { text: adminWords(text.slice(0, command.index + command[0].indexOf(":") + 1)) }));
    parts.push(copyBlock("Command for the Vault admin", command[1].trim()));
    const rest = text.slice(command.index + command[0].length).trim();
    if (rest) parts.push(el("p", { text: adminWords(rest.replace(/^then\s*/, "Then ")) }));
  } else {
    parts.push(el("p", { text: adminWords(text) }));
  }
  if (isObject(policy)) parts.push(copyBlock(policy.Statement ? "Trust policy for the role" : "JSON", JSON.stringify(policy, null, 2)));
  return parts;
}

function renderStep(step) {
  const outcome = step.ok ? "passed" : "failed";
  return el("li", { className: "step step-" + outcome, attrs: { "data-step": step.step } }, [
    el("div", { className: "step-head" }, [
      el("span", { className: "step-name", text: STEP_LABELS[step.step] || String(step.step) }),
      el("span", { className: "state state-" + outcome, text: outcome }),
      el("span", { className: "step-duration", text: typeof step.duration_ms === "number" ? step.duration_ms + " ms" : "" }),
    ]),
    step.detail ? el("p", { className: "step-detail", text: adminWords(step.detail) }) : null,
  ]);
}

function fact(term, value) {
  return [el("dt", { text: term }), el("dd", { text: value })];
}

function tokenFacts(token) {
  const policies = Array.isArray(token.policies) ? token.policies : [];
  const out = [
    ...fact("Valid for", duration(token.ttl_seconds)),
    ...fact("Policies", policies.length ? policies.join(", ") : "none"),
    ...fact("Renewable", token.renewable ? "yes" : "no"),
  ];
  const identity = isObject(token.identity) ? token.identity : {};
  for (const k of Object.keys(identity)) out.push(...fact(k.replace(/_/g, " "), identity[k]));
  return out;
}

function renderReport(report, context) {
  const r = isObject(report) ? report : {};
  const steps = Array.isArray(r.steps) ? r.steps.filter(isObject) : [];
  const failed = steps.find((s) => !s.ok);
  $("report").hidden = false;
  $("report").removeAttribute("aria-busy");
  setText("report-context", context);
  setText("report-outcome", r.ok
    ? "Passed: every step succeeded."
    : failed ? "Failed at \u201c" + (STEP_LABELS[failed.step] || failed.step) + "\u201d." : "Failed.");
  $("report-outcome").className = "outcome " + (r.ok ? "is-passed" : "is-failed");
  $("hint").hidden = !r.hint;
  $("hint-body").replaceChildren(...(r.hint ? hintParts(r.hint) : []));
  $("report-steps").replaceChildren(...steps.map(renderStep));
  const token = isObject(r.token) ? r.token : null;
  $("report-token").hidden = !token;
  $("report-token-facts").replaceChildren(...(token ? tokenFacts(token) : []));
  const warnings = Array.isArray(r.warnings) ? r.warnings : [];
  $("report-warnings").hidden = warnings.length === 0;
  $("report-warnings-list").replaceChildren(...warnings.map((w) => el("li", { text: adminWords(w) })));
  const details = $("report").closest("details");
  if (details) details.open = true;
  $("report").scrollIntoView({ block: "start", behavior: "instant" });
  $("report-title").focus({ preventScroll: true });
}

export function bindReport() {
  $("cancel-test").addEventListener("click", cancelTest);
}
