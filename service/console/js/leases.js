/*
 * The leases a profile issued (dynamic credentials): when each ends, and
 * renew or revoke one. The list is GET .../profiles/{name}/leases.
 */
import { ApiError, SessionEnded, api, profilePath } from "./api.js";
import { $, el, isObject, plural, setText, timeEl } from "./dom.js";
import { confirmDialog } from "./dialogs.js";
import { showProblem } from "./wording.js";

const state = { profile: null, seq: 0 };

function row(lease) {
  const renew = el("button", { className: "button secondary small", text: "Renew", attrs: { type: "button" } });
  const revoke = el("button", { className: "button danger small", text: "Revoke", attrs: { type: "button" } });
  renew.addEventListener("click", () => act("renew", lease.lease_id));
  revoke.addEventListener("click", () => act("revoke", lease.lease_id));
  return el("li", { className: "lease" }, [
    el("code", { className: "lease-id", text: lease.lease_id }),
    el("span", { className: "muted" }, [document.createTextNode("ends "), timeEl(lease.expires_at)]),
    el("span", { className: "lease-actions" }, [renew, revoke]),
  ]);
}

/** Load and show the leases of `profile`. */
export async function showLeases(profile) {
  const seq = ++state.seq;
  state.profile = profile;
  $("leases-errors").replaceChildren();
  if (!profile) return;
  setText("leases-status", "Loading\u2026");
  try {
    const data = await api("GET", profilePath(profile.name, "/leases"));
    if (seq !== state.seq) return;
    const leases = isObject(data) && Array.isArray(data.leases) ? data.leases.filter(isObject) : [];
    leases.sort((a, b) => String(a.expires_at).localeCompare(String(b.expires_at)));
    $("leases-list").replaceChildren(...leases.map(row));
    setText("leases-status", leases.length
      ? plural(leases.length, "lease") + " issued through this profile and not yet ended."
      : "No leases: this profile has not handed out dynamic credentials that are still valid.");
  } catch (err) {
    if (err instanceof SessionEnded || seq !== state.seq) return;
    $("leases-list").replaceChildren();
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      setText("leases-status", "This service does not list leases yet.");
      return;
    }
    setText("leases-status", "");
    showProblem($("leases-errors"), err, "The leases could not be loaded.");
  }
}

async function act(kind, leaseId) {
  const profile = state.profile;
  if (!profile) return;
  if (kind === "revoke") {
    const ok = await confirmDialog({
      title: "Revoke this lease?",
      body: ["The credentials of lease " + leaseId + " (profile \u201c" + profile.name + "\u201d) stop working at once. Connectors that still use them fail until they read new ones."],
      confirm: "Revoke lease",
      danger: true,
    });
    if (!ok) return;
  }
  setText("leases-status", kind === "renew" ? "Renewing\u2026" : "Revoking\u2026");
  try {
    const answer = await api("POST", profilePath(profile.name, "/leases/" + kind), { lease_id: leaseId });
    await showLeases(profile);
    if (kind === "renew" && isObject(answer)) {
      $("leases-status").replaceChildren(document.createTextNode("Renewed; it now ends "), timeEl(answer.expires_at), document.createTextNode("."));
    } else {
      setText("leases-status", "Revoked.");
    }
  } catch (err) {
    if (err instanceof SessionEnded) return;
    setText("leases-status", "");
    showProblem($("leases-errors"), err, kind === "renew" ? "The lease was not renewed." : "The lease was not revoked.");
  }
}

export function bindLeases() {
  $("leases-reload").addEventListener("click", () => showLeases(state.profile));
}
