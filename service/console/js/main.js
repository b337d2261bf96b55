/*
 * Admin console of the Vault Agent Authentication Service: the entry module.
 *
 * Plain JavaScript modules, no framework, no build step, nothing loaded from
 * elsewhere; served under a strict Content-Security-Policy (no inline script
 * or style, no eval). Every text from the API goes in as textContent.
 * This file wires the pages together: navigation, Escape, sign-in and -out.
 */
import { session } from "./api.js";
import { $, setText } from "./dom.js";
import { bindDialogs, dialogOpen, guardUnload, hasUnsaved, leaveAllowed } from "./dialogs.js";
import { initSignIn } from "./signin.js";
import { bindProfiles, loadProfiles, profiles, resetProfiles } from "./profile-list.js";
import { bindEditor, closeEditor, currentProfileName, dropEditor, editorMode, openProfile } from "./profile-editor.js";
import { bindReport } from "./test-report.js";
import { bindNonce } from "./nonce.js";
import { bindLeases } from "./leases.js";
import { bindKeys, keysList, resetKeys, showKeys } from "./keys.js";
import { bindAudit, resetAudit, showAudit } from "./audit.js";
import { bindConnect, connectProfile, setConnectData } from "./connect.js";

const PAGES = {
  profiles: { title: "Profiles", admin: false },
  keys: { title: "API keys", admin: true },
  audit: { title: "Audit trail", admin: true },
  connect: { title: "Connect a connector", admin: false },
};
let page = null;

function pageFromHash() {
  const name = window.location.hash.replace(/^#\/?/, "");
  return PAGES[name] && (!PAGES[name].admin || session.canWrite) ? name : "profiles";
}

/** Show one page; `focus` moves focus to its heading (after a navigation). */
async function showPage(name, focus) {
  page = name;
  for (const p of Object.keys(PAGES)) {
    $("page-" + p).hidden = p !== name;
    const link = $("nav-" + p);
    if (p === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = PAGES[name].title + " \u00b7 Admin console";
  setText("status", "");
  if (focus) $(name + "-title").focus();
  if (name === "keys") await showKeys();
  if (name === "audit") await showAudit(false);
  if (name === "connect") {
    if (session.canWrite && keysList().length === 0) await showKeys();
    setConnectData(profiles(), keysList());
  }
}

/** Navigate, after the unsaved-changes guard when the editor is left behind. */
async function navigate(name) {
  if (name === page) return;
  if (page === "profiles" && hasUnsaved()) {
    if (!(await leaveAllowed("Going to " + PAGES[name].title))) {
      history.replaceState(null, "", "#/" + page);
      return;
    }
    dropEditor();
  }
  if (window.location.hash !== "#/" + name) history.pushState(null, "", "#/" + name);
  await showPage(name, true);
}

function onNavClick(event) {
  const link = event.target.closest("a[data-page]");
  if (!link) return;
  event.preventDefault();
  navigate(link.getAttribute("data-page"));
}

function onKeydown(event) {
  if (event.key !== "Escape" || dialogOpen() || event.defaultPrevented) return;
  if (page === "profiles" && editorMode() !== "closed") {
    event.preventDefault();
    closeEditor(true);
  }
}

async function signedIn() {
  $("readonly-notice").hidden = session.canWrite;
  $("new-profile").disabled = !session.canWrite;
  for (const p of Object.keys(PAGES)) $("nav-" + p).parentElement.hidden = PAGES[p].admin && !session.canWrite;
  await loadProfiles();
  await showPage(pageFromHash(), false);
  $(page + "-title").focus();
}

function signedOut() {
  dropEditor();
  resetProfiles();
  resetKeys();
  resetAudit();
  setConnectData([], []);
  setText("status", "");
  $("general-errors").replaceChildren();
  page = null;
}

function start() {
  bindDialogs();
  guardUnload();
  bindReport();
  bindNonce();
  bindLeases();
  bindAudit();
  bindConnect();
  bindKeys((keys) => setConnectData(profiles(), keys));
  bindProfiles(openProfile, (list) => setConnectData(list, keysList()));
  bindEditor(() => {});
  $("main-nav").addEventListener("click", onNavClick);
  $("connect-from-editor").addEventListener("click", async () => {
    const name = currentProfileName();
    await navigate("connect");
    if (page === "connect" && name) connectProfile(name);
  });
  window.addEventListener("popstate", () => {
    if (session.who) navigate(pageFromHash());
  });
  document.addEventListener("keydown", onKeydown);
  initSignIn({ signedIn, signedOut });
}

start();
