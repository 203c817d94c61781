// The accreditation request form: creates a draft, or edits it (?demande=<id>#<token>).
import { $, h, param, setBusy, setFieldError, setTitle, showAlert, showError } from "../ui.js";
import { api } from "../api.js";
import { followUrl, tokenFromHash } from "../requester.js";

const editId = param("demande");
const token = tokenFromHash();
const requester = { anonymous: true, token }; // no session: the link's token, if any
const form = $("#formulaire");
const list = $("#aidants");
let counter = 0;

const AIDANT_FIELDS = [
  ["first_name", "Prénom", "given-name", "text"],
  ["last_name", "Nom", "family-name", "text"],
  ["email", "Adresse e-mail professionnelle", "email", "email"],
  ["profession", "Fonction (métier)", "organization-title", "text"],
];

function renumber() {
  Array.from(list.children).forEach((fieldset, i) => {
    fieldset.querySelector("legend").textContent = "Aidant n°" + (i + 1);
    const remove = fieldset.querySelector("[data-retirer]");
    remove.setAttribute("aria-label", "Retirer l'aidant n°" + (i + 1));
  });
}

function addAidant(values) {
  counter += 1;
  const n = counter;
  const fieldset = h("fieldset", { class: "fr-fieldset fr-mb-2w", id: "aidant-" + n },
    h("legend", { class: "fr-fieldset__legend fr-text--md" }, "Aidant"),
    ...AIDANT_FIELDS.map(([key, label, auto, type]) => h("div", { class: "fr-fieldset__element" },
      h("div", { class: "fr-input-group", "data-champ": key },
        h("label", { class: "fr-label", for: "aidant-" + n + "-" + key }, label),
        h("input", { class: "fr-input", type, id: "aidant-" + n + "-" + key, autocomplete: "off", "data-key": key,
          value: (values && values[key]) || "" })))),
    h("div", { class: "fr-fieldset__element" },
      h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary", "data-retirer": "1",
        onclick: () => { fieldset.remove(); renumber(); $("#ajouter-aidant").focus(); } }, "Retirer")));
  list.append(fieldset);
  renumber();
  return fieldset;
}

$("#ajouter-aidant").addEventListener("click", () => {
  addAidant().querySelector("input").focus();
});

const SIMPLE = { siret: "siret", nom: "name", adresse: "address" };
const REFERENT = { "ref-prenom": "first_name", "ref-nom": "last_name", "ref-email": "email",
  "ref-fonction": "profession", "ref-telephone": "phone" };

let sentAidants = []; // the fieldsets behind data.aidants, in order (empty ones are not sent)

function read() {
  const data = { referent: {}, aidants: [] };
  sentAidants = [];
  for (const [id, key] of Object.entries(SIMPLE)) data[key] = $("#" + id).value.trim();
  data.structure_type = $("#type").value;
  for (const [id, key] of Object.entries(REFERENT)) data.referent[key] = $("#" + id).value.trim();
  if (!data.referent.phone) delete data.referent.phone;
  data.referent_is_aidant = $("#ref-aidant").checked;
  for (const fieldset of list.children) {
    const aidant = {};
    for (const input of fieldset.querySelectorAll("input[data-key]")) aidant[input.dataset.key] = input.value.trim();
    if (Object.values(aidant).some(Boolean)) {
      data.aidants.push(aidant);
      sentAidants.push(fieldset);
    }
  }
  return data;
}

/** The input group an API error names ("siret", "referent.email", "aidants.0.email"). */
function groupFor(field) {
  if (!field) return null;
  const parts = field.split(".");
  let input = null;
  if (parts[0] === "referent") {
    const id = Object.keys(REFERENT).find((key) => REFERENT[key] === parts[1]);
    input = id ? $("#" + id) : null;
  } else if (parts[0] === "aidants" && parts.length === 3) {
    const fieldset = sentAidants[Number(parts[1])];
    input = fieldset ? fieldset.querySelector('input[data-key="' + parts[2] + '"]') : null;
  } else if (parts[0] === "structure_type") {
    input = $("#type");
  } else {
    const id = Object.keys(SIMPLE).find((key) => SIMPLE[key] === parts[0]);
    input = id ? $("#" + id) : null;
  }
  return input ? input.closest(".fr-input-group, .fr-select-group") : null;
}

function fill(data) {
  for (const [id, key] of Object.entries(SIMPLE)) $("#" + id).value = data[key] || "";
  $("#type").value = data.structure_type || "";
  for (const [id, key] of Object.entries(REFERENT)) $("#" + id).value = data.referent[key] || "";
  $("#ref-aidant").checked = Boolean(data.referent_is_aidant);
  list.replaceChildren();
  for (const aidant of data.aidants) addAidant(aidant);
}

function checkRequired() {
  let first = null;
  for (const group of form.querySelectorAll(".fr-input-group, .fr-select-group")) {
    const input = group.querySelector("input, select");
    const empty = input.required && !input.value.trim();
    setFieldError(group, empty ? "Ce champ est obligatoire." : null);
    if (empty && !first) first = input;
  }
  if (first) first.focus();
  return !first;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!checkRequired()) return;
  const button = $("#enregistrer");
  setBusy(button, true, "Enregistrement…");
  try {
    if (editId) {
      await api("/api/habilitation/requests/" + encodeURIComponent(editId), { ...requester, method: "PUT", body: read() });
      window.location.assign(followUrl(editId, token));
    } else {
      const created = await api("/api/habilitation/requests", { anonymous: true, method: "POST", body: read() });
      window.location.assign(followUrl(created.id, created.token));
    }
  } catch (err) {
    setBusy(button, false);
    showError($("#message"), err, "Votre demande n'a pas pu être enregistrée");
    const group = groupFor(err.field);
    if (group) {
      // Next to the input too, where the person will correct it.
      setFieldError(group, err.message);
      group.querySelector("input, select").focus();
    } else {
      $("#message").scrollIntoView();
    }
  }
});

if (editId) {
  setTitle("Modifier la demande d'habilitation");
  $("#titre").textContent = "Modifier la demande d'habilitation";
  $("#enregistrer").textContent = "Enregistrer les modifications";
  api("/api/habilitation/requests/" + encodeURIComponent(editId), requester).then((data) => {
    if (!data.editable) {
      showAlert($("#message"), "info", "Cette demande ne peut plus être modifiée", "Elle a été envoyée à l'équipe.");
      form.hidden = true;
    }
    fill(data);
  }).catch((err) => showError($("#message"), err, "Impossible d'ouvrir la demande"));
} else {
  addAidant();
}
