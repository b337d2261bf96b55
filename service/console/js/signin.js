/*
 * Signing in and out: the key is checked with GET /v1/whoami, kept in this
 * tab's sessionStorage only, and forgotten on sign-out or when refused.
 */
import { ApiError, api, forgetKey, session, storeKey, storedKey, tenantPath, whenKeyRefused } from "./api.js";
import { $, isObject, setText } from "./dom.js";
import { leaveAllowed } from "./dialogs.js";
import { problemSummary } from "./wording.js";

let hooks = { signedIn: async () => {}, signedOut: () => {} };

function showSignIn() {
  $("workspace").hidden = true;
  $("session-bar").hidden = true;
  $("main-nav").hidden = true;
  $("loading").hidden = true;
  $("signin-section").hidden = false;
}

function refuse(message, restoring) {
  session.key = null;
  forgetKey();
  showSignIn();
  setText("signin-error", message);
  if (!restoring) $("api-key").setAttribute("aria-invalid", "true");
  $("api-key").focus();
}

async function signIn(key, restoring) {
  session.key = key;
  let who;
  try {
    who = await api("GET", "/v1/whoami");
  } catch (err) {
    // A key that could not be checked (service unreachable or failing) is kept so that a reload can retry.
    const unchecked = restoring && err instanceof ApiError && (err.status === 0 || err.status >= 500);
    if (unchecked) {
      session.key = null;
      showSignIn();
      setText("signin-error", "Your session could not be restored: " + problemSummary(err.problem) + " Reload the page to try again, or sign in.");
      return;
    }
    if (err instanceof ApiError && err.status === 401) {
      refuse(restoring ? "The key of your last session is no longer accepted. Sign in again." : "This key was not accepted. Check that you copied the whole key.", restoring);
    } else {
      refuse("Signing in failed. " + (err instanceof ApiError ? problemSummary(err.problem) : ""), restoring);
    }
    return;
  }
  if (isObject(who) && who.operator) {
    refuse("This is the operator key. The console is for your tenant's keys: sign in with an admin key to manage profiles and keys, or a read key to browse.", restoring);
    return;
  }
  if (!isObject(who) || typeof who.tenant !== "string" || !who.tenant) {
    refuse("The service did not say which tenant this key belongs to.", restoring);
    return;
  }
  storeKey(key);
  session.who = who;
  session.canWrite = Array.isArray(who.scopes) && who.scopes.includes("admin");
  session.tenant = null;
  session.options = null;
  if (session.canWrite) {
    // What the guided form offers; without them it offers every type and generic examples.
    const [tenant, options] = await Promise.allSettled([api("GET", tenantPath()), api("GET", tenantPath("/profile-options"))]);
    session.tenant = tenant.status === "fulfilled" ? tenant.value : null;
    session.options = options.status === "fulfilled" ? options.value : null;
  }
  $("api-key").value = "";
  $("api-key").removeAttribute("aria-invalid");
  setText("signin-error", "");
  setText("signin-status", "");
  const scope = session.canWrite ? "admin" : "read only";
  const keyName = who.name ? "key \u201c" + who.name + "\u201d" : "key " + (who.key_id || "");
  setText("session-who", "Tenant " + who.tenant + " \u00b7 " + keyName + " \u00b7 " + scope);
  $("signin-section").hidden = true;
  $("loading").hidden = true;
  $("session-bar").hidden = false;
  $("main-nav").hidden = false;
  $("workspace").hidden = false;
  await hooks.signedIn();
}

/** Forget the key and everything shown, and go back to the sign-in form. */
export function endSession(message) {
  session.key = null;
  session.who = null;
  session.canWrite = false;
  session.tenant = null;
  session.options = null;
  forgetKey();
  hooks.signedOut();
  showSignIn();
  setText("signin-error", message || "");
  $("api-key").value = "";
  $("api-key").focus();
}

async function onSubmit(event) {
  event.preventDefault();
  const input = $("api-key");
  const key = input.value.trim();
  setText("signin-status", "");
  if (!key) {
    setText("signin-error", "Enter an API key.");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  $("signin").disabled = true;
  setText("signin-error", "");
  input.removeAttribute("aria-invalid");
  try {
    await signIn(key, false);
  } finally {
    $("signin").disabled = false;
  }
}

async function onSignOut() {
  if (!(await leaveAllowed("Signing out"))) return;
  endSession("");
  setText("signin-status", "You are signed out. The key was removed from this browser tab.");
}

/** Wire the form; restore a session from this tab. `signedIn` loads the pages, `signedOut` clears them. */
export function initSignIn(h) {
  hooks = h;
  whenKeyRefused(() => endSession("The service no longer accepts this key. Sign in again."));
  $("signin-form").addEventListener("submit", onSubmit);
  $("api-key").addEventListener("input", () => $("api-key").removeAttribute("aria-invalid"));
  $("signout").addEventListener("click", onSignOut);
  const key = storedKey();
  if (!key) {
    showSignIn();
    return;
  }
  $("signin-section").hidden = true;
  $("loading").hidden = false;
  signIn(key, true);
}
