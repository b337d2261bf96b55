/*
 * Connect a connector: copy-paste snippets for one profile and one key, for
 * a REST read with curl, the Vault CLI, Python's hvac and a Vault Agent.
 */
import { session } from "./api.js";
import { $, copyBlock, el, setText } from "./dom.js";

const state = { profiles: [], keys: [] };

/** The origin the service is reached at (the console's own). */
function origin() {
  return window.location.origin;
}

/** "secret/data/app/db" -> { mount: "secret", path: "app/db", kv2: true }. */
function splitKv(path) {
  const m = /^([^/]+)\/data\/(.+)$/.exec(path);
  return m ? { mount: m[1], path: m[2], kv2: true } : { mount: null, path, kv2: false };
}

function snippets(profile, keyName) {
  const t = session.who.tenant;
  const secret = profile.test_secret_path || "secret/data/app/db";
  const kv = splitKv(secret);
  const base = origin() + "/vault/" + t + "/" + profile.name;
  const keyWords = keyName ? "the key \u201c" + keyName + "\u201d" : "a read key";
  const keyVar = "export AUTH_SERVICE_KEY='<paste " + keyWords + " here>'";
  const rest = origin() + "/v1/tenants/" + t + "/profiles/" + profile.name + "/secrets/" + secret;
  const cli = kv.kv2 ? "vault kv get -mount=" + kv.mount + " " + kv.path : "vault read " + secret;
  const hvacRead = kv.kv2
    ? "secret = client.secrets.kv.v2.read_secret_version(mount_point=\"" + kv.mount + "\", path=\"" + kv.path + "\", raise_on_deleted_version=True)\nprint(secret[\"data\"][\"data\"])"
    : "secret = client.read(\"" + secret + "\")\nprint(secret[\"data\"])";
  const field = kv.kv2 ? ".Data.data" : ".Data";
  return [
    ["REST read with curl", keyVar + "\ncurl -sS -H \"Authorization: Bearer $AUTH_SERVICE_KEY\" \\\n  '" + rest + "'"],
    ["Vault CLI", keyVar + "\nexport VAULT_ADDR='" + base + "'\nexport VAULT_TOKEN=\"$AUTH_SERVICE_KEY\"\n" + cli],
    ["Python (hvac)", "import os\nimport hvac\n\nclient = hvac.Client(url=\"" + base + "\", token=os.environ[\"AUTH_SERVICE_KEY\"])\n" + hvacRead],
    ["Vault Agent template", "# Put " + keyWords + " in the file below (readable by the agent only).\n" +
      "vault {\n  address = \"" + base + "\"\n}\n\nauto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = \"/etc/vault-agent/auth-service-key\"\n    }\n  }\n}\n\n" +
      "template {\n  contents    = \"{{ with secret \\\"" + secret + "\\\" }}{{ range $k, $v := " + field + " }}{{ $k }}={{ $v }}\\n{{ end }}{{ end }}\"\n  destination = \"/etc/app/secret.env\"\n}"],
  ];
}

function renderConnect() {
  const profileSelect = $("connect-profile");
  const keySelect = $("connect-key");
  const chosenProfile = profileSelect.value;
  const chosenKey = keySelect.value;
  profileSelect.replaceChildren(...state.profiles.map((p) => el("option", { text: p.name, attrs: { value: p.name } })));
  if (state.profiles.some((p) => p.name === chosenProfile)) profileSelect.value = chosenProfile;
  const readKeys = state.keys.filter((k) => Array.isArray(k.scopes) && k.scopes.includes("read"));
  keySelect.replaceChildren(
    el("option", { text: "Any read key", attrs: { value: "" } }),
    ...readKeys.map((k) => el("option", { text: k.name + " (" + k.id + ")", attrs: { value: k.id } })));
  if (readKeys.some((k) => k.id === chosenKey)) keySelect.value = chosenKey;
  const profile = state.profiles.find((p) => p.name === profileSelect.value);
  $("connect-empty").hidden = Boolean(profile);
  if (!profile) {
    $("connect-snippets").replaceChildren();
    return;
  }
  const key = readKeys.find((k) => k.id === keySelect.value);
  setText("connect-note", "Each snippet reads " + (profile.test_secret_path || "secret/data/app/db") + " through the profile \u201c" + profile.name +
    "\u201d. The key itself is shown only once, when it is created: paste it where a snippet says.");
  $("connect-snippets").replaceChildren(...snippets(profile, key ? key.name : "").map(([label, text]) => copyBlock(label, text)));
}

/** New lists of profiles and keys (keys may be [] for a read key). */
export function setConnectData(profiles, keys) {
  state.profiles = profiles;
  state.keys = keys;
  renderConnect();
}

/** Open the page for one profile. */
export function connectProfile(name) {
  $("connect-profile").value = name;
  renderConnect();
}

export function bindConnect() {
  $("connect-profile").addEventListener("change", renderConnect);
  $("connect-key").addEventListener("change", renderConnect);
}
