// The terms of use (/cgu/): anyone reads them; a logged-in aidant who has not
// accepted the version shown accepts it here, then goes back where they came from.
import { api, safeNext } from "../api.js";
import { CGU_VERSION_OUTDATED } from "../error-codes.js";
import { $, focusHeading, param, setBusy, setFieldError, showAlert, showError } from "../ui.js";

const version = $("#version-cgu").dataset.version;
const form = $("#form-cgu");
const message = $("#message");

function done() {
  window.location.assign(safeNext(param("next")) || "/espace-aidant/");
}

async function start() {
  let data;
  try {
    data = await api("/api/me", { on401: "throw" });
  } catch (err) {
    return; // not logged in: the terms are only to be read
  }
  const cgu = data.cgu || {};
  if (cgu.accepted && cgu.accepted_version === version) {
    $("#deja-acceptees").hidden = false;
    const next = safeNext(param("next"));
    if (next) $("#retour").href = next;
    return;
  }
  if (cgu.accepted_version) {
    $("#version-precedente").textContent = "Vous aviez accepté la version " + cgu.accepted_version
      + ". Les conditions ont changé depuis : lisez la nouvelle version.";
    $("#version-precedente").hidden = false;
  }
  $("#a-accepter").hidden = false;
  form.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!$("#lu").checked) {
    setFieldError($("#groupe-lu"), "Cochez la case pour accepter les conditions.");
    $("#lu").focus();
    return;
  }
  setFieldError($("#groupe-lu"), null);
  const button = $("#accepter");
  setBusy(button, true, "Enregistrement…");
  try {
    await api("/api/me/cgu", { method: "POST", body: { version } });
  } catch (err) {
    setBusy(button, false);
    if (err.code === CGU_VERSION_OUTDATED) {
      focusHeading(showAlert(message, "warning", "Les conditions ont changé",
        err.message + " Rechargez la page pour lire la nouvelle version.").querySelector("h2"));
      return;
    }
    focusHeading(showError(message, err, "Votre acceptation n'a pas été enregistrée").querySelector("h2"));
    return;
  }
  done();
});

start();
