// Carte OTP virtuelle: the code of the trainee's device, from the key this browser
// kept at sign-up (js/bac-a-sable-totp.js).
import { $, showAlert } from "../ui.js";
import { forgetCard, loadCard, runCard } from "../bac-a-sable-totp.js";

const card = loadCard();
let timer = null;
if (card) {
  $("#carte-email").textContent = card.email;
  $("#se-connecter").href = "/connexion/?email=" + encodeURIComponent(card.email);
  $("#avec-carte").hidden = false;
  timer = runCard($("#carte-code"), $("#carte-reste"), card.secret, card.interval);
} else {
  $("#sans-carte").hidden = false;
}

$("#oublier").addEventListener("click", () => {
  forgetCard();
  if (timer) clearInterval(timer);
  $("#avec-carte").hidden = true;
  $("#sans-carte").hidden = false;
  showAlert($("#message"), "success", "Carte retirée", "Ce navigateur ne garde plus votre clé.");
});
