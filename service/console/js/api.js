/*
 * The session (the API key of this tab, in sessionStorage only) and every call
 * to the service's API. Nothing else in the console calls fetch.
 */
import { isObject } from "./dom.js";

const STORAGE_KEY = "auth-service-console.api-key";

/**
 * Who is signed in: `key` (never shown), `who` (the whoami answer), `canWrite`,
 * `tenant` (GET /v1/tenants/{t}) and `options` (what the tenant may put in a profile).
 */
export const session = { key: null, who: null, canWrite: false, tenant: null, options: null };

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem.detail || problem.title || "HTTP " + status);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** The session ended while a request ran (sign out, or the key was refused). */
export class SessionEnded extends Error {}

/** The admin cancelled a request (AbortController). */
export class Cancelled extends Error {}

let onKeyRefused = () => {};

/** What to do when the service stops accepting the key (set by the sign-in module). */
export function whenKeyRefused(fn) {
  onKeyRefused = fn;
}

export function storedKey() {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch (e) {
    return null;
  }
}

export function storeKey(key) {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, key);
  } catch (e) {
    /* storage unavailable: the session lasts until reload */
  }
}

export function forgetKey() {
  try {
    window.sessionStorage.removeItem(STORAGE_KEY);
    window.sessionStorage.clear();
  } catch (e) {
    /* nothing stored */
  }
}

export function tenantPath(suffix) {
  return "/v1/tenants/" + encodeURIComponent(session.who.tenant) + (suffix || "");
}

export function profilePath(name, suffix) {
  return tenantPath("/profiles/" + encodeURIComponent(name) + (suffix || ""));
}

/**
 * Call the API with the session's key. Resolves to the parsed JSON (null for
 * 204); rejects with ApiError (status 0: not reachable), SessionEnded or Cancelled.
 */
export async function api(method, path, body, options) {
  const key = session.key;
  if (!key) throw new SessionEnded("signed out");
  const headers = { Authorization: "Bearer " + key, Accept: "application/json, application/problem+json" };
  const init = { method, headers, cache: "no-store", credentials: "same-origin", referrerPolicy: "no-referrer" };
  if (options && options.signal) init.signal = options.signal;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e && e.name === "AbortError") throw new Cancelled("cancelled");
    throw new ApiError(0, {
      title: "The service cannot be reached",
      detail: "The request did not reach the service. Check the network and try again.",
    });
  }
  if (session.key !== key) throw new SessionEnded("signed out meanwhile");
  let text = "";
  try {
    text = response.status === 204 ? "" : await response.text();
  } catch (e) {
    if (e && e.name === "AbortError") throw new Cancelled("cancelled");
    throw e;
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (response.ok) return data;
  const problem = isObject(data) ? data : { title: response.statusText || "Request failed", detail: text ? text.slice(0, 500) : "" };
  if (typeof problem.status !== "number") problem.status = response.status;
  if (response.status === 401 && path !== "/v1/whoami") {
    onKeyRefused();
    throw new SessionEnded("401");
  }
  throw new ApiError(response.status, problem, response.headers.get("Retry-After"));
}
