// Espace Responsable: greets the référent, lists the structures they manage.
import { api } from "../api.js";
import { $, h, showError, setTitle } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader();
setTitle("Mon Espace Responsable");

function plural(n, word) {
  return n + " " + word + (n > 1 ? "s" : "");
}

api("/api/referent/structures").then((data) => {
  const me = data.referent;
  $("#bienvenue").textContent = "Bienvenue sur votre Espace Responsable, " + me.first_name + " !";
  $("#chargement").hidden = true;
  const list = $("#structures");
  if (!data.structures.length) {
    $("#aucune").hidden = false;
    return;
  }
  list.replaceChildren(...data.structures.map((s) => h("li", { class: "fr-col-12 fr-col-md-6 fr-col-lg-4" },
    h("div", { class: "fr-card fr-enlarge-link" },
      h("div", { class: "fr-card__body" },
        h("div", { class: "fr-card__content" },
          h("h3", { class: "fr-card__title" },
            h("a", { href: "/espace-responsable/structure/?id=" + encodeURIComponent(s.id) }, s.name)),
          h("p", { class: "fr-card__desc" }, s.address || ""),
          h("div", { class: "fr-card__end" },
            h("p", { class: "fr-card__detail" }, "SIRET : " + s.siret + " · " + plural(s.active_aidants, "aidant") + " actif"
              + (s.active_aidants > 1 ? "s" : "")))))))));
  list.hidden = false;
  if (!me.has_confirmed_card && data.structures.length) {
    $("#lien-ma-carte").href = "/espace-responsable/structure/?id=" + encodeURIComponent(data.structures[0].id)
      + "&lier=moi";
    $("#activer-sa-carte").hidden = false;
  }
}).catch((err) => {
  $("#chargement").hidden = true;
  showError($("#message"), err, err.status === 403 ? "Cet espace est réservé aux référents"
    : "Impossible d'afficher vos structures");
});
