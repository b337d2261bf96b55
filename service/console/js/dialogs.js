/*
 * In-page confirmations (a native <dialog>: focus trapped, Escape cancels)
 * and the unsaved-changes guard every way out of the editor goes through.
 */
import { $, el } from "./dom.js";

let pending = null;

/**
 * Ask before acting. `title` says what happens, `body` is text or nodes naming
 * what is affected; resolves true only when the confirm button was pressed.
 */
export function confirmDialog({ title, body, confirm, cancel, danger }) {
  const dialog = $("confirm-dialog");
  if (pending) pending(false);
  $("confirm-title").textContent = title;
  const parts = (Array.isArray(body) ? body : [body]).map((b) => (typeof b === "string" ? el("p", { text: b }) : b));
  $("confirm-body").replaceChildren(...parts);
  const ok = $("confirm-ok");
  ok.textContent = confirm || "Confirm";
  ok.className = "button " + (danger ? "danger" : "primary");
  $("confirm-cancel").textContent = cancel || "Cancel";
  const opener = document.activeElement;
  return new Promise((resolve) => {
    pending = (answer) => {
      pending = null;
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(answer);
    };
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

export function bindDialogs() {
  $("confirm-ok").addEventListener("click", () => pending && pending(true));
  $("confirm-cancel").addEventListener("click", () => pending && pending(false));
  // Escape (the dialog's cancel event) and any other close count as "no". The close event
  // of an answered question comes later, when the next question may already be open.
  $("confirm-dialog").addEventListener("close", () => {
    if (pending && !$("confirm-dialog").open) pending(false);
  });
}

export function dialogOpen() {
  return $("confirm-dialog").open;
}

// ------------------------------------------------------- unsaved changes

let unsaved = () => null;

/** Register who knows about unsaved changes: a function returning a description ("the profile “x”") or null. */
export function trackUnsaved(fn) {
  unsaved = fn;
}

export function hasUnsaved() {
  return unsaved() !== null;
}

/** Resolves true when there is nothing unsaved, or the admin chose to discard it. */
export async function leaveAllowed(action) {
  const what = unsaved();
  if (what === null) return true;
  return confirmDialog({
    title: "Discard unsaved changes?",
    body: ["You changed " + what + " and did not save it. " + (action || "Leaving") + " discards those changes."],
    confirm: "Discard changes",
    cancel: "Keep editing",
    danger: true,
  });
}

/** The browser's own prompt for reload and closing the tab. */
export function guardUnload() {
  window.addEventListener("beforeunload", (event) => {
    if (!hasUnsaved()) return;
    event.preventDefault();
    event.returnValue = "";
  });
}
