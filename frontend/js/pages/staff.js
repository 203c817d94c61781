// Staff: the accreditation requests to handle, per status.
import { api } from "../api.js";
import { $, formatDateTime, h, param, showError } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader();
const filter = $("#filtre");
filter.value = param("statut") || "";

async function load() {
  $("#chargement").hidden = false;
  const query = filter.value ? "?status=" + encodeURIComponent(filter.value) : "";
  try {
    const data = await api("/api/staff/habilitation/requests" + query);
    $("#tableau tbody").replaceChildren(...data.requests.map((r) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: "/staff/demande/?id=" + encodeURIComponent(r.id) }, r.name)),
      h("td", {}, r.siret), h("td", {}, r.referent), h("td", {}, String(r.aidants)),
      h("td", {}, r.status_label, r.last_message_by === "requester" ? h("span", { class: "fr-badge fr-badge--sm fr-badge--new fr-ml-1w" }, "nouveau message") : null),
      h("td", {}, formatDateTime(r.updated_at)))));
    $("#tableau").hidden = data.requests.length === 0;
    $("#vide").hidden = data.requests.length > 0;
  } catch (err) {
    showError($("#message"), err, err.status === 403 ? "Espace réservé à l'équipe Aidants Connect" : undefined);
  } finally {
    $("#chargement").hidden = true;
  }
}

filter.addEventListener("change", () => {
  const url = new URL(window.location.href);
  if (filter.value) url.searchParams.set("statut", filter.value); else url.searchParams.delete("statut");
  window.history.replaceState(null, "", url);
  load();
});
load();
