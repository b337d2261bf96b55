/*
 * The profile editor: open, close (with the unsaved-changes guard), save,
 * delete, the two tests and the preview of the agent configuration. The
 * fields are profile-form.js's, the verdicts validation.js's.
 */
import { ApiError, Cancelled, SessionEnded, api, profilePath, session, tenantPath } from "./api.js";
import { $, clearBox, el, setText, timeEl } from "./dom.js";
import { confirmDialog, leaveAllowed, trackUnsaved } from "./dialogs.js";
import * as form from "./profile-form.js";
import { fieldErrors, showProblem } from "./wording.js";
import { fieldChanged, onVerdict, resetValidation, revealAll, showServerErrors, validateNow } from "./validation.js";
import { hideReport, isRunning, runTest } from "./test-report.js";
import { hideNonce, showNonce } from "./nonce.js";
import { showLeases } from "./leases.js";
import { loadProfiles, markCurrent } from "./profile-list.js";

const state = { mode: "closed", current: null, snapshot: "", busy: false, openSeq: 0, previewSeq: 0, previewKey: null, afterSave: () => {} };

export function editorMode() {
  return state.mode;
}

function isDirty() {
  return state.mode !== "closed" && session.canWrite && form.snapshot() !== state.snapshot;
}

function dirtyWhat() {
  if (!isDirty()) return null;
  return state.mode === "edit" ? "the profile \u201c" + state.current.name + "\u201d" : "the new profile";
}

function updateDirty() {
  $("dirty-note").hidden = !isDirty();
}

function renderMeta() {
  const p = state.current;
  const meta = $("profile-meta");
  if (state.mode !== "edit" || !p) {
    meta.textContent = state.mode === "new" ? "Not saved yet." : "";
    return;
  }
  const last = p.last_test
    ? [document.createTextNode(" \u00b7 last test " + (p.last_test.ok ? "passed " : "failed ")), timeEl(p.last_test.at)]
    : [document.createTextNode(" \u00b7 never tested")];
  meta.replaceChildren(document.createTextNode("Revision " + p.revision + " \u00b7 created "), timeEl(p.created_at),
    document.createTextNode(" \u00b7 updated "), timeEl(p.updated_at), ...last);
}

function updateControls() {
  const write = session.canWrite;
  const saved = state.mode === "edit";
  const busy = state.busy;
  $("readonly-notice").hidden = write || session.who === null;
  $("new-profile").disabled = !write;
  for (const id of ["save", "test-dry", "test-saved", "delete"]) $(id).disabled = !write || busy;
  $("close-editor").disabled = busy;
  $("test-saved").hidden = !saved;
  $("delete").hidden = !saved;
  $("format-method").disabled = !write;
  for (const f of form.PLAIN) $(f).readOnly = !write;
  for (const f of Object.keys(form.STRUCTURED)) $(f).readOnly = !write;
  $("method").readOnly = !write;
  for (const r of document.querySelectorAll("input[name=method_type]")) r.disabled = !write;
  $("name").readOnly = !write || saved;
  setText("name-help", saved ? "Profiles cannot be renamed." : "Lower-case letters, digits and dashes, like snowflake-prod. It cannot be changed later.");
  $("leases-section").hidden = !saved;
  $("connect-from-editor").hidden = !saved;
}

function setBusy(busy) {
  state.busy = busy;
  if (busy) $("editor").setAttribute("aria-busy", "true");
  else $("editor").removeAttribute("aria-busy");
  updateControls();
}

/** Show a saved profile (or a new, empty one when `profile` is null). */
function show(mode, profile, options) {
  const o = options || {};
  state.mode = mode;
  state.current = profile;
  state.previewKey = null;
  clearBox("form-errors");
  setText("form-status", o.status || "");
  if (!o.keepReport) hideReport();
  form.fillForm(profile);
  state.snapshot = form.snapshot();
  updateDirty();
  setText("editor-title", mode === "edit" ? "Profile " + profile.name : "New profile");
  renderMeta();
  $("editor").hidden = false;
  $("profiles-section").classList.add("with-editor");
  updateControls();
  resetValidation(profile, false);
  resetPreview();
  if (mode === "edit" && session.canWrite) validateNow();
  markCurrent(mode === "edit" ? profile.name : null);
  if (mode === "edit") {
    showNonce(profile, form.typeOf(profile.method) === "ec2");
    showLeases(profile);
  } else {
    hideNonce();
  }
  if (o.focus) {
    $("editor").scrollIntoView({ block: "start" });
    (mode === "new" ? $("name") : $("editor-title")).focus({ preventScroll: true });
  }
}

function reallyClose(moveFocus) {
  state.mode = "closed";
  state.current = null;
  state.openSeq += 1;
  state.previewSeq += 1;
  resetValidation(undefined, false);
  hideReport();
  hideNonce();
  resetPreview();
  $("editor").hidden = true;
  $("profiles-section").classList.remove("with-editor");
  markCurrent(null);
  if (moveFocus) $("profiles-title").focus();
}

/** Close the editor after the guard; resolves false when the admin kept editing. */
export async function closeEditor(moveFocus, action) {
  if (state.mode === "closed") return true;
  if (state.busy) {
    setText("status", isRunning() ? "A test is running: cancel it first, or wait for its report." : "Wait for the running action to finish.");
    return false;
  }
  if (!(await leaveAllowed(action || "Closing the profile"))) return false;
  reallyClose(moveFocus);
  return true;
}

/** Forget everything (sign-out). */
export function dropEditor() {
  reallyClose(false);
}

export async function openProfile(name) {
  if (state.mode === "edit" && state.current.name === name) return;
  if (!(await closeEditor(false, "Opening another profile"))) return;
  const seq = ++state.openSeq;
  try {
    const profile = await api("GET", profilePath(name));
    if (seq !== state.openSeq) return;
    show("edit", profile, { focus: true });
  } catch (err) {
    if (err instanceof SessionEnded || seq !== state.openSeq) return;
    if (err instanceof ApiError && err.status === 404) {
      setText("status", "The profile " + name + " no longer exists.");
      loadProfiles();
      return;
    }
    showProblem($("general-errors"), err, "The profile " + name + " could not be opened.");
  }
}

async function openNew() {
  if (!session.canWrite) return;
  if (!(await closeEditor(false, "Starting a new profile"))) return;
  state.openSeq += 1;
  show("new", null, { focus: true });
}

// ---------------------------------------------------------------- preview

function resetPreview() {
  state.previewSeq += 1;
  state.previewKey = null;
  setText("preview", "");
  setText("preview-status", session.canWrite ? "Shown when the service accepts the profile." : "The preview is shown to admin keys only.");
}

async function refreshPreview(verdict) {
  if (state.mode === "closed" || !session.canWrite) return;
  if (!verdict || !verdict.valid) {
    state.previewSeq += 1;
    state.previewKey = null;
    setText("preview", "");
    setText("preview-status", "Shown when the service accepts the profile.");
    return;
  }
  const built = form.buildBody(state.current);
  if (built.syntaxError) return;
  const key = JSON.stringify(built.body);
  if (key === state.previewKey) return;
  const seq = ++state.previewSeq;
  setText("preview-status", "Updating\u2026");
  try {
    const rendered = await api("POST", tenantPath("/profiles/render"), built.body);
    if (seq !== state.previewSeq) return;
    state.previewKey = key;
    setText("preview", rendered && rendered.hcl ? rendered.hcl : "");
    setText("preview-status", "What the agent would run for this form (its token file and any nonce hidden).");
  } catch (err) {
    if (err instanceof SessionEnded || seq !== state.previewSeq) return;
    setText("preview", "");
    setText("preview-status", "Not shown: the service could not render it.");
  }
}

// ---------------------------------------------------------------- actions

/** Stop an action when the method block is not JSON; say so at the field. */
function builtOrRefuse(lead) {
  const built = form.buildBody(state.current);
  if (!built.syntaxError) return built.body;
  validateNow();
  $("form-errors").replaceChildren(el("p", { className: "problem-lead", text: lead }), el("p", { text: "Fix the method block's JSON first." }));
  $("advanced").open = true;
  $("method").focus();
  return null;
}

async function run(progress, work, failLead) {
  if (state.busy) return;
  clearBox("form-errors");
  setText("form-status", progress);
  setBusy(true);
  try {
    await work();
  } catch (err) {
    if (err instanceof SessionEnded) return;
    if (err instanceof Cancelled) return; // runTest said so in the status line
    setText("form-status", "");
    const errors = fieldErrors(err);
    const first = err instanceof ApiError && err.status === 400 && errors.length ? showServerErrors(errors) : null;
    showProblem($("form-errors"), err, failLead);
    if (first) (first === "method_type" ? document.querySelector("input[name=method_type]") : $(first)).focus();
  } finally {
    setBusy(false);
  }
}

async function onSave() {
  if (!session.canWrite || state.mode === "closed") return;
  revealAll();
  const body = builtOrRefuse("The profile was not saved.");
  if (!body) return;
  const isNew = state.mode === "new";
  await run(isNew ? "Creating the profile\u2026" : "Saving\u2026", async () => {
    const saved = isNew ? await api("POST", tenantPath("/profiles"), body) : await api("PUT", profilePath(state.current.name), body);
    show("edit", saved, { keepReport: true, status: (isNew ? "Created" : "Saved") + " profile " + saved.name + " (revision " + saved.revision + ")." });
    await loadProfiles();
    state.afterSave();
  }, "The profile was not saved.");
}

async function onTestSaved() {
  if (!session.canWrite || state.mode !== "edit") return;
  const profile = state.current;
  const dirty = isDirty();
  await run("Testing the saved profile\u2026", async () => {
    const report = await runTest(profilePath(profile.name, "/test"), undefined,
      "Test connection of the saved profile " + profile.name + " (revision " + profile.revision + ")" +
      (dirty ? "; your unsaved changes were not part of this test." : "."), setBusy, $("test-saved"));
    setText("form-status", "Test finished: " + (report && report.ok ? "passed." : "failed."));
    const list = await loadProfiles();
    const fresh = list.find((p) => p.name === profile.name);
    if (fresh && state.current && fresh.revision === state.current.revision) {
      state.current.last_test = fresh.last_test;
      renderMeta();
    }
  }, "The test did not run.");
}

async function onTestDry() {
  if (!session.canWrite || state.mode === "closed") return;
  revealAll();
  const body = builtOrRefuse("The test did not run.");
  if (!body) return;
  await run("Testing the form (nothing is stored)\u2026", async () => {
    const report = await runTest(tenantPath("/profiles/test"), body, "Test before saving: the profile as the form describes it now; nothing was stored.", setBusy, $("test-dry"));
    setText("form-status", "Test finished: " + (report && report.ok ? "passed." : "failed."));
  }, "The test did not run.");
}

async function onDelete() {
  if (!session.canWrite || state.mode !== "edit") return;
  const name = state.current.name;
  const ok = await confirmDialog({
    title: "Delete the profile \u201c" + name + "\u201d?",
    body: ["Its Vault token is revoked, and with it the dynamic credentials it handed out. Connectors using \u201c" + name + "\u201d stop working. This cannot be undone."],
    confirm: "Delete profile",
    danger: true,
  });
  if (!ok) return;
  await run("Deleting\u2026", async () => {
    await api("DELETE", profilePath(name));
    reallyClose(true);
    setText("status", "Deleted profile " + name + ".");
    await loadProfiles();
  }, "The profile was not deleted.");
}

async function onExample() {
  const type = form.checkedType();
  if (!type || !session.canWrite) return;
  const parsed = form.parseMethodText($("method").value);
  const hasRole = !parsed.error && parsed.value && parsed.value.config && parsed.value.config.role;
  if (hasRole && !(await confirmDialog({ title: "Replace the login fields with an example?", body: ["The Vault role, mount path and the other login fields are replaced with an example for this login type."], confirm: "Use the example" }))) return;
  form.applyExample(type);
  for (const f of ["method", "vault_address", "method_type"]) fieldChanged(f);
  updateDirty();
}

function onFormat() {
  const parsed = form.parseMethodText($("method").value);
  if (!parsed.error && parsed.value !== undefined) $("method").value = JSON.stringify(parsed.value, null, 2);
  validateNow();
}

// ---------------------------------------------------------------- wiring

/** `afterSave()` runs after each save (the connect page refreshes). */
export function bindEditor(afterSave) {
  state.afterSave = afterSave;
  trackUnsaved(dirtyWhat);
  onVerdict(refreshPreview);
  $("new-profile").addEventListener("click", openNew);
  $("first-run-start").addEventListener("click", openNew);
  $("close-editor").addEventListener("click", () => closeEditor(true));
  for (const f of form.PLAIN) {
    $(f).addEventListener("input", () => {
      if (f === "aws_role_arn") $("field-aws_role_arn").hidden = form.checkedType() !== "iam" && !$(f).value.trim();
      fieldChanged(f);
      updateDirty();
    });
  }
  for (const f of Object.keys(form.STRUCTURED)) {
    $(f).addEventListener("input", () => {
      form.jsonFromStructured(f);
      fieldChanged(f);
      updateDirty();
    });
  }
  for (const r of document.querySelectorAll("input[name=method_type]")) {
    r.addEventListener("change", () => {
      if (!r.checked) return;
      form.changeType(r.value);
      if (r.value !== "iam") $("aws_role_arn").value = "";
      form.showTypeFields(r.value);
      fieldChanged("method_type");
      updateDirty();
    });
  }
  $("method").addEventListener("input", () => {
    form.structuredFromJson();
    fieldChanged("method");
    updateDirty();
  });
  $("fill-example").addEventListener("click", onExample);
  $("format-method").addEventListener("click", onFormat);
  $("save").addEventListener("click", onSave);
  $("test-saved").addEventListener("click", onTestSaved);
  $("test-dry").addEventListener("click", onTestDry);
  $("delete").addEventListener("click", onDelete);
}

/** The profile open in the editor (for the connect page). */
export function currentProfileName() {
  return state.mode === "edit" ? state.current.name : null;
}

