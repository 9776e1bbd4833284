"""Searching model versions: filters on every field, and/or/not, keywords, sorting and cursor paging."""

from __future__ import annotations

import json
import time

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from genome.errors import InvalidInput
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

X, Y = load_iris(return_X_y=True)
LINEAR = GenomeEstimator(LogisticRegression(max_iter=300).fit(X, Y), modality="tabular")
TREE = GenomeEstimator(DecisionTreeClassifier(random_state=0).fit(X, Y), modality="tabular")


@pytest.fixture
def catalog(store: ModelStore) -> dict[str, dict[str, object]]:
    """Six versions over two applications, two names and two frameworks' worth of metadata."""
    specs = {
        "a1": ("search", "/iris/linear", LINEAR, {"team": "red"}, "run-1", "logistic baseline"),
        "a2": ("search", "/iris/linear", LINEAR, {"team": "blue"}, "run-2", None),
        "a3": ("search", "/iris/tree", TREE, {"team": "red", "stage": "prod"}, "run-2", None),
        "b1": ("ads", "/iris/tree", TREE, {}, None, "gini tree for ads"),
        "b2": ("ads", "/ctr/100%_tree", TREE, {"team": "blue"}, "run-3", None),
        "b3": ("ads", "/ctr/linear", LINEAR, {"stage": "dev"}, "run-3", None),
    }
    saved = {}
    for key, (application, name, model, tags, run, description) in specs.items():
        saved[key] = store.save_model(
            model,
            {
                "application": application,
                "canonicalName": name,
                "versionName": key,
                "pipelineRunId": run,
                "framework": "sklearn",
                "tags": tags,
                "description": description,
                "metrics": {"auc": 0.95} if key == "a2" else {"auc": 0.5},
            },
        )
        time.sleep(0.002)  # distinct created times
    return saved


def names(page: dict[str, object]) -> list[str]:
    return [item["versionName"] for item in page["items"]]  # type: ignore[attr-defined, index]


def test_default_order_is_newest_first(store: ModelStore, catalog: dict) -> None:
    assert names(store.search_models()) == ["b3", "b2", "b1", "a3", "a2", "a1"]


def test_equality_on_fields_and_tags(store: ModelStore, catalog: dict) -> None:
    assert names(store.search_models({"field": "application", "value": "ads"})) == ["b3", "b2", "b1"]
    assert names(store.search_models({"field": "tags.team", "op": "eq", "value": "red"})) == ["a3", "a1"]
    assert names(store.search_models({"field": "pipelineRunId", "op": "eq", "value": "run-2"})) == ["a3", "a2"]
    assert names(store.search_models({"field": "parameters.category", "value": "tree"})) == ["b2", "b1", "a3"]
    assert names(store.search_models({"field": "parameters.numberOfFeatures", "op": "gte", "value": 4})) == [
        "b3",
        "b2",
        "b1",
        "a3",
        "a2",
        "a1",
    ]
    assert names(store.search_models({"field": "metrics.auc", "op": "gt", "value": 0.9})) == ["a2"]


def test_unknown_filter_field_is_a_400_naming_it(store: ModelStore) -> None:
    with pytest.raises(InvalidInput, match="'parameterz'") as caught:
        store.search_models({"field": "parameterz", "op": "eq", "value": "x"})
    assert caught.value.field == "filter.field"
    with pytest.raises(InvalidInput, match="'parameters'") as caught:
        store.search_models({"field": "parameters", "op": "eq", "value": "x"})
    assert caught.value.field == "filter.field"


def test_and_or_not(store: ModelStore, catalog: dict) -> None:
    red_or_ads = {"or": [{"field": "tags.team", "value": "red"}, {"field": "application", "value": "ads"}]}
    assert names(store.search_models(red_or_ads)) == ["b3", "b2", "b1", "a3", "a1"]
    both = {"and": [red_or_ads, {"not": {"field": "tags.stage", "op": "exists"}}]}
    assert names(store.search_models(both)) == ["b2", "b1", "a1"]


def test_operators(store: ModelStore, catalog: dict) -> None:
    assert names(store.search_models({"field": "canonicalName", "op": "prefix", "value": "/ctr/"})) == ["b3", "b2"]
    assert names(store.search_models({"field": "canonicalName", "op": "contains", "value": "100%_"})) == ["b2"]
    assert names(store.search_models({"field": "versionName", "op": "in", "value": ["a1", "b1"]})) == ["b1", "a1"]
    assert names(store.search_models({"field": "pipelineRunId", "op": "exists", "value": False})) == ["b1"]
    assert names(store.search_models({"field": "pipelineRunId", "op": "ne", "value": "run-3"})) == [
        "b1",
        "a3",
        "a2",
        "a1",
    ]
    assert names(store.search_models({"field": "tags.team", "op": "ne", "value": "red"})) == ["b3", "b2", "b1", "a2"]
    version_two = {"field": "versionNumber", "op": "gte", "value": 2}
    assert names(store.search_models(version_two)) == ["a2"]


def test_created_range(store: ModelStore, catalog: dict) -> None:
    start, end = catalog["a2"]["created"], catalog["b1"]["created"]
    window = {
        "and": [{"field": "created", "op": "gte", "value": start}, {"field": "created", "op": "lt", "value": end}]
    }
    assert names(store.search_models(window)) == ["a3", "a2"]
    with pytest.raises(InvalidInput, match="number"):
        store.search_models({"field": "created", "op": "gte", "value": "yesterday"})


def test_keyword_matches_every_word_across_names_case_insensitively(store: ModelStore, catalog: dict) -> None:
    assert names(store.search_models(keyword="TREE")) == ["b2", "b1", "a3"]
    assert names(store.search_models(keyword="gini ads")) == ["b1"]
    assert names(store.search_models(keyword="logistic")) == ["b3", "a2", "a1"]  # estimator class is searched
    assert names(store.search_models(keyword="nothing-like-this")) == []


def test_sort_and_cursor_paging_walk_everything_once(store: ModelStore, catalog: dict) -> None:
    for sort in ("-created", "created", "canonicalName", "-versionNumber", "application"):
        seen, cursor = [], None
        while True:
            page = store.search_models(sort=sort, limit=4, cursor=cursor)
            seen += names(page)
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(catalog), sort
    by_name = names(store.search_models(sort="canonicalName", limit=50))
    assert by_name[:2] == ["b2", "b3"]  # /ctr/... sorts first
    assert len(list(store.iter_models(page_size=2))) == 6


def test_cursor_from_another_sort_or_garbage_is_rejected(store: ModelStore, catalog: dict) -> None:
    cursor = store.search_models(limit=2)["nextCursor"]
    with pytest.raises(InvalidInput, match="sort") as caught:
        store.search_models(sort="created", cursor=cursor)
    assert caught.value.field == "cursor"
    with pytest.raises(InvalidInput):
        store.search_models(cursor="not-a-cursor!")


def test_no_silent_cap_and_page_limit_enforced(store: ModelStore, catalog: dict) -> None:
    assert len(store.search_models(limit=500)["items"]) == 6
    with pytest.raises(InvalidInput, match="maximum page size") as caught:
        store.search_models(limit=501)
    assert caught.value.field == "limit"


def test_get_list_with_query_parameters(server, catalog: dict) -> None:
    url = f"{server.url}/v1.0/genome/modelstore/models"
    body = server.http.get(url, params={"application": "search", "tag": ["team:red"]}).json()
    assert [item["versionName"] for item in body["items"]] == ["a3", "a1"]
    body = server.http.get(url, params={"q": "tree", "createdBefore": catalog["b1"]["created"]}).json()
    assert [item["versionName"] for item in body["items"]] == ["a3"]
    error = server.http.get(url, params={"tag": "no-colon"}).json()["error"]
    assert error["field"] == "tag"


def test_original_search_body_form(server, catalog: dict) -> None:
    url = f"{server.url}/v1.0/genome/modelstore/search"
    body = server.http.post(url, json={"application": "search", "canonicalName": "/iris/linear"}).json()
    assert [item["versionName"] for item in body["items"]] == ["a2", "a1"]
    body = server.http.post(url, json={"application": "ads", "tags": {"team": "blue"}}).json()
    assert [item["versionName"] for item in body["items"]] == ["b2"]
    response = server.http.post(url, json={"canonicalname": "/iris/linear"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "canonicalname"


SEARCH = "/v1.0/genome/modelstore/models/search"
CONDITION = {"field": "framework", "op": "eq", "value": "sklearn"}


def _nested(kind: str, depth: int) -> dict[str, object]:
    node: dict[str, object] = CONDITION
    for _ in range(depth):
        node = {"not": node} if kind == "not" else {kind: [node]}
    return node


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"filter": {"or": [CONDITION] * 5000}}, "conditions"),
        ({"filter": {"and": [{"or": [CONDITION] * 100}] * 100}}, "conditions"),
        ({"filter": _nested("not", 300)}, "deep"),
        ({"filter": _nested("and", 300)}, "deep"),
        ({"filter": {"field": "versionName", "op": "in", "value": ["v"] * 40_000}}, "values"),
        ({"filter": {"field": "tags.team", "op": "in", "value": [str(i) for i in range(70_000)]}}, "values"),
    ],
    ids=["wide-or", "and-of-ors", "deep-not", "deep-and", "long-in", "long-tag-in"],
)
def test_an_oversized_filter_is_a_400_naming_filter(server, body: dict, words: str) -> None:
    response = server.http.post(SEARCH, json=body)
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert error["field"] == "filter" and words in error["message"]


def test_json_too_deep_to_read_is_a_400(server) -> None:
    """10,000 levels: beyond what Python's JSON reader takes, so the body is refused before it is a filter."""
    body = '{"filter": ' + '{"or": [' * 5000 + json.dumps(CONDITION) + "]}" * 5000 + "}"
    response = server.http.post(SEARCH, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:500]
    assert "body" in response.json()["error"]["message"]


def test_oversized_legacy_and_query_searches_are_400s(server) -> None:
    response = server.http.post("/v1.0/genome/modelstore/search", json={"tags": {f"k{i}": "v" for i in range(5000)}})
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["field"] == "filter"
    response = server.http.get("/v1.0/genome/modelstore/models", params=[("tag", f"k{i}:v") for i in range(1000)])
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["field"] == "filter"


def test_a_filter_at_the_limits_still_runs(server) -> None:
    # 100 conditions, 16 levels deep, 5000 values: the most a filter may hold, each on its own
    tags = [{"field": f"tags.k{i}", "op": "ne", "value": "v"} for i in range(84)]
    body = {"filter": {"and": [_nested("not", 14), {"or": [*tags, *[CONDITION] * 14]}, {"not": CONDITION}]}}
    response = server.http.post(SEARCH, json=body)
    assert response.status_code == 200, response.text[:500]
    body = {"filter": {"field": "tags.team", "op": "in", "value": [f"v{i}" for i in range(5000)]}}
    assert server.http.post(SEARCH, json=body).status_code == 200
