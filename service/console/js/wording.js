/*
 * The service's words turned into an admin's: field names instead of JSON
 * pointers and API field names, no environment variable names, no API paths.
 * The service stays the one judge of what is valid; this only rewords.
 */
import { ApiError, Cancelled } from "./api.js";
import { el, isObject } from "./dom.js";

/** The console's label for each profile field (and method-block field) the service may name; longer names first. */
const LABELS = [
  ["iam_server_id_header_value", "the header value Vault expects"],
  ["aws_role_arn", "AWS role ARN"],
  ["secret_cache_ttl", "Secret cache"],
  ["secret_cache_leased", "shared cache of dynamic credentials"],
  ["test_secret_path", "Test secret path"],
  ["vault_address", "Vault address"],
  ["aws_external_id", "external id"],
  ["config.header_value", "Header value"],
  ["config.region", "AWS region"],
  ["config.role", "Vault role"],
  ["config.path", "JWT file"],
  ["config.type", "Login type"],
  ["mount_path", "Mount path"],
  ["header_value", "Header value"],
];

/** The message without a parenthesis that starts with `opening` (brackets inside it balanced). */
function withoutParenthesis(text, opening) {
  for (;;) {
    const start = text.indexOf(opening);
    if (start < 0) return text;
    let depth = 0;
    let end = start;
    for (; end < text.length; end += 1) {
      if (text[end] === "(") depth += 1;
      else if (text[end] === ")" && --depth === 0) break;
    }
    text = (text.slice(0, start).replace(/\s+$/, "") + text.slice(end + 1)).trim();
  }
}

/** Rewrite one message from the service in the console's words. */
export function adminWords(message) {
  let text = String(message || "");
  text = withoutParenthesis(text, "(pattern "); // a regular expression says nothing to an admin
  text = withoutParenthesis(text, "(relative URL"); // nor does the URL parser's reason
  text = text.replace(/\s*\((?:PATCH|POST|GET|PUT|DELETE) \/v1\/[^)]*\)/g, "");
  text = text.replace(/(?:PATCH|POST|GET|PUT|DELETE) \.\.\.\/ec2-nonce\/reset on this profile/g, "press \u201cReset nonce\u201d on this profile");
  text = text.replace(/AUTH_SERVICE_VAULT_ADDRESSES: /g, "the operator's list: ");
  text = text.replace(/\s*\(AUTH_SERVICE_[A-Z_]+\)/g, " (a setting of the operator)");
  text = text.replace(/AUTH_SERVICE_[A-Z_]+(=[^\s,;)]*)?/g, "the operator's settings");
  for (const [name, label] of LABELS) {
    text = text.split(name).join(label);
  }
  return text;
}

/** A method-block pointer (`/config/role`) in words: "config › role". */
export function blockPlace(pointer) {
  const parts = String(pointer || "").split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  return parts.length ? parts.join(" \u203a ") : "the whole block";
}

/** One line for a problem: "Title: detail" in admin words. */
export function problemSummary(problem) {
  const title = problem.title ? String(problem.title) : "";
  const detail = problem.detail ? adminWords(problem.detail) : "";
  if (/problem\(s\) in the/.test(detail)) return title || "Some fields need attention.";
  if (title && detail && title !== detail) return title + ": " + detail;
  return title || detail || "The request failed (HTTP " + problem.status + ").";
}

/**
 * Show a failure in `box`: a lead sentence, the problem in words, the
 * problems no field shows (`unplaced`: [{label, message}]), the hint, any wait.
 */
export function showProblem(box, err, lead, unplaced) {
  const parts = [];
  if (lead) parts.push(el("p", { className: "problem-lead", text: lead }));
  if (err instanceof Cancelled) {
    parts.push(el("p", { text: "You cancelled it." }));
  } else if (err instanceof ApiError) {
    parts.push(el("p", { text: problemSummary(err.problem) }));
    const rest = unplaced || [];
    if (rest.length) parts.push(el("ul", {}, rest.map((e) => el("li", { text: (e.label ? e.label + ": " : "") + adminWords(e.message) }))));
    if (err.problem.hint) parts.push(el("p", { className: "problem-hint", text: "What to do: " + adminWords(err.problem.hint) }));
    if (err.retryAfter) parts.push(el("p", { text: "Try again in " + err.retryAfter + " s." }));
  } else {
    parts.push(el("p", { text: "Something went wrong in the console: " + (err && err.message ? err.message : err) }));
  }
  box.replaceChildren(...parts);
}

/** The `errors` list of a 400 problem, or []. */
export function fieldErrors(err) {
  return err instanceof ApiError && Array.isArray(err.problem.errors) ? err.problem.errors.filter(isObject) : [];
}
