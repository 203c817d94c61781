// Staff: one accreditation request — decide, talk, follow the accounts it created.
import { api } from "../api.js";
import { renderMessages, wireMessageForm } from "../exchange.js";
import { $, formatDate, formatDateTime, h, param, setBusy, setFieldError, setTitle, showAlert, showError,
  showFieldError } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader();
const id = param("id") || "";
const url = "/api/staff/habilitation/requests/" + encodeURIComponent(id);
const LABELS = { accept: "acceptée", hold: "mise en attente", request_changes: "renvoyée pour modifications", refuse: "refusée" };

function trainingCell(account) {
  const date = h("input", { class: "fr-input", type: "date", id: "date-" + account.aidant_id, value: account.trained_on || "" });
  const pix = h("input", { type: "checkbox", id: "pix-" + account.aidant_id, checked: account.pix_passed });
  const save = h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--secondary fr-mt-1w",
    "aria-label": "Enregistrer la formation de " + account.name, onclick: (e) => saveTraining(account, e.currentTarget) },
  "Enregistrer");
  return h("td", {},
    h("div", { class: "fr-input-group fr-mb-1w" }, h("label", { class: "fr-label", for: date.id }, "Date de formation"), date),
    h("div", { class: "fr-checkbox-group fr-checkbox-group--sm" }, pix, h("label", { class: "fr-label", for: pix.id }, "Test PIX réussi")),
    save);
}

function render(data) {
  setTitle("Demande : " + data.name);
  $("#titre").textContent = "Demande d'habilitation : " + data.name;
  $("#statut").textContent = data.status_label;
  const rows = [["SIRET", data.siret], ["Adresse", data.address], ["Type", data.structure_type_label],
    ["Créée le", formatDateTime(data.created_at)], ["Envoyée le", formatDateTime(data.submitted_at)]];
  $("#structure").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { class: "fr-text--bold" }, k), h("dd", {}, v || "—")]));
  const r = data.referent;
  $("#referent").textContent = r.first_name + " " + r.last_name + " — " + r.profession + " — " + r.email
    + (r.phone ? " — " + r.phone : "") + (data.referent_is_aidant ? " (aussi aidant)" : "");
  $("#liste-aidants").replaceChildren(...data.aidants.map((a) =>
    h("li", {}, a.first_name + " " + a.last_name + " — " + a.profession + " — " + a.email)));
  $("#decision").hidden = data.decisions.length === 0;
  for (const button of document.querySelectorAll("[data-decision]")) {
    button.closest("li").hidden = data.decisions.indexOf(button.dataset.decision) === -1;
  }
  $("#comptes").hidden = !data.structure_id;
  if (data.structure_id) {
    $("#lien-structure").href = "/espace-responsable/structure/?id=" + encodeURIComponent(data.structure_id);
    $("#table-comptes tbody").replaceChildren(...data.accounts.map((a) => h("tr", {},
      h("th", { scope: "row" }, a.name, h("br"), h("span", { class: "fr-text--xs" }, a.email)),
      h("td", {}, a.role === "referent" ? "Référent" : "Aidant"),
      trainingCell(a),
      h("td", {}, a.has_confirmed_device ? "Validée" : "À lier par le référent"),
      h("td", {}, h("p", { class: "fr-badge fr-badge--sm " + (a.is_active ? "fr-badge--success" : "fr-badge--error") },
        a.is_active ? "Actif" : "Inactif")))));
  }
  renderMessages(data.messages, (m) => (m.author === "staff" ? m.author_name : "Demandeur : " + m.author_name));
  $("#chargement").hidden = true;
  $("#demande").hidden = false;
}

async function saveTraining(account, button) {
  const trained = $("#date-" + CSS.escape(account.aidant_id)).value;
  const pix = $("#pix-" + CSS.escape(account.aidant_id)).checked;
  setBusy(button, true);
  try {
    const result = await api("/api/staff/aidants/" + encodeURIComponent(account.aidant_id) + "/training",
      { method: "POST", body: { trained_on: trained, pix_passed: pix } });
    render(await api(url));
    showAlert($("#message"), "success", "Formation enregistrée", account.name + " : formation du " + formatDate(result.trained_on)
      + (result.is_active ? ". Le compte est maintenant actif." : "."));
  } catch (err) {
    showError($("#message"), err);
  } finally {
    setBusy(button, false);
  }
}

for (const button of document.querySelectorAll("[data-decision]")) {
  button.addEventListener("click", async () => {
    const decision = button.dataset.decision;
    const text = $("#motif").value.trim();
    if (decision === "request_changes" && !text) {
      showFieldError($("#motif"), "Dites au demandeur ce qu'il doit modifier.");
      return;
    }
    setFieldError($("#groupe-motif"), null);
    setBusy(button, true);
    try {
      render(await api(url + "/decision", { method: "POST", body: text ? { decision, message: text } : { decision } }));
      $("#motif").value = "";
      showAlert($("#message"), "success", "Demande " + LABELS[decision], "Le demandeur est prévenu par e-mail.");
    } catch (err) {
      showError($("#message"), err);
    } finally {
      setBusy(button, false);
    }
  });
}

wireMessageForm(async (text) => render(await api(url + "/messages", { method: "POST", body: { message: text } })),
  "Le demandeur le reçoit aussi par e-mail.");

api(url).then(render).catch((err) => {
  $("#chargement").hidden = true;
  showError($("#message"), err, "Impossible d'afficher la demande");
});
