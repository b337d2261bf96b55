/*
 * A small JSON Schema (draft 2020-12 subset) validator for the admin console,
 * and the method-block messages the service gives for the same problems.
 *
 * Supported keywords: type, enum, const, minLength, maxLength, pattern,
 * minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, required,
 * properties, patternProperties, additionalProperties, minProperties,
 * maxProperties, items, prefixItems, minItems, maxItems, allOf, anyOf, oneOf,
 * not, if/then/else, and boolean schemas. Annotations (title, description,
 * default, examples, $schema, $id, x-*) are ignored by validation; x-hint and
 * x-refused are used for the messages, as the service uses them.
 *
 * Exposed as window.SchemaValidate (and module.exports under Node, for tests).
 */
(function (root) {
  "use strict";

  // ---------------------------------------------------------------- helpers

  function escapeToken(key) {
    return String(key).replace(/~/g, "~0").replace(/\//g, "~1");
  }

  function joinPointer(base, key) {
    return base + "/" + escapeToken(key);
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function hasOwn(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key);
  }

  function jsonType(v) {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
    return typeof v; // string, boolean, object
  }

  /** "a string", "an object", ... as the service words it. */
  function kindWords(v) {
    switch (jsonType(v)) {
      case "null": return "null";
      case "boolean": return "a boolean";
      case "integer":
      case "number": return "a number";
      case "string": return "a string";
      case "array": return "an array";
      default: return "an object";
    }
  }

  function typeMatches(v, t) {
    const actual = jsonType(v);
    if (t === "number") return actual === "number" || actual === "integer";
    return actual === t;
  }

  function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null) return false;
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i += 1) if (!deepEqual(a[i], b[i])) return false;
      return true;
    }
    if (typeof a === "object") {
      if (Array.isArray(b)) return false;
      const ka = Object.keys(a);
      const kb = Object.keys(b);
      if (ka.length !== kb.length) return false;
      return ka.every((k) => hasOwn(b, k) && deepEqual(a[k], b[k]));
    }
    return false;
  }

  /** Length in Unicode code points, as JSON Schema counts it. */
  function codePoints(s) {
    let n = 0;
    for (const ignored of s) n += 1; // eslint-disable-line no-unused-vars
    return n;
  }

  const regexCache = new Map();
  function compilePattern(pattern) {
    if (regexCache.has(pattern)) return regexCache.get(pattern);
    let re = null;
    try {
      re = new RegExp(pattern, "u");
    } catch (e1) {
      try {
        re = new RegExp(pattern);
      } catch (e2) {
        re = null; // an unusable pattern is ignored rather than failing every value
      }
    }
    regexCache.set(pattern, re);
    return re;
  }

  // ------------------------------------------------------------- validation

  /**
   * Validate `instance` against `schema`.
   * Returns a list of errors { pointer, keyword, schemaPath: [tokens], params }.
   * `schemaPath` names the schema node holding the failing keyword (for a false
   * schema: the false schema itself).
   */
  function validate(schema, instance) {
    const errors = [];
    walk(schema, instance, "", [], errors);
    return errors;
  }

  function walk(schema, value, pointer, spath, errors) {
    if (schema === true || schema === undefined) return;
    if (schema === false) {
      errors.push({ pointer, keyword: "false", schemaPath: spath, params: {} });
      return;
    }
    if (!isObject(schema)) return;

    const fail = (keyword, params, at) =>
      errors.push({ pointer: at === undefined ? pointer : at, keyword, schemaPath: spath, params: params || {} });

    // type
    if (hasOwn(schema, "type")) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      if (!types.some((t) => typeMatches(value, t))) fail("type", { expected: types });
    }
    if (hasOwn(schema, "enum") && Array.isArray(schema.enum)) {
      if (!schema.enum.some((option) => deepEqual(option, value))) fail("enum", { options: schema.enum });
    }
    if (hasOwn(schema, "const")) {
      if (!deepEqual(schema.const, value)) fail("const", { expected: schema.const });
    }

    // strings
    if (typeof value === "string") {
      const len = codePoints(value);
      if (typeof schema.maxLength === "number" && len > schema.maxLength) fail("maxLength", { limit: schema.maxLength });
      if (typeof schema.minLength === "number" && len < schema.minLength) fail("minLength", { limit: schema.minLength });
      if (typeof schema.pattern === "string") {
        const re = compilePattern(schema.pattern);
        if (re && !re.test(value)) fail("pattern", { pattern: schema.pattern });
      }
    }

    // numbers
    if (typeof value === "number") {
      if (typeof schema.minimum === "number" && value < schema.minimum) fail("minimum", { limit: schema.minimum });
      if (typeof schema.maximum === "number" && value > schema.maximum) fail("maximum", { limit: schema.maximum });
      if (typeof schema.exclusiveMinimum === "number" && value <= schema.exclusiveMinimum) {
        fail("exclusiveMinimum", { limit: schema.exclusiveMinimum });
      }
      if (typeof schema.exclusiveMaximum === "number" && value >= schema.exclusiveMaximum) {
        fail("exclusiveMaximum", { limit: schema.exclusiveMaximum });
      }
      if (typeof schema.multipleOf === "number" && schema.multipleOf > 0) {
        const q = value / schema.multipleOf;
        if (Math.abs(q - Math.round(q)) > 1e-9) fail("multipleOf", { limit: schema.multipleOf });
      }
    }

    // objects
    if (isObject(value)) {
      const keys = Object.keys(value);
      if (Array.isArray(schema.required)) {
        for (const key of schema.required) {
          if (!hasOwn(value, key)) fail("required", { property: key }, joinPointer(pointer, key));
        }
      }
      if (typeof schema.minProperties === "number" && keys.length < schema.minProperties) {
        fail("minProperties", { limit: schema.minProperties });
      }
      if (typeof schema.maxProperties === "number" && keys.length > schema.maxProperties) {
        fail("maxProperties", { limit: schema.maxProperties });
      }
      const props = isObject(schema.properties) ? schema.properties : {};
      const patterns = isObject(schema.patternProperties) ? schema.patternProperties : {};
      for (const key of keys) {
        let evaluated = false;
        if (hasOwn(props, key)) {
          evaluated = true;
          walk(props[key], value[key], joinPointer(pointer, key), spath.concat("properties", key), errors);
        }
        for (const pat of Object.keys(patterns)) {
          const re = compilePattern(pat);
          if (re && re.test(key)) {
            evaluated = true;
            walk(patterns[pat], value[key], joinPointer(pointer, key), spath.concat("patternProperties", pat), errors);
          }
        }
        if (!evaluated && hasOwn(schema, "additionalProperties")) {
          if (schema.additionalProperties === false) {
            fail("additionalProperties", { property: key }, joinPointer(pointer, key));
          } else {
            walk(schema.additionalProperties, value[key], joinPointer(pointer, key),
              spath.concat("additionalProperties"), errors);
          }
        }
      }
    }

    // arrays
    if (Array.isArray(value)) {
      if (typeof schema.minItems === "number" && value.length < schema.minItems) fail("minItems", { limit: schema.minItems });
      if (typeof schema.maxItems === "number" && value.length > schema.maxItems) fail("maxItems", { limit: schema.maxItems });
      const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
      value.forEach((item, i) => {
        if (i < prefix.length) {
          walk(prefix[i], item, joinPointer(pointer, i), spath.concat("prefixItems", String(i)), errors);
        } else if (hasOwn(schema, "items")) {
          walk(schema.items, item, joinPointer(pointer, i), spath.concat("items"), errors);
        }
      });
    }

    // combinators
    if (Array.isArray(schema.allOf)) {
      schema.allOf.forEach((sub, i) => walk(sub, value, pointer, spath.concat("allOf", String(i)), errors));
    }
    if (Array.isArray(schema.anyOf)) {
      const passes = schema.anyOf.some((sub) => validate(sub, value).length === 0);
      if (!passes) fail("anyOf", {});
    }
    if (Array.isArray(schema.oneOf)) {
      const count = schema.oneOf.filter((sub) => validate(sub, value).length === 0).length;
      if (count !== 1) fail("oneOf", { matched: count });
    }
    if (hasOwn(schema, "not")) {
      if (validate(schema.not, value).length === 0) fail("not", {});
    }
    if (hasOwn(schema, "if")) {
      const condition = validate(schema.if, value).length === 0;
      if (condition && hasOwn(schema, "then")) walk(schema.then, value, pointer, spath.concat("then"), errors);
      if (!condition && hasOwn(schema, "else")) walk(schema.else, value, pointer, spath.concat("else"), errors);
    }
  }

  // ---------------------------------------------------------------- messages

  function nodeAt(schema, tokens) {
    let node = schema;
    for (const t of tokens) {
      if (node === null || typeof node !== "object") return undefined;
      node = node[t];
    }
    return node;
  }

  /**
   * Walk from the schema node at `tokens` towards the root and return the first
   * annotation found: x-refused[key] (when wantRefused) or else x-hint.
   */
  function annotation(schema, tokens, key, wantRefused) {
    for (let n = tokens.length; n >= 0; n -= 1) {
      const node = nodeAt(schema, tokens.slice(0, n));
      if (isObject(node)) {
        if (wantRefused) {
          const refused = node["x-refused"];
          if (key !== undefined && isObject(refused) && typeof refused[key] === "string") return refused[key];
        } else if (typeof node["x-hint"] === "string") {
          return node["x-hint"];
        }
      }
    }
    return null;
  }

  /** `mountPath` / `Mount-Path` / `mount path` all become `mount_path`. */
  function normalizeKey(key) {
    let out = "";
    let prevLower = false;
    for (const c of String(key).trim()) {
      const upper = c >= "A" && c <= "Z";
      if (upper && prevLower) out += "_";
      prevLower = (c >= "a" && c <= "z") || (c >= "0" && c <= "9");
      if (c === "-" || c === " " || c === ".") out += "_";
      else out += upper ? c.toLowerCase() : c;
    }
    return out;
  }

  /** Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps). */
  function editDistance(a, b) {
    const s = Array.from(a);
    const t = Array.from(b);
    const d = [];
    for (let i = 0; i <= s.length; i += 1) {
      d.push(new Array(t.length + 1).fill(0));
      d[i][0] = i;
    }
    for (let j = 0; j <= t.length; j += 1) d[0][j] = j;
    for (let i = 1; i <= s.length; i += 1) {
      for (let j = 1; j <= t.length; j += 1) {
        const cost = s[i - 1] === t[j - 1] ? 0 : 1;
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[s.length][t.length];
  }

  /** The closest known key to an unknown one, if it is a plausible typo. */
  function didYouMean(unknown, known) {
    const normalized = normalizeKey(unknown);
    const exact = known.find((k) => normalizeKey(k) === normalized);
    if (exact !== undefined) return exact;
    let best = null;
    let bestDistance = Infinity;
    for (const k of known) {
      const dist = editDistance(normalized, k);
      if (dist <= Math.max(2, Math.floor(k.length / 4)) && dist < bestDistance) {
        best = k;
        bestDistance = dist;
      }
    }
    return best;
  }

  function quote(v) {
    return JSON.stringify(v);
  }

  function lastToken(pointer) {
    const i = pointer.lastIndexOf("/");
    const token = i < 0 ? pointer : pointer.slice(i + 1);
    return token.replace(/~1/g, "/").replace(/~0/g, "~");
  }

  const TYPE_WORDS = {
    string: "a string", integer: "a whole number", number: "a number", boolean: "true or false",
    object: "an object", array: "an array", null: "null",
  };

  /** Turn raw validation errors into { pointer, message } as the service words them. */
  function describe(schema, errors, instance) {
    const out = [];
    for (const err of errors) {
      const node = err.schemaPath;
      const p = err.params;
      if (err.keyword === "additionalProperties") {
        const key = p.property;
        const refused = annotation(schema, node, key, true);
        let message;
        if (refused) {
          message = "unknown field " + quote(key) + ": " + refused;
        } else {
          const known = Object.keys((nodeAt(schema, node) || {}).properties || {});
          const suggestion = didYouMean(key, known);
          message = suggestion
            ? "unknown field " + quote(key) + "; did you mean " + quote(suggestion) +
              "? (the agent silently ignores unknown keys, so a typo would be lost)"
            : "unknown field " + quote(key) + "; accepted fields here: " + known.join(", ");
        }
        out.push({ pointer: err.pointer, message });
        continue;
      }
      if (err.keyword === "false") {
        const key = lastToken(err.pointer);
        const refused = annotation(schema, node, key, true);
        out.push({
          pointer: err.pointer,
          message: refused
            ? quote(key) + " is not accepted here: " + refused
            : quote(key) + " is not accepted here; remove it",
        });
        continue;
      }
      if (err.keyword === "required") {
        const hint = annotation(schema, node.concat("properties", p.property), undefined, false);
        out.push({ pointer: err.pointer, message: hint ? "required: " + hint : "required" });
        continue;
      }
      const hint = annotation(schema, node, undefined, false);
      let what;
      switch (err.keyword) {
        case "type":
          what = "wrong type (" + kindWords(valueAt(instance, err.pointer)) + ")";
          if (!hint) what += "; expected " + p.expected.map((t) => TYPE_WORDS[t] || t).join(" or ");
          break;
        case "pattern": what = "not an accepted value"; break;
        case "maxLength": what = "too long (at most " + p.limit + " characters)"; break;
        case "minLength": what = p.limit <= 1 ? "must not be empty" : "too short (at least " + p.limit + " characters)"; break;
        case "minimum": what = "too small (at least " + p.limit + ")"; break;
        case "maximum": what = "too large (at most " + p.limit + ")"; break;
        case "exclusiveMinimum": what = "too small (more than " + p.limit + ")"; break;
        case "exclusiveMaximum": what = "too large (less than " + p.limit + ")"; break;
        case "multipleOf": what = "must be a multiple of " + p.limit; break;
        case "enum": what = "must be one of " + p.options.map(quote).join(", "); break;
        case "const": what = "must be " + quote(p.expected); break;
        case "minItems": what = "too few items (at least " + p.limit + ")"; break;
        case "maxItems": what = "too many items (at most " + p.limit + ")"; break;
        case "minProperties": what = "too few fields (at least " + p.limit + ")"; break;
        case "maxProperties": what = "too many fields (at most " + p.limit + ")"; break;
        default: what = "not accepted";
      }
      out.push({ pointer: err.pointer, message: hint ? what + ": expected " + hint : what });
    }
    return out;
  }

  function valueAt(instance, pointer) {
    if (pointer === "") return instance;
    let v = instance;
    for (const raw of pointer.slice(1).split("/")) {
      const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (v === null || typeof v !== "object") return undefined;
      v = v[key];
    }
    return v;
  }

  // ----------------------------------------------------- method-block rules

  /** Why a string cannot be written into the agent's HCL v1 config, if it cannot. */
  function hclUnsafe(s) {
    if (s.includes("${")) return "\"${\"";
    if (s.includes("%{")) return "\"%{\"";
    if (s.includes("\"")) return "a double quote";
    if (s.includes("\\")) return "a backslash";
    // Unicode control characters (Cc), as Rust's char::is_control.
    if (/[\u0000-\u001f\u007f-\u009f]/.test(s)) return "a control character";
    return null;
  }

  function hclSafetyNet(value, pointer, out) {
    if (typeof value === "string") {
      const why = hclUnsafe(value);
      if (why) {
        out.push({
          pointer,
          message: "contains " + why + ", which the agent's HCL v1 configuration cannot carry safely; remove it",
        });
      }
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => hclSafetyNet(v, joinPointer(pointer, i), out));
    } else if (isObject(value)) {
      for (const k of Object.keys(value)) hclSafetyNet(value[k], joinPointer(pointer, k), out);
    }
  }

  /** Parse a Go duration string (`1m30s`, `500ms`) into seconds, or null. */
  function parseGoDuration(s) {
    const scale = { ns: 1e-9, us: 1e-6, "µs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
    let total = 0;
    let consumed = 0;
    let m;
    if (!s) return null;
    while ((m = re.exec(s)) !== null) {
      total += parseFloat(m[1]) * scale[m[2]];
      consumed = re.lastIndex;
      if (consumed === s.length) break;
    }
    return consumed === s.length ? total : null;
  }

  function enabledTypes(schema) {
    const options = schema && schema.properties && schema.properties.type && schema.properties.type.enum;
    return Array.isArray(options) ? options : [];
  }

  /**
   * Every problem of a method block, as the service reports them: one per pointer,
   * ordered by pointer. Pointers are relative to the block ("/config/role").
   */
  function methodBlockErrors(schema, value) {
    const enabled = enabledTypes(schema).map(quote).join(", ");
    if (!isObject(value)) {
      return [{
        pointer: "",
        message: "the method block must be a JSON object like {\"type\": \"aws\", \"config\": {\"type\": \"iam\", \"role\": \"my-role\"}}, not " + kindWords(value),
      }];
    }
    if (!hasOwn(value, "type")) {
      return [{ pointer: "/type", message: "required: the method type, one of: " + enabled }];
    }
    const t = value.type;
    if (typeof t !== "string") {
      return [{ pointer: "/type", message: "must be a string naming the method type, like \"aws\", not " + kindWords(t) }];
    }
    if (schema && enabledTypes(schema).length && !enabledTypes(schema).includes(t)) {
      if (t === "aws" || t === "jwt") {
        return [{
          pointer: "/type",
          message: "method type " + quote(t) + " is not enabled on this service (enabled: " + enabled +
            "); ask the operator to add it to AUTH_SERVICE_ALLOWED_METHODS",
        }];
      }
      return [{
        pointer: "/type",
        message: "unsupported method type " + quote(t) + "; use one of: " + enabled +
          " (the block label, method \"aws\" { ... }, becomes \"type\")",
      }];
    }
    let errors = schema ? describe(schema, validate(schema, value), value) : [];
    hclSafetyNet(value, "", errors);
    if (errors.length === 0 && typeof value.min_backoff === "string" && typeof value.max_backoff === "string") {
      const a = parseGoDuration(value.min_backoff);
      const b = parseGoDuration(value.max_backoff);
      if (a !== null && b !== null && a > b) {
        errors.push({
          pointer: "/min_backoff",
          message: "min_backoff (" + value.min_backoff + ") is longer than max_backoff (" + value.max_backoff +
            "); make it shorter or equal",
        });
      }
    }
    const seen = new Set();
    errors = errors.filter((e) => (seen.has(e.pointer) ? false : (seen.add(e.pointer), true)));
    errors.sort((x, y) => (x.pointer < y.pointer ? -1 : x.pointer > y.pointer ? 1 : 0));
    return errors;
  }

  /**
   * Parse JSON text; on failure return { error: { pointer: "", message } } with
   * the line and column of the problem.
   */
  function parseJson(text) {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      let cause = String(e && e.message ? e.message : e);
      let where = "";
      const line = /line (\d+) column (\d+)/.exec(cause);
      const pos = /position (\d+)/.exec(cause);
      if (line) {
        where = " at line " + line[1] + ", column " + line[2];
      } else if (pos) {
        const before = text.slice(0, Number(pos[1]));
        const lines = before.split("\n");
        where = " at line " + lines.length + ", column " + (lines[lines.length - 1].length + 1);
      }
      cause = cause.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+/, "")
        .replace(/^JSON\.parse: /, "").replace(/ at line \d+ column \d+ of the JSON data$/, "");
      return {
        error: {
          pointer: "",
          message: "not valid JSON: " + cause + where + "; paste the method block as a JSON object",
        },
      };
    }
  }

  const api = {
    validate,
    describe,
    methodBlockErrors,
    parseJson,
    didYouMean,
    normalizeKey,
    hclUnsafe,
    parseGoDuration,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  root.SchemaValidate = api;
})(typeof window !== "undefined" ? window : globalThis);
