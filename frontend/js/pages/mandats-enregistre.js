// After the signature: print the mandate for the usager.
import { api } from "../api.js";
import { catalogue, titleOf } from "../catalogue.js";
import { $, param, showError, formatDate } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader({ afterSwitch: "/mandats/" });
const id = param("id");
if (id) {
  $("#imprimer").href = "/api/mandates/" + encodeURIComponent(id) + "/print";
  $("#voir").href = "/mandats/detail/?id=" + encodeURIComponent(id);
  Promise.all([api("/api/mandates/" + encodeURIComponent(id)), catalogue().catch(() => null)])
    .then(([m, cat]) => {
      const name = (m.usager && m.usager.full_name) || m.usager_name;
      const titles = (m.demarches || []).map((k) => titleOf(k, cat)).join(", ");
      $("#resume").textContent = "Mandat de " + name + " pour : " + titles + ". Il prendra fin le "
        + formatDate(m.expires_at) + ".";
    })
    .catch((err) => showError($("#message"), err, "Le mandat n'a pas pu être affiché"));
}
