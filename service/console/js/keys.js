/*
 * The API keys page: create a key (shown once, with a copy button), list the
 * keys with their scopes, creation and last use, and revoke one after a
 * confirmation that names it.
 */
import { ApiError, SessionEnded, api, session, tenantPath } from "./api.js";
import { $, copyText, el, isObject, plural, setText, timeEl } from "./dom.js";
import { confirmDialog } from "./dialogs.js";
import { lastUseByKey, loadAudit, setKeyNames } from "./audit.js";
import { adminWords, fieldErrors, showProblem } from "./wording.js";
import { endSession } from "./signin.js";

const SCOPE_WORDS = { admin: "admin scope: profiles, keys and the audit trail", read: "read scope: secret reads" };
const state = { keys: [], onChange: () => {} };

export function keysList() {
  return state.keys;
}

function row(key, lastUse) {
  const mine = session.who && key.id === session.who.key_id;
  const nameId = "key-name-" + key.id;
  const revoke = el("button", { className: "button danger small", text: "Revoke", attrs: { type: "button", "aria-describedby": nameId } });
  revoke.addEventListener("click", () => onRevoke(key));
  return el("tr", {}, [
    el("th", { attrs: { scope: "row", "data-label": "Name" } }, [
      el("span", { text: key.name, attrs: { id: nameId } }),
      mine ? el("span", { className: "tag", text: "you are signed in with it" }) : null,
    ]),
    el("td", { text: (key.scopes || []).join(", "), attrs: { "data-label": "Scopes" } }),
    el("td", { attrs: { "data-label": "Created" } }, [timeEl(key.created_at)]),
    el("td", { attrs: { "data-label": "Last used", title: "the latest action of this key in the audit trail" } }, [timeEl(lastUse, "no recorded use")]),
    el("td", { className: "actions-cell", attrs: { "data-label": "Actions" } }, [revoke]),
  ]);
}

/** Load the keys (and their last use from the audit trail) and draw them. */
export async function showKeys() {
  setText("keys-status", "Loading\u2026");
  $("keys-errors").replaceChildren();
  try {
    const data = await api("GET", tenantPath("/api-keys"));
    state.keys = isObject(data) && Array.isArray(data.api_keys) ? data.api_keys.filter(isObject) : [];
    setKeyNames(state.keys);
    state.onChange(state.keys);
    try {
      await loadAudit(false);
    } catch (err) {
      if (err instanceof SessionEnded) return;
    }
    const last = lastUseByKey();
    $("keys-body").replaceChildren(...state.keys.map((k) => row(k, last[k.id])));
    setText("keys-status", plural(state.keys.length, "key") + ".");
  } catch (err) {
    if (err instanceof SessionEnded) return;
    setText("keys-status", "");
    showProblem($("keys-errors"), err, "The keys could not be loaded.");
  }
}

async function onCreate(event) {
  event.preventDefault();
  const name = $("key-name").value.trim();
  const scope = $("key-scope").value;
  $("key-name-errors").replaceChildren();
  $("key-name").removeAttribute("aria-invalid");
  $("keys-errors").replaceChildren();
  $("create-key").disabled = true;
  try {
    const created = await api("POST", tenantPath("/api-keys"), { name, scopes: [scope] });
    $("key-name").value = "";
    showCreated(created);
    await showKeys();
  } catch (err) {
    if (err instanceof SessionEnded) return;
    const errors = fieldErrors(err);
    const nameError = errors.find((e) => e.pointer === "/name");
    if (err instanceof ApiError && nameError) {
      $("key-name").setAttribute("aria-invalid", "true");
      $("key-name-errors").replaceChildren(el("p", { text: "The name must be " + adminWords(nameError.message) + "." }));
      $("key-name").focus();
    }
    showProblem($("keys-errors"), err, "The key was not created.");
  } finally {
    $("create-key").disabled = false;
  }
}

function showCreated(created) {
  const panel = $("created-key");
  $("created-key-value").value = created.key;
  setText("created-key-title", "Key \u201c" + created.name + "\u201d created, " + (created.scopes || []).map((s) => SCOPE_WORDS[s] || s).join("; "));
  setText("created-key-copied", "");
  panel.hidden = false;
  $("created-key-title").focus();
}

function hideCreated() {
  $("created-key-value").value = "";
  $("created-key").hidden = true;
}

async function onRevoke(key) {
  const mine = session.who && key.id === session.who.key_id;
  const ok = await confirmDialog({
    title: "Revoke the key \u201c" + key.name + "\u201d?",
    body: [
      "Every connector or person using this key (" + (key.scopes || []).join(", ") + ") is refused from now on. This cannot be undone.",
      mine ? "This is the key you are signed in with: you will be signed out." : "",
    ].filter(Boolean),
    confirm: "Revoke key",
    danger: true,
  });
  if (!ok) return;
  try {
    await api("DELETE", tenantPath("/api-keys/" + encodeURIComponent(key.id)));
    if (mine) {
      endSession("You revoked the key you were signed in with.");
      return;
    }
    setText("keys-status", "Revoked the key \u201c" + key.name + "\u201d.");
    await showKeys();
    setText("keys-status", "Revoked the key \u201c" + key.name + "\u201d. " + plural(state.keys.length, "key") + " left.");
  } catch (err) {
    if (err instanceof SessionEnded) return;
    showProblem($("keys-errors"), err, "The key was not revoked.");
  }
}

export function resetKeys() {
  state.keys = [];
  hideCreated();
  $("keys-body").replaceChildren();
}

/** `onChange(keys)` hears about every new key list (the connect page uses it). */
export function bindKeys(onChange) {
  state.onChange = onChange;
  $("key-form").addEventListener("submit", onCreate);
  $("created-key-done").addEventListener("click", hideCreated);
  $("created-key-copy").addEventListener("click", async () => {
    const ok = await copyText($("created-key-value").value);
    setText("created-key-copied", ok ? "Copied. Store it now: it is never shown again." : "Could not copy: select the key and copy it.");
  });
}
