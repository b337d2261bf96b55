/*
 * The profile list (a table on a wide screen, cards on a phone) and the
 * short guided start an empty tenant gets.
 */
import { SessionEnded, api, session, tenantPath } from "./api.js";
import { $, clearBox, el, isObject, plural, setText, timeEl } from "./dom.js";
import { typeOf } from "./profile-form.js";
import { showProblem } from "./wording.js";

const TYPE_NAMES = { iam: "AWS IAM", ec2: "AWS EC2", jwt: "JWT" };
const state = { profiles: [], loaded: false, currentName: null, open: () => {}, onChange: () => {} };

export function profiles() {
  return state.profiles;
}

function lastTest(p) {
  const t = p.last_test;
  if (!isObject(t)) return el("span", { className: "state state-none", text: "never tested" });
  return el("span", { className: "state state-" + (t.ok ? "passed" : "failed") }, [
    document.createTextNode((t.ok ? "passed" : "failed") + " "),
    timeEl(t.at),
  ]);
}

function row(p) {
  const open = el("button", { className: "row-open", text: p.name, attrs: { type: "button", "data-name": p.name } });
  const type = typeOf(p.method);
  const tr = el("tr", {}, [
    el("th", { attrs: { scope: "row", "data-label": "Name" } }, [open]),
    el("td", { className: "addr", text: p.vault_address, attrs: { "data-label": "Vault address" } }),
    el("td", { text: TYPE_NAMES[type] || "other", attrs: { "data-label": "Login type" } }),
    el("td", { className: "num", text: p.revision, attrs: { "data-label": "Revision" } }),
    el("td", { attrs: { "data-label": "Last test" } }, [lastTest(p)]),
  ]);
  if (p.name === state.currentName) tr.setAttribute("aria-current", "true");
  return tr;
}

function renderProfiles() {
  $("profiles-body").replaceChildren(...state.profiles.map(row));
  const empty = state.loaded && state.profiles.length === 0;
  $("profiles-table-wrap").hidden = state.profiles.length === 0;
  $("profiles-empty").hidden = !empty || session.canWrite;
  $("first-run").hidden = !empty || !session.canWrite;
  setText("profiles-count", state.loaded ? plural(state.profiles.length, "profile") : "");
}

/** Mark the profile open in the editor (null: none). */
export function markCurrent(name) {
  state.currentName = name;
  renderProfiles();
}

export async function loadProfiles() {
  try {
    const data = await api("GET", tenantPath("/profiles"));
    state.profiles = isObject(data) && Array.isArray(data.profiles) ? data.profiles.filter(isObject) : [];
    state.loaded = true;
    clearBox("general-errors");
  } catch (err) {
    if (err instanceof SessionEnded) return state.profiles;
    showProblem($("general-errors"), err, "The profiles could not be loaded.");
  }
  renderProfiles();
  state.onChange(state.profiles);
  return state.profiles;
}

export function resetProfiles() {
  state.profiles = [];
  state.loaded = false;
  state.currentName = null;
  renderProfiles();
}

/** A click anywhere on a row opens it; the name button is the keyboard way in. */
function onClick(event) {
  const tr = event.target.closest("tr");
  const button = tr ? tr.querySelector("button.row-open") : null;
  if (!button) return;
  const selection = window.getSelection ? String(window.getSelection()) : "";
  if (!event.target.closest("button") && selection) return; // the admin is selecting text
  state.open(button.getAttribute("data-name"));
}

/** `open(name)` opens a profile; `onChange(profiles)` hears about each new list. */
export function bindProfiles(open, onChange) {
  state.open = open;
  state.onChange = onChange;
  $("profiles-body").addEventListener("click", onClick);
}
