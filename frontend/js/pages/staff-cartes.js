// Staff: import the supplier's card file, see the cards in stock.
import { api } from "../api.js";
import { $, h, setBusy, setFieldError, showAlert, showError, showFieldError } from "../ui.js";
import { wireHeader } from "../header.js";

wireHeader();

async function loadStock() {
  try {
    const data = await api("/api/staff/cards");
    $("#stock").replaceChildren(...(data.cards.length ? data.cards.map((c) =>
      h("li", {}, c.serial, c.structure_id ? " (réservée : " + c.structure_id + ")" : ""))
      : [h("li", {}, "Aucune carte en stock.")]));
  } catch (err) {
    showError($("#message"), err);
  } finally {
    $("#chargement").hidden = true;
  }
}

$("#fichier").addEventListener("change", () => {
  const file = $("#fichier").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { $("#csv").value = String(reader.result || ""); };
  reader.readAsText(file);
});

$("#form-import").addEventListener("submit", async (event) => {
  event.preventDefault();
  const csv = $("#csv").value.trim();
  if (!csv) {
    showFieldError($("#csv"), "Choisissez un fichier ou collez son contenu.");
    return;
  }
  setFieldError($("#groupe-csv"), null);
  const body = { csv, seed_encoding: $("#encodage").value };
  if ($("#structure").value.trim()) body.structure_id = $("#structure").value.trim();
  const button = $("#importer");
  setBusy(button, true, "Import…");
  try {
    const result = await api("/api/staff/cards", { method: "POST", body });
    const details = [result.imported.length + " carte(s) importée(s)"];
    if (result.duplicates.length) details.push(result.duplicates.length + " déjà connue(s) : " + result.duplicates.join(", "));
    if (result.invalid.length) details.push(result.invalid.length + " ligne(s) invalide(s) : "
      + result.invalid.map((i) => "ligne " + i.line).join(", "));
    showAlert($("#message"), result.invalid.length ? "warning" : "success", "Import terminé", details.join(" ; ") + ".");
    $("#csv").value = "";
    loadStock();
  } catch (err) {
    showError($("#message"), err, "Import impossible");
  } finally {
    setBusy(button, false);
  }
});

loadStock();
