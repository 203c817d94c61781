// The header of the pages of a session: the logout button, and the structure the
// aidant acts for. Mandates belong to a structure, so the aidant always sees which
// one, and an aidant of several structures switches in one click ("Agir pour …").
// A switch made in another tab is noticed when this tab comes back to the front.
import { api, currentPath, me } from "./api.js";
import { $, h, showAlert, wireLogout } from "./ui.js";

let shownId = null;

/** Options: `afterSwitch`, where to go once switched (a page of the previous
 * structure's data, a mandate say, has nothing to show for the new one); the page
 * is reloaded otherwise. */
export function wireHeader(options) {
  wireLogout();
  const bar = $("#structure-courante");
  if (!bar) return;
  me().then((data) => render(bar, data, options || {})).catch(() => {});
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && shownId) checkStillCurrent();
  });
}

function currentOf(data) {
  return (data.structures || []).find((s) => s.current) || data.structure || null;
}

function render(bar, data, options) {
  const current = currentOf(data);
  if (!current) return;
  shownId = current.id;
  $("#structure-courante-texte").replaceChildren("Vous agissez pour ", h("strong", {}, current.name));
  const items = (data.structures || []).filter((s) => s.id !== current.id).map((s) => h("li", {},
    h("button", { type: "button", class: "fr-btn fr-btn--sm fr-btn--tertiary", "data-structure": s.id,
      onclick: (e) => switchFromHeader(s, e.currentTarget, options) }, "Agir pour " + s.name)));
  const invitations = (data.invitations || []).length;
  if (invitations) {
    items.push(h("li", {}, h("a", { class: "fr-btn fr-btn--sm fr-btn--secondary", href: "/espace-aidant/#invitations" },
      invitations > 1 ? invitations + " invitations à rejoindre une structure" : "Une invitation à rejoindre une structure")));
  }
  if (data.cgu && !data.cgu.accepted) {
    items.push(h("li", {}, h("a", { class: "fr-btn fr-btn--sm", href: termsUrl() },
      "Valider les conditions générales d'utilisation")));
  }
  $("#structure-courante-actions").replaceChildren(...items);
  bar.hidden = false;
}

/** The terms' page, coming back here once they are accepted. */
export function termsUrl() {
  return "/cgu/?next=" + encodeURIComponent(currentPath());
}

/** Act for `structureId` (the session is replaced by one naming it). */
export function switchStructure(structureId) {
  return api("/api/session/structure", { method: "POST", body: { structure: structureId } });
}

async function switchFromHeader(structure, button, options) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await switchStructure(structure.id);
  } catch (err) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    showAlert($("#structure-courante-alerte"), "error", null, err.message);
    return;
  }
  if (options.afterSwitch) window.location.assign(options.afterSwitch);
  else window.location.reload();
}

async function checkStillCurrent() {
  let data;
  try {
    data = await api("/api/me", { on401: "throw" });
  } catch (err) {
    return; // the next call of the page says what happened
  }
  const current = currentOf(data);
  if (!current || current.id === shownId) return;
  showAlert($("#structure-courante-alerte"), "warning", null,
    "Vous agissez maintenant pour " + current.name + " (changement fait dans un autre onglet). Cette page montre "
    + "encore l'autre structure : rechargez-la avant de continuer.",
    h("p", {}, h("button", { type: "button", class: "fr-btn fr-btn--sm", onclick: () => window.location.reload() },
      "Recharger la page")));
}
