/*
 * The EC2 nonce panel of an ec2 profile: the state the service keeps (never
 * the value) and a reset that names what the Vault admin must do first.
 */
import { SessionEnded, api, profilePath, session } from "./api.js";
import { $, clearBox, copyBlock, el, isObject, setText, timeEl } from "./dom.js";
import { confirmDialog } from "./dialogs.js";
import { showProblem } from "./wording.js";

const state = { profile: null, info: null, seq: 0 };

function orDash(v) {
  return v === undefined || v === null || v === "" ? "\u2013" : String(v);
}

function setTime(id, iso, fallback) {
  $(id).replaceChildren(timeEl(iso, fallback));
}

function render(info) {
  const i = info || {};
  setText("nonce-exists", info ? (i.exists ? "yes" : "no (the next login creates one)") : "\u2013");
  setText("nonce-instance-id", orDash(i.instance_id));
  setText("nonce-vault-address", orDash(i.vault_address));
  setText("nonce-namespace", info ? i.namespace || "none" : "\u2013");
  setText("nonce-mount-path", orDash(i.mount_path));
  setTime("nonce-created-at", i.created_at);
  setTime("nonce-last-used-at", i.last_used_at, info && i.exists ? "not yet" : "\u2013");
  setText("nonce-reset-count", orDash(i.reset_count));
  setText("nonce-fingerprint", orDash(i.fingerprint));
  $("nonce-command").replaceChildren(i.vault_command ? copyBlock("Command for the Vault admin", i.vault_command) : el("p", { className: "muted", text: "\u2013" }));
}

/** Show the panel for `profile` when it is an ec2 profile (hide it otherwise). */
export async function showNonce(profile, isEc2) {
  const seq = ++state.seq;
  state.profile = isEc2 ? profile : null;
  state.info = null;
  $("nonce-panel").hidden = !isEc2;
  render(null);
  clearBox("nonce-errors");
  setText("nonce-status", "");
  $("nonce-reset").disabled = !session.canWrite;
  if (!isEc2) return;
  if (!session.canWrite) {
    setText("nonce-status", "The nonce state is shown to admin keys only.");
    return;
  }
  setText("nonce-status", "Loading\u2026");
  try {
    const info = await api("GET", profilePath(profile.name, "/ec2-nonce"));
    if (seq !== state.seq) return;
    state.info = isObject(info) ? info : null;
    render(state.info);
    setText("nonce-status", "");
  } catch (err) {
    if (err instanceof SessionEnded || seq !== state.seq) return;
    setText("nonce-status", "");
    showProblem($("nonce-errors"), err, "The nonce state could not be loaded.");
  }
}

async function onReset() {
  const profile = state.profile;
  if (!profile || !session.canWrite) return;
  const command = state.info && state.info.vault_command ? state.info.vault_command : "vault delete <mount path>/identity-accesslist/<instance id>";
  const ok = await confirmDialog({
    title: "Reset the EC2 nonce of \u201c" + profile.name + "\u201d?",
    body: [
      "First the Vault admin must delete this instance's entry, or Vault refuses the next login:",
      copyBlock("Command for the Vault admin", command),
      "The new nonce applies to every profile that signs in to the same Vault, namespace and mount from this host.",
    ],
    confirm: "Reset the nonce",
    danger: true,
  });
  if (!ok) return;
  clearBox("nonce-errors");
  $("nonce-reset").disabled = true;
  setText("nonce-status", "Resetting\u2026");
  try {
    const info = await api("POST", profilePath(profile.name, "/ec2-nonce/reset"));
    state.seq += 1;
    state.info = isObject(info) ? info : null;
    render(state.info);
    setText("nonce-status", "The nonce was reset: the next login uses a new one.");
  } catch (err) {
    if (err instanceof SessionEnded) return;
    setText("nonce-status", "");
    showProblem($("nonce-errors"), err, "The nonce was not reset.");
  } finally {
    $("nonce-reset").disabled = !session.canWrite;
  }
}

export function hideNonce() {
  state.seq += 1;
  state.profile = null;
  $("nonce-panel").hidden = true;
}

export function bindNonce() {
  $("nonce-reset").addEventListener("click", onReset);
}
