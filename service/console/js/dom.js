/*
 * Small DOM and formatting tools shared by every part of the console.
 * Text from the API always goes in as textContent, never as HTML.
 */

/** The element with this id. */
export function $(id) {
  return document.getElementById(id);
}

/** Create an element; text goes in as textContent, attributes with setAttribute. */
export function el(tag, options, children) {
  const node = document.createElement(tag);
  const o = options || {};
  if (o.className) node.className = o.className;
  if (o.text !== undefined && o.text !== null) node.textContent = String(o.text);
  if (o.attrs) {
    for (const name of Object.keys(o.attrs)) {
      const v = o.attrs[name];
      if (v !== undefined && v !== null && v !== false) node.setAttribute(name, v === true ? "" : String(v));
    }
  }
  if (o.on) for (const type of Object.keys(o.on)) node.addEventListener(type, o.on[type]);
  for (const child of children || []) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function setText(id, text) {
  $(id).textContent = text === undefined || text === null ? "" : String(text);
}

export function clearBox(id) {
  $(id).replaceChildren();
}

/** "1 profile", "2 profiles"; `many` defaults to `one` + "s". */
export function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many || one + "s");
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A <time> showing an RFC 3339 instant in local time, with UTC on hover. */
export function timeEl(iso, fallback) {
  if (!iso) return document.createTextNode(fallback || "\u2013");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return document.createTextNode(String(iso));
  return el("time", {
    text: dateFormat.format(d),
    attrs: { datetime: d.toISOString(), title: d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC") },
  });
}

/** "2 min 5 s", "1 h", "45 s". */
export function duration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return String(seconds);
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const parts = [];
  if (d) parts.push(plural(d, "day"));
  if (h) parts.push(h + " h");
  if (m) parts.push(m + " min");
  if (rest || !parts.length) parts.push(rest + " s");
  return parts.join(" ");
}

/** Copy text to the clipboard; resolves to true when it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    // Without clipboard permission: select a hidden textarea and copy.
    const area = el("textarea", { className: "visually-hidden", attrs: { "aria-hidden": "true", tabindex: "-1" } });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e2) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

let copySeq = 0;

/**
 * A copyable block: a labelled <pre> and a "Copy" button whose accessible
 * name says what it copies; a status line says when it was copied.
 */
export function copyBlock(label, text, options) {
  const o = options || {};
  const id = "copy-" + ++copySeq;
  const status = el("span", { className: "copy-status", attrs: { role: "status", id: id + "-status" } });
  const button = el("button", {
    className: "button secondary small copy-button",
    text: "Copy",
    attrs: { type: "button", "aria-label": "Copy " + label.toLowerCase(), "aria-describedby": id + "-status" },
  });
  button.addEventListener("click", async () => {
    const ok = await copyText(text);
    status.textContent = ok ? "Copied." : "Could not copy: select the text and copy it.";
  });
  return el("div", { className: "copy-block" + (o.className ? " " + o.className : "") }, [
    el("div", { className: "copy-head" }, [el("span", { className: "copy-label", text: label, attrs: { id: id + "-label" } }), button, status]),
    el("pre", { className: "code wrap", text, attrs: { tabindex: "0", "aria-labelledby": id + "-label" } }),
  ]);
}
