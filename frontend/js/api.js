// The one door to the API (no other module calls fetch): errors in French, and the
// session-expiry round trip (a 401 sends the aidant to /connexion/ with ?next=<this
// page>, and the login link brings them back here). Error codes and their default
// messages come from error-codes.js, which the build writes from the API's catalogue
// (shared/error_codes.py).

import { defaultMessage, SESSION_EXPIRED, SESSION_REVOKED, UNAUTHORIZED } from "./error-codes.js";

const NETWORK_MESSAGE =
  "Impossible de joindre Aidants Connect. Vérifiez votre connexion à Internet, puis réessayez.";

const STATUS_MESSAGES = {
  400: "La demande est incomplète ou incorrecte.",
  401: "Vous devez vous connecter.",
  403: "Vous n'avez pas le droit de faire cela.",
  404: "Cette information est introuvable. Elle a peut-être été supprimée.",
  409: "Cette action a déjà été effectuée.",
  410: "Ce lien a expiré ou a déjà été utilisé.",
  413: "La demande est trop volumineuse.",
  429: "Trop de tentatives. Réessayez dans quelques minutes.",
};
const SERVER_MESSAGE =
  "Le service rencontre un problème momentané. Réessayez dans quelques instants.";

// Codes of the front-end's own, for answers that carry none: no answer at all, or
// one that is not a JSON error (a proxy's page).
export const NETWORK = "network";
export function httpCode(status) {
  return "http_" + status;
}

// 401 codes that mean "no valid session" (others, e.g. a wrong login code, are shown).
const SESSION_CODES = [UNAUTHORIZED, SESSION_EXPIRED, SESSION_REVOKED, httpCode(401)];

export class ApiError extends Error {
  /** `details`: the whole error body. `field`: the input the error is about, as a
   * path into the body sent ("email", "referent.email", "aidants.0.email"), when
   * the API names one. */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.field = this.details.field || null;
  }
}

/** Headers of a call: every request that changes something is declared JSON, even
 * without a body, because the API refuses any other (a cross-site form cannot send
 * it: that is its CSRF defence). */
function requestHeaders(method, extra) {
  const headers = Object.assign({ Accept: "application/json" }, extra || {});
  if (method !== "GET" && method !== "HEAD") headers["Content-Type"] = "application/json";
  return headers;
}

export function currentPath() {
  return window.location.pathname + window.location.search;
}

/** Only a path on this site: anything else could send the aidant elsewhere.
 * Checked by resolving it as the browser will ("/\t/evil.example" loses its tab and
 * becomes "//evil.example"), then keeping only the path, query and fragment. */
export function safeNext(value) {
  if (typeof value !== "string" || value.charAt(0) !== "/" || value.length > 512) return null;
  let url;
  try {
    url = new URL(value, window.location.origin);
  } catch (e) {
    return null;
  }
  if (url.origin !== window.location.origin) return null;
  const path = url.pathname + url.search + url.hash;
  return path.charAt(1) === "/" ? null : path;
}

export function loginUrl(reason, next) {
  const params = new URLSearchParams();
  params.set("next", next || currentPath());
  if (reason) params.set("erreur", reason);
  return "/connexion/?" + params.toString();
}

function messageFor(status) {
  if (STATUS_MESSAGES[status]) return STATUS_MESSAGES[status];
  return status >= 500 ? SERVER_MESSAGE : STATUS_MESSAGES[400];
}

/**
 * Call the API. Resolves with the JSON body (or null), rejects with an ApiError whose
 * message can be shown as it is. Options: `method`, `body` (sent as JSON), `timeout`
 * (ms), and:
 * - `on401: "throw"`: a 401 rejects, where it otherwise sends the aidant to the
 *   login page (and never resolves);
 * - `anonymous: true`: the call is not the aidant's: no cookie is sent and a 401 is
 *   an error to show, never a login to renew (the public accreditation pages);
 * - `token`: the personal link's token of an accreditation request (the requester
 *   has no session, only the link e-mailed to them), sent as `Authorization:
 *   Bearer`; implies `anonymous`.
 */
export async function api(path, options) {
  const opts = options || {};
  const method = (opts.method || "GET").toUpperCase();
  const anonymous = Boolean(opts.anonymous || opts.token);
  const init = {
    method,
    credentials: anonymous ? "omit" : "same-origin",
    cache: "no-store",
    headers: requestHeaders(method, opts.token ? { Authorization: "Bearer " + opts.token } : null),
  };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  let timer = null;
  if (controller) {
    init.signal = controller.signal;
    timer = setTimeout(() => controller.abort(), opts.timeout || 20000);
  }
  let response;
  let text = "";
  try {
    response = await fetch(path, init);
    text = await response.text();
  } catch (err) {
    throw new ApiError(0, NETWORK, NETWORK_MESSAGE);
  } finally {
    if (timer) clearTimeout(timer);
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      data = null;
    }
  }
  if (response.ok) return data;

  const code = (data && data.error) || httpCode(response.status);
  const message = (data && data.error_description) || defaultMessage(code) || messageFor(response.status);
  if (response.status === 401 && SESSION_CODES.indexOf(code) !== -1 && opts.on401 !== "throw" && !anonymous) {
    window.location.assign(loginUrl(code));
    return new Promise(() => {});
  }
  throw new ApiError(response.status, code, message, data);
}

let mePromise = null;

/** The logged-in aidant and their structure (GET /api/me), fetched once per page. */
export function me() {
  if (!mePromise) mePromise = api("/api/me");
  return mePromise;
}

export async function logout() {
  try {
    await api("/api/logout", { method: "POST", body: {}, on401: "throw" });
  } catch (err) {
    // Already logged out, or offline: the cookie is gone either way on the next login.
  }
  window.location.assign("/connexion/?deconnecte=1");
}
