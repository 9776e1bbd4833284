"""Version numbering, resolution, aliases, tags and deletion, through the SDK and a live server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from genome.clock import now_ms
from genome.errors import InvalidInput, NotFound
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

X, Y = load_diabetes(return_X_y=True)
MODEL = LinearRegression().fit(X, Y)


def meta(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "canonicalName": "/housing/ca/forest-1",
        "application": "search",
        "pipelineName": "pipeline-test",
        "pipelineRunId": None,
        "pipelineStage": "model",
        "framework": "sklearn",
        "inputModality": "tabular",
        "versionName": "1.2.3",
    }
    base.update(overrides)
    return base


def save(store: ModelStore, **overrides: object) -> dict[str, object]:
    return store.save_model(GenomeEstimator(MODEL, modality="tabular"), meta(**overrides))


def test_versions_are_numbered_per_application_and_name(store: ModelStore) -> None:
    assert [save(store)["versionNumber"] for _ in range(3)] == [1, 2, 3]
    assert save(store, canonicalName="/other")["versionNumber"] == 1
    assert save(store, application="ads")["versionNumber"] == 1


def test_concurrent_saves_get_exactly_one_to_twenty(store: ModelStore) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        numbers = list(pool.map(lambda i: save(store, versionName=f"c{i}")["versionNumber"], range(20)))
    assert sorted(numbers) == list(range(1, 21))


def test_saved_record_carries_the_seed_metadata(store: ModelStore) -> None:
    record = save(store, tags={"team": "housing"}, metrics={"r2": 0.5})
    assert record["canonicalName"] == "/housing/ca/forest-1"
    assert record["application"] == "search"
    assert record["versionName"] == "1.2.3"
    assert record["pipelineRunId"] is None
    assert record["predictionType"] == "regression"
    assert record["parameters"]["estimatorClass"].endswith("LinearRegression")
    assert record["parameters"]["category"] == "linear"
    assert record["tags"] == {"team": "housing"}
    assert record["metrics"] == {"r2": 0.5}
    assert len(record["artifact"]["sha256"]) == 64
    assert record["created"] > 1_600_000_000_000
    assert store.get_model(record["id"]) == record


def test_resolve_latest_number_name_and_alias(store: ModelStore) -> None:
    first = save(store, versionName="a")
    second = save(store, versionName="b")
    assert store.find_model("search", "/housing/ca/forest-1")["id"] == second["id"]
    assert store.find_model("search", "/housing/ca/forest-1", version_number=1)["id"] == first["id"]
    assert store.find_model("search", "/housing/ca/forest-1", version_name="a")["id"] == first["id"]
    store.set_alias(first["id"], "production")
    assert store.find_model("search", "/housing/ca/forest-1", alias="production")["id"] == first["id"]
    assert store.find_model("search", "/housing/ca/forest-1", alias="latest")["id"] == second["id"]
    loaded = store.load_model(application="search", canonical_name="/housing/ca/forest-1", alias="production")
    np.testing.assert_array_equal(loaded.estimator.predict(X), MODEL.predict(X))


def test_alias_is_unique_per_name_and_moves(store: ModelStore) -> None:
    first = save(store)
    second = save(store)
    other = save(store, canonicalName="/other")
    store.set_alias(first["id"], "production")
    store.set_alias(other["id"], "production")
    moved = store.set_alias(second["id"], "production")
    assert moved["aliases"] == ["production"]
    assert store.get_model(first["id"])["aliases"] == []
    assert store.get_model(other["id"])["aliases"] == ["production"]
    page = store.search_models({"field": "alias", "op": "eq", "value": "production"})
    assert sorted(item["id"] for item in page["items"]) == sorted([second["id"], other["id"]])
    store.remove_alias(second["id"], "production")
    with pytest.raises(NotFound, match="production"):
        store.find_model("search", "/housing/ca/forest-1", alias="production")
    with pytest.raises(NotFound):
        store.remove_alias(second["id"], "production")


def test_the_alias_ledger_says_which_version_was_production_when(server, store: ModelStore) -> None:
    first = save(store, aliases=["production"])
    second = save(store)
    time.sleep(0.01)
    before_move = now_ms()
    time.sleep(0.01)
    editor = server.store(server.token_for("eve", {"search": "editor"}))
    editor.set_alias(second["id"], "production")
    editor.set_alias(second["id"], "production")  # already there: no move to record
    store.set_alias(first["id"], "staging")
    store.delete_model(first["id"])  # takes its alias with it
    store.remove_alias(second["id"], "production")

    history = store.alias_history("search", "/housing/ca/forest-1")
    moves = [(e["alias"], e["previousVersionNumber"], e["versionNumber"], e["actor"]) for e in history["items"]]
    assert moves == [
        ("production", 2, None, "admin"),
        ("staging", 1, None, "admin"),
        ("staging", None, 1, "admin"),
        ("production", 1, 2, "eve"),
        ("production", None, 1, "admin"),
    ]
    assert history["aliases"] == {}  # nothing points anywhere now
    then = store.alias_history("search", "/housing/ca/forest-1", at=before_move)
    assert then["aliases"]["production"]["versionNumber"] == 1 and then["asOf"] == before_move
    assert [event["versionNumber"] for event in then["items"]] == [1]

    outsider = server.store(server.token_for("oscar", {"ads": "editor"}))
    with pytest.raises(NotFound):
        outsider.alias_history("search", "/housing/ca/forest-1")


def test_aliases_given_at_save_and_bad_alias_names(store: ModelStore) -> None:
    record = save(store, aliases=["staging"])
    assert record["aliases"] == ["staging"]
    with pytest.raises(InvalidInput, match="reserved"):
        store.set_alias(record["id"], "latest")
    with pytest.raises(InvalidInput) as caught:
        save(store, aliases=["9lives"])
    assert caught.value.field == "meta.aliases.0"


def test_tags_set_change_and_remove(store: ModelStore) -> None:
    record = save(store, tags={"team": "a", "stage": "dev"})
    updated = store.set_tags(record["id"], {"team": "b", "stage": None, "owner": "kim"})
    assert updated["tags"] == {"owner": "kim", "team": "b"}


def test_delete_forgets_the_version_but_never_reuses_its_number(store: ModelStore) -> None:
    first = save(store)
    store.delete_model(first["id"])
    with pytest.raises(NotFound):
        store.get_model(first["id"])
    assert save(store)["versionNumber"] == 2


def test_unknown_names_and_ids_are_404_naming_them(store: ModelStore) -> None:
    with pytest.raises(NotFound, match="'/nope'"):
        store.find_model("search", "/nope")
    with pytest.raises(NotFound, match="abc"):
        store.load_model("abc")
    save(store)
    with pytest.raises(NotFound, match="versionNumber 7"):
        store.find_model("search", "/housing/ca/forest-1", version_number=7)
