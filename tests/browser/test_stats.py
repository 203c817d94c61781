"""The public statistics page: no session, French, a chart per series each followed
by the table of its values, the figures of /api/stats, axe-clean (also on a small
screen and when the figures cannot be loaded)."""

import re

import requests
from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible

SERIES = ("Démarches réalisées par catégorie", "Mandats créés par mois", "Démarches réalisées par mois")


def test_the_statistics_page_shows_each_figure_with_a_chart_and_its_table(page, stack, snap):
    figures = requests.get(stack.url + "/api/stats", timeout=10).json()
    page.goto("/stats/")
    expect(page).to_have_title("Statistiques - Aidants Connect")
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistiques d'Aidants Connect")
    expect(page.get_by_role("status")).to_contain_text("Chiffres au ")
    key = page.locator("#totaux")
    created = f"{figures['totals']['mandates_created']:,}".replace(",", "\u202f")
    expect(key.get_by_role("listitem").filter(has_text="mandats créés")).to_contain_text(created)
    expect(key.get_by_role("listitem")).to_have_count(6)
    for title in SERIES:
        section = page.locator("section").filter(has=page.get_by_role("heading", name=title, exact=True))
        chart = section.get_by_role("img")
        expect(chart).to_have_attribute("aria-label", re.compile("^Graphique en barres"))
        table = section.get_by_role("table", name=title)
        expect(table).to_be_visible()
        # The table follows its chart.
        assert section.locator("figure + .fr-table table").count() == 1
    categories = page.get_by_role("table", name=SERIES[0])
    expect(categories.locator("tbody tr")).to_have_count(10)
    expect(categories).to_contain_text("Papiers - Citoyenneté - Élections")
    months = page.get_by_role("table", name=SERIES[1]).locator("tbody tr")
    expect(months).to_have_count(len(figures["monthly"]))
    assert_accessible(page)
    snap("statistiques")
    page.set_viewport_size({"width": 375, "height": 740})
    assert_accessible(page)
    snap("statistiques-mobile")


def test_the_statistics_page_says_when_the_figures_cannot_be_loaded(page):
    page.route(
        "**/api/stats",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body='{"error": "temporarily_unavailable"}'
        ),
    )
    page.goto("/stats/")
    expect(page.get_by_role("alert")).to_contain_text("Les statistiques n'ont pas pu être chargées")
    expect(page.locator("#chiffres-cles")).to_be_hidden()
    assert_accessible(page)


def test_every_page_links_to_the_statistics(page):
    page.goto("/ressources/")
    page.get_by_role("link", name="Statistiques").click()
    expect(page).to_have_url(re.compile(r"/stats/$"))
