"""The models list: keyword and tag search, paging through more than a page, sorting by a column, and a bad filter
or an empty result drawn on the page."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator

FORECASTS = 28  # with the three below, 31 versions: more than the list's page of 25


@pytest.fixture(scope="module")
def versions(live_server) -> dict[str, list[dict[str, Any]]]:
    """31 tiny versions: 28 of /sales/forecast (shop), 2 of /churn/classifier (crm), 1 of /alpha-fraud/detector
    (risk); three carry the tag stage=gold."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    model = GenomeEstimator(
        LinearRegression().fit(x, x @ [1.0, -2.0, 0.5]), feature_names=["a", "b", "c"], modality="tabular"
    )
    store = live_server.store()
    saved: dict[str, list[dict[str, Any]]] = {}

    def save(name: str, application: str, **fields: Any) -> None:
        meta = {
            "canonicalName": name,
            "application": application,
            "framework": "sklearn",
            "inputModality": "tabular",
            "predictionType": "regression",
            **fields,
        }
        saved.setdefault(name, []).append(store.save_model(model, meta))

    for index in range(FORECASTS):
        save("/sales/forecast", "shop", tags={"stage": "gold" if index in (3, 17) else "bronze"})
    save("/churn/classifier", "crm", versionName="weekly")
    save("/churn/classifier", "crm", tags={"stage": "gold"})
    save("/alpha-fraud/detector", "risk")
    return saved


def rows(ui) -> list[dict[str, Any]]:
    """The list's rows as name, version, application, tags and the version's id (from its link)."""
    return ui.page.eval_on_selector_all(
        "[data-testid=models] tbody tr",
        """rows => rows.map(row => ({
            name: row.cells[0].querySelector('a').textContent,
            id: row.cells[0].querySelector('a').getAttribute('href').split('/').pop(),
            version: row.cells[1].textContent.trim(),
            application: row.cells[2].textContent,
            tags: [...row.cells[6].querySelectorAll('.badge.tag')].map(tag => tag.textContent),
        }))""",
    )


def search(ui, step: str, *, status: int = 200, **fields: str) -> None:
    """Fill the filter form's fields (by label) and press Search."""
    for label, value in fields.items():
        ui.page.get_by_label(label, exact=True).fill(value)
    ui.submit(ui.page.get_by_role("button", name="Search"), step, status=status)


def test_search_by_keyword_and_by_tag(ui, versions) -> None:
    ui.login_admin()
    ui.goto("/models", "all")
    search(ui, "keyword-churn", Keywords="churn")
    found = rows(ui)
    assert [row["name"] for row in found] == ["/churn/classifier"] * 2
    assert {row["id"] for row in found} == {item["id"] for item in versions["/churn/classifier"]}
    assert ui.page.get_by_label("Keywords").input_value() == "churn"

    search(ui, "tag-stage-gold", Keywords="", Tag="stage:gold")
    found = rows(ui)
    gold = [item["id"] for items in versions.values() for item in items if item["tags"].get("stage") == "gold"]
    assert len(gold) == 3 and sorted(row["id"] for row in found) == sorted(gold)
    assert all(row["tags"] == ["stage: gold"] for row in found)

    # both at once: the keyword narrows the tag's matches
    search(ui, "keyword-and-tag", Keywords="forecast", Tag="stage:gold")
    forecasts = versions["/sales/forecast"]
    assert sorted(row["id"] for row in rows(ui)) == sorted([forecasts[3]["id"], forecasts[17]["id"]])


def test_paging_forward_and_back(ui, versions) -> None:
    everything = {item["id"] for items in versions.values() for item in items}
    assert len(everything) == FORECASTS + 3
    ui.login_admin()
    ui.goto("/models", "page-1")
    pager = ui.page.locator("nav.pager")
    first = rows(ui)
    assert len(first) == 25
    assert pager.locator("[aria-disabled=true]").inner_text() == "← Previous"

    ui.submit(pager.get_by_role("link", name="Next →"), "page-2")
    second = rows(ui)
    assert len(second) == len(everything) - 25
    assert {row["id"] for row in first} | {row["id"] for row in second} == everything
    assert pager.locator("[aria-disabled=true]").inner_text() == "Next →"
    created = {item["id"]: item["created"] for items in versions.values() for item in items}
    order = [created[row["id"]] for row in first + second]
    assert order == sorted(order, reverse=True)  # newest first, across the pages

    ui.submit(pager.get_by_role("link", name="← Previous"), "back-to-page-1")
    assert rows(ui) == first
    assert pager.locator("[aria-disabled=true]").inner_text() == "← Previous"


def test_sorting_by_a_column_header(ui, versions) -> None:
    ui.login_admin()
    ui.goto("/models", "newest-first")
    header = ui.page.locator("[data-testid=models] thead")
    ui.submit(header.get_by_role("link", name="Model"), "name-z-a")
    names = [row["name"] for row in rows(ui)]
    assert names[0] == "/sales/forecast" and names == sorted(names, reverse=True)
    assert header.locator("th[aria-sort]").get_attribute("aria-sort") == "descending"
    assert "sort=-canonicalName" in ui.path()

    ui.submit(header.get_by_role("link", name="Model"), "name-a-z")
    names = [row["name"] for row in rows(ui)]
    assert names[:4] == ["/alpha-fraud/detector", "/churn/classifier", "/churn/classifier", "/sales/forecast"]
    assert names == sorted(names)
    assert header.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"

    ui.submit(header.get_by_role("link", name="Application"), "application")
    applications = [row["application"] for row in rows(ui)]
    assert applications[:3] == ["shop"] * 3 and applications == sorted(applications, reverse=True)
    ui.submit(header.get_by_role("link", name="Application"), "application-a-z")
    assert [row["application"] for row in rows(ui)][:4] == ["crm", "crm", "risk", "shop"]


def test_a_malformed_filter_is_explained_beside_the_form(ui, versions) -> None:
    ui.login_admin()
    ui.goto("/models", "all")
    search(ui, "tag-without-colon", status=400, Tag="gold")
    error = ui.page.get_by_test_id("search-error")
    assert error.is_visible() and "must be written key:value" in error.inner_text()
    assert ui.page.get_by_label("Tag", exact=True).get_attribute("aria-invalid") == "true"
    assert ui.page.get_by_label("Tag", exact=True).input_value() == "gold"
    assert ui.page.get_by_test_id("models").count() == 0

    # a date input cannot hold a bad date, but a URL can
    ui.goto("/models?createdFrom=2024-02-30&q=churn", "bad-date", status=400)
    error = ui.page.get_by_test_id("search-error")
    assert "createdFrom must be a date written YYYY-MM-DD" in error.inner_text()
    assert ui.page.get_by_label("Saved from").get_attribute("aria-invalid") == "true"
    assert ui.page.get_by_label("Keywords").input_value() == "churn"

    # the form still works afterwards
    search(ui, "fixed", Keywords="churn")
    assert len(rows(ui)) == 2


def test_an_empty_result_shows_the_empty_state(ui, versions) -> None:
    ui.login_admin()
    ui.goto("/models", "all")
    search(ui, "nothing-found", Keywords="no-such-model-anywhere")
    empty = ui.page.get_by_test_id("no-results")
    assert empty.is_visible() and empty.inner_text() == "No model versions match these filters."
    assert ui.page.get_by_test_id("models").count() == 0
    assert ui.page.locator("nav.pager [aria-disabled=true]").count() == 2
