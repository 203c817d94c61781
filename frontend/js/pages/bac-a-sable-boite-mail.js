// Boîte mail du bac à sable: the e-mails the service would have sent for the
// trainee's structure (GET /api/sandbox/inbox), newest first.
import { api } from "../api.js";
import { $, h, formatDateTime, setBusy, showError, wireLogout } from "../ui.js";

wireLogout();
const list = $("#messages");
const state = $("#etat");
const refresh = $("#actualiser");

function item(message) {
  return h("li", { class: "ac-mail-item fr-mb-3w" },
    h("h2", { class: "fr-h6 fr-mb-1w" }, message.subject),
    h("p", { class: "fr-text--sm fr-mb-2w ac-loading" }, "À " + message.to + ", le " + formatDateTime(message.written_at)),
    h("pre", { class: "ac-mail fr-text--sm fr-mb-0" }, message.text));
}

async function load() {
  state.textContent = "Chargement des e-mails…";
  const data = await api("/api/sandbox/inbox");
  const messages = data.messages || [];
  list.replaceChildren(...messages.map(item));
  state.classList.remove("ac-loading");
  state.textContent = messages.length === 0 ? "Aucun e-mail pour l'instant."
    : messages.length === 1 ? "1 e-mail." : messages.length + " e-mails.";
}

refresh.addEventListener("click", async () => {
  setBusy(refresh, true, "Actualisation…");
  try {
    await load();
  } catch (err) {
    showError($("#message"), err, "Impossible d'afficher les e-mails");
  } finally {
    setBusy(refresh, false);
  }
});

load().catch((err) => {
  state.textContent = "";
  showError($("#message"), err, "Impossible d'afficher les e-mails");
});
