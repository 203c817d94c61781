// "Vérifiez votre boîte mail": repeat the address typed, offer to start again.
import { safeNext } from "../api.js";
import { $, param } from "../ui.js";

let address = null;
try {
  address = sessionStorage.getItem("ac-login-email");
} catch (err) { /* storage disabled */ }
if (address) $("#destinataire").textContent = " à " + address;
const next = safeNext(param("next"));
if (next) $("#recommencer").href = "/connexion/?next=" + encodeURIComponent(next);
