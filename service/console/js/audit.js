/*
 * The audit trail, newest first. The service pages it oldest first
 * (?after=CURSOR&limit=N), so the console walks the pages to the end, keeps
 * the newest events, and then shows them in reverse; a refresh asks only for
 * what came after the last event it has. Filters work on what is loaded.
 */
import { SessionEnded, api, tenantPath } from "./api.js";
import { $, el, isObject, plural, setText, timeEl } from "./dom.js";
import { showProblem } from "./wording.js";

const PAGE = 1000;
const KEEP = 5000; // events kept in the browser; older ones are counted, not shown
const SHOW_STEP = 50;

const ACTIONS = {
  "tenant.update": "Tenant settings changed",
  "tenant.delete": "Tenant deleted",
  "key.create": "API key created",
  "key.revoke": "API key revoked",
  "profile.create": "Profile created",
  "profile.replace": "Profile saved",
  "profile.delete": "Profile deleted",
  "profile.test": "Connection tested",
  "nonce.reset": "EC2 nonce reset",
  "secret.read": "Secret read",
  "lease.renew": "Lease renewed",
  "lease.revoke": "Lease revoked",
};

const state = { events: [], total: 0, after: 0, loaded: false, shown: SHOW_STEP, keyNames: {}, loading: null };

function actionWords(action) {
  return ACTIONS[action] || String(action);
}

function actorWords(actor) {
  if (actor === "operator") return "the operator";
  const m = /^key:(.+)$/.exec(String(actor));
  if (!m) return String(actor);
  const name = state.keyNames[m[1]];
  return name ? "key \u201c" + name + "\u201d" : "key " + m[1] + " (revoked)";
}

/** Fetch every event after the last one loaded (all of them the first time). */
export async function loadAudit(fresh) {
  if (state.loading) return state.loading;
  if (fresh) {
    state.events = [];
    state.total = 0;
    state.after = 0;
    state.loaded = false;
  }
  state.loading = (async () => {
    for (;;) {
      const page = await api("GET", tenantPath("/audit?after=" + state.after + "&limit=" + PAGE));
      const events = isObject(page) && Array.isArray(page.events) ? page.events.filter(isObject) : [];
      state.total += events.length;
      state.events.push(...events);
      if (state.events.length > KEEP) state.events.splice(0, state.events.length - KEEP);
      if (events.length) state.after = events[events.length - 1].id;
      if (!isObject(page) || page.next === null || page.next === undefined || !events.length) break;
    }
    state.loaded = true;
  })();
  try {
    await state.loading;
  } finally {
    state.loading = null;
  }
  return state.events;
}

/** The latest event of each key id (for "Last used" on the keys page). */
export function lastUseByKey() {
  const out = {};
  for (const e of state.events) {
    const m = /^key:(.+)$/.exec(String(e.actor));
    if (m) out[m[1]] = e.at;
  }
  return out;
}

export function setKeyNames(keys) {
  state.keyNames = {};
  for (const k of keys) state.keyNames[k.id] = k.name;
}

function fillFilter(id, values, words) {
  const select = $(id);
  const chosen = select.value;
  select.replaceChildren(el("option", { text: "All", attrs: { value: "" } }),
    ...[...values].sort().map((v) => el("option", { text: words ? words(v) : v, attrs: { value: v } })));
  if (values.has(chosen)) select.value = chosen;
}

function filtered() {
  const action = $("audit-action").value;
  const profile = $("audit-profile").value;
  const outcome = $("audit-outcome").value;
  return state.events.filter((e) => (!action || e.action === action) && (!profile || e.profile === profile) && (!outcome || e.outcome === outcome));
}

function row(e) {
  return el("tr", {}, [
    el("td", { attrs: { "data-label": "When" } }, [timeEl(e.at)]),
    el("td", { text: actionWords(e.action), attrs: { "data-label": "Action" } }),
    el("td", { text: e.profile || "\u2013", attrs: { "data-label": "Profile" } }),
    el("td", { className: "wrap-anywhere", text: e.path || "\u2013", attrs: { "data-label": "Secret" } }),
    el("td", { attrs: { "data-label": "Outcome" } }, [el("span", { className: "state state-" + (e.outcome === "ok" ? "passed" : "failed"), text: e.outcome })]),
    el("td", { text: actorWords(e.actor), attrs: { "data-label": "By" } }),
  ]);
}

function renderAudit() {
  fillFilter("audit-action", new Set(state.events.map((e) => e.action)), actionWords);
  fillFilter("audit-profile", new Set(state.events.map((e) => e.profile).filter(Boolean)));
  fillFilter("audit-outcome", new Set(state.events.map((e) => e.outcome)));
  const list = filtered().reverse();
  const shown = list.slice(0, state.shown);
  $("audit-body").replaceChildren(...shown.map(row));
  $("audit-table-wrap").hidden = shown.length === 0;
  $("audit-more").hidden = list.length <= shown.length;
  const older = state.total - state.events.length;
  let text = state.total === 0 ? "Nothing recorded yet." : "Showing " + shown.length + " of " + plural(list.length, "event") +
    (list.length !== state.events.length ? " that match the filters" : "") + ", newest first.";
  if (older > 0) text += " The " + plural(older, "older event") + " are not loaded in this page.";
  setText("audit-summary", text);
}

/** Open the page: load (or refresh) and draw. */
export async function showAudit(fresh) {
  setText("audit-status", "Loading\u2026");
  $("audit-errors").replaceChildren();
  try {
    await loadAudit(fresh || !state.loaded);
    setText("audit-status", "");
  } catch (err) {
    if (err instanceof SessionEnded) return;
    setText("audit-status", "");
    showProblem($("audit-errors"), err, "The audit trail could not be loaded.");
  }
  renderAudit();
}

export function resetAudit() {
  state.events = [];
  state.total = 0;
  state.after = 0;
  state.loaded = false;
  state.shown = SHOW_STEP;
}

export function bindAudit() {
  for (const id of ["audit-action", "audit-profile", "audit-outcome"]) {
    $(id).addEventListener("change", () => {
      state.shown = SHOW_STEP;
      renderAudit();
    });
  }
  $("audit-more").addEventListener("click", () => {
    state.shown += SHOW_STEP;
    renderAudit();
  });
  $("audit-refresh").addEventListener("click", () => showAudit(false));
}
