// The accreditation requester's personal link, /habilitation/suivi/?demande=<id>#<token>:
// the token stays in the URL fragment, which the browser never sends to a server
// (api() sends it in the Authorization header: the `token` option).

export function tokenFromHash() {
  const token = decodeURIComponent((window.location.hash || "").slice(1));
  return /^[A-Za-z0-9_-]{20,128}$/.test(token) ? token : null;
}

export function followUrl(id, token) {
  return "/habilitation/suivi/?demande=" + encodeURIComponent(id) + "#" + token;
}
