// The démarches, durations and mentions come from GET /api/demarches: the front-end
// never keeps its own copy of them.
import { api } from "./api.js";
import { h } from "./ui.js";

let cataloguePromise = null;

export function catalogue() {
  if (!cataloguePromise) {
    cataloguePromise = api("/api/demarches").then((data) => {
      const byKey = {};
      for (const d of (data && data.demarches) || []) byKey[d.key] = d;
      return Object.assign({ demarches: [], byKey }, data || {}, { byKey });
    });
  }
  return cataloguePromise;
}

/** A démarche's title, or its key when the catalogue could not be loaded. */
export function titleOf(key, cat) {
  const d = cat && cat.byKey ? cat.byKey[key] : null;
  return d ? d.title : key;
}

export function iconOf(d) {
  return "/img/demarches/" + (d.icon || d.key + ".svg");
}

/** The "Mentions à lire à l'usager": {title, intro, obligations[], conclusion}. */
export function renderMentions(container, mentions, headingLevel) {
  container.replaceChildren();
  if (!mentions) return;
  if (typeof mentions === "string") {
    for (const line of mentions.split("\n").filter(Boolean)) container.append(h("p", {}, line));
    return;
  }
  if (mentions.title && headingLevel) {
    container.append(h("h" + headingLevel, { class: "fr-h5" }, mentions.title));
  }
  if (mentions.intro) container.append(h("p", { class: "fr-mb-1w" }, mentions.intro));
  if (mentions.obligations && mentions.obligations.length) {
    container.append(h("ul", {}, mentions.obligations.map((o) => h("li", {}, o))));
  }
  if (mentions.conclusion) container.append(h("p", { class: "fr-mb-0" }, mentions.conclusion));
}

// A mandate's or an autorisation's status, as the API names it.
export const STATUS = {
  active: ["En cours", "success"],
  expired: ["Expiré", "warning"],
  revoked: ["Révoqué", "error"],
  replaced: ["Renouvelé", "info"],
};

export function statusLabel(status) {
  return (STATUS[status] || [status])[0];
}

export function badge(status, small) {
  const s = STATUS[status] || [status, "info"];
  return h("span", { class: "fr-badge fr-badge--no-icon fr-badge--" + s[1] + (small === false ? "" : " fr-badge--sm") }, s[0]);
}
