// Mes situations de formation: the guide's situations as they stand in the trainee's
// structure (GET /api/sandbox/trainee), and the one-click reset to the start.
import { api } from "../api.js";
import { $, h, formatDate, setBusy, showAlert, showError, focusHeading, wireLogout } from "../ui.js";
import { badge, catalogue, titleOf } from "../catalogue.js";

wireLogout();
const list = $("#situations");
const account = $("#compte");
const message = $("#message");
const resetButton = $("#reinitialiser");

function mandateLine(mandate, cat) {
  const demarches = mandate.demarches.map((k) => titleOf(k, cat)).join(", ");
  const end = mandate.status === "active" ? ", jusqu'au " + formatDate(mandate.expires_at) : "";
  return h("li", {}, badge(mandate.status), " ",
    h("a", { href: "/mandats/detail/?id=" + encodeURIComponent(mandate.id) }, "Mandat : " + demarches),
    end);
}

function situationItem(situation, cat) {
  const mandates = situation.mandates || [];
  return h("li", { class: "fr-mb-4w" },
    h("h2", { class: "fr-h5 fr-mb-1w" }, "Situation n°" + situation.number + " — " + situation.title),
    h("p", { class: "fr-mb-1w" }, h("strong", {}, situation.person.full_name)),
    h("p", { class: "fr-mb-1w" }, situation.story),
    h("p", { class: "fr-mb-1w" }, h("strong", {}, "À faire : "), situation.todo),
    mandates.length
      ? h("ul", { class: "fr-mb-0", "aria-label": "Mandats de " + situation.person.full_name },
        mandates.map((m) => mandateLine(m, cat)))
      : h("p", { class: "fr-text--sm fr-mb-0" }, "Pas encore de mandat dans votre structure."));
}

async function load() {
  const [data, cat] = await Promise.all([api("/api/sandbox/trainee"), catalogue().catch(() => null)]);
  account.classList.remove("ac-loading");
  account.textContent = "Votre structure : " + data.structure.name + ". Votre compte s'efface le "
    + formatDate(data.expires_at) + ".";
  list.replaceChildren(...data.situations.map((s) => situationItem(s, cat)));
}

resetButton.addEventListener("click", async () => {
  setBusy(resetButton, true, "Réinitialisation…");
  try {
    await api("/api/sandbox/trainee/reset", { method: "POST" });
    await load();
    const alert = showAlert(message, "success", "Bac à sable réinitialisé",
      "Vous retrouvez les situations de départ dans une structure d'entraînement neuve.");
    focusHeading(alert.querySelector("h2"));
  } catch (err) {
    showError(message, err, "Réinitialisation impossible");
  } finally {
    setBusy(resetButton, false);
  }
});

load().catch((err) => {
  account.textContent = "";
  showError(message, err, "Impossible d'afficher vos situations");
});
