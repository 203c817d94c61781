// Espace Aidant: greets the aidant, shows the référent tile to référents, the terms
// of use to accept, and the invitations to join another structure (accepted with
// the aidant's 6-digit code).
import { api, me } from "../api.js";
import { $, h, formatDate, focusHeading, param, setBusy, showAlert, showError, showOtpRefused, typedCode }
  from "../ui.js";
import { switchStructure, wireHeader } from "../header.js";

wireHeader();

function invitationItem(invitation) {
  const id = "code-" + invitation.id;
  const name = invitation.structure.name;
  const alert = h("div", { "aria-live": "polite" });
  const input = h("input", { class: "fr-input ac-otp", id, name: "otp", type: "text", inputmode: "numeric",
    autocomplete: "one-time-code", maxlength: "7" });
  const button = h("button", { type: "submit", class: "fr-btn" }, "Rejoindre " + name);
  const form = h("form", { novalidate: true },
    h("div", { class: "fr-input-group", id: "groupe-" + id },
      h("label", { class: "fr-label", for: id }, "Code à 6 chiffres de votre carte ou de votre application")),
    button);
  form.querySelector(".fr-input-group").append(input);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = typedCode(input);
    if (!code) return;
    setBusy(button, true, "Confirmation…");
    try {
      await api("/api/invitations/" + encodeURIComponent(invitation.id) + "/accept",
        { method: "POST", body: { otp: code } });
    } catch (err) {
      setBusy(button, false);
      if (showOtpRefused(err, input)) return;
      focusHeading(showError(alert, err, "L'invitation n'a pas été acceptée").querySelector("h2"));
      return;
    }
    window.location.assign("/espace-aidant/?rejoint=" + encodeURIComponent(invitation.structure.id));
  });
  return h("li", { class: "ac-invitation fr-mb-3w" },
    h("h3", { class: "fr-h5 fr-mb-1w" }, name),
    h("p", {}, (invitation.invited_by || "Le référent de la structure") + " vous invite à rejoindre " + name
      + ". Invitation valable jusqu'au " + formatDate(invitation.expires_at) + "."),
    alert, form);
}

function showJoined(data) {
  const joined = param("rejoint");
  const structure = joined && (data.structures || []).find((s) => s.id === joined);
  if (!structure) return;
  const act = structure.current ? null : h("p", {}, h("button", { type: "button", class: "fr-btn fr-btn--sm",
    onclick: async (e) => {
      e.currentTarget.disabled = true;
      try {
        await switchStructure(structure.id);
        window.location.assign("/espace-aidant/");
      } catch (err) {
        showError($("#message"), err);
      }
    } }, "Agir pour " + structure.name + " maintenant"));
  showAlert($("#message"), "success", "Vous avez rejoint " + structure.name,
    "Vous pouvez agir pour cette structure : choisissez-la en haut de la page.", act);
}

me().then((data) => {
  const aidant = data.aidant || {};
  $("#bienvenue").textContent = "Bienvenue sur votre Espace Aidant, " + (aidant.first_name || "");
  if (data.structure && data.structure.name) {
    const structure = $("#structure");
    structure.textContent = "Structure : " + data.structure.name;
    structure.hidden = false;
  }
  $("#tuile-responsable").hidden = !aidant.is_referent;
  $("#cgu-a-valider").hidden = !data.cgu || data.cgu.accepted;
  const invitations = data.invitations || [];
  $("#liste-invitations").replaceChildren(...invitations.map(invitationItem));
  $("#invitations").hidden = !invitations.length;
  showJoined(data);
}).catch((err) => showError($("#message"), err, "Impossible d'afficher votre espace"));
