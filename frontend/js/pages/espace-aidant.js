// Espace Aidant: greets the aidant, shows the référent tile to référents.
import { me } from "../api.js";
import { $, showError, wireLogout } from "../ui.js";

wireLogout();
me().then((data) => {
  const aidant = data.aidant || {};
  $("#bienvenue").textContent = "Bienvenue sur votre Espace Aidant, " + (aidant.first_name || "");
  if (data.structure && data.structure.name) {
    const structure = $("#structure");
    structure.textContent = "Structure : " + data.structure.name;
    structure.hidden = false;
  }
  $("#tuile-responsable").hidden = !aidant.is_referent;
}).catch((err) => showError($("#message"), err, "Impossible d'afficher votre espace"));
