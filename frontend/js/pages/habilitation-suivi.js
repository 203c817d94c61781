// The requester follows their request: status, summary, sending, messages.
import { renderMessages, wireMessageForm } from "../exchange.js";
import { $, h, param, setBusy, showAlert, showError } from "../ui.js";
import { api } from "../api.js";
import { tokenFromHash } from "../requester.js";

const id = param("demande") || "";
const token = tokenFromHash();
const requester = { anonymous: true, token }; // no session: the link's token
const url = "/api/habilitation/requests/" + encodeURIComponent(id);
const BADGES = { brouillon: "", envoyee: "fr-badge--info", en_attente: "fr-badge--new", acceptee: "fr-badge--success",
  refusee: "fr-badge--error", modifications_demandees: "fr-badge--warning" };

function render(data) {
  $("#titre").textContent = "Votre demande d'habilitation : " + data.name;
  const badge = $("#statut");
  badge.className = "fr-badge " + (BADGES[data.status] || "");
  badge.textContent = data.status_label;
  $("#actions-brouillon").hidden = !data.editable;
  $("#texte-brouillon").textContent = data.status === "modifications_demandees"
    ? "L'équipe vous demande de modifier votre demande (voir les échanges ci-dessous), puis de l'envoyer à nouveau."
    : "Votre demande est un brouillon : vérifiez-la, puis envoyez-la à l'équipe Aidants Connect.";
  $("#modifier").href = "/habilitation/?demande=" + encodeURIComponent(id) + "#" + token;
  const rows = [["SIRET", data.siret], ["Nom", data.name], ["Adresse", data.address], ["Type", data.structure_type_label]];
  $("#structure").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { class: "fr-text--bold" }, k), h("dd", {}, v || "")]));
  const r = data.referent;
  $("#referent").textContent = r.first_name + " " + r.last_name + " — " + r.profession + " — " + r.email
    + (data.referent_is_aidant ? " (aussi aidant)" : "");
  $("#liste-aidants").replaceChildren(...(data.aidants.length ? data.aidants.map((a) =>
    h("li", {}, a.first_name + " " + a.last_name + " — " + a.profession + " — " + a.email))
    : [h("li", {}, "Aucun aidant en plus du référent.")]));
  // A draft has nobody to talk to yet: the exchange opens when it is sent.
  const draft = data.status === "brouillon";
  $("#form-message").hidden = draft;
  $("#aucun-message").textContent = draft
    ? "Vous pourrez échanger avec l'équipe Aidants Connect une fois votre demande envoyée."
    : "Aucun message pour l'instant.";
  renderMessages(data.messages, (m) => (m.author === "staff" ? m.author_name : "Vous"), true);
  $("#chargement").hidden = true;
  $("#demande").hidden = false;
}

function load() {
  return api(url, requester).then(render);
}

if (!token) {
  $("#chargement").hidden = true;
  showAlert($("#message"), "error", "Lien incomplet", "Ouvrez le lien reçu par e-mail lors de la création de votre demande.");
} else {
  load().catch((err) => {
    $("#chargement").hidden = true;
    showError($("#message"), err, "Impossible d'afficher votre demande");
  });
}

$("#envoyer").addEventListener("click", async () => {
  const button = $("#envoyer");
  setBusy(button, true, "Envoi…");
  try {
    render(await api(url + "/submit", { ...requester, method: "POST", body: {} }));
    showAlert($("#message"), "success", "Demande envoyée", "L'équipe Aidants Connect va l'étudier. Vous serez prévenu par e-mail.");
  } catch (err) {
    showError($("#message"), err);
  } finally {
    setBusy(button, false);
  }
});

wireMessageForm(async (text) => render(await api(url + "/messages", { ...requester, method: "POST", body: { message: text } })),
  "L'équipe Aidants Connect vous répondra par ici.");
