// One mandate: its démarches, print, renew, and revoke (one démarche or all), each
// revocation confirmed in a dialog with the aidant's TOTP.
import { api } from "../api.js";
import { badge, catalogue, statusLabel, titleOf } from "../catalogue.js";
import { $, h, param, setBusy, setFieldError, showAlert, showError, focusHeading, formatDate,
  formatDateTime, setTitle, showOtpRefused, typedCode } from "../ui.js";
import { wireHeader } from "../header.js";

const id = param("id");
const message = $("#message");
const dialog = $("#dialogue-revocation");
const dialogForm = $("#form-revocation");
const confirmButton = $("#confirmer-revocation");
const CONSENT = { sms: "SMS", email: "e-mail", other: "autre preuve écrite" };
let mandate = null;
let cat = null;
let pending = null; // the démarche key being revoked, or "" for the whole mandate
let opener = null;

wireHeader({ afterSwitch: "/mandats/" });

function nameOf(m) {
  return (m.usager && m.usager.full_name) || m.usager_name || "l'usager";
}

function item(term, value) {
  return [h("dt", { class: "fr-text--bold" }, term), h("dd", { class: "fr-mb-1w fr-ml-0" }, value)];
}

function render() {
  const m = mandate;
  const name = nameOf(m);
  setTitle("Mandat de " + name);
  $("#titre").textContent = "Mandat de " + name;
  $("#statut").replaceChildren("Statut du mandat : ", badge(m.status, false));
  const rows = [
    item("Usager", name + (m.usager && m.usager.birthdate ? ", né(e) le " + formatDate(m.usager.birthdate + "T12:00:00Z") : "")),
    item("Créé le", formatDateTime(m.created_at) + (m.signed_by ? " par " + m.signed_by : "")),
    item("Durée", m.duration_label || m.duration),
    item(m.status === "active" ? "Prend fin le" : "Fin prévue le", formatDateTime(m.expires_at)),
  ];
  if (m.is_remote) {
    const c = m.remote_consent || {};
    rows.push(item("Signature", "à distance" + (c.method ? " (consentement par " + (CONSENT[c.method] || c.method)
      + (c.reference ? " : " + c.reference : "") + ")" : "")));
  }
  if (m.revoked_at) rows.push(item("Révoqué le", formatDateTime(m.revoked_at)));
  $("#elements").replaceChildren(...rows.flat());

  $("#imprimer").href = "/api/mandates/" + encodeURIComponent(m.id) + "/print";
  const anyRevoked = m.status === "revoked" || (m.autorisations || []).some((a) => a.status === "revoked");
  $("#item-attestation").hidden = !anyRevoked;
  $("#attestation").href = "/api/mandates/" + encodeURIComponent(m.id) + "/revocation/print";
  $("#renouveler").href = "/mandats/nouveau/?renouveler=" + encodeURIComponent(m.id);
  $("#item-revoquer").hidden = m.status !== "active";

  const autorisations = m.autorisations || (m.demarches || []).map((k) => ({ demarche: k, status: m.status }));
  $("#autorisations").replaceChildren(...autorisations.map((a) => {
    const title = titleOf(a.demarche, cat);
    let detail = "";
    if (a.status === "revoked" && a.revoked_at) detail = " le " + formatDate(a.revoked_at);
    if (a.status === "active" && a.expires_at) detail = " jusqu'au " + formatDate(a.expires_at);
    const action = a.status === "active" && m.status === "active"
      ? h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary", "data-demarche": a.demarche,
        "aria-label": "Révoquer la démarche " + title, onclick: (e) => openDialog(a.demarche, e.currentTarget) }, "Révoquer")
      : h("span", { class: "fr-text--sm" }, "—");
    return h("tr", {}, h("th", { scope: "row" }, title),
      h("td", {}, badge(a.status), h("span", { class: "fr-text--sm" }, detail)), h("td", {}, action));
  }));
  $("#mandat").hidden = false;
}

function openDialog(demarche, button) {
  pending = demarche;
  opener = button;
  const name = nameOf(mandate);
  if (demarche) {
    $("#titre-revocation").textContent = "Révoquer la démarche « " + titleOf(demarche, cat) + " »";
    $("#texte-revocation").textContent = "Vous ne pourrez plus réaliser les démarches « " + titleOf(demarche, cat)
      + " » pour " + name + " avec ce mandat. Les autres démarches du mandat restent valables. L'usager en sera informé par e-mail s'il a une adresse.";
  } else {
    $("#titre-revocation").textContent = "Révoquer tout le mandat";
    $("#texte-revocation").textContent = "Toutes les démarches de ce mandat seront révoquées : vous ne pourrez plus agir pour "
      + name + " avec ce mandat. L'usager en sera informé par e-mail s'il a une adresse. Cette action est définitive.";
  }
  $("#erreur-revocation").replaceChildren();
  setFieldError($("#groupe-otp-revocation"), null);
  $("#otp-revocation").value = "";
  dialog.showModal();
  $("#otp-revocation").focus();
}

function closeDialog() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener("close", () => {
  setBusy(confirmButton, false);
  if (opener && document.contains(opener)) opener.focus();
});
$("#annuler-revocation").addEventListener("click", closeDialog);
$("#revoquer-tout").addEventListener("click", (e) => openDialog("", e.currentTarget));

dialogForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = typedCode($("#otp-revocation"));
  if (!code) return;
  setFieldError($("#groupe-otp-revocation"), null);
  const body = { otp: code };
  if (pending) body.demarche = pending;
  setBusy(confirmButton, true, "Révocation…");
  try {
    const updated = await api("/api/mandates/" + encodeURIComponent(mandate.id) + "/revoke", { method: "POST", body });
    // The revoke answer is the mandate without its usager details: keep those.
    mandate = Object.assign({}, mandate, updated);
    const what = pending ? "La démarche « " + titleOf(pending, cat) + " » a été révoquée."
      : "Le mandat a été révoqué.";
    opener = null;
    closeDialog();
    render();
    const link = h("p", {}, h("a", { href: "/api/mandates/" + encodeURIComponent(mandate.id) + "/revocation/print",
      target: "_blank", rel: "noopener", title: "Imprimer l'attestation de révocation - nouvelle fenêtre" },
    "Imprimer l'attestation de révocation"), " pour la remettre à l'usager.");
    focusHeading(showAlert(message, "success", "Révocation enregistrée", what + " Statut du mandat : "
      + statusLabel(mandate.status).toLowerCase() + ".", link).querySelector("h2"));
  } catch (err) {
    setBusy(confirmButton, false);
    if (showOtpRefused(err, $("#otp-revocation"))) return;
    showError($("#erreur-revocation"), err, "La révocation n'a pas été enregistrée");
  }
});

async function start() {
  if (!id) {
    $("#chargement").hidden = true;
    showAlert(message, "error", "Mandat introuvable", "Aucun mandat n'est indiqué.", h("p", {}, h("a", { href: "/mandats/" }, "Voir mes mandats")));
    return;
  }
  try {
    const loaded = await Promise.all([api("/api/mandates/" + encodeURIComponent(id)), catalogue().catch(() => null)]);
    mandate = loaded[0];
    cat = loaded[1];
  } catch (err) {
    $("#chargement").hidden = true;
    focusHeading(showError(message, err, "Le mandat n'a pas pu être affiché").querySelector("h2"));
    return;
  }
  $("#chargement").hidden = true;
  render();
}

start();
