// Identity provider (/fi/?txn=…): FranceConnect sent the aidant here to pick the
// usager, then the démarche; our answer goes back to FranceConnect as a code.
import { api, loginUrl, me } from "../api.js";
import { iconOf } from "../catalogue.js";
import { STRUCTURE_SWITCHED, TRANSACTION_COMPLETED, TRANSACTION_EXPIRED, TRANSACTION_NOT_FOUND } from "../error-codes.js";
import { $, h, param, showAlert, showError, focusHeading, formatDate, fold, setTitle } from "../ui.js";
import { wireHeader } from "../header.js";

const txn = param("txn");
const title = $("#titre");
const message = $("#message");
const stepUsager = $("#etape-usager");
const stepDemarche = $("#etape-demarche");
const none = $("#aucun-usager");
const dialog = $("#dialogue-argent");
let offer = null;
let sending = false;
let pendingArgent = null;

wireHeader();

// Transaction errors end the flow: the aidant must start again from the service.
const FINAL = [TRANSACTION_NOT_FOUND, TRANSACTION_COMPLETED, TRANSACTION_EXPIRED];

function nameOf(u) {
  return ((u.given_name || "") + " " + (u.family_name || "")).trim();
}

function clientName() {
  return (offer && offer.client && offer.client.name) || "le service en ligne";
}

function showOnly(section) {
  $("#chargement").hidden = true;
  for (const s of [stepUsager, stepDemarche, none]) s.hidden = s !== section;
}

function usagerButton(u) {
  const id = "usager-" + u.id;
  const count = (u.demarches || []).length;
  const details = [];
  if (u.birthdate) details.push("Né(e) le " + formatDate(u.birthdate + "T12:00:00Z"));
  details.push(count + (count > 1 ? " démarches couvertes" : " démarche couverte"));
  return h("li", { "data-nom": fold(nameOf(u)) },
    h("button", { type: "button", class: "ac-card", id, "aria-describedby": id + "-detail",
      onclick: () => go(u.id) },
    h("span", {},
      h("span", { class: "ac-choice-name" }, nameOf(u)),
      h("span", { class: "ac-choice-detail", id: id + "-detail" }, details.join(" · ")))));
}

function demarcheButton(u, d) {
  const id = "demarche-" + d.key;
  return h("li", {},
    // The whole card is the button's name (RGAA/WCAG 2.5.3: the visible text is in it).
    h("button", { type: "button", class: "ac-card", id, onclick: (e) => pick(u, d, e.currentTarget) },
    h("img", { src: iconOf(d), alt: "", width: 48, height: 48 }),
    h("span", {},
      h("span", { class: "ac-card__title", id: id + "-titre" }, d.title),
      h("span", { class: "ac-card__desc", id: id + "-desc" }, d.description || ""),
      d.expires_at ? h("span", { class: "ac-card__examples" }, "Mandat valable jusqu'au " + formatDate(d.expires_at)) : null)));
}

function filterUsagers() {
  const words = fold($("#filtre").value).split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const li of $("#usagers").children) {
    const match = words.every((w) => li.dataset.nom.indexOf(w) !== -1);
    li.hidden = !match;
    if (match) shown += 1;
  }
  $("#compte").textContent = shown + (shown > 1 ? " usagers" : " usager")
    + (words.length ? " correspondant à la recherche" : " avec un mandat en cours") + ".";
}

function renderUsagers(moveFocus) {
  if (!offer.usagers.length) {
    title.textContent = "Aucun usager à FranceConnecter";
    setTitle("Aucun usager à FranceConnecter");
    showOnly(none);
  } else {
    title.textContent = "Sélectionnez l'utilisateur que vous souhaitez FranceConnecter";
    setTitle("Sélectionnez l'usager");
    $("#usagers").replaceChildren(...offer.usagers.map(usagerButton));
    $("#groupe-filtre").hidden = offer.usagers.length < 6;
    filterUsagers();
    showOnly(stepUsager);
  }
  if (moveFocus) focusHeading(title);
}

function renderDemarches(u, moveFocus) {
  title.textContent = "Sélectionnez le type de démarche que vous allez effectuer";
  setTitle("Sélectionnez la démarche pour " + nameOf(u));
  $("#usager-choisi").textContent = nameOf(u);
  $("#demarches").replaceChildren(...(u.demarches || []).map((d) => demarcheButton(u, d)));
  showOnly(stepDemarche);
  if (moveFocus) focusHeading(title);
}

/** The URL says which step is shown, so the browser's back button works. */
function render(moveFocus) {
  const chosen = param("usager");
  const u = chosen && offer.usagers.find((x) => x.id === chosen);
  if (u) renderDemarches(u, moveFocus);
  else renderUsagers(moveFocus);
}

function go(usagerId) {
  const params = new URLSearchParams({ txn });
  if (usagerId) params.set("usager", usagerId);
  history.pushState(null, "", "/fi/?" + params);
  message.replaceChildren();
  render(true);
}

function pick(u, d, button) {
  if (d.key === "argent") {
    pendingArgent = { u, d, button };
    $("#texte-argent").textContent = "La démarche « " + d.title + " » donne accès aux informations financières de "
      + nameOf(u) + " (impôts, banque, crédits, assurances…). Ne la réalisez qu'à sa demande, pour l'objet convenu avec "
      + "lui ou elle. Cette connexion est enregistrée et l'usager en sera informé.";
    dialog.showModal();
    $("#argent-annuler").focus();
    return;
  }
  send(u, d, button);
}

$("#argent-annuler").addEventListener("click", () => dialog.close());
$("#argent-continuer").addEventListener("click", () => {
  const chosen = pendingArgent;
  pendingArgent = null;
  dialog.close();
  if (chosen) send(chosen.u, chosen.d, chosen.button);
});
dialog.addEventListener("close", () => {
  if (pendingArgent && document.contains(pendingArgent.button)) pendingArgent.button.focus();
  pendingArgent = null;
});

async function send(u, d, button) {
  if (sending) return;
  sending = true;
  for (const b of document.querySelectorAll("#demarches button")) b.disabled = true;
  button.setAttribute("aria-busy", "true");
  showAlert(message, "info", null, "Connexion de " + nameOf(u) + " à " + clientName() + " en cours…");
  try {
    // The structure whose usagers this page lists: if the aidant switched since (in
    // another tab), the API refuses rather than use the other structure's mandate.
    const body = { usager: u.id, demarche: d.key, mandate: d.mandate };
    if (offer.structure && offer.structure.id) body.structure = offer.structure.id;
    const result = await api("/api/fi/transactions/" + encodeURIComponent(txn),
      { method: "POST", body, on401: "throw" });
    window.location.assign(result.redirect_to);
  } catch (err) {
    sending = false;
    for (const b of document.querySelectorAll("#demarches button")) b.disabled = false;
    button.removeAttribute("aria-busy");
    handle(err);
  }
}

function handle(err) {
  if (err.code === STRUCTURE_SWITCHED) {
    reload(err.message);
    return;
  }
  if (err.status === 401) {
    // Session over, or the service asks for a fresh login (prompt=login).
    window.location.assign(loginUrl(err.code, "/fi/?txn=" + encodeURIComponent(txn)));
    return;
  }
  if (FINAL.indexOf(err.code) !== -1 || err.status === 410) {
    showOnly(null);
    title.textContent = "Demande de connexion terminée";
    setTitle("Demande de connexion terminée");
    showAlert(message, "error", null, err.message + " Retournez sur le site de la démarche et cliquez à nouveau sur « S'identifier avec FranceConnect ».");
    focusHeading(title);
    return;
  }
  focusHeading(showError(message, err, "La connexion n'a pas abouti").querySelector("h2"));
}

window.addEventListener("popstate", () => {
  if (offer) render(true);
});

/** The offer again, for the structure the aidant acts for now. */
async function reload(why) {
  try {
    offer = await api("/api/fi/transactions/" + encodeURIComponent(txn), { on401: "throw" });
  } catch (err) {
    handle(err);
    return;
  }
  offer.usagers = offer.usagers || [];
  showStructure();
  history.replaceState(null, "", "/fi/?" + new URLSearchParams({ txn }));
  render(false);
  focusHeading(showAlert(message, "warning", "La structure a changé", why).querySelector("h2"));
}

function showStructure() {
  const name = offer.structure && offer.structure.name;
  for (const el of document.querySelectorAll(".js-structure")) el.textContent = name || "votre structure";
}

async function start() {
  if (!txn) {
    showOnly(null);
    title.textContent = "Demande de connexion introuvable";
    showAlert(message, "error", null, "Cette page s'ouvre depuis FranceConnect, quand vous choisissez « Vous êtes un aidant professionnel » sur le site d'une démarche.");
    return;
  }
  try {
    offer = await api("/api/fi/transactions/" + encodeURIComponent(txn), { on401: "throw" });
  } catch (err) {
    if (err.status === 401) {
      window.location.assign(loginUrl(err.code));
      return;
    }
    $("#chargement").hidden = true;
    handle(err);
    return;
  }
  offer.usagers = offer.usagers || [];
  for (const el of document.querySelectorAll(".js-client")) el.textContent = clientName();
  showStructure();
  render(false);
  me().then((data) => {
    const first = data && data.aidant && data.aidant.first_name;
    if (first) {
      $("#bienvenue").textContent = "Bienvenue sur votre Espace Aidants Connect, " + first;
      $("#bienvenue").hidden = false;
    }
  }).catch(() => {});
}

$("#changer").addEventListener("click", () => go(null));
$("#filtre").addEventListener("input", filterUsagers);
start();
