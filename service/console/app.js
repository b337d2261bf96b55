/*
 * Admin console of the Vault Agent Authentication Service.
 *
 * Plain JavaScript, no framework, nothing loaded from elsewhere. Served under a
 * strict Content-Security-Policy: no inline script or style, no eval. Every
 * text from the API is inserted with textContent, never as HTML.
 *
 * The API key lives in sessionStorage only (this tab), is sent as a bearer
 * token to the same origin, and is never logged, put in a URL or kept in the DOM.
 */
(function () {
  "use strict";

  const STORAGE_KEY = "auth-service-console.api-key";
  const FIELDS = ["name", "vault_address", "namespace", "method", "test_secret_path", "aws_role_arn", "secret_cache_ttl"];
  const OPTIONAL_FIELDS = ["namespace", "test_secret_path", "aws_role_arn", "secret_cache_ttl"];
  const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
  const NAMESPACE_RE = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\/?$/;
  const ADDRESS_RE = /^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/i;
  const METHOD_DEBOUNCE_MS = 300;
  const PREVIEW_DEBOUNCE_MS = 600;
  const STEP_LABELS = {
    assume_role: "assume the tenant's AWS role",
    agent_login: "Vault Agent login",
    verify_token: "verify the token",
    read_test_secret: "read the test secret",
  };

  const state = {
    key: null, // the API key of this session (also in sessionStorage)
    who: null, // the whoami answer
    canWrite: false, // the key has the admin scope
    schema: null, // the method-block schema from the service
    examples: [], // example method blocks from the schema
    profiles: [],
    profilesLoaded: false,
    mode: "closed", // "closed" | "new" | "edit"
    current: null, // the saved profile shown in the editor
    snapshot: "", // the form as loaded, to tell unsaved changes
    busy: false, // an action (save, test, delete, reset) is running
    serverErrors: {}, // field -> [message] from the last 400 problem
    methodErrors: [], // live validation of the method block: [message]
    methodTouched: false,
    methodTimer: 0,
    previewTimer: 0,
    previewSeq: 0,
    previewKey: null,
    openSeq: 0,
    nonceSeq: 0,
    nonce: null,
  };

  // ------------------------------------------------------------ small tools

  function $(id) {
    return document.getElementById(id);
  }

  /** Create an element; text goes in as textContent, attributes with setAttribute. */
  function el(tag, options, children) {
    const node = document.createElement(tag);
    const o = options || {};
    if (o.className) node.className = o.className;
    if (o.text !== undefined && o.text !== null) node.textContent = String(o.text);
    if (o.attrs) {
      for (const name of Object.keys(o.attrs)) node.setAttribute(name, String(o.attrs[name]));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function setText(id, text) {
    $(id).textContent = text === undefined || text === null ? "" : String(text);
  }

  function storageGet() {
    try {
      return window.sessionStorage.getItem(STORAGE_KEY);
    } catch (e) {
      return null;
    }
  }

  function storageSet(key) {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, key);
    } catch (e) {
      /* storage unavailable: the session lasts until reload */
    }
  }

  function storageClear() {
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
      window.sessionStorage.clear();
    } catch (e) {
      /* nothing stored */
    }
  }

  function tenantPath(suffix) {
    return "/v1/tenants/" + encodeURIComponent(state.who.tenant) + suffix;
  }

  function profilePath(name, suffix) {
    return tenantPath("/profiles/" + encodeURIComponent(name) + (suffix || ""));
  }

  // -------------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, problem, retryAfter) {
      super(problem.detail || problem.title || "HTTP " + status);
      this.status = status;
      this.problem = problem;
      this.retryAfter = retryAfter;
    }
  }

  /** The session ended while a request ran (sign out, or the key was refused). */
  class SessionEnded extends Error {}

  async function api(method, path, body) {
    const key = state.key;
    if (!key) throw new SessionEnded("signed out");
    const headers = { Authorization: "Bearer " + key, Accept: "application/json, application/problem+json" };
    const init = { method, headers, cache: "no-store", credentials: "same-origin", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, {
        title: "The service cannot be reached",
        detail: "The request did not reach the service. Check the network and try again.",
      });
    }
    if (state.key !== key) throw new SessionEnded("signed out meanwhile");
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (response.ok) return data;
    const problem = isObject(data)
      ? data
      : { title: response.statusText || "Request failed", detail: text ? text.slice(0, 500) : "" };
    if (typeof problem.status !== "number") problem.status = response.status;
    if (response.status === 401 && path !== "/v1/whoami") {
      endSession("The service no longer accepts this key. Sign in again.");
      throw new SessionEnded("401");
    }
    throw new ApiError(response.status, problem, response.headers.get("Retry-After"));
  }

  function problemSummary(problem) {
    const title = problem.title ? String(problem.title) : "";
    const detail = problem.detail ? String(problem.detail) : "";
    if (title && detail && title !== detail) return title + ": " + detail;
    return title || detail || "The request failed (HTTP " + problem.status + ").";
  }

  /**
   * Show a failure in `box`: a lead sentence, the problem's title and detail,
   * the field errors nobody else shows, the hint and any Retry-After.
   */
  function showProblem(box, err, lead, unmapped) {
    const parts = [];
    if (lead) parts.push(el("p", { className: "problem-lead", text: lead }));
    if (err instanceof ApiError) {
      parts.push(el("p", { text: problemSummary(err.problem) }));
      const rest = unmapped || [];
      if (rest.length) {
        parts.push(el("ul", {}, rest.map((e) => el("li", { text: formatPointer(e.pointer) + ": " + e.message }))));
      }
      if (err.problem.hint) parts.push(el("p", { className: "problem-hint", text: "Hint: " + err.problem.hint }));
      if (err.retryAfter) parts.push(el("p", { text: "Try again in " + err.retryAfter + " seconds." }));
    } else {
      parts.push(el("p", { text: "Something went wrong in the console: " + (err && err.message ? err.message : err) }));
    }
    box.replaceChildren(...parts);
  }

  function clearBox(id) {
    $(id).replaceChildren();
  }

  function formatPointer(pointer) {
    return pointer === "" ? "(whole body)" : pointer;
  }

  function blockPointer(pointer) {
    return pointer === "" ? "(whole block)" : pointer;
  }

  // -------------------------------------------------------- session / sign-in

  async function onSignInSubmit(event) {
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

  async function signIn(key, restoring) {
    state.key = key;
    let who;
    try {
      who = await api("GET", "/v1/whoami");
    } catch (err) {
      state.key = null;
      // A key the service refused is forgotten; one that could not be checked
      // (service unreachable or failing) is kept so that a reload can retry.
      const unchecked = restoring && err instanceof ApiError && (err.status === 0 || err.status >= 500);
      if (!unchecked) storageClear();
      showSignIn();
      if (unchecked) {
        setText("signin-error", "Your session could not be restored: " + problemSummary(err.problem) +
          " Reload the page to try again, or sign in.");
      } else if (err instanceof ApiError && err.status === 401) {
        setText("signin-error", restoring
          ? "The key of your last session is no longer accepted. Sign in again."
          : "This key was not accepted. Check that you copied the whole key.");
      } else if (err instanceof ApiError) {
        setText("signin-error", "Signing in failed. " + problemSummary(err.problem));
      } else {
        setText("signin-error", "Signing in failed.");
      }
      if (!restoring) $("api-key").setAttribute("aria-invalid", "true");
      $("api-key").focus();
      return;
    }
    if (isObject(who) && who.operator) {
      state.key = null;
      storageClear();
      showSignIn();
      setText("signin-error",
        "This is the operator key. The console is for tenant keys: sign in with an API key of a tenant " +
        "(an admin key to manage profiles, a read key to browse them).");
      $("api-key").focus();
      return;
    }
    if (!isObject(who) || typeof who.tenant !== "string" || !who.tenant) {
      state.key = null;
      storageClear();
      showSignIn();
      setText("signin-error", "The service did not say which tenant this key belongs to.");
      return;
    }
    storageSet(key);
    state.who = who;
    const scopes = Array.isArray(who.scopes) ? who.scopes : [];
    state.canWrite = scopes.includes("admin");
    $("api-key").value = "";
    $("api-key").removeAttribute("aria-invalid");
    showWorkspace();
    await Promise.all([loadSchema(), loadProfiles()]);
  }

  function showSignIn() {
    $("workspace").hidden = true;
    $("session-bar").hidden = true;
    $("loading").hidden = true;
    $("signin-section").hidden = false;
  }

  function showWorkspace() {
    const who = state.who;
    const scopeText = state.canWrite ? "admin" : "read only";
    const keyName = who.name ? "key \u201c" + who.name + "\u201d" : "key " + (who.key_id || "");
    setText("session-who", "Tenant " + who.tenant + " \u00b7 " + keyName + " \u00b7 " + scopeText);
    setText("profiles-caption", "Auth profiles of tenant " + who.tenant);
    setText("signin-error", "");
    setText("signin-status", "");
    $("signin-section").hidden = true;
    $("loading").hidden = true;
    $("session-bar").hidden = false;
    $("workspace").hidden = false;
    updateControls();
    $("profiles-title").focus();
  }

  /** Forget the key and everything shown, and go back to the sign-in form. */
  function endSession(message) {
    state.key = null;
    state.who = null;
    state.canWrite = false;
    state.schema = null;
    state.examples = [];
    state.profiles = [];
    state.profilesLoaded = false;
    storageClear();
    closeEditor(false);
    renderProfiles();
    clearBox("general-errors");
    setText("status", "");
    showSignIn();
    setText("signin-error", message || "");
    $("api-key").value = "";
    $("api-key").focus();
  }

  function onSignOut() {
    endSession("");
    setText("signin-status", "You are signed out. The key was removed from this browser tab.");
  }

  // ------------------------------------------------------------- the schema

  async function loadSchema() {
    try {
      const schema = await api("GET", "/v1/schemas/method-block");
      state.schema = isObject(schema) ? schema : null;
      $("schema-note").hidden = true;
    } catch (err) {
      if (err instanceof SessionEnded) return;
      state.schema = null;
      const why = err instanceof ApiError ? problemSummary(err.problem) : String(err);
      setText("schema-note", "The service's method-block schema could not be loaded (" + why + "), so only the " +
        "JSON syntax is checked as you type; the service still checks the whole block when you save or test.");
      $("schema-note").hidden = false;
    }
    fillExamples();
    if (state.mode !== "closed" && (state.methodTouched || state.mode === "edit")) validateMethodNow();
  }

  function fillExamples() {
    const examples = [];
    const branches = state.schema && Array.isArray(state.schema.allOf) ? state.schema.allOf : [];
    for (const branch of branches) {
      const then = isObject(branch) && isObject(branch.then) ? branch.then : null;
      if (then && Array.isArray(then.examples)) examples.push(...then.examples.filter(isObject));
    }
    state.examples = examples;
    const select = $("method-example");
    const options = [el("option", { text: "Choose\u2026", attrs: { value: "" } })];
    examples.forEach((ex, i) => {
      const sub = isObject(ex.config) && typeof ex.config.type === "string" ? " (" + ex.config.type + ")" : "";
      options.push(el("option", { text: String(ex.type) + sub, attrs: { value: String(i) } }));
    });
    select.replaceChildren(...options);
    select.value = "";
  }

  // ----------------------------------------------------------- profile list

  async function loadProfiles() {
    try {
      const data = await api("GET", tenantPath("/profiles"));
      state.profiles = isObject(data) && Array.isArray(data.profiles) ? data.profiles.filter(isObject) : [];
      state.profilesLoaded = true;
      clearBox("general-errors");
    } catch (err) {
      if (err instanceof SessionEnded) return;
      showProblem($("general-errors"), err, "The profiles could not be loaded.");
    }
    if (state.current) {
      const fresh = state.profiles.find((p) => p.name === state.current.name);
      if (fresh && fresh.revision === state.current.revision) {
        state.current.last_test = fresh.last_test;
        renderMeta();
      }
    }
    renderProfiles();
  }

  function methodTypeOf(profile) {
    const m = isObject(profile.method) ? profile.method : {};
    if (m.type === "aws") return isObject(m.config) && typeof m.config.type === "string" ? m.config.type : "aws";
    return m.type === undefined ? "unknown" : String(m.type);
  }

  function isEc2(profile) {
    const m = profile && isObject(profile.method) ? profile.method : {};
    return m.type === "aws" && isObject(m.config) && m.config.type === "ec2";
  }

  function lastTestText(profile) {
    const t = profile.last_test;
    if (!isObject(t)) return "never";
    return t.ok ? "passed" : "failed";
  }

  function renderProfiles() {
    const rows = state.profiles.map((p) => {
      const open = el("button", { className: "row-open", text: p.name, attrs: { type: "button", "data-name": p.name } });
      const outcome = lastTestText(p);
      const when = isObject(p.last_test) && p.last_test.at ? "tested at " + p.last_test.at : "never tested";
      const tr = el("tr", {}, [
        el("th", { attrs: { scope: "row" } }, [open]),
        el("td", { className: "addr", text: p.vault_address }),
        el("td", { text: methodTypeOf(p) }),
        el("td", { className: "num", text: p.revision }),
        el("td", {}, [el("span", { className: "state state-" + outcome, text: outcome, attrs: { title: when } })]),
      ]);
      if (state.current && state.mode === "edit" && state.current.name === p.name) tr.setAttribute("aria-current", "true");
      return tr;
    });
    $("profiles-body").replaceChildren(...rows);
    const signedIn = state.who !== null;
    $("profiles-scroll").hidden = rows.length === 0;
    $("profiles-scroll-hint").hidden = rows.length === 0;
    $("profiles-empty").hidden = rows.length > 0 || !signedIn || !state.profilesLoaded;
  }

  /** A click anywhere on a row opens it; the name button is the keyboard way in. */
  function onProfilesClick(event) {
    const row = event.target.closest("tr");
    const button = row ? row.querySelector("button.row-open") : null;
    if (!button) return;
    const selection = window.getSelection ? String(window.getSelection()) : "";
    if (!event.target.closest("button") && selection) return; // the admin is selecting text
    if (waitForAction()) return;
    openProfile(button.getAttribute("data-name"));
  }

  async function openProfile(name) {
    const seq = ++state.openSeq;
    try {
      const profile = await api("GET", profilePath(name));
      if (seq !== state.openSeq) return;
      showEditor("edit", profile, { focus: true });
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

  // ---------------------------------------------------------------- editor

  /** While a save, test, delete or reset runs, the editor stays on its profile. */
  function waitForAction() {
    if (!state.busy) return false;
    setText("status", "Wait for the running action to finish (" + $("form-status").textContent + ").");
    return true;
  }

  function onNewProfile() {
    if (!state.canWrite || waitForAction()) return;
    state.openSeq += 1;
    showEditor("new", null, { focus: true });
  }

  /** Open the editor for a new profile (profile null) or a saved one. */
  function showEditor(mode, profile, options) {
    const o = options || {};
    state.mode = mode;
    state.current = profile;
    state.serverErrors = {};
    state.methodErrors = [];
    state.methodTouched = mode === "edit";
    state.previewKey = null;
    clearTimeout(state.methodTimer);
    clearBox("form-errors");
    setText("form-status", "");
    if (!o.keepReport) hideReport();
    fillForm(profile);
    state.snapshot = formSnapshot();
    $("dirty-note").hidden = true;
    setText("editor-title", mode === "edit" ? "Profile " + profile.name : "New profile");
    renderMeta();
    $("editor").hidden = false;
    updateControls();
    if (state.methodTouched) validateMethodNow();
    else renderMethodErrors();
    renderAllFieldErrors();
    renderProfiles();
    resetPreview();
    schedulePreview(0);
    showNoncePanel();
    if (o.focus) {
      if (mode === "new") $("name").focus();
      else $("editor-title").focus();
    }
  }

  function closeEditor(moveFocus) {
    state.mode = "closed";
    state.current = null;
    state.openSeq += 1;
    state.previewSeq += 1;
    state.nonceSeq += 1;
    clearTimeout(state.methodTimer);
    clearTimeout(state.previewTimer);
    fillForm(null);
    state.serverErrors = {};
    state.methodErrors = [];
    renderAllFieldErrors();
    hideReport();
    resetPreview();
    $("nonce-panel").hidden = true;
    $("editor").hidden = true;
    renderProfiles();
    if (moveFocus) $("profiles-title").focus();
  }

  function fillForm(profile) {
    const p = profile || {};
    $("name").value = p.name || "";
    $("vault_address").value = p.vault_address || "";
    $("namespace").value = p.namespace || "";
    $("method").value = p.method === undefined ? "" : JSON.stringify(p.method, null, 2);
    $("test_secret_path").value = p.test_secret_path || "";
    $("aws_role_arn").value = p.aws_role_arn || "";
    $("secret_cache_ttl").value = p.secret_cache_ttl || "";
  }

  function formSnapshot() {
    return JSON.stringify(FIELDS.map((f) => $(f).value));
  }

  function isDirty() {
    return state.mode !== "closed" && formSnapshot() !== state.snapshot;
  }

  function renderMeta() {
    const p = state.current;
    if (state.mode !== "edit" || !p) {
      setText("profile-meta", state.mode === "new" ? "Not saved yet." : "");
      return;
    }
    const last = isObject(p.last_test)
      ? "last test " + (p.last_test.ok ? "passed" : "failed") + (p.last_test.at ? " at " + p.last_test.at : "")
      : "never tested";
    setText("profile-meta", "Revision " + p.revision + " \u00b7 created " + p.created_at + " \u00b7 updated " +
      p.updated_at + " \u00b7 " + last);
  }

  /** Enable, disable, show and hide the controls for the key's scope and the editor's mode. */
  function updateControls() {
    const write = state.canWrite;
    const saved = state.mode === "edit";
    $("readonly-notice").hidden = write || state.who === null;
    $("new-profile").disabled = !write;
    $("save").disabled = !write;
    $("test-dry").disabled = !write;
    $("test-saved").disabled = !write;
    $("delete").disabled = !write;
    $("nonce-reset").disabled = !write;
    $("test-saved").hidden = !saved;
    $("delete").hidden = !saved;
    $("method-example").disabled = !write;
    $("format-method").disabled = !write;
    for (const f of FIELDS) $(f).readOnly = !write;
    $("name").readOnly = !write || saved;
    setText("name-help", saved
      ? "Profiles cannot be renamed."
      : "Lower-case letters, digits and '-', like snowflake-prod. It cannot be changed later.");
  }

  function setBusy(busy) {
    state.busy = busy;
    if (busy) {
      $("editor").setAttribute("aria-busy", "true");
    } else {
      $("editor").removeAttribute("aria-busy");
      if ($("status").textContent.startsWith("Wait for")) setText("status", "");
    }
  }

  function onFieldInput(event) {
    const field = event.target.id;
    if (state.serverErrors[field]) {
      delete state.serverErrors[field];
      renderFieldErrors(field);
    }
    if (field === "method") {
      state.methodTouched = true;
      clearTimeout(state.methodTimer);
      state.methodTimer = setTimeout(validateMethodNow, METHOD_DEBOUNCE_MS);
    }
    $("dirty-note").hidden = !isDirty();
    schedulePreview();
  }

  // ------------------------------------------------------------ field errors

  function setFieldErrors(field, messages) {
    const box = $(field + "-errors");
    const input = $(field);
    const wrapper = $("field-" + field);
    if (!messages.length) {
      box.replaceChildren();
      input.removeAttribute("aria-invalid");
      wrapper.classList.remove("invalid");
      return;
    }
    box.replaceChildren(el("ul", {}, messages.map((m) => el("li", { text: m }))));
    input.setAttribute("aria-invalid", "true");
    wrapper.classList.add("invalid");
  }

  function renderFieldErrors(field) {
    if (field === "method") {
      renderMethodErrors();
      return;
    }
    setFieldErrors(field, state.serverErrors[field] || []);
  }

  function renderAllFieldErrors() {
    for (const f of FIELDS) renderFieldErrors(f);
  }

  /** The method field shows the service's errors after a request, else the live ones. */
  function renderMethodErrors() {
    const server = state.serverErrors.method || [];
    const shown = server.length ? server : state.methodTouched ? state.methodErrors : [];
    setFieldErrors("method", shown);
    $("method-valid").hidden = !(state.methodTouched && shown.length === 0 && state.schema !== null &&
      $("method").value.trim() !== "");
  }

  /** Which form field a problem's JSON pointer names, or null. */
  function fieldForPointer(pointer) {
    for (const f of FIELDS) {
      if (pointer === "/" + f || pointer.startsWith("/" + f + "/")) return f;
    }
    return null;
  }

  /** Put a 400 problem's errors next to their fields; return the ones no field takes. */
  function applyServerErrors(errors) {
    state.serverErrors = {};
    const unmapped = [];
    for (const e of errors) {
      if (!isObject(e)) continue;
      const pointer = typeof e.pointer === "string" ? e.pointer : "";
      const message = String(e.message || "invalid");
      const field = fieldForPointer(pointer);
      if (!field) {
        unmapped.push({ pointer, message });
        continue;
      }
      const text = field === "method" ? blockPointer(pointer.slice("/method".length)) + ": " + message : message;
      (state.serverErrors[field] = state.serverErrors[field] || []).push(text);
    }
    renderAllFieldErrors();
    return unmapped;
  }

  function clearServerErrors() {
    state.serverErrors = {};
    renderAllFieldErrors();
    clearBox("form-errors");
  }

  // ------------------------------------------------------- live validation

  /** Parse and check the method block text: { value, ok, errors: [{pointer, message}] }. */
  function checkMethodText(text) {
    if (!text.trim()) {
      return {
        ok: false,
        errors: [{
          pointer: "",
          message: "required: paste the method block as a JSON object, like " +
            "{\"type\": \"aws\", \"config\": {\"type\": \"iam\", \"role\": \"my-role\"}}",
        }],
      };
    }
    const parsed = window.SchemaValidate.parseJson(text);
    if (parsed.error) return { ok: false, errors: [parsed.error] };
    const errors = window.SchemaValidate.methodBlockErrors(state.schema, parsed.value);
    return { ok: errors.length === 0, value: parsed.value, errors };
  }

  function validateMethodNow() {
    clearTimeout(state.methodTimer);
    const result = checkMethodText($("method").value);
    state.methodErrors = result.errors.map((e) => blockPointer(e.pointer) + ": " + e.message);
    renderMethodErrors();
    return result;
  }

  function onFormatMethod() {
    const parsed = window.SchemaValidate.parseJson($("method").value);
    state.methodTouched = true;
    if (!parsed.error) {
      $("method").value = JSON.stringify(parsed.value, null, 2);
      $("dirty-note").hidden = !isDirty();
    }
    validateMethodNow();
  }

  function onExampleChosen() {
    const select = $("method-example");
    if (select.value === "" || !state.canWrite) return;
    const example = state.examples[Number(select.value)];
    select.value = "";
    if (!example) return;
    const text = JSON.stringify(example, null, 2);
    const current = $("method").value.trim();
    if (current && current !== text && !window.confirm("Replace the method block with this example?")) return;
    $("method").value = text;
    delete state.serverErrors.method;
    state.methodTouched = true;
    validateMethodNow();
    $("dirty-note").hidden = !isDirty();
    schedulePreview();
  }

  // ------------------------------------------------------------ the body

  /**
   * The ProfileInput the form describes: { body } or { error } when the method
   * block is not a JSON value yet.
   */
  function buildBody() {
    const body = {};
    if (state.mode === "edit" && state.current) body.name = state.current.name;
    else if ($("name").value.trim()) body.name = $("name").value.trim();
    body.vault_address = $("vault_address").value.trim();
    const method = checkMethodText($("method").value);
    if (method.value === undefined) return { error: method.errors[0] };
    body.method = method.value;
    for (const f of OPTIONAL_FIELDS) {
      const v = $(f).value.trim();
      if (v) body[f] = v;
    }
    if (body.secret_cache_ttl && !/^\d+\s*[a-z]+(\s*\d+\s*[a-z]+)*$/i.test(body.secret_cache_ttl)) {
      return { field: "secret_cache_ttl",
        error: JSON.stringify(body.secret_cache_ttl) + " is not a duration: use one like 30s, 5m or 1h (at most 24h)" };
    }
    // Sharing cached dynamic credentials is set through the API; a save here keeps it while the cache stays on.
    if (state.mode === "edit" && state.current && state.current.secret_cache_leased && body.secret_cache_ttl) {
      body.secret_cache_leased = true;
    }
    return { body, methodOk: method.ok };
  }

  /** Stop an action when the method block is not JSON; say so next to the field. */
  function refuseUnparsable(built, lead) {
    if (!built.error) return false;
    if (built.field) {
      state.serverErrors[built.field] = [built.error];
      renderAllFieldErrors();
      $("form-errors").replaceChildren(el("p", { className: "problem-lead", text: lead }));
      $(built.field).focus();
      return true;
    }
    state.methodTouched = true;
    delete state.serverErrors.method;
    validateMethodNow();
    $("form-errors").replaceChildren(
      el("p", { className: "problem-lead", text: lead }),
      el("p", { text: "Fix the method block first: it must be a JSON object." }));
    $("method").focus();
    return true;
  }

  // --------------------------------------------------------------- actions

  async function runAction(progress, work, failLead, errorBox) {
    if (state.busy) return;
    setBusy(true);
    setText("form-status", progress);
    try {
      await work();
    } catch (err) {
      if (err instanceof SessionEnded) return;
      setText("form-status", "");
      if ($("report").getAttribute("aria-busy") === "true") hideReport();
      reportFailure(err, failLead, errorBox || $("form-errors"));
    } finally {
      setBusy(false);
    }
  }

  /** Show a failed request: a 400's field errors next to the fields, the rest in the box. */
  function reportFailure(err, lead, box) {
    let unmapped = [];
    if (err instanceof ApiError && err.status === 400 && Array.isArray(err.problem.errors) && box === $("form-errors")) {
      unmapped = applyServerErrors(err.problem.errors);
    } else if (err instanceof ApiError && Array.isArray(err.problem.errors)) {
      unmapped = err.problem.errors.filter(isObject);
    }
    showProblem(box, err, lead, unmapped);
    const firstInvalid = FIELDS.find((f) => (state.serverErrors[f] || []).length);
    if (firstInvalid) $(firstInvalid).focus();
  }

  async function onSave() {
    if (!state.canWrite || state.busy || state.mode === "closed") return;
    state.methodTouched = true;
    validateMethodNow();
    const built = buildBody();
    if (refuseUnparsable(built, "The profile was not saved.")) return;
    const isNew = state.mode === "new";
    await runAction(isNew ? "Creating the profile\u2026" : "Saving\u2026", async () => {
      clearServerErrors();
      const saved = isNew
        ? await api("POST", tenantPath("/profiles"), built.body)
        : await api("PUT", profilePath(state.current.name), built.body);
      showEditor("edit", saved, { keepReport: true });
      setText("form-status", (isNew ? "Created" : "Saved") + " profile " + saved.name + " (revision " +
        saved.revision + ").");
      await loadProfiles();
    }, "The profile was not saved.");
  }

  async function onTestSaved() {
    if (!state.canWrite || state.busy || state.mode !== "edit") return;
    const profile = state.current;
    const dirty = isDirty();
    await runAction("Testing the saved profile\u2026 (a login can take up to 30 seconds)", async () => {
      clearBox("form-errors");
      showReportPending();
      const report = await api("POST", profilePath(profile.name, "/test"));
      renderReport(report, "Test connection of the saved profile " + profile.name + " (revision " + profile.revision +
        ")" + (dirty ? "; your unsaved changes were not part of this test." : "."));
      setText("form-status", "Test finished: " + (report && report.ok ? "passed." : "failed."));
      await loadProfiles();
    }, "The test did not run.");
  }

  async function onTestDry() {
    if (!state.canWrite || state.busy || state.mode === "closed") return;
    state.methodTouched = true;
    validateMethodNow();
    const built = buildBody();
    if (refuseUnparsable(built, "The test did not run.")) return;
    await runAction("Testing the form (nothing is stored)\u2026 a login can take up to 30 seconds", async () => {
      clearServerErrors();
      showReportPending();
      const report = await api("POST", tenantPath("/profiles/test"), built.body);
      renderReport(report, "Test before saving: the profile as the form describes it now; nothing was stored.");
      setText("form-status", "Test finished: " + (report && report.ok ? "passed." : "failed."));
    }, "The test did not run.");
  }

  async function onDelete() {
    if (!state.canWrite || state.busy || state.mode !== "edit") return;
    const name = state.current.name;
    const question = "Delete the profile \u201c" + name + "\u201d?\n\nIts cached Vault token is revoked, and with it " +
      "the credentials it issued. This cannot be undone.";
    if (!window.confirm(question)) return;
    await runAction("Deleting\u2026", async () => {
      await api("DELETE", profilePath(name));
      closeEditor(true);
      setText("status", "Deleted profile " + name + ".");
      await loadProfiles();
    }, "The profile was not deleted.");
  }

  // ---------------------------------------------------------------- report

  function hideReport() {
    $("report").hidden = true;
    $("report").removeAttribute("aria-busy");
  }

  function showReportPending() {
    const report = $("report");
    report.hidden = false;
    report.setAttribute("aria-busy", "true");
    setText("report-context", "");
    setText("report-outcome", "Running\u2026");
    $("report-outcome").className = "outcome";
    $("hint").hidden = true;
    setText("hint-text", "");
    $("report-steps").replaceChildren();
    $("report-token").hidden = true;
    $("report-warnings").hidden = true;
  }

  function formatDuration(ms) {
    return typeof ms === "number" ? ms + " ms" : "";
  }

  function formatTtl(seconds) {
    if (typeof seconds !== "number") return String(seconds);
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const parts = [];
    if (h) parts.push(h + " h");
    if (m) parts.push(m + " min");
    if (s || !parts.length) parts.push(s + " s");
    return seconds + " seconds (" + parts.join(" ") + ")";
  }

  function renderReport(report, context) {
    const r = isObject(report) ? report : {};
    const steps = Array.isArray(r.steps) ? r.steps.filter(isObject) : [];
    const failed = steps.find((s) => !s.ok);
    $("report").hidden = false;
    $("report").removeAttribute("aria-busy");
    setText("report-context", context);
    setText("report-outcome", r.ok
      ? "Passed: every step succeeded."
      : failed ? "Failed at step " + failed.step + "." : "Failed.");
    $("report-outcome").className = "outcome " + (r.ok ? "is-passed" : "is-failed");

    $("hint").hidden = !r.hint;
    setText("hint-text", r.hint || "");

    $("report-steps").replaceChildren(...steps.map(renderStep));

    const token = isObject(r.token) ? r.token : null;
    $("report-token").hidden = !token;
    $("report-token-facts").replaceChildren(...(token ? tokenFacts(token) : []));

    const warnings = Array.isArray(r.warnings) ? r.warnings : [];
    $("report-warnings").hidden = warnings.length === 0;
    $("report-warnings-list").replaceChildren(...warnings.map((w) => el("li", { text: w })));
  }

  function renderStep(step) {
    const outcome = step.ok ? "passed" : "failed";
    const label = STEP_LABELS[step.step];
    return el("li", { className: "step step-" + outcome }, [
      el("div", { className: "step-head" }, [
        el("span", { className: "step-name" }, [
          el("code", { text: step.step }),
          label ? el("span", { className: "step-label", text: " \u2013 " + label }) : null,
        ]),
        el("span", { className: "state state-" + outcome, text: outcome }),
        el("span", { className: "step-duration", text: formatDuration(step.duration_ms) }),
      ]),
      step.detail ? el("p", { className: "step-detail", text: step.detail }) : null,
    ]);
  }

  function fact(term, value) {
    return [el("dt", { text: term }), el("dd", { text: value })];
  }

  function tokenFacts(token) {
    const policies = Array.isArray(token.policies) ? token.policies : [];
    const out = [
      ...fact("TTL", formatTtl(token.ttl_seconds)),
      ...fact("Policies", policies.length ? policies.join(", ") : "(none)"),
      ...fact("Renewable", token.renewable ? "yes" : "no"),
    ];
    const identity = isObject(token.identity) ? token.identity : {};
    for (const k of Object.keys(identity)) out.push(...fact("Identity: " + k, identity[k]));
    return out;
  }

  // --------------------------------------------------------------- preview

  function resetPreview() {
    state.previewSeq += 1;
    state.previewKey = null;
    setText("preview", "");
    setText("preview-status", "");
  }

  function schedulePreview(delay) {
    clearTimeout(state.previewTimer);
    if (state.mode === "closed") return;
    state.previewTimer = setTimeout(refreshPreview, delay === undefined ? PREVIEW_DEBOUNCE_MS : delay);
  }

  /** { body } when the form is complete enough to render, else { reason }. */
  function previewReadiness() {
    const method = checkMethodText($("method").value);
    if (!method.ok) return { reason: "Shown when the method block is valid." };
    const address = $("vault_address").value.trim();
    if (!ADDRESS_RE.test(address)) return { reason: "Shown when the Vault address is filled in (scheme, host and port)." };
    const name = $("name").value.trim();
    if (state.mode === "new" && name && !NAME_RE.test(name)) return { reason: "Shown when the profile name is valid." };
    const ns = $("namespace").value.trim();
    if (ns && !NAMESPACE_RE.test(ns)) return { reason: "Shown when the namespace is valid." };
    const built = buildBody();
    if (built.error) return { reason: built.field ? "Shown when every field is valid." : "Shown when the method block is valid." };
    return { body: built.body };
  }

  async function refreshPreview() {
    if (state.mode === "closed" || !state.who) return;
    if (!state.canWrite) {
      state.previewSeq += 1;
      setText("preview", "");
      setText("preview-status", "The preview is rendered by the service for admin keys only.");
      return;
    }
    const ready = previewReadiness();
    if (ready.reason) {
      state.previewSeq += 1;
      state.previewKey = null;
      setText("preview", "");
      setText("preview-status", ready.reason);
      return;
    }
    const key = JSON.stringify(ready.body);
    if (key === state.previewKey) return;
    const seq = ++state.previewSeq;
    setText("preview-status", "Updating\u2026");
    try {
      const rendered = await api("POST", tenantPath("/profiles/render"), ready.body);
      if (seq !== state.previewSeq) return;
      state.previewKey = key;
      setText("preview", isObject(rendered) ? rendered.hcl : "");
      setText("preview-status", "The configuration the agent would run for this form (sink path and nonce hidden).");
    } catch (err) {
      if (err instanceof SessionEnded || seq !== state.previewSeq) return;
      state.previewKey = null;
      setText("preview", "");
      let text = "Not shown: ";
      if (err instanceof ApiError && Array.isArray(err.problem.errors) && err.problem.errors.length) {
        text += err.problem.errors.filter(isObject).map((e) => formatPointer(String(e.pointer)) + ": " + e.message).join("; ");
      } else if (err instanceof ApiError) {
        text += problemSummary(err.problem);
      } else {
        text += "the service could not render it.";
      }
      setText("preview-status", text);
    }
  }

  // ------------------------------------------------------------- EC2 nonce

  function showNoncePanel() {
    const show = state.mode === "edit" && isEc2(state.current);
    $("nonce-panel").hidden = !show;
    state.nonce = null;
    state.nonceSeq += 1;
    renderNonce(null);
    clearBox("nonce-errors");
    setText("nonce-status", "");
    if (show) loadNonce();
  }

  async function loadNonce() {
    const name = state.current.name;
    const seq = ++state.nonceSeq;
    if (!state.canWrite) {
      setText("nonce-status", "The nonce state is shown to admin keys only.");
      return;
    }
    setText("nonce-status", "Loading\u2026");
    try {
      const info = await api("GET", profilePath(name, "/ec2-nonce"));
      if (seq !== state.nonceSeq) return;
      state.nonce = isObject(info) ? info : null;
      renderNonce(state.nonce);
      setText("nonce-status", "");
    } catch (err) {
      if (err instanceof SessionEnded || seq !== state.nonceSeq) return;
      setText("nonce-status", "");
      showProblem($("nonce-errors"), err, "The nonce state could not be loaded.");
    }
  }

  function orDash(v) {
    return v === undefined || v === null || v === "" ? "\u2013" : String(v);
  }

  function renderNonce(info) {
    const i = info || {};
    setText("nonce-exists", info ? (i.exists ? "yes" : "no (the next login creates one)") : "\u2013");
    setText("nonce-instance-id", orDash(i.instance_id));
    setText("nonce-vault-address", orDash(i.vault_address));
    setText("nonce-namespace", info ? (i.namespace ? i.namespace : "(none)") : "\u2013");
    setText("nonce-mount-path", orDash(i.mount_path));
    setText("nonce-created-at", orDash(i.created_at));
    setText("nonce-last-used-at", info && i.exists && !i.last_used_at ? "not yet" : orDash(i.last_used_at));
    setText("nonce-reset-count", orDash(i.reset_count));
    setText("nonce-fingerprint", orDash(i.fingerprint));
    setText("nonce-command", orDash(i.vault_command));
  }

  async function onResetNonce() {
    if (!state.canWrite || state.busy || state.mode !== "edit" || !isEc2(state.current)) return;
    const name = state.current.name;
    const command = state.nonce && state.nonce.vault_command
      ? state.nonce.vault_command
      : "vault delete <mount path>/identity-accesslist/<instance id>";
    const question = "Reset the EC2 nonce used by the profile \u201c" + name + "\u201d?\n\n" +
      "First the Vault admin must delete this instance's identity access-list entry, or Vault refuses the " +
      "next login (client nonce mismatch):\n\n    " + command + "\n\n" +
      "The new nonce applies to every profile that logs in to the same Vault, namespace and mount from this host.";
    if (!window.confirm(question)) return;
    clearBox("nonce-errors");
    await runAction("Resetting the EC2 nonce\u2026", async () => {
      const info = await api("POST", profilePath(name, "/ec2-nonce/reset"));
      state.nonceSeq += 1;
      state.nonce = isObject(info) ? info : null;
      renderNonce(state.nonce);
      setText("nonce-status", "The nonce was reset: the next login uses a new one.");
      setText("form-status", "");
    }, "The nonce was not reset.", $("nonce-errors"));
  }

  // ------------------------------------------------------------------ start

  function bind() {
    $("signin-form").addEventListener("submit", onSignInSubmit);
    $("api-key").addEventListener("input", () => $("api-key").removeAttribute("aria-invalid"));
    $("signout").addEventListener("click", onSignOut);
    $("reload-profiles").addEventListener("click", loadProfiles);
    $("new-profile").addEventListener("click", onNewProfile);
    $("profiles-body").addEventListener("click", onProfilesClick);
    $("close-editor").addEventListener("click", () => {
      if (!waitForAction()) closeEditor(true);
    });
    for (const f of FIELDS) $(f).addEventListener("input", onFieldInput);
    $("format-method").addEventListener("click", onFormatMethod);
    $("method-example").addEventListener("change", onExampleChosen);
    $("save").addEventListener("click", onSave);
    $("test-saved").addEventListener("click", onTestSaved);
    $("test-dry").addEventListener("click", onTestDry);
    $("delete").addEventListener("click", onDelete);
    $("nonce-reset").addEventListener("click", onResetNonce);
  }

  function start() {
    bind();
    const key = storageGet();
    if (!key) {
      showSignIn();
      return;
    }
    $("signin-section").hidden = true;
    $("loading").hidden = false;
    signIn(key, true);
  }

  start();
})();
