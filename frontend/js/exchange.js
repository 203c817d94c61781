// An accreditation request's messages between its requester and the staff (the
// `exchange` block of templates/dsfr.html): the list, and the form that adds one.
import { $, formatDateTime, h, setBusy, setFieldError, showAlert } from "./ui.js";

/** `authorOf(message)`: the name shown above a message; `staffStandsOut`: the
 * staff's messages in another colour (the requester's view). */
export function renderMessages(messages, authorOf, staffStandsOut) {
  $("#aucun-message").hidden = messages.length > 0;
  $("#messages").replaceChildren(...messages.map((m) => h("li", {
    class: "fr-callout fr-mb-2w" + (staffStandsOut && m.author === "staff" ? " fr-callout--blue-ecume" : ""),
  },
  h("p", { class: "fr-callout__title fr-text--md" }, authorOf(m),
    h("span", { class: "fr-text--xs fr-ml-1w" }, formatDateTime(m.at))),
  h("p", { class: "fr-callout__text fr-text--md" }, m.text))));
}

/** `send(text)` sends the message (and shows the request again); `sentText` says
 * what happens next. An error about the message is shown under it. */
export function wireMessageForm(send, sentText) {
  const input = $("#texte");
  const group = $("#groupe-texte");
  $("#form-message").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      setFieldError(group, "Le message est vide.");
      input.focus();
      return;
    }
    const button = $("#envoyer-message");
    setBusy(button, true, "Envoi…");
    try {
      await send(text);
      input.value = "";
      setFieldError(group, null);
      showAlert($("#message"), "success", "Message envoyé", sentText);
    } catch (err) {
      setFieldError(group, err.message);
    } finally {
      setBusy(button, false);
    }
  });
}
