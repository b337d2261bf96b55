/*
 * The guided profile form: the login type first, then the fields of that
 * type, with the raw method block as an "advanced" view kept in sync both
 * ways. Builds the body the API takes; the service judges it (validation.js).
 */
import { session } from "./api.js";
import { $, isObject, setText } from "./dom.js";

/** Profile fields that are plain inputs, as the API names them. */
export const PLAIN = ["name", "vault_address", "namespace", "test_secret_path", "aws_role_arn", "secret_cache_ttl"];
const OPTIONAL = ["namespace", "test_secret_path", "aws_role_arn", "secret_cache_ttl"];

/** Structured method-block fields: input id -> [path in the block, types that use it]. */
export const STRUCTURED = {
  mount_path: [["mount_path"], ["iam", "ec2", "jwt"]],
  role: [["config", "role"], ["iam", "ec2", "jwt"]],
  jwt_path: [["config", "path"], ["jwt"]],
  header_value: [["config", "header_value"], ["iam"]],
  region: [["config", "region"], ["iam"]],
};

const SKELETON = {
  iam: () => ({ type: "aws", mount_path: "auth/aws", config: { type: "iam", role: "" } }),
  ec2: () => ({ type: "aws", mount_path: "auth/aws", config: { type: "ec2", role: "" } }),
  jwt: () => ({ type: "jwt", mount_path: "auth/jwt", config: { path: "", role: "" } }),
};
const DEFAULT_MOUNT = { iam: "auth/aws", ec2: "auth/aws", jwt: "auth/jwt" };
const TYPE_WORDS = {
  iam: "The service signs in with an AWS role; works on any AWS compute.",
  ec2: "The service signs in with this host's own EC2 instance identity.",
  jwt: "The service signs in with a workload identity token file on its host.",
};

/** The login type a method block describes: iam, ec2, jwt or null. */
export function typeOf(method) {
  if (!isObject(method)) return null;
  if (method.type === "jwt") return "jwt";
  if (method.type === "aws" && isObject(method.config) && (method.config.type === "iam" || method.config.type === "ec2")) return method.config.type;
  return null;
}

/** The login types the tenant may use: the operator's grant, else what the service accepts. */
function grantedTypes() {
  const o = session.options;
  const t = session.tenant;
  const all = ["iam", "ec2", "jwt"];
  if (o && Array.isArray(o.methods)) return all.filter((m) => o.methods.includes(m));
  if (t && Array.isArray(t.methods)) return all.filter((m) => t.methods.includes(m));
  return all;
}

/** An example Vault address within the tenant's allowed origins (or a generic one). */
function exampleAddress() {
  const o = session.options || {};
  const t = session.tenant || {};
  const list = Array.isArray(o.vault_addresses) ? o.vault_addresses : Array.isArray(t.vault_addresses) ? t.vault_addresses : [];
  const pattern = list[0];
  if (!pattern) return "https://vault.example.com:8200";
  return String(pattern).replace("://*.", "://vault.").replace(/:\*$/, ":8200");
}

/** An example token file in the tenant's own folder (when the service says where it is). */
function exampleJwtFile() {
  const o = session.options || {};
  const dirs = Array.isArray(o.jwt_folders) ? o.jwt_folders : [];
  return dirs.length ? dirs[0].replace(/\/?$/, "/") + "token" : "/var/run/secrets/" + (session.who ? session.who.tenant : "tenant") + "/token";
}

// ---------------------------------------------------------------- JSON text

/** { value } or { error: "words" } for the method block's text (the one check the browser makes). */
export function parseMethodText(text) {
  if (!text.trim()) return { value: undefined };
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    const m = /position (\d+)/.exec(String(e.message));
    let where = "";
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split("\n").length;
      where = " (line " + line + ", column " + (before.length - before.lastIndexOf("\n")) + ")";
    }
    return { error: "This is not valid JSON" + where + ": check the quotes, commas and braces." };
  }
}

function writeJson(value) {
  $("method").value = value === undefined ? "" : JSON.stringify(value, null, 2);
}

function getPath(obj, path) {
  let cur = obj;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

function setPath(obj, path, value) {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key];
  }
  const last = path[path.length - 1];
  if (value === "") delete cur[last];
  else cur[last] = value;
}

// ------------------------------------------------------------- the views

/** Show the type's fields, hide the others (AWS role ARN only for iam). */
export function showTypeFields(type) {
  for (const id of Object.keys(STRUCTURED)) {
    $("field-" + id).hidden = !type || !STRUCTURED[id][1].includes(type);
  }
  $("field-aws_role_arn").hidden = type !== "iam" && !$("aws_role_arn").value.trim();
  $("structured-empty").hidden = Boolean(type);
  setText("role-help", type === "jwt"
    ? "The role on Vault's JWT login that this token signs in to, like app."
    : "The role on Vault's AWS login that this host signs in to, like my-app-role.");
  $("fill-example").disabled = !session.canWrite || !type;
}

/** Structured fields and type from the method block (the JSON view is the source). */
export function structuredFromJson() {
  const parsed = parseMethodText($("method").value);
  if (parsed.error) {
    $("structured-sync").hidden = false;
    return;
  }
  $("structured-sync").hidden = true;
  const method = parsed.value;
  const type = typeOf(method);
  for (const radio of document.querySelectorAll("input[name=method_type]")) radio.checked = radio.value === type;
  for (const id of Object.keys(STRUCTURED)) {
    const v = getPath(method, STRUCTURED[id][0]);
    $(id).value = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
  }
  showTypeFields(type);
}

/** Write one structured field into the method block. */
export function jsonFromStructured(id) {
  const parsed = parseMethodText($("method").value);
  if (parsed.error) return false;
  const method = isObject(parsed.value) ? parsed.value : SKELETON[checkedType() || "jwt"]();
  setPath(method, STRUCTURED[id][0], $(id).value.trim());
  writeJson(method);
  return true;
}

export function checkedType() {
  const radio = document.querySelector("input[name=method_type]:checked");
  return radio ? radio.value : null;
}

/** The last block of each type this form had, so that switching back restores it. */
const earlier = {};

function forgetEarlierTypes() {
  for (const k of Object.keys(earlier)) delete earlier[k];
}

/** A new login type: the block it had before, else a fresh one keeping the role and a custom mount path. */
export function changeType(type) {
  const parsed = parseMethodText($("method").value);
  const old = parsed.error ? undefined : parsed.value;
  const oldType = typeOf(old);
  if (oldType) earlier[oldType] = old;
  if (earlier[type]) {
    writeJson(earlier[type]);
    structuredFromJson();
    return;
  }
  const next = SKELETON[type]();
  const role = getPath(old, ["config", "role"]);
  if (typeof role === "string") next.config.role = role;
  const mount = isObject(old) ? old.mount_path : undefined;
  if (typeof mount === "string" && mount && mount !== DEFAULT_MOUNT[oldType]) next.mount_path = mount;
  writeJson(next);
  structuredFromJson();
}

/** Fill in an example of the chosen type from the tenant's grants. */
function exampleFor(type) {
  const block = SKELETON[type]();
  block.config.role = type === "jwt" ? "app" : "my-app-role";
  if (type === "jwt") block.config.path = exampleJwtFile();
  return block;
}

export function applyExample(type) {
  writeJson(exampleFor(type));
  if (!$("vault_address").value.trim()) $("vault_address").value = exampleAddress();
  if (type === "iam" && !$("aws_role_arn").value.trim()) $("aws_role_arn").value = "arn:aws:iam::123456789012:role/vault-login";
  structuredFromJson();
}

/** The type choices the tenant's grants allow (plus the stored type, if no longer granted). */
function renderTypeChoices(currentType) {
  const types = grantedTypes();
  if (currentType && !types.includes(currentType)) types.push(currentType);
  for (const t of ["iam", "ec2", "jwt"]) {
    $("choice-" + t).hidden = !types.includes(t);
    setText("type-" + t + "-help", TYPE_WORDS[t]);
  }
  const folders = session.options && Array.isArray(session.options.jwt_folders) ? session.options.jwt_folders : [];
  setText("jwt_path-help", "The token file on the service's host. It must lie in your tenant's own folder" +
    (folders.length ? ": " + folders.join(" or ") + "." : " there."));
  setText("method_type-help", types.length
    ? "Your operator allows " + types.map((t) => t.toUpperCase()).join(", ").replace(/, ([^,]*)$/, " and $1") + " logins for this tenant."
    : "Your operator has not allowed any login type for this tenant yet.");
}

/** Put a profile (or an empty form) into the fields. */
export function fillForm(profile) {
  const p = profile || {};
  forgetEarlierTypes();
  for (const f of PLAIN) $(f).value = p[f] || "";
  writeJson(p.method);
  renderTypeChoices(typeOf(p.method));
  structuredFromJson();
}

/** The form as text, to tell unsaved changes. */
export function snapshot() {
  const parsed = parseMethodText($("method").value);
  const method = parsed.error ? $("method").value : JSON.stringify(parsed.value === undefined ? null : parsed.value);
  return JSON.stringify([PLAIN.map((f) => $(f).value.trim()), method]);
}

/**
 * The body the form describes: { body } or { syntaxError } when the method
 * block is not JSON. `current` is the saved profile being edited, if any.
 */
export function buildBody(current) {
  const parsed = parseMethodText($("method").value);
  if (parsed.error) return { syntaxError: parsed.error };
  const body = {};
  // A new profile's name is sent even when empty, so that the service names the problem.
  body.name = current ? current.name : $("name").value.trim();
  body.vault_address = $("vault_address").value.trim();
  body.method = parsed.value === undefined ? {} : parsed.value;
  for (const f of OPTIONAL) {
    const v = $(f).value.trim();
    if (v) body[f] = v;
  }
  // Sharing cached dynamic credentials is set through the API; a save here keeps it while the cache stays on.
  if (current && current.secret_cache_leased && body.secret_cache_ttl) body.secret_cache_leased = true;
  return { body };
}
