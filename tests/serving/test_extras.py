"""A library a model or an explainer needs that is not installed is a 400 naming the pip extra to install, in the
SDK, in the server's process and in an isolated worker alike; never a 500."""

from __future__ import annotations

import json
import pickle
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest
import torch
import xgboost
from sklearn.datasets import load_diabetes

from bundles import rebuild
from genome.errors import InvalidInput, MissingDependency, error_from_envelope
from genome.extras import EXTRAS, install_hint, missing, require
from genome.formats.bundle import pack, unpack
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from genome.serving.loaded import VersionMeta, load_version
from live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
X, Y = load_diabetes(return_X_y=True)


def test_every_extra_named_exists_and_the_readme_says_what_each_model_kind_needs() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
    assert {"server", "explain"} <= set(extras)  # what `make run` installs, and the lighter server
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Extras: what each model kind needs", 1)[1].split("\n\n", 3)[2]
    for extra in ("explain", "xgboost", "lightgbm", "torch", "keras", "spark"):
        assert f"`{extra}`" in table, extra
    assert '".[server]"' in (ROOT / "Makefile").read_text()


def test_require_and_missing_name_the_extra() -> None:
    expected = r'reading it needs lightgbm.not_a_module, .*pip install "genome\[lightgbm\]"'
    with pytest.raises(MissingDependency, match=expected) as error:
        require("lightgbm.not_a_module", "reading it")
    assert isinstance(error.value, ImportError) and isinstance(error.value, InvalidInput)
    assert error.value.status == 400
    nested = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert 'pip install "genome[torch]"' in missing(nested, "explaining an image", "keras").message
    assert install_hint("a_training_scripts_module") == "pip install a_training_scripts_module"
    # the SDK rebuilds the same class from the server's envelope
    rebuilt = error_from_envelope(400, {"error": {"type": "MissingDependency", "message": "m", "field": None}})
    assert isinstance(rebuilt, MissingDependency) and isinstance(rebuilt, ImportError)


def _xgboost() -> Any:
    return xgboost.XGBRegressor(n_estimators=2, max_depth=2).fit(X, Y)


def _lightgbm_booster() -> Any:
    return lightgbm.train({"verbose": -1, "num_leaves": 4}, lightgbm.Dataset(X, Y), num_boost_round=2)


def _lightgbm_wrapper() -> Any:  # pickled, as LightGBM advises: cloudpickle imports lightgbm to load it
    return lightgbm.LGBMRegressor(n_estimators=2, num_leaves=4, verbose=-1).fit(X, Y)


def _torch() -> Any:
    return torch.nn.Sequential(torch.nn.Linear(10, 1))


@pytest.mark.parametrize(
    ("build", "modules", "extra"),
    [
        (_xgboost, ["xgboost"], "xgboost"),
        (_lightgbm_booster, ["lightgbm"], "lightgbm"),
        (_lightgbm_wrapper, ["lightgbm", "lightgbm.sklearn"], "lightgbm"),
        (_torch, ["torch"], "torch"),
    ],
)
def test_loading_a_model_whose_library_is_missing_names_its_extra(
    build: Any, modules: list[str], extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, manifest = pack(build(), {})
    for module in modules:  # as in a process where it was never installed
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependency, match=re.escape(f'pip install "genome[{extra}]"')):
        unpack(data, trust=True)
    meta = VersionMeta("v1", "app", "/m", 1, "tabular", manifest["format"])
    with pytest.raises(MissingDependency, match=re.escape(manifest["modelClass"])) as error:
        load_version(data, meta, trust=True)
    assert "/m v1" in error.value.message and f"genome[{extra}]" in error.value.message


class _WithoutLightGBM:
    """Unpickled, this makes the worker a process without LightGBM, then imports it: what a server installed
    without the extra meets when it loads a pickled LightGBM model."""

    def __reduce__(self) -> tuple[Any, ...]:
        code = "import sys; sys.modules['lightgbm'] = None; import lightgbm"
        return (exec, (code,))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[LiveServer]:
    from genome.config import Settings
    from live import ADMIN_PASSWORD

    home = tmp_path_factory.mktemp("extras-home")
    settings = Settings(home=home, database_url=fresh_database.url("sqlite"), admin_password=ADMIN_PASSWORD)
    with LiveServer(settings) as live:
        yield live


def test_an_isolated_worker_without_the_library_answers_400_naming_the_extra(server: LiveServer) -> None:
    estimator = GenomeEstimator(_lightgbm_wrapper(), feature_names=[f"x{i}" for i in range(10)])
    bundle, manifest = pack(estimator.estimator, estimator.bundle_fields())
    poisoned = rebuild(bundle, replace={manifest["modelFile"]: pickle.dumps(_WithoutLightGBM(), protocol=5)})
    meta = {"application": "no-lightgbm", "canonicalName": "/lgbm", "framework": "lightgbm", "inputModality": "tabular"}
    created = server.http.post(
        f"{API_PREFIX}/modelstore/models",
        data={"meta": json.dumps(meta)},
        files={"artifact": ("m.zip", poisoned, "application/zip")},
    )
    assert created.status_code == 201, created.text
    version = created.json()["id"]
    answers = [
        server.http.post(f"{API_PREFIX}/routing/explain", json={"id": version, "entries": X[:1].tolist()}),
        server.http.get(f"{API_PREFIX}/modelstore/models/{version}/visualization"),
        server.http.get(f"{API_PREFIX}/modelstore/models/{version}/visualization.svg"),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "MissingDependency"
        assert 'needs lightgbm, which is not installed: pip install "genome[lightgbm]"' in error["message"]
        assert manifest["modelClass"] in error["message"]
    with pytest.raises(MissingDependency, match="genome\\[lightgbm\\]"):
        server.store().explain(np.asarray(X[:1]), id=version)
