// "Créer ou renouveler un mandat": choices → draft → FranceConnect.
import { api } from "../api.js";
import { catalogue, iconOf, renderMentions } from "../catalogue.js";
import { DRAFT_EXPIRED, FRANCECONNECT_CANCELLED, FRANCECONNECT_ERROR, FRANCECONNECT_EXPIRED, FRANCECONNECT_UNAVAILABLE,
  SESSION_EXPIRED } from "../error-codes.js";
import { $, h, param, setBusy, setFieldError, showAlert, showError, focusHeading } from "../ui.js";
import { wireHeader } from "../header.js";

// ?error= set by /fc/callback when the usager's FranceConnect login did not complete.
const FC_ERRORS = {
  [FRANCECONNECT_CANCELLED]: ["La connexion à FranceConnect a été annulée",
    "L'usager n'a pas terminé sa connexion à FranceConnect. Vérifiez les démarches et la durée ci-dessous, puis reconnectez l'usager à FranceConnect."],
  [FRANCECONNECT_ERROR]: ["La connexion à FranceConnect n'a pas abouti",
    "FranceConnect n'a pas pu identifier l'usager. Réessayez ; si le problème persiste, l'usager peut choisir un autre compte (impots.gouv.fr, ameli.fr…)."],
  [FRANCECONNECT_UNAVAILABLE]: ["FranceConnect est indisponible",
    "FranceConnect ne répond pas pour le moment. Réessayez dans quelques instants."],
  [FRANCECONNECT_EXPIRED]: ["La connexion à FranceConnect a expiré",
    "La connexion de l'usager a pris trop de temps ou a déjà été utilisée. Reconnectez l'usager à FranceConnect."],
  [DRAFT_EXPIRED]: ["Le projet de mandat a expiré",
    "Le projet de mandat n'est valable que 30 minutes. Vérifiez les choix ci-dessous et reconnectez l'usager à FranceConnect."],
  [SESSION_EXPIRED]: ["Votre session a expiré",
    "Votre session a expiré pendant la connexion de l'usager. Vérifiez les choix ci-dessous et reconnectez l'usager à FranceConnect."],
};

const form = $("#form-mandat");
const list = $("#demarches");
const message = $("#message");
const remote = $("#a-distance");
const proof = $("#preuve-consentement");
const submit = $("#bouton-franceconnect");

wireHeader();

function card(d) {
  const id = "demarche-" + d.key;
  const examples = d.examples && d.examples.length ? "Exemples : " + d.examples.join(", ") : "";
  return h("li", {},
    h("label", { class: "ac-card", for: id },
      h("input", { type: "checkbox", id, name: "demarches", value: d.key,
        "aria-labelledby": id + "-titre", "aria-describedby": id + "-desc" }),
      h("img", { src: iconOf(d), alt: "", width: 48, height: 48 }),
      h("span", {},
        h("span", { class: "ac-card__title", id: id + "-titre" }, d.title),
        h("span", { id: id + "-desc" },
          h("span", { class: "ac-card__desc" }, d.description),
          examples ? h("span", { class: "ac-card__examples" }, examples) : null))));
}

function showProof() {
  proof.hidden = !remote.checked;
  remote.setAttribute("aria-expanded", String(remote.checked));
}
remote.addEventListener("change", showProof);
showProof();

function checked(name) {
  return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map((i) => i.value);
}

function prefill(choices) {
  for (const key of choices.demarches || []) {
    const box = document.getElementById("demarche-" + key);
    if (box) box.checked = true;
  }
  if (choices.duration) {
    const radio = document.getElementById("duree-" + choices.duration);
    if (radio) radio.checked = true;
  }
  if (choices.is_remote !== undefined) {
    remote.checked = Boolean(choices.is_remote);
    showProof();
  }
  const consent = choices.remote_consent;
  if (consent) {
    const radio = document.getElementById("methode-" + consent.method);
    if (radio) radio.checked = true;
    $("#reference").value = consent.reference || "";
  }
}

let attempted = false;

function validate(moveFocus) {
  const problems = [];
  const demarches = checked("demarches");
  setFieldError($("#etape-demarches"), demarches.length ? null : "Sélectionnez au moins une démarche.");
  if (!demarches.length) problems.push(list.querySelector("input") || $("#etape-demarches"));
  const duration = checked("duration")[0];
  setFieldError($("#etape-duree"), duration ? null : "Choisissez la durée du mandat.");
  if (!duration) problems.push($("#duree-short"));
  let consent = null;
  if (remote.checked) {
    const method = checked("consent_method")[0];
    setFieldError($("#groupe-methode"), method ? null : "Indiquez comment l'usager a donné son consentement.");
    if (!method) problems.push($("#methode-sms"));
    const reference = $("#reference").value.trim();
    setFieldError($("#groupe-reference"), reference ? null : "Indiquez la référence de la preuve de consentement.");
    if (!reference) problems.push($("#reference"));
    consent = { method, reference };
  } else {
    setFieldError($("#groupe-methode"), null);
    setFieldError($("#groupe-reference"), null);
  }
  if (problems.length) {
    if (moveFocus !== false) problems[0].focus();
    return null;
  }
  const body = { demarches, duration, is_remote: remote.checked };
  if (consent) body.remote_consent = consent;
  return body;
}

// Once the aidant has tried to submit, each message goes away as soon as it is answered.
form.addEventListener("change", () => {
  if (attempted) validate(false);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  attempted = true;
  const body = validate();
  if (!body) return;
  setBusy(submit, true);
  try {
    const draft = await api("/api/mandates/drafts", { method: "POST", body });
    window.location.assign(draft.franceconnect_url);
  } catch (err) {
    setBusy(submit, false);
    focusHeading(showError(message, err, "Le mandat n'a pas pu être préparé").querySelector("h2"));
  }
});

async function start() {
  const cat = await catalogue().catch((err) => ({ error: err }));
  if (cat.error) {
    list.replaceChildren(h("li", {}, "La liste des démarches n'a pas pu être chargée. Rechargez la page."));
    $("#mentions").replaceChildren(h("p", {}, "Les mentions n'ont pas pu être chargées. Rechargez la page."));
    showError(message, cat.error, "Impossible de préparer le formulaire");
    return;
  }
  list.replaceChildren(...cat.demarches.map(card));
  renderMentions($("#mentions"), cat.mentions);

  // FranceConnect's logout (after an identification we then refused) sends the
  // browser back with state = "<draft>.<error>".
  const [stateDraft, stateError] = (param("state") || "").split(".", 2);
  const error = param("error") || stateError || null;
  const draftId = param("draft") || (stateError ? stateDraft : null);
  const renew = param("renouveler");
  if (error) {
    const known = FC_ERRORS[error] || ["La connexion à FranceConnect n'a pas abouti",
      "Vérifiez les choix ci-dessous et reconnectez l'usager à FranceConnect."];
    focusHeading(showAlert(message, "error", known[0], known[1]).querySelector("h2"));
  }
  if (draftId) {
    try {
      const draft = await api("/api/mandates/drafts/" + encodeURIComponent(draftId));
      prefill({ demarches: (draft.demarches || []).map((d) => (typeof d === "string" ? d : d.key)),
        duration: draft.duration, is_remote: draft.is_remote, remote_consent: draft.remote_consent });
    } catch (err) {
      // An expired or unknown draft: the aidant fills the form again.
    }
  } else if (renew) {
    try {
      const mandate = await api("/api/mandates/" + encodeURIComponent(renew));
      const keys = mandate.active_demarches && mandate.active_demarches.length
        ? mandate.active_demarches : mandate.demarches;
      prefill({ demarches: keys, duration: mandate.duration });
      const name = (mandate.usager && mandate.usager.full_name) || mandate.usager_name || "l'usager";
      $("#renouvellement-texte").textContent = "Renouvellement du mandat de " + name
        + " : ses démarches sont présélectionnées. L'usager se reconnectera à FranceConnect ; le nouveau mandat remplacera l'ancien pour ces démarches.";
      $("#renouvellement").hidden = false;
    } catch (err) {
      showError(message, err, "Le mandat à renouveler n'a pas pu être chargé");
    }
  }
}

start();
