// Login: e-mail + 6-digit code → the API e-mails a one-time link.
import { api, safeNext } from "../api.js";
import { EXPIRED, INACTIVE, LOGIN_REQUIRED, SESSION_EXPIRED, SESSION_REVOKED, UNAUTHORIZED } from "../error-codes.js";
import { $, param, setBusy, setFieldError, showAlert, readOtp, focusHeading } from "../ui.js";

// ?erreur= comes from the login link (expired, inactive) or from api.js (session ended).
const REASONS = {
  [EXPIRED]: ["error", "Lien expiré", "Ce lien de connexion a expiré ou a déjà été utilisé. Saisissez à nouveau votre adresse e-mail et un nouveau code."],
  [INACTIVE]: ["error", "Accès désactivé", "Votre accès à Aidants Connect n'est pas actif. Contactez le responsable Aidants Connect de votre structure."],
  [SESSION_EXPIRED]: ["warning", "Session expirée", "Votre session a expiré. Merci de vous reconnecter : vous reviendrez ensuite sur la page que vous consultiez."],
  [SESSION_REVOKED]: ["error", "Accès désactivé", "Votre accès a été désactivé. Contactez le responsable Aidants Connect de votre structure."],
  [UNAUTHORIZED]: ["info", "Connexion nécessaire", "Connectez-vous pour accéder à cette page : vous y reviendrez ensuite."],
  [LOGIN_REQUIRED]: ["info", "Nouvelle connexion demandée", "Le service en ligne demande que vous vous reconnectiez. Connectez-vous : vous reviendrez ensuite au choix de l'usager."],
};

const form = $("#form-connexion");
const email = $("#email");
const otp = $("#otp");
const button = $("#valider");
const message = $("#message");
const next = safeNext(param("next"));

function showReason() {
  if (param("deconnecte")) {
    showAlert(message, "success", "Vous êtes déconnecté", "À bientôt sur Aidants Connect.");
    return;
  }
  const reason = param("erreur");
  if (!reason) return;
  if (reason === UNAUTHORIZED && next && next.indexOf("/fi/") === 0) {
    showAlert(message, "info", "Connexion avec FranceConnect",
      "Un site de démarches en ligne demande une connexion avec Aidants Connect. Connectez-vous : vous choisirez ensuite l'usager et la démarche.");
    return;
  }
  const known = REASONS[reason] || ["error", "Connexion impossible", "La connexion n'a pas abouti. Merci de recommencer."];
  showAlert(message, known[0], known[1], known[2]);
}

function validate() {
  let first = null;
  const mail = email.value.trim();
  if (!mail) {
    setFieldError($("#groupe-email"), "Merci d'indiquer votre adresse e-mail.");
    first = first || email;
  } else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(mail)) {
    setFieldError($("#groupe-email"), "Cette adresse e-mail n'est pas valide. Format attendu : nom@domaine.fr");
    first = first || email;
  } else {
    setFieldError($("#groupe-email"), null);
  }
  const code = readOtp(otp);
  if (!/^\d{6}$/.test(code)) {
    setFieldError($("#groupe-otp"), "Le code doit contenir exactement 6 chiffres.");
    first = first || otp;
  } else {
    setFieldError($("#groupe-otp"), null);
  }
  if (first) first.focus();
  return !first;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!validate()) return;
  setBusy(button, true, "Vérification…");
  try {
    const body = { email: email.value.trim(), otp: readOtp(otp) };
    if (next) body.next = next;
    const result = await api("/api/login", { method: "POST", body, on401: "throw" });
    if (result && result.session_opened && !result.link_sent) {
      // Without the e-mailed link: the page where an aidant of several structures
      // picks the one they act for (it goes straight on for the others).
      window.location.assign("/choisir-structure/?next=" + encodeURIComponent(next || "/espace-aidant/"));
      return;
    }
    try {
      sessionStorage.setItem("ac-login-email", body.email);
    } catch (err) { /* private browsing: the page simply won't repeat the address */ }
    const params = new URLSearchParams();
    if (next) params.set("next", next);
    window.location.assign("/connexion/verifiez-vos-mails/" + (next ? "?" + params : ""));
  } catch (err) {
    setBusy(button, false);
    if (err.field === "email") {
      // The address itself was refused (not one mailbox): say so next to it.
      setFieldError($("#groupe-email"), err.message);
      email.focus();
      return;
    }
    otp.value = "";
    const alert = showAlert(message, "error", "Connexion impossible", err.message);
    focusHeading(alert.querySelector("h2"));
  }
});

// ?email= (the sandbox's sign-up and card pages link here with it): typed already.
if (param("email") && !email.value) email.value = param("email").slice(0, 254);

showReason();
