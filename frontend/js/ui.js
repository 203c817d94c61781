// Small DOM helpers shared by the pages. Text always goes in through textContent:
// names typed by usagers or sent by FranceConnect are never parsed as HTML.

import { currentPath, logout } from "./api.js";
import { CGU_NOT_ACCEPTED, INVALID_OTP } from "./error-codes.js";

/** h("p", {class: "fr-text"}, "texte", child) → element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const name of Object.keys(attrs)) {
      const value = attrs[name];
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.slice(0, 2) === "on" && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function $(selector, root) {
  return (root || document).querySelector(selector);
}

export function param(name) {
  return new URLSearchParams(window.location.search).get(name);
}

/**
 * Show a DSFR alert in `container` (replacing what it held). Errors are announced
 * at once (role=alert); other messages politely.
 */
export function showAlert(container, type, title, text, extra) {
  container.replaceChildren();
  const alert = h("div", {
    class: "fr-alert fr-alert--" + type + " fr-mb-3w",
    role: type === "error" || type === "warning" ? "alert" : "status",
  },
    title ? h("h2", { class: "fr-alert__title" }, title) : null,
    text ? h("p", {}, text) : null,
    extra || null);
  container.append(alert);
  container.hidden = false;
  return alert;
}

/** An error, said in `container`. The API's refusal for terms of use not accepted
 * (cgu_not_accepted) comes with the link to read and accept them, and back here. */
export function showError(container, err, title) {
  const terms = err && err.code === CGU_NOT_ACCEPTED
    ? h("p", {}, h("a", { href: "/cgu/?next=" + encodeURIComponent(currentPath()) },
      "Lire et accepter les conditions générales d'utilisation"))
    : null;
  return showAlert(container, "error", title || "Une erreur est survenue", err && err.message
    ? err.message : String(err), terms);
}

export function clearAlert(container) {
  container.replaceChildren();
}

/** Disable a button while its request runs, and say so to screen readers. */
export function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (busyLabel) button.textContent = busyLabel;
  } else {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (button.dataset.label) button.textContent = button.dataset.label;
  }
}

const DATE = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric",
  timeZone: "Europe/Paris" });
const DATE_TIME = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric",
  hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris" });

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : DATE.format(d);
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : DATE_TIME.format(d);
}

/** "Angela DUBOIS" from the identité pivot, however the API spells the parts. */
export function personName(p) {
  if (!p) return "";
  if (typeof p === "string") return p;
  const given = p.given_name || p.first_name || "";
  const family = p.family_name || p.last_name || "";
  const full = (given + " " + family.toUpperCase()).trim();
  return full || p.name || p.usager_name || p.full_name || "";
}

/** Lower-case, accents removed: "Élodie" is found by typing "elodie". */
export function fold(text) {
  return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/** Move focus to a heading after the page changed under the aidant's eyes. */
export function focusHeading(el) {
  if (!el) return;
  if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
  el.focus();
}

export function setTitle(text) {
  // Keeps what follows the page's own title (the sandbox's build says there that it
  // is a training environment).
  const at = document.title.indexOf(" - Aidants Connect");
  document.title = text + (at >= 0 ? document.title.slice(at) : " - Aidants Connect");
}

/** The header's logout buttons (DSFR copies them into the mobile menu, so listen on
 * the document rather than on each button). */
export function wireLogout() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("[data-logout]") : null;
    if (!button) return;
    event.preventDefault();
    button.disabled = true;
    logout();
  });
}

/** The 6-digit code field: digits only, whatever was pasted around them. */
export function readOtp(input) {
  return (input.value || "").replace(/\D/g, "");
}

/** The 6-digit code typed in `input`, or null once said under it that it is not one. */
export function typedCode(input) {
  const code = readOtp(input);
  if (/^\d{6}$/.test(code)) return code;
  showFieldError(input, "Le code doit contenir exactement 6 chiffres.");
  return null;
}

export function setFieldError(group, message) {
  const input = group.querySelector("input, select, textarea");
  let box = group.querySelector(".fr-error-text");
  group.classList.toggle("fr-input-group--error", Boolean(message));
  group.classList.toggle("fr-fieldset--error", Boolean(message) && group.tagName === "FIELDSET");
  if (message) {
    if (!box) {
      const owner = group.tagName === "FIELDSET" || !input ? group.id : input.id;
      box = h("p", { class: "fr-error-text", id: owner + "-erreur" });
      group.append(box);
    }
    box.textContent = message;
    const target = group.tagName === "FIELDSET" ? group : input;
    if (target) {
      if (target === input) input.setAttribute("aria-invalid", "true");
      const described = (target.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(box.id) === -1) described.push(box.id);
      target.setAttribute("aria-describedby", described.join(" "));
    }
  } else {
    if (box) box.remove();
    if (input && group.tagName !== "FIELDSET") input.removeAttribute("aria-invalid");
  }
}

/** An error about one input: shown under it (in its DSFR group), the cursor put in it. */
export function showFieldError(input, message) {
  setFieldError(input.closest(".fr-input-group, .fr-select-group"), message);
  input.focus();
}

/** The API refused a 6-digit code (wrong, or already used: each code serves once):
 * said under its input, emptied for the next code. Other errors: false, and the
 * input is emptied all the same (a code is worth one try). */
export function showOtpRefused(err, input) {
  input.value = "";
  if (err.code !== INVALID_OTP) return false;
  showFieldError(input, err.message + " Attendez le code suivant et saisissez-le.");
  return true;
}
