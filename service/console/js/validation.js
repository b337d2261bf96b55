/*
 * Validation has one judge, the service: the form is sent to
 * POST .../profiles/validate a moment after the admin stops typing, and its
 * verdict (every problem, each with a pointer) is shown at the fields. The
 * browser only checks that the method block is JSON. One verdict at a time:
 * a newer answer, or a save's answer, replaces the whole of the last one.
 */
import { ApiError, Cancelled, SessionEnded, api, session, tenantPath } from "./api.js";
import { $, el, plural, setText } from "./dom.js";
import { PLAIN, STRUCTURED, buildBody, checkedType } from "./profile-form.js";
import { adminWords, blockPlace } from "./wording.js";

const DEBOUNCE_MS = 400;
const FIELDS = [...PLAIN, ...Object.keys(STRUCTURED), "method_type", "method"];

const state = {
  timer: 0,
  seq: 0,
  touched: new Set(),
  showAll: false,
  verdict: null, // { valid, placed: {field: [text]}, unplaced: [text] } of the latest answer
  unavailable: false,
  current: null, // the saved profile being edited
  onVerdict: () => {},
};

/** Which field shows a problem at `pointer` (null: the form's own box). */
function fieldFor(pointer) {
  const p = String(pointer || "");
  if (p === "/secret_cache_leased") return "secret_cache_ttl";
  for (const f of PLAIN) if (p === "/" + f || p.startsWith("/" + f + "/")) return f;
  if (p === "/method/type" || p === "/method/config/type") return "method_type";
  const type = checkedType();
  for (const id of Object.keys(STRUCTURED)) {
    const [path, types] = STRUCTURED[id];
    const at = "/method/" + path.join("/");
    if (type && types.includes(type) && (p === at || p.startsWith(at + "/"))) return id;
  }
  if (p === "/method" || p.startsWith("/method/")) return "method";
  return null;
}

function setFieldErrors(field, messages) {
  const box = $(field + "-errors");
  const wrapper = $("field-" + field);
  const inputs = field === "method_type" ? document.querySelectorAll("input[name=method_type]") : [$(field)];
  if (!messages.length) {
    box.replaceChildren();
    for (const i of inputs) i.removeAttribute("aria-invalid");
    wrapper.classList.remove("invalid");
    return;
  }
  box.replaceChildren(el("ul", {}, messages.map((m) => el("li", { text: m }))));
  for (const i of inputs) i.setAttribute("aria-invalid", "true");
  wrapper.classList.add("invalid");
}

/** Turn the service's errors into a verdict placed at the fields. */
function verdictOf(errors) {
  const placed = {};
  const unplaced = [];
  for (const e of errors) {
    const pointer = typeof e.pointer === "string" ? e.pointer : "";
    let field = fieldFor(pointer);
    // No block yet: what the service misses is the login type.
    if (field === "method" && pointer === "/method" && !$("method").value.trim()) field = "method_type";
    let text = adminWords(e.message || "invalid");
    if (field === "method_type" && /^required/.test(text)) text = "Choose the login type.";
    if (field === "method" && pointer !== "/method") text = "At " + blockPlace(pointer.slice("/method".length)) + ": " + text;
    if (field) (placed[field] = placed[field] || []).push(text);
    else unplaced.push(text);
  }
  return { valid: errors.length === 0, placed, unplaced };
}

/** Whether a field holds something (its problems are then shown even if the admin did not type there). */
function filled(field) {
  if (field === "method_type") return document.querySelector("input[name=method_type]:checked") !== null;
  return $(field).value.trim() !== "";
}

/** Problems of empty fields the admin has not reached yet are held back (until Save or a test). */
function visible(field) {
  return state.showAll || state.touched.has(field) || filled(field);
}

/** Draw the latest verdict (and nothing else). */
export function render() {
  const v = state.verdict;
  let shown = 0;
  let held = 0;
  for (const f of FIELDS) {
    const messages = v && v.placed[f] && visible(f) ? v.placed[f] : [];
    if (v && v.placed[f] && !visible(f)) held += v.placed[f].length;
    shown += messages.length;
    setFieldErrors(f, messages);
  }
  // A problem inside the advanced view is not left folded away.
  if (v && v.placed.method && visible("method")) $("advanced").open = true;
  const box = $("form-verdict-list");
  const unplaced = v ? v.unplaced : [];
  box.replaceChildren(...unplaced.map((t) => el("li", { text: t })));
  shown += unplaced.length;
  const verdict = $("form-verdict");
  verdict.className = "verdict";
  if (!session.canWrite || state.current === undefined) setText("form-verdict-text", "");
  else if (state.unavailable) setText("form-verdict-text", "The service checks the profile when you save or test it.");
  else if (v === null) setText("form-verdict-text", "");
  else if (v.syntax) {
    verdict.classList.add("is-bad");
    setText("form-verdict-text", "Fix the method block's JSON first; the other fields are checked after that.");
  } else if (v.valid) {
    verdict.classList.add("is-good");
    setText("form-verdict-text", "The service accepts this profile.");
  } else {
    verdict.classList.add("is-bad");
    const rest = held ? " (" + plural(held, "more problem") + " in fields you have not filled in yet)" : "";
    setText("form-verdict-text", shown ? plural(shown, "problem") + " to fix" + rest + "." : "Fill in the remaining fields" + rest + ".");
  }
  state.onVerdict(v);
}

/** Show a verdict that came from a save or test (400 problem), at every field. */
export function showServerErrors(errors) {
  state.seq += 1;
  clearTimeout(state.timer);
  state.showAll = true;
  state.verdict = verdictOf(errors);
  render();
  const first = FIELDS.find((f) => state.verdict.placed[f]);
  if (first) {
    const details = $("field-" + first).closest("details");
    if (details) details.open = true;
  }
  return first || null;
}

/** Ask the service now. */
export async function validateNow() {
  clearTimeout(state.timer);
  const seq = ++state.seq;
  if (!session.canWrite || state.current === undefined) return;
  const built = buildBody(state.current);
  if (built.syntaxError) {
    state.verdict = { valid: false, syntax: true, placed: { method: [built.syntaxError] }, unplaced: [] };
    state.touched.add("method");
    render();
    return;
  }
  $("form-verdict").setAttribute("aria-busy", "true");
  try {
    await api("POST", tenantPath("/profiles/validate"), built.body);
    if (seq !== state.seq) return;
    state.unavailable = false;
    state.verdict = verdictOf([]);
  } catch (err) {
    if (err instanceof SessionEnded || err instanceof Cancelled || seq !== state.seq) return;
    if (err instanceof ApiError && err.status === 400 && Array.isArray(err.problem.errors)) {
      state.unavailable = false;
      state.verdict = verdictOf(err.problem.errors.filter((e) => e && typeof e === "object"));
    } else if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      state.unavailable = true;
      state.verdict = null;
    } else {
      state.verdict = null; // no verdict: the last one's problems go too
      render();
      setText("form-verdict-text", "The check did not run (" + adminWords(err.message || "error") + "); the service checks the profile again when you save.");
      return;
    }
  } finally {
    if (seq === state.seq) $("form-verdict").removeAttribute("aria-busy");
  }
  render();
}

/** The admin changed `field`: check again a moment after typing stops. */
export function fieldChanged(field) {
  state.touched.add(field);
  clearTimeout(state.timer);
  state.seq += 1; // an answer already on its way is about the old text
  state.timer = setTimeout(validateNow, DEBOUNCE_MS);
}

/** A new form: forget the verdict. `current` is the saved profile (null: new, undefined: closed). */
export function resetValidation(current, touchedAll) {
  clearTimeout(state.timer);
  state.seq += 1;
  state.current = current;
  state.touched = new Set();
  state.showAll = Boolean(touchedAll);
  state.verdict = null;
  render();
}

/** Show every problem, also in fields not filled in yet (before a save or test). */
export function revealAll() {
  state.showAll = true;
  render();
}

/** Called with each new verdict (the preview follows it). */
export function onVerdict(fn) {
  state.onVerdict = fn;
}
