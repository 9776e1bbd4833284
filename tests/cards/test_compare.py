"""Two versions compared: differences first, deltas for numbers, one access rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from genome.modelstore.estimator import GenomeEstimator

X = np.random.default_rng(0).normal(size=(80, 3))
Y = X @ [1.0, 2.0, -1.0]


def save(store, trees: int, **meta):
    model = RandomForestRegressor(n_estimators=trees, max_depth=3, random_state=0).fit(X, Y)
    body = {"application": "search", "canonicalName": "/ranker", "inputModality": "tabular", **meta}
    return store.save_model(GenomeEstimator(model, modality="tabular", feature_names=["a", "b", "c"]), body)


def test_two_versions_compared_show_what_changed_first(make_server) -> None:
    server = make_server("sqlite")
    store = server.store()
    a = save(store, 5, metrics={"r2": 0.8, "rmse": 1.5}, tags={"team": "search", "data": "2024"})
    b = save(store, 9, metrics={"r2": 0.85, "rmse": 1.5}, tags={"team": "search"}, intendedUse="Ranking.")
    comparison = server.http.get("/v1.0/genome/modelstore/compare", params={"a": a["id"], "b": b["id"]}).json()
    assert comparison["a"]["versionNumber"] == 1 and comparison["b"]["versionNumber"] == 2
    sections = {section["name"]: section for section in comparison["sections"]}
    metrics = sections["Metrics"]["rows"]
    assert [row["key"] for row in metrics] == ["r2", "rmse"] and metrics[0]["changed"]
    assert metrics[0]["delta"] == pytest.approx(0.05) and not metrics[1]["changed"]
    tags = sections["Tags"]["rows"]
    assert tags[0] == {"key": "data", "a": "2024", "b": None, "changed": True, "delta": None}
    card = {row["key"]: row for row in sections["Card"]["rows"]}
    assert card["intendedUse"]["b"] == "Ranking." and card["intendedUse"]["changed"]
    model = {row["key"]: row for row in sections["Model"]["rows"]}
    assert model["bundle sha256"]["changed"] and not model["framework"]["changed"]
    assert comparison["changed"] == sum(section["changed"] for section in comparison["sections"]) > 3

    outsider = server.client(server.token_for("otto", {"ads": "viewer"}))
    refused = outsider.get("/v1.0/genome/modelstore/compare", params={"a": a["id"], "b": b["id"]})
    assert refused.status_code == 404 and "/ranker" not in refused.text

    page = server.client(server.token).get("/compare", params={"a": a["id"], "b": b["id"]})
    assert page.status_code == 200 and "2 fields differ" not in page.text
    assert page.text.index(" r2</th>") < page.text.index(">rmse</th>") and "+0.05" in page.text
