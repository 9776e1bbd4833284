"""Visualizations through a live server and the SDK: the seed's forest, per-version routes, SVG, bad requests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor

from genome.errors import InvalidInput, NotFound
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX

VISUALIZE = f"{API_PREFIX}/routing/visualization"
IRIS = load_iris()
NAMES = [name.replace(" (cm)", "").replace(" ", "_") for name in IRIS.feature_names]
CLASSES = [str(name) for name in IRIS.target_names]
META = {"application": "flowers", "framework": "sklearn", "inputModality": "tabular", "versionName": "1.0"}


def _save(store, model, name: str, *, sample: bool = True) -> dict:
    genome_model = GenomeEstimator(model, feature_names=NAMES, target_classes=CLASSES)
    if sample:
        genome_model.explainer.sampleExplanations(IRIS.data, IRIS.target)
    return store.save_model(genome_model, {**META, "canonicalName": name})


@pytest.fixture
def forest() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(IRIS.data, IRIS.target)


def test_a_forests_tree_with_a_records_path_and_node_data(server, store, forest) -> None:
    saved = _save(store, forest, "/iris/forest")
    record = dict(zip(NAMES, IRIS.data[120].tolist(), strict=True))
    response = server.http.post(
        VISUALIZE,
        json={"application": "flowers", "canonicalName": "/iris/forest", "tree": 2, "depth": 3, "record": record},
    )
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["model"] == {"id": saved["id"], "canonicalName": "/iris/forest", "versionNumber": 1}
    assert view["kind"] == "tree" and view["trees"] == 4 and view["tree"] == 2
    assert view["featureNames"] == NAMES and view["targetClasses"] == CLASSES
    tree = forest.estimators_[2].tree_
    assert view["totalNodes"] == tree.node_count and view["treeDepth"] == tree.max_depth
    assert view["nodes"][0]["weight"] == pytest.approx(150)
    leaf = forest.estimators_[2].apply(IRIS.data[120:121].astype(np.float32))[0]
    assert view["path"]["leaf"] == leaf
    assert view["path"]["prediction"] == CLASSES[int(np.argmax(tree.value[leaf]))]
    assert view["path"]["modelPrediction"] == CLASSES[forest.predict(IRIS.data[120:121])[0]]
    assert " → " in view["path"]["rule"]
    data = view["data"]
    assert data["groupBy"] == "target" and data["rows"] == 150
    assert data["groups"] == CLASSES  # the sample's class codes, shown by the names the model was saved with
    shown = {node["id"] for node in view["nodes"]} | set(view["path"]["nodes"])  # the window and the whole path
    assert set(data["nodes"]) == {str(node) for node in shown}
    assert sum(data["nodes"][str(leaf)]["rows"] for leaf in [view["path"]["leaf"]]) > 0

    by_id = server.http.get(
        f"{API_PREFIX}/modelstore/models/{saved['id']}/visualization",
        params={"tree": 2, "depth": 3, "record": json.dumps(IRIS.data[120].tolist())},
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["path"] == view["path"] and by_id.json()["nodes"] == view["nodes"]


def test_svg_drawings_of_a_tree(server, store, forest) -> None:
    saved = _save(store, forest, "/iris/forest-svg", sample=False)
    response = server.http.get(
        f"{API_PREFIX}/modelstore/models/{saved['id']}/visualization.svg",
        params={"tree": 1, "record": json.dumps(IRIS.data[60].tolist()), "depth": 10},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(response.text)
    ids = {g.get("id") for g in svg.iter("{http://www.w3.org/2000/svg}g") if (g.get("id") or "").startswith("node-")}
    assert len(ids) == forest.estimators_[1].tree_.node_count
    on_path = {
        g.get("id") for g in svg.iter("{http://www.w3.org/2000/svg}g") if "on-path" in (g.get("class") or "").split()
    }
    path = forest.estimators_[1].decision_path(IRIS.data[60:61].astype(np.float32)).indices
    assert on_path == {f"node-{node}" for node in path}
    routed = server.http.post(VISUALIZE, json={"id": saved["id"], "tree": 1, "format": "svg"})
    assert routed.status_code == 200 and routed.text.lstrip().startswith(("<svg", "<?xml"))
    assert store.visualize_svg(id=saved["id"], tree=1).lstrip().startswith(("<svg", "<?xml"))


def test_the_sdk_visualizes_linear_models_and_trees(server, store, forest) -> None:
    logistic = LogisticRegression(max_iter=1000).fit(IRIS.data, IRIS.target)
    _save(store, logistic, "/iris/logistic", sample=False)
    view = store.visualize(IRIS.data[0], application="flowers", canonical_name="/iris/logistic")
    assert view["kind"] == "linear" and view["link"] == "softmax"
    assert [c["output"] for c in view["coefficients"]] == [0, 1, 2]
    assert list(view["coefficients"][0]["weights"].values()) == pytest.approx(logistic.coef_[0])
    assert [o["score"] for o in view["record"]["outputs"]] == pytest.approx(
        logistic.decision_function(IRIS.data[:1])[0]
    )

    saved = _save(store, forest, "/iris/forest-sdk", sample=False)
    missing = IRIS.data[0].copy()
    missing[2] = np.nan
    view = store.visualize(missing, id=saved["id"], tree=0, depth=1)
    assert view["shownNodes"] == 3 and view["truncated"] and view["data"] is None
    assert view["path"]["record"][NAMES[2]] is None
    assert any(step["missing"] for step in view["path"]["steps"]) or NAMES[2] not in view["path"]["rule"]


def test_bad_requests_get_a_clear_error(server, store, forest) -> None:
    saved = _save(store, forest, "/iris/forest-bad", sample=False)
    with pytest.raises(InvalidInput, match="tree 9 does not exist") as error:
        store.visualize(id=saved["id"], tree=9)
    assert error.value.field == "tree"
    with pytest.raises(InvalidInput, match="lacks") as error:
        store.visualize({"sepal_length": 1.0}, id=saved["id"])
    assert error.value.field == "record"
    bad_json = server.http.get(f"{API_PREFIX}/modelstore/models/{saved['id']}/visualization", params={"record": "[1,"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["field"] == "record"
    too_many = server.http.post(VISUALIZE, json={"id": saved["id"], "maxNodes": 10**6})
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "maxNodes"
    with pytest.raises(NotFound):
        store.visualize(application="flowers", canonical_name="/iris/none")

    diabetes = load_diabetes()
    knn = KNeighborsRegressor().fit(diabetes.data, diabetes.target)
    other = store.save_model(GenomeEstimator(knn), {**META, "canonicalName": "/diabetes/knn", "application": "flowers"})
    response = server.http.post(VISUALIZE, json={"id": other["id"]})
    assert response.status_code == 400
    assert "KNeighborsRegressor" in response.json()["error"]["message"]
    drawing = server.http.post(VISUALIZE, json={"id": other["id"], "format": "svg"})
    assert drawing.status_code == 400 and "KNeighborsRegressor" in drawing.json()["error"]["message"]


def test_viewers_of_other_applications_cannot_see_a_model(server, store, forest) -> None:
    saved = _save(store, forest, "/iris/forest-private", sample=False)
    outsider = server.client(server.token_for("outsider", {"elsewhere": "viewer"}))
    response = outsider.post(VISUALIZE, json={"id": saved["id"]})
    assert response.status_code == 404
    viewer = server.client(server.token_for("flower-viewer", {"flowers": "viewer"}))
    assert viewer.post(VISUALIZE, json={"id": saved["id"]}).status_code == 200
