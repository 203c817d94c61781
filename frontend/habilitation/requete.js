// The requester's door to the API. They have no session: the token of the link
// e-mailed at creation (kept in the URL fragment, never sent to a server as part of
// a URL) goes in the Authorization header.
import { ApiError, requestHeaders } from "/js/api.js";

const NETWORK = "Impossible de joindre Aidants Connect. Vérifiez votre connexion à Internet, puis réessayez.";

export function tokenFromHash() {
  const token = decodeURIComponent((window.location.hash || "").slice(1));
  return /^[A-Za-z0-9_-]{20,128}$/.test(token) ? token : null;
}

export function followUrl(id, token) {
  return "/habilitation/suivi/?demande=" + encodeURIComponent(id) + "#" + token;
}

export async function call(path, { method = "GET", body, token } = {}) {
  const headers = requestHeaders(method.toUpperCase(), token ? { Authorization: "Bearer " + token } : null);
  let response;
  let data = null;
  try {
    response = await fetch(path, { method, headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    throw new ApiError(0, "network", NETWORK);
  }
  if (response.ok) return data;
  const message = (data && data.error_description) || "La demande n'a pas pu aboutir. Réessayez dans quelques instants.";
  throw new ApiError(response.status, (data && data.error) || "http_" + response.status, message, data || undefined);
}
