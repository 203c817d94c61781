// Bac à sable: sign-up (name, e-mail) → the trainee's code, as a QR code, a key and
// the virtual OTP card of this browser → log in.
import { api } from "../api.js";
import { $, formatDate, setBusy, setFieldError, showAlert, focusHeading } from "../ui.js";
import { runCard, saveCard } from "../bac-a-sable-totp.js";

const form = $("#form-inscription");
const button = $("#inscrire");
const message = $("#message");
const FIELDS = { first_name: "prenom", last_name: "nom", email: "email" };

function validate() {
  let first = null;
  for (const [name, id] of Object.entries(FIELDS)) {
    const input = $("#" + id);
    const value = input.value.trim();
    let problem = null;
    if (!value) problem = "Ce champ est obligatoire.";
    else if (name === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
      problem = "Cette adresse e-mail n'est pas valide. Format attendu : nom@domaine.fr";
    }
    setFieldError($("#groupe-" + id), problem);
    if (problem && !first) first = input;
  }
  if (first) first.focus();
  return !first;
}

function showAccount(data) {
  $("#structure-nom").textContent = data.structure.name;
  $("#expiration").textContent = formatDate(data.expires_at);
  $("#qr").src = data.qr_svg_data_uri;
  $("#secret").textContent = data.totp_secret.replace(/(.{4})/g, "$1 ").trim();
  saveCard(data.aidant.email, data.totp_secret, data.interval);
  runCard($("#carte-code"), $("#carte-reste"), data.totp_secret, data.interval);
  $("#connexion").href = "/connexion/?email=" + encodeURIComponent(data.aidant.email);
  $("#inscription").hidden = true;
  $("#compte").hidden = false;
  focusHeading($("#titre-compte"));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.replaceChildren();
  if (!validate()) return;
  setBusy(button, true, "Création du compte…");
  const body = {};
  for (const [name, id] of Object.entries(FIELDS)) body[name] = $("#" + id).value.trim();
  try {
    showAccount(await api("/api/sandbox/trainees", { method: "POST", body, anonymous: true }));
  } catch (err) {
    setBusy(button, false);
    if (err.field && FIELDS[err.field]) {
      setFieldError($("#groupe-" + FIELDS[err.field]), err.message);
      $("#" + FIELDS[err.field]).focus();
      return;
    }
    const alert = showAlert(message, "error", "Inscription impossible", err.message);
    focusHeading(alert.querySelector("h2"));
  }
});
