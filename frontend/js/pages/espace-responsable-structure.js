// One structure of the référent: its aidants, their cards or app, their access, and
// the invitations of people to join it.
import { api } from "../api.js";
import { $, h, formatDate, param, setBusy, setFieldError, setTitle, showAlert, showError, showFieldError,
  typedCode } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader();
const sid = param("id") || "";
const base = "/api/referent/structures/" + encodeURIComponent(sid);
const cardDialog = $("#dialogue-carte");
const unlinkDialog = $("#dialogue-delier");
let current = null; // the aidant a dialog is about
let opener = null;

function aidantUrl(aidant, action) {
  return base + "/aidants/" + encodeURIComponent(aidant.id) + "/" + action;
}

function badge(active) {
  return h("p", { class: "fr-badge fr-badge--sm " + (active ? "fr-badge--success" : "fr-badge--error") },
    active ? "Actif" : "Inactif");
}

function otpCell(a) {
  const card = a.devices.find((d) => d.kind === "card");
  const app = a.devices.find((d) => d.kind === "app");
  const parts = [];
  if (card) {
    parts.push(h("p", { class: "fr-mb-1v" }, h("span", {}, card.serial), card.confirmed ? null
      : h("span", { class: "fr-badge fr-badge--sm fr-badge--warning fr-ml-1w" }, "à valider")));
    const buttons = [];
    if (!card.confirmed) {
      buttons.push(h("button", { type: "button", class: "fr-btn fr-btn--sm", "aria-label": "Valider la carte de " + a.name,
        onclick: (e) => openCard(a, e.currentTarget, true) }, "Valider"));
    }
    buttons.push(h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary",
      "aria-label": "Délier la carte de " + a.name, onclick: (e) => openUnlink(a, card, e.currentTarget) }, "Délier"));
    parts.push(h("div", { class: "fr-btns-group fr-btns-group--inline fr-btns-group--sm" }, buttons));
  }
  if (app) {
    parts.push(h("p", { class: "fr-mb-1v" }, "application", app.confirmed ? null
      : h("span", { class: "fr-badge fr-badge--sm fr-badge--warning fr-ml-1w" }, "à valider")));
    parts.push(h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary",
      "aria-label": "Retirer l'application de " + a.name, onclick: (e) => removeApp(a, e.currentTarget) },
    "Retirer l'application"));
  }
  if (!card) {
    parts.push(h("div", { class: "fr-btns-group fr-btns-group--inline fr-btns-group--sm" },
      h("button", { type: "button", class: "fr-btn fr-btn--sm", "aria-label": "Activer une carte pour " + a.name,
        onclick: (e) => openCard(a, e.currentTarget, false) }, "Activer"),
      app ? null : h("a", { class: "fr-btn fr-btn--sm fr-btn--secondary", "aria-label": "Utiliser l'application pour " + a.name,
        href: "/espace-responsable/application/?structure=" + encodeURIComponent(sid) + "&aidant="
          + encodeURIComponent(a.id) }, "Application")));
  }
  return h("td", {}, parts);
}

const BLOCKERS = { training: "formation à suivre", device: "carte ou application à valider" };

function accessCell(a) {
  let action = null;
  if (a.is_active && !a.is_you) {
    action = h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary",
      "aria-label": "Désactiver l'accès de " + a.name, onclick: (e) => setAccess(a, "deactivate", e.currentTarget) },
    "Désactiver");
  } else if (!a.is_active && !a.activation_blockers.length) {
    action = h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--secondary",
      "aria-label": "Activer l'accès de " + a.name, onclick: (e) => setAccess(a, "activate", e.currentTarget) },
    "Activer l'accès");
  } else if (!a.is_active) {
    action = h("p", { class: "fr-text--xs fr-mb-0" }, "En attente : " + a.activation_blockers.map((b) => BLOCKERS[b]).join(", "));
  }
  return h("td", {}, badge(a.is_active), action);
}

function row(a) {
  return h("tr", { "data-aidant": a.id },
    h("th", { scope: "row" }, a.name, a.is_you ? " (vous)" : "", a.is_referent ? h("span", { class: "fr-text--xs" }, " · référent") : null),
    h("td", {}, a.email), otpCell(a), accessCell(a));
}

let latest = null;

async function load() {
  const data = await api(base);
  latest = data;
  const s = data.structure;
  setTitle(s.name);
  $("#titre").textContent = "Mon organisation : " + s.name;
  $("#adresse").textContent = s.address || "";
  $("#siret").textContent = s.siret;
  $("#actifs").textContent = String(s.active_aidants);
  $("#aidants tbody").replaceChildren(...data.aidants.map(row));
  $("#chargement").hidden = true;
  $("#contenu-structure").hidden = false;
  return data;
}

function refocus(aidantId, label) {
  const tr = document.querySelector('tr[data-aidant="' + CSS.escape(aidantId) + '"]');
  const target = tr && (Array.from(tr.querySelectorAll("button, a")).find((b) => b.textContent === label)
    || tr.querySelector("button, a"));
  if (target) target.focus();
}

// -- card dialog ---------------------------------------------------------------------------

function openCard(aidant, button, validating) {
  current = aidant;
  opener = button;
  $("#erreur-carte").replaceChildren();
  setFieldError($("#groupe-serie"), null);
  setFieldError($("#groupe-code-carte"), null);
  $("#serie").value = "";
  $("#code-carte").value = "";
  $("#titre-carte").textContent = validating ? "Valider la carte" : "Lier une carte Aidants Connect";
  $("#pour-carte").textContent = aidant.is_you ? "Pour vous-même (" + aidant.email + ")"
    : "Pour " + aidant.name + " (" + aidant.email + ")";
  $("#form-lier").hidden = validating;
  $("#form-valider").hidden = !validating;
  cardDialog.showModal();
  (validating ? $("#code-carte") : $("#serie")).focus();
}

for (const button of document.querySelectorAll("[data-fermer]")) {
  button.addEventListener("click", () => button.closest("dialog").close());
}
for (const dialog of [cardDialog, unlinkDialog]) {
  dialog.addEventListener("close", () => {
    if (opener && document.contains(opener)) opener.focus();
  });
}

$("#form-lier").addEventListener("submit", async (event) => {
  event.preventDefault();
  const serial = $("#serie").value.trim();
  if (!serial) {
    showFieldError($("#serie"), "Saisissez le numéro de série inscrit au dos de la carte.");
    return;
  }
  const button = $("#bouton-lier");
  setBusy(button, true, "Liaison…");
  try {
    await api(aidantUrl(current, "card"), { method: "POST", body: { serial } });
    setFieldError($("#groupe-serie"), null);
    $("#titre-carte").textContent = "Valider la carte " + serial.toUpperCase();
    $("#form-lier").hidden = true;
    $("#form-valider").hidden = false;
    $("#code-carte").focus();
    load().catch(() => {});
  } catch (err) {
    showFieldError($("#serie"), err.message);
  } finally {
    setBusy(button, false);
  }
});

$("#form-valider").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = typedCode($("#code-carte"));
  if (!code) return;
  const button = $("#bouton-valider");
  setBusy(button, true, "Validation…");
  try {
    const result = await api(aidantUrl(current, "card/validate"), { method: "POST", body: { otp: code } });
    const who = current;
    opener = null;
    cardDialog.close();
    await load();
    showAlert($("#message"), "success", "Carte validée",
      "La carte de " + (who.is_you ? "votre compte" : who.name) + " est validée."
      + (result.is_active ? " L'accès est actif." : " L'accès sera actif une fois la formation enregistrée."));
    refocus(who.id, "Délier");
  } catch (err) {
    showFieldError($("#code-carte"), err.message);
  } finally {
    setBusy(button, false);
  }
});

// -- unlink, app removal, access ---------------------------------------------------------------

function openUnlink(aidant, card, button) {
  current = aidant;
  opener = button;
  $("#erreur-delier").replaceChildren();
  $("#carte-perdue").checked = false;
  $("#texte-delier").textContent = "La carte " + card.serial + " ne permettra plus à " + aidant.name
    + " de se connecter. Si elle n'est pas perdue, elle pourra être liée à un autre aidant.";
  unlinkDialog.showModal();
  $("#carte-perdue").focus();
}

$("#bouton-delier").addEventListener("click", async () => {
  const button = $("#bouton-delier");
  setBusy(button, true, "En cours…");
  try {
    await api(aidantUrl(current, "card/unlink"), { method: "POST", body: { lost: $("#carte-perdue").checked } });
    const who = current;
    opener = null;
    unlinkDialog.close();
    await load();
    showAlert($("#message"), "success", "Carte déliée", "La carte n'est plus liée au compte de " + who.name + ".");
    refocus(who.id, "Activer");
  } catch (err) {
    showError($("#erreur-delier"), err);
  } finally {
    setBusy(button, false);
  }
});

async function removeApp(aidant, button) {
  if (!window.confirm("Retirer l'application de " + aidant.name + " ? Ses codes ne seront plus acceptés.")) return;
  setBusy(button, true);
  try {
    await api(aidantUrl(aidant, "app/unlink"), { method: "POST", body: {} });
    await load();
    showAlert($("#message"), "success", "Application retirée", "L'application de " + aidant.name + " est retirée.");
  } catch (err) {
    setBusy(button, false);
    showError($("#message"), err);
  }
}

async function setAccess(aidant, action, button) {
  setBusy(button, true);
  try {
    await api(aidantUrl(aidant, action), { method: "POST", body: {} });
    await load();
    showAlert($("#message"), "success", action === "activate" ? "Accès activé" : "Accès désactivé",
      action === "activate" ? aidant.name + " peut de nouveau se connecter."
        : aidant.name + " est déconnecté et ne peut plus se connecter pour cette structure.");
    refocus(aidant.id, action === "activate" ? "Désactiver" : "Activer l'accès");
  } catch (err) {
    setBusy(button, false);
    showError($("#message"), err);
  }
}

// -- invitations ------------------------------------------------------------------------------

const INVITE_FIELDS = { email: "#invite-email", first_name: "#invite-prenom", last_name: "#invite-nom" };

function invitationRow(invitation) {
  return h("tr", { "data-invitation": invitation.id },
    h("td", {}, invitation.email), h("td", {}, invitation.invited_by || ""), h("td", {}, formatDate(invitation.expires_at)),
    h("td", {}, h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary",
      "aria-label": "Retirer l'invitation de " + invitation.email, onclick: (e) => withdraw(invitation, e.currentTarget) },
    "Retirer")));
}

async function loadInvitations() {
  const data = await api(base + "/invitations");
  const rows = data.invitations || [];
  $("#invitations tbody").replaceChildren(...rows.map(invitationRow));
  $("#bloc-invitations").hidden = !rows.length;
  $("#aucune-invitation").hidden = Boolean(rows.length);
}

async function withdraw(invitation, button) {
  setBusy(button, true);
  try {
    await api(base + "/invitations/" + encodeURIComponent(invitation.id) + "/withdraw", { method: "POST", body: {} });
    await loadInvitations();
    showAlert($("#message-invitation"), "success", "Invitation retirée",
      "L'invitation de " + invitation.email + " ne peut plus être acceptée.");
    $("#titre-invitations").setAttribute("tabindex", "-1");
    $("#titre-invitations").focus();
  } catch (err) {
    setBusy(button, false);
    showError($("#message-invitation"), err);
  }
}

$("#form-inviter").addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const selector of Object.values(INVITE_FIELDS)) setFieldError($(selector).closest(".fr-input-group"), null);
  const body = { email: $("#invite-email").value.trim() };
  if (!body.email) {
    showFieldError($("#invite-email"), "Saisissez l'adresse e-mail de la personne à inviter.");
    return;
  }
  for (const [name, selector] of [["first_name", "#invite-prenom"], ["last_name", "#invite-nom"]]) {
    if ($(selector).value.trim()) body[name] = $(selector).value.trim();
  }
  const button = $("#bouton-inviter");
  setBusy(button, true, "Envoi…");
  try {
    await api(base + "/invitations", { method: "POST", body });
  } catch (err) {
    setBusy(button, false);
    if (err.field && INVITE_FIELDS[err.field]) showFieldError($(INVITE_FIELDS[err.field]), err.message);
    else showError($("#message-invitation"), err, "L'invitation n'a pas été envoyée");
    return;
  }
  setBusy(button, false);
  $("#form-inviter").reset();
  await Promise.all([load(), loadInvitations()]).catch(() => {});
  showAlert($("#message-invitation"), "success", "Invitation envoyée",
    "Un e-mail a été envoyé à " + body.email + ".");
  $("#invite-email").focus();
});

load().then((data) => {
  loadInvitations().catch((err) => showError($("#message-invitation"), err));
  if (param("lier") === "moi") {
    const me = data.aidants.find((a) => a.is_you);
    if (me && !me.devices.some((d) => d.kind === "card")) openCard(me, null, false);
  }
}).catch((err) => {
  $("#chargement").hidden = true;
  showError($("#message"), err, "Impossible d'afficher cette structure");
});
