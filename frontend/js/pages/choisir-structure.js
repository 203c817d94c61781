// After logging in, an aidant of several structures picks the one they act for
// (the last one first), then goes where they were going (?next=). With one
// structure there is nothing to pick: straight on.
import { me, safeNext } from "../api.js";
import { $, h, focusHeading, param, showError } from "../ui.js";
import { switchStructure, wireHeader } from "../header.js";

wireHeader();
const next = safeNext(param("next")) || "/espace-aidant/";

async function pick(structure, button) {
  if (structure.current) {
    window.location.assign(next);
    return;
  }
  for (const b of document.querySelectorAll("#structures button")) b.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await switchStructure(structure.id);
  } catch (err) {
    for (const b of document.querySelectorAll("#structures button")) b.disabled = false;
    button.removeAttribute("aria-busy");
    focusHeading(showError($("#message"), err, "Le changement de structure n'a pas abouti").querySelector("h2"));
    return;
  }
  window.location.assign(next);
}

function choice(structure) {
  const id = "structure-" + structure.id;
  return h("li", {}, h("button", { type: "button", class: "ac-card", id, "aria-describedby": id + "-detail",
    onclick: (e) => pick(structure, e.currentTarget) },
  h("span", {},
    h("span", { class: "ac-choice-name" }, structure.name),
    h("span", { class: "ac-choice-detail", id: id + "-detail" },
      [structure.address, structure.current ? "dernière structure utilisée" : null].filter(Boolean).join(" · ")))));
}

me().then((data) => {
  const structures = (data.structures || []).slice().sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0));
  if (structures.length < 2) {
    window.location.replace(next);
    return;
  }
  $("#structures").replaceChildren(...structures.map(choice));
  $("#chargement").hidden = true;
  $("#choix").hidden = false;
}).catch((err) => {
  $("#chargement").hidden = true;
  showError($("#message"), err, "Impossible d'afficher vos structures");
});
