// Back from FranceConnect: the recap the aidant reads with the usager, two
// confirmations and the aidant's TOTP, then the signature.
import { api } from "../api.js";
import { renderMentions } from "../catalogue.js";
import { DRAFT_ALREADY_SIGNED, STRUCTURE_SWITCHED } from "../error-codes.js";
import { $, h, param, setBusy, setFieldError, showAlert, showError, focusHeading, formatDate, readOtp,
  showOtpRefused } from "../ui.js";
import { switchStructure, wireHeader } from "../header.js";

// FranceConnect's logout sends the browser back here with the draft as "state";
// the address bar then shows the page's own address, which survives a reload.
const draftId = param("draft") || param("state");
if (!param("draft") && draftId) {
  window.history.replaceState(null, "", "?draft=" + encodeURIComponent(draftId));
}
const message = $("#message");
const loading = $("#chargement");
const form = $("#form-signature");
const button = $("#enregistrer");
let draft = null;

wireHeader();

const CONSENT = { sms: "SMS", email: "e-mail", other: "autre preuve écrite" };

function usagerName(d) {
  const u = d.usager || {};
  return u.full_name || ((u.given_name || "") + " " + (u.family_name || "")).trim() || "l'usager";
}

function render(d) {
  const name = usagerName(d);
  $("#usager-nom").textContent = name;
  // DSFR lays a checkbox label out as flex items: one text node keeps the sentence whole.
  for (const el of document.querySelectorAll(".js-usager")) el.textContent = el.dataset.modele.replace("{usager}", name);
  $("#structure-nom").textContent = (d.structure && d.structure.name) || "votre structure";
  $("#recap-demarches").replaceChildren(...(d.demarches || []).map((dm) => (typeof dm === "string"
    ? h("li", {}, dm)
    : h("li", {}, h("strong", {}, dm.title.toUpperCase()), " : " + (dm.description || "")))));
  $("#recap-duree").textContent = d.duration_label || d.duration;
  $("#recap-fin").textContent = d.expires_at ? "Le mandat prendra fin le " + formatDate(d.expires_at) + "." : "";
  $("#recap-distance").hidden = !d.is_remote;
  if (d.is_remote && d.remote_consent) {
    $("#recap-preuve").textContent = "(consentement par " + (CONSENT[d.remote_consent.method] || d.remote_consent.method)
      + " : " + d.remote_consent.reference + ")";
  }
  const u = d.usager || {};
  $("#recap-identite").textContent = "Identité transmise par FranceConnect : " + name
    + (u.birthdate ? ", né(e) le " + formatDate(u.birthdate + "T12:00:00Z") : "") + ".";
  $("#aidant-nom").textContent = (d.aidant && d.aidant.name) || "l'aidant";
  $("#element-consentement").hidden = !d.is_remote;
  renderMentions($("#recap-mentions"), d.mentions);
  $("#modifier").href = "/mandats/nouveau/?draft=" + encodeURIComponent(d.draft);
  // "Voir le projet de mandat": the mandate as it will be printed, marked as not signed.
  $("#voir-projet").href = "/api/mandates/drafts/" + encodeURIComponent(d.draft) + "/print";
  $("#recapitulatif").hidden = false;
}

function stop(type, title, text, link) {
  loading.hidden = true;
  const alert = showAlert(message, type, title, text, link ? h("p", {}, h("a", { href: link[0] }, link[1])) : null);
  focusHeading(alert.querySelector("h2"));
}

/** The draft was started for another of the aidant's structures (they switched
 * since, maybe in another tab): it is signed only for that one, so offer to go back. */
function otherStructure(err) {
  loading.hidden = true;
  $("#recapitulatif").hidden = true;
  const structure = (err.details && err.details.structure) || {};
  const back = h("p", {}, h("button", { type: "button", class: "fr-btn", onclick: async (e) => {
    e.currentTarget.disabled = true;
    try {
      await switchStructure(structure.id);
      window.location.reload();
    } catch (failure) {
      showError(message, failure);
    }
  } }, "Agir pour " + (structure.name || "cette structure") + " et reprendre le mandat"));
  const alert = showAlert(message, "warning", "Ce projet de mandat est celui d'une autre structure", err.message, back);
  focusHeading(alert.querySelector("h2"));
}

async function start() {
  if (!draftId) {
    stop("error", "Aucun projet de mandat", "Cette page s'affiche au retour de FranceConnect.",
      ["/mandats/nouveau/", "Créer un mandat"]);
    return;
  }
  try {
    draft = await api("/api/mandates/drafts/" + encodeURIComponent(draftId));
  } catch (err) {
    if (err.code === STRUCTURE_SWITCHED) {
      otherStructure(err);
      return;
    }
    stop("error", "Récapitulatif indisponible", err.message, ["/mandats/nouveau/", "Recommencer la création du mandat"]);
    return;
  }
  if (draft.status === "signed") {
    stop("info", "Ce mandat est déjà enregistré", "Vous pouvez l'imprimer depuis sa page.",
      [draft.mandate ? "/mandats/enregistre/?id=" + encodeURIComponent(draft.mandate) : "/mandats/", "Voir le mandat"]);
    return;
  }
  if (draft.status === "expired") {
    stop("error", "Le projet de mandat a expiré", "Un projet de mandat n'est valable que 30 minutes. Recommencez la création du mandat.",
      ["/mandats/nouveau/", "Recommencer la création du mandat"]);
    return;
  }
  if (draft.status === "awaiting_identification" || !draft.usager) {
    stop("warning", "L'usager n'est pas encore identifié", "L'usager doit d'abord se connecter à FranceConnect.",
      ["/mandats/nouveau/?draft=" + encodeURIComponent(draftId), "Reconnecter l'usager à FranceConnect"]);
    return;
  }
  loading.hidden = true;
  render(draft);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const informed = $("#usager-informe").checked;
  const kept = $("#consentement-conserve").checked;
  const code = readOtp($("#otp"));
  let first = null;
  const missing = !informed || (draft.is_remote && !kept);
  setFieldError($("#groupe-validation"), missing ? "Cochez " + (draft.is_remote ? "les deux cases" : "la case") + " pour confirmer." : null);
  if (missing) first = !informed ? $("#usager-informe") : $("#consentement-conserve");
  const badCode = !/^\d{6}$/.test(code);
  setFieldError($("#groupe-otp"), badCode ? "Le code doit contenir exactement 6 chiffres." : null);
  if (badCode && !first) first = $("#otp");
  if (first) {
    first.focus();
    return;
  }
  const body = { draft: draft.draft, otp: code, usager_informed: true };
  if (draft.is_remote) body.remote_consent_kept = true;
  setBusy(button, true, "Enregistrement…");
  try {
    const result = await api("/api/mandates", { method: "POST", body });
    window.location.assign("/mandats/enregistre/?id=" + encodeURIComponent(result.mandate));
  } catch (err) {
    if (err.code === DRAFT_ALREADY_SIGNED && err.details.mandate) {
      // Signed already: a first attempt whose answer was lost (the service was slow
      // and answered 503) did go through. Show the mandate it made.
      window.location.assign("/mandats/enregistre/?id=" + encodeURIComponent(err.details.mandate));
      return;
    }
    setBusy(button, false);
    if (err.code === STRUCTURE_SWITCHED) {
      otherStructure(err);
      return;
    }
    if (showOtpRefused(err, $("#otp"))) return;
    focusHeading(showError(message, err, "Le mandat n'a pas été enregistré").querySelector("h2"));
  }
});

start();
