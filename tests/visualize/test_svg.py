"""The SVG drawing of tree views: well-formed, one group per node, the path marked, text escaped, node data drawn."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from genome.visualize import ModelVisualizer
from genome.visualize.svg import PATH_COLOUR, render_tree

SVG = "{http://www.w3.org/2000/svg}"
IRIS = load_iris()
DIABETES = load_diabetes()


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("viewBox")
    return root


def _groups(root: ET.Element) -> dict[int, ET.Element]:
    return {int(g.get("id", "")[5:]): g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith("node-")}


def _classes(group: ET.Element) -> set[str]:
    return set(group.get("class", "").split())


def _texts(element: ET.Element) -> list[str]:
    return [text.text or "" for text in element.iter(f"{SVG}text")]


def _sklearn_view(model: Any, names: list[str], classes: list[str] | None, record: np.ndarray | None = None) -> dict:
    """The API's view of a fitted sklearn tree, built from ``tree_`` (the whole tree, no window)."""
    tree = model.tree_
    classification = classes is not None
    depth = {0: 0}
    parent: dict[int, int | None] = {0: None}
    size = np.ones(tree.node_count, dtype=int)
    for node in range(tree.node_count):  # sklearn numbers nodes in preorder: parents before children
        for child in (tree.children_left[node], tree.children_right[node]):
            if child >= 0:
                depth[child], parent[child] = depth[node] + 1, node
    for node in reversed(range(tree.node_count)):
        if parent[node] is not None:
            size[parent[node]] += size[node]
    nodes = []
    for node in range(tree.node_count):
        leaf = tree.children_left[node] < 0
        value = tree.value[node][0]
        nodes.append(
            {
                "id": node,
                "depth": depth[node],
                "parent": parent[node],
                "leaf": bool(leaf),
                "left": None if leaf else int(tree.children_left[node]),
                "right": None if leaf else int(tree.children_right[node]),
                "feature": None if leaf else names[tree.feature[node]],
                "threshold": None if leaf else float(tree.threshold[node]),
                "categories": None,
                "strict": False,
                "samples": float(tree.n_node_samples[node]),
                "classCounts": value.tolist() if classification else None,
                "value": None if classification else float(value[0]),
                "prediction": classes[int(np.argmax(value))] if classification else float(value[0]),
                "collapsed": False,
                "descendants": int(size[node] - 1),
            }
        )
    path = None
    if record is not None:
        visited = model.decision_path(record.reshape(1, -1)).indices.tolist()
        leaf = visited[-1]
        path = {"nodes": visited, "leaf": leaf, "rules": ["x > 1"], "prediction": nodes[leaf]["prediction"]}
    return {
        "featureNames": names,
        "targetClasses": classes,
        "predictionType": "classification" if classification else "regression",
        "estimatorClass": type(model).__name__,
        "tree": 0,
        "trees": 1,
        "truncated": False,
        "root": 0,
        "nodes": nodes,
        "path": path,
        "data": None,
    }


def _node(node: int, **fields: Any) -> dict[str, Any]:
    base = {"id": node, "leaf": True, "left": None, "right": None, "feature": None, "threshold": None}
    base |= {"categories": None, "strict": False, "samples": 10.0, "classCounts": None, "value": None}
    base |= {"prediction": None, "collapsed": False, "descendants": 0, "parent": None, "depth": 0}
    return base | fields


@pytest.fixture
def small() -> dict[str, Any]:
    """A root split on an awkward name, a categorical split, a collapsed node and two leaves; a path to leaf 3."""
    split = {"leaf": False, "samples": 100.0, "classCounts": [50.0, 30.0, 20.0]}
    return {
        "featureNames": ['a<b & "c"', "city", "x"],
        "targetClasses": ["setosa", "versicolor", "virginica"],
        "predictionType": "classification",
        "estimatorClass": "DecisionTreeClassifier",
        "tree": 2,
        "trees": 5,
        "truncated": True,
        "root": 0,
        "nodes": [
            _node(0, **split, left=1, right=2, feature='a<b & "c"', threshold=0.5, descendants=10),
            _node(1, **split, left=3, right=4, feature="city", categories=[1.0, 4.0], descendants=2, depth=1),
            _node(2, **split, left=5, right=6, feature="x", threshold=2.0, collapsed=True, descendants=6, depth=1),
            _node(3, classCounts=[9.0, 1.0, 0.0], prediction="setosa", depth=2),
            _node(4, classCounts=[0.0, 2.0, 8.0], prediction="virginica", depth=2),
        ],
        "path": {
            "nodes": [0, 1, 3],
            "leaf": 3,
            "rules": ['a<b & "c" <= 0.5', "city in {1, 4}"],
            "prediction": "setosa",
        },
        "data": {
            "nodes": {
                "0": {
                    "histogram": {
                        "edges": [0.0, 0.25, 0.5, 0.75, 1.0],
                        "counts": {"0": [5, 3, 0, 1], "2": [0, 1, 4, 6]},
                    }
                }
            }
        },
    }


def test_a_small_view_has_one_group_per_node_with_its_kind_and_the_path(small) -> None:
    svg = render_tree(small)
    root = _parse(svg)
    groups = _groups(root)
    assert sorted(groups) == [0, 1, 2, 3, 4]
    assert {n for n, g in groups.items() if "leaf" in _classes(g)} == {3, 4}
    assert {n for n, g in groups.items() if "split" in _classes(g)} == {0, 1, 2}
    assert all("node" in _classes(g) for g in groups.values())
    assert {n for n, g in groups.items() if "on-path" in _classes(g)} == {0, 1, 3}
    marked = [e for e in root.iter(f"{SVG}path") if "on-path" in e.get("class", "")]
    assert len(marked) == 2 and all(e.get("stroke") == PATH_COLOUR for e in marked)
    texts = _texts(root)
    assert "DecisionTreeClassifier · tree #2 of 5 (view truncated)" in texts
    assert "city in {1, 4}" in texts and "in {1, 4}" in texts and "not in {1, 4}" in texts
    assert "→ setosa" in texts and "≤ 0.5" in texts and "> 0.5" in texts
    assert texts[-1] == "Prediction: → setosa"
    assert {"setosa", "versicolor", "virginica"} <= set(texts)  # the legend
    # What a screen reader says: the drawing's size, the path and the prediction.
    assert root.get("role") == "img"
    description = root.find(f"{SVG}desc").text
    assert description.startswith("5 nodes drawn, 2 of them leaves. Path: ") and description.endswith("→ setosa")


def test_text_is_escaped(small) -> None:
    svg = render_tree(small)
    assert 'a<b & "c"' not in svg and "a&lt;b &amp; &quot;c&quot; &lt;= 0.5" in svg
    texts = _texts(_parse(svg))
    assert 'a<b & "c" <= 0.5' in texts
    assert any(text.startswith('Path: a<b & "c" <= 0.5 and city in {1, 4}') for text in texts)


def test_a_collapsed_node_says_how_many_nodes_it_hides(small) -> None:
    group = _groups(_parse(render_tree(small)))[2]
    assert "collapsed" in _classes(group)
    assert "+6 nodes" in _texts(group)  # descendants: the nodes below it


def test_node_data_draws_a_stacked_histogram_with_the_threshold(small) -> None:
    groups = _groups(_parse(render_tree(small)))
    bins = [r for r in groups[0].iter(f"{SVG}rect") if r.get("class") == "bin"]
    assert len(bins) == 6  # one per non-empty (bin, class)
    # the codes 0 and 2 stand for the named classes: same colours as the class-share bars
    shares = {r.get("fill") for r in groups[0].iter(f"{SVG}rect") if r.get("class") == "share"}
    assert {r.get("fill") for r in bins} <= shares
    assert groups[0].find(f".//{SVG}polygon[@class='threshold']") is not None
    assert not [r for r in groups[1].iter(f"{SVG}rect") if r.get("class") == "bin"]


def test_strict_splits_read_less_than_and_at_least(small) -> None:
    small["nodes"][0]["strict"] = True
    texts = _texts(_parse(render_tree(small)))
    assert 'a<b & "c" < 0.5' in texts and "< 0.5" in texts and "≥ 0.5" in texts


def test_a_sklearn_classifier_and_regressor() -> None:
    classifier = DecisionTreeClassifier(max_depth=3, random_state=0).fit(IRIS.data, IRIS.target)
    names = ["sepal length", "sepal width", "petal length", "petal width"]
    view = _sklearn_view(classifier, names, [str(c) for c in IRIS.target_names], IRIS.data[120])
    groups = _groups(_parse(render_tree(view)))
    assert sorted(groups) == list(range(classifier.tree_.node_count))
    leaves = {n for n, g in groups.items() if "leaf" in _classes(g)}
    assert leaves == set(np.flatnonzero(classifier.tree_.children_left < 0))
    assert [n for n, g in groups.items() if "on-path" in _classes(g)] == view["path"]["nodes"]

    regressor = DecisionTreeRegressor(max_depth=3, random_state=0).fit(DIABETES.data, DIABETES.target)
    view = _sklearn_view(regressor, [str(n) for n in DIABETES.feature_names], None, DIABETES.data[0])
    root = _parse(render_tree(view))
    leaf = view["path"]["leaf"]
    assert f"{regressor.tree_.value[leaf][0][0]:.4g}" in _texts(_groups(root)[leaf])


def test_views_from_the_visualizer_with_node_data() -> None:
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(IRIS.data, IRIS.target)
    visualizer = ModelVisualizer(depth=3).fit(
        model, target_classes=[str(c) for c in IRIS.target_names], sample=IRIS.data, targets=IRIS.target
    )
    view = visualizer.visualize(record=IRIS.data[120].tolist())
    root = _parse(render_tree(view))
    groups = _groups(root)
    assert sorted(groups) == sorted(node["id"] for node in view["nodes"])
    assert all(g.find(f".//{SVG}rect[@class='bin']") is not None for n, g in groups.items() if "split" in _classes(g))
    legend = root.find(f"{SVG}g[@class='legend']")
    assert legend is not None and _texts(legend) == [str(c) for c in IRIS.target_names]  # codes map to the names

    regressor = DecisionTreeRegressor(max_depth=5, random_state=0).fit(DIABETES.data, DIABETES.target)
    view = ModelVisualizer(depth=2).fit(regressor, sample=DIABETES.data[:100]).visualize(node=1)
    root = _parse(render_tree(view))
    assert len(_groups(root)) == len(view["nodes"]) and root.find(f".//{SVG}circle") is not None
    assert any("from node 1" in text for text in _texts(root))


def test_a_child_the_node_budget_left_out_is_drawn_as_a_stub() -> None:
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(IRIS.data, IRIS.target)
    view = ModelVisualizer(max_nodes=4).fit(model).visualize()
    root = _parse(render_tree(view))
    assert len(_groups(root)) == 4
    assert [g for g in root.iter(f"{SVG}g") if g.get("class") == "stub"]


def test_a_500_leaf_tree_renders() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(2000, 5))
    model = DecisionTreeRegressor(max_leaf_nodes=500, random_state=0).fit(table, rng.normal(size=2000))
    view = _sklearn_view(model, [f"f{i}" for i in range(5)], None, table[0])
    root = _parse(render_tree(view))
    assert len(_groups(root)) == model.tree_.node_count == 999
    assert float(root.get("width", "0")) <= 1600  # shown scaled down; the viewBox keeps the detail
