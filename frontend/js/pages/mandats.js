// "Mes mandats": the structure's usagers (GET /api/usagers) with their mandates,
// searched by name on the server, paginated with its cursor.
import { api } from "../api.js";
import { badge, catalogue, titleOf } from "../catalogue.js";
import { $, h, showError, formatDate } from "../ui.js";
import { wireHeader } from "../header.js";

const tbody = $("#usagers");
const table = $("#tableau");
const result = $("#resultat");
const more = $("#plus");
const filter = $("#filtre");
const message = $("#message");
let usagers = [];
let cursor = null;
let query = "";
let cat = null;

wireHeader();

function mandateItem(m) {
  return h("li", {},
    h("a", { href: "/mandats/detail/?id=" + encodeURIComponent(m.id) }, "Mandat du " + formatDate(m.created_at)),
    " ", badge(m.status),
    m.status === "active" ? h("span", { class: "fr-text--sm" }, " jusqu'au " + formatDate(m.expires_at)) : null);
}

function row(u) {
  const titles = (u.active_demarches || []).map((k) => titleOf(k, cat));
  return h("tr", {},
    h("th", { scope: "row" }, u.name),
    h("td", {}, titles.length ? titles.join(", ") : "Aucune"),
    h("td", {}, h("ul", { class: "ac-mandates" }, (u.mandates || []).map(mandateItem))));
}

function render() {
  const wanted = filter.value;
  const shown = usagers.filter((u) => wanted === "all" || (wanted === "active") === Boolean(u.has_active_mandate));
  tbody.replaceChildren(...shown.map(row));
  table.hidden = shown.length === 0;
  more.hidden = !cursor;
  if (!usagers.length) {
    result.textContent = query ? "Aucun usager ne correspond à « " + query + " »." : "Votre structure n'a encore aucun mandat. Créez-en un avec un usager.";
  } else {
    result.textContent = shown.length + (shown.length > 1 ? " usagers affichés" : " usager affiché")
      + (query ? " pour « " + query + " »" : "") + (cursor ? " (d'autres usagers peuvent être chargés)" : "") + ".";
  }
}

function merge(list) {
  for (const u of list) {
    const known = usagers.find((x) => x.id === u.id);
    if (!known) {
      usagers.push(u);
      continue;
    }
    const ids = new Set(known.mandates.map((m) => m.id));
    known.mandates.push(...u.mandates.filter((m) => !ids.has(m.id)));
    known.active_demarches = Array.from(new Set([...(known.active_demarches || []), ...(u.active_demarches || [])])).sort();
    known.has_active_mandate = known.has_active_mandate || u.has_active_mandate;
  }
}

async function load(reset) {
  const params = new URLSearchParams();
  if (query) params.set("q", query);
  if (!reset && cursor) params.set("cursor", cursor);
  more.disabled = true;
  try {
    const data = await api("/api/usagers" + (params.toString() ? "?" + params : ""));
    if (reset) usagers = [];
    merge(data.usagers || []);
    cursor = data.next_cursor || null;
    message.replaceChildren();
    render();
  } catch (err) {
    result.textContent = "";
    showError(message, err, "Les mandats n'ont pas pu être chargés");
  } finally {
    more.disabled = false;
  }
}

$("#form-recherche").addEventListener("submit", (event) => {
  event.preventDefault();
  query = $("#recherche").value.trim();
  cursor = null;
  result.textContent = "Recherche en cours…";
  load(true);
});
$("#recherche").addEventListener("search", () => {
  if (!$("#recherche").value && query) {
    query = "";
    cursor = null;
    load(true);
  }
});
filter.addEventListener("change", render);
more.addEventListener("click", () => load(false));

catalogue().catch(() => null).then((c) => {
  cat = c;
  load(true);
});
