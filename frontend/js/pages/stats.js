// "/stats/": the public figures (GET /api/stats, no session). Each series is drawn as
// an SVG bar chart, followed by the table of its values: the chart is an image
// (role="img", described by its title), the table is what screen readers and
// keyboards read, and what is left when the chart cannot be seen.
import { api } from "../api.js";
import { catalogue, titleOf } from "../catalogue.js";
import { $, formatDateTime, h, showError } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";
const NUMBER = new Intl.NumberFormat("fr-FR");
const MONTH = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const MONTH_SHORT = new Intl.DateTimeFormat("fr-FR", { month: "short", timeZone: "UTC" });
const CHART_MONTHS = 12; // the charts show the last twelve months; the tables, every month

const TOTALS = [
  ["structures", "structures habilitées"],
  ["aidants_active", "aidants actifs"],
  ["usagers", "usagers accompagnés"],
  ["mandates_created", "mandats créés"],
  ["mandates_active", "mandats en cours"],
  ["demarches_done", "démarches réalisées"],
];

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const name of Object.keys(attrs || {})) el.setAttribute(name, String(attrs[name]));
  if (text !== undefined) el.textContent = text;
  return el;
}

function monthDate(month) {
  return new Date(month + "-01T00:00:00Z");
}

function monthLabel(month) {
  const text = MONTH.format(monthDate(month));
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function shortMonth(month) {
  return MONTH_SHORT.format(monthDate(month)) + " " + month.slice(2, 4);
}

function chartImage(label, width, height) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "ac-chart__svg",
    preserveAspectRatio: "xMinYMin meet", focusable: "false" });
}

/** Horizontal bars, one per row: [label, value]. */
function horizontalBars(rows, label) {
  const rowHeight = 34;
  const labelWidth = 290;
  const barMax = 330;
  const width = labelWidth + barMax + 80;
  const image = chartImage(label, width, rows.length * rowHeight + 8);
  const max = Math.max(1, ...rows.map((r) => r[1]));
  rows.forEach(([name, value], i) => {
    const y = i * rowHeight + 4;
    const length = Math.round((value / max) * barMax);
    image.append(svg("text", { x: labelWidth - 10, y: y + 20, "text-anchor": "end", class: "ac-chart__label" }, name));
    image.append(svg("rect", { x: labelWidth, y: y + 4, width: Math.max(length, 1), height: rowHeight - 10,
      class: "ac-chart__bar" }));
    image.append(svg("text", { x: labelWidth + Math.max(length, 1) + 8, y: y + 20, class: "ac-chart__value" },
      NUMBER.format(value)));
  });
  return image;
}

/** Vertical bars, one per month: [month, value]. */
function verticalBars(rows, label) {
  const width = 720;
  const height = 260;
  const top = 24;
  const bottom = 40;
  const plot = height - top - bottom;
  // Twelve slots at least: a new service's one or two months keep bars of a normal width.
  const step = width / Math.max(rows.length, CHART_MONTHS);
  const image = chartImage(label, width, height);
  const max = Math.max(1, ...rows.map((r) => r[1]));
  image.append(svg("line", { x1: 0, x2: width, y1: top + plot, y2: top + plot, class: "ac-chart__axis" }));
  rows.forEach(([month, value], i) => {
    const barHeight = Math.round((value / max) * plot);
    const x = i * step + step * 0.15;
    const barWidth = step * 0.7;
    image.append(svg("rect", { x, y: top + plot - barHeight, width: barWidth, height: Math.max(barHeight, 0),
      class: "ac-chart__bar" }));
    image.append(svg("text", { x: x + barWidth / 2, y: top + plot - barHeight - 6, "text-anchor": "middle",
      class: "ac-chart__value" }, NUMBER.format(value)));
    image.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 22, "text-anchor": "middle",
      class: "ac-chart__label" }, shortMonth(month)));
  });
  return image;
}

function fillTable(id, headings, rows) {
  $(`[data-head="${id}"]`).replaceChildren(h("tr", {}, headings.map((t, i) =>
    h("th", { scope: "col", class: i ? "ac-number" : null }, t))));
  $(`[data-rows="${id}"]`).replaceChildren(...rows.map(([name, value]) =>
    h("tr", {}, h("th", { scope: "row" }, name), h("td", { class: "ac-number" }, NUMBER.format(value)))));
}

function showSeries(id, chart, headings, rows) {
  $(`[data-chart="${id}"]`).replaceChildren(chart);
  fillTable(id, headings, rows);
  $("#" + id).hidden = false;
}

function render(stats, cat) {
  $("#totaux").replaceChildren(...TOTALS.map(([key, text]) => h("li", { class: "ac-kpi" },
    h("span", { class: "ac-kpi__value" }, NUMBER.format(stats.totals[key] || 0)),
    h("span", { class: "ac-kpi__label" }, text))));
  $("#chiffres-cles").hidden = false;

  const byCategory = Object.keys(stats.demarches_done_by_category)
    .map((key) => [titleOf(key, cat), stats.demarches_done_by_category[key]])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], "fr"));
  showSeries("categories", horizontalBars(byCategory, "Graphique en barres : démarches réalisées par catégorie"),
    ["Catégorie de démarche", "Démarches réalisées"], byCategory);

  const months = stats.monthly;
  const recent = months.slice(-CHART_MONTHS);
  const period = recent.length > 1
    ? ` de ${monthLabel(recent[0].month).toLowerCase()} à ${monthLabel(recent[recent.length - 1].month).toLowerCase()}`
    : "";
  for (const [id, series, heading] of [["mandats-par-mois", "mandates_created", "Mandats créés"],
    ["demarches-par-mois", "demarches_done", "Démarches réalisées"]]) {
    showSeries(id,
      verticalBars(recent.map((m) => [m.month, m[series]]), `Graphique en barres : ${heading.toLowerCase()} par mois${period}`),
      ["Mois", heading], months.slice().reverse().map((m) => [monthLabel(m.month), m[series]]));
  }
  $("#mise-a-jour").textContent = "Chiffres au " + formatDateTime(stats.updated_at) + ".";
}

async function load() {
  try {
    const [stats, cat] = await Promise.all([
      api("/api/stats", { anonymous: true }),
      catalogue().catch(() => null), // without titles, the keys are shown
    ]);
    render(stats, cat);
  } catch (err) {
    $("#mise-a-jour").textContent = "";
    showError($("#alerte"), err, "Les statistiques n'ont pas pu être chargées");
  }
}

load();
