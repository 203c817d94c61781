// App enrolment: the QR code (shown once) and the first code that confirms it.
import { api } from "../api.js";
import { $, param, setBusy, setTitle, showAlert, showError, showFieldError, typedCode } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader({ afterSwitch: "/espace-responsable/" });
setTitle("Application Aidants Connect");
const sid = param("structure") || "";
const aid = param("aidant") || "";
const url = "/api/referent/structures/" + encodeURIComponent(sid) + "/aidants/" + encodeURIComponent(aid);
const back = "/espace-responsable/structure/?id=" + encodeURIComponent(sid);
$("#lien-structure").href = back;
$("#retour").href = back;

api("/api/referent/structures/" + encodeURIComponent(sid)).then((data) => {
  const who = data.aidants.find((a) => a.id === aid);
  if (who) $("#pour-qui").textContent = "Pour " + (who.is_you ? "vous-même" : who.name) + " (" + who.email + ")";
}).catch((err) => showError($("#message"), err, "Impossible de trouver cet aidant"));

$("#generer").addEventListener("click", async () => {
  const button = $("#generer");
  setBusy(button, true, "Préparation…");
  try {
    const data = await api(url + "/app", { method: "POST", body: {} });
    $("#qr").src = data.qr_svg_data_uri;
    $("#cle").textContent = data.secret;
    $("#enrolement").hidden = false;
    button.hidden = true;
    $("#code-app").focus();
  } catch (err) {
    setBusy(button, false);
    showError($("#message"), err);
  }
});

$("#form-confirmer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = typedCode($("#code-app"));
  if (!code) return;
  const button = $("#confirmer");
  setBusy(button, true, "Validation…");
  try {
    const result = await api(url + "/app/confirm", { method: "POST", body: { otp: code } });
    $("#enrolement").hidden = true;
    $("#qr").removeAttribute("src");
    $("#cle").textContent = "";
    $("#termine").hidden = false;
    showAlert($("#message"), "success", "Application validée",
      result.is_active ? "L'aidant peut maintenant se connecter avec l'application."
        : "L'application est validée. L'accès sera actif une fois la formation enregistrée.");
    $("#retour").focus();
  } catch (err) {
    setBusy(button, false);
    showFieldError($("#code-app"), err.message);
  }
});
