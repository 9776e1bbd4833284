"""Model serializers: each framework's own format where it has one, cloudpickle for everything else.

A format is picked by the first entry of ``default_formats()`` whose ``matches`` accepts the model, so a new
framework plugs in by adding one ``ModelFormat`` ahead of the cloudpickle fallback, as Spark ML does.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cloudpickle

from genome.errors import InvalidInput
from genome.extras import require
from genome.formats.archive import ZipLimits, open_checked, read_member, verify_members
from genome.formats.trust import UntrustedContent, trusted_loads, untrusted_globals

__all__ = [
    "SPARK_FORMAT",
    "ModelFormat",
    "WeightsFormat",
    "class_path",
    "default_formats",
    "format_for",
    "format_named",
    "module_root",
]

SPARK_FORMAT = "spark-ml"


class ModelFormat(Protocol):
    name: str

    def matches(self, model: Any) -> bool: ...

    def dump(self, model: Any, folder: Path) -> str:
        """Write the model into ``folder`` and return the file name it used."""
        ...

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        """What in the bundle could run code when loaded (empty: nothing); ``read`` gives a member's bytes.
        Raises ``InvalidInput`` for a manifest this format never writes (an unknown model class, say)."""
        ...

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        """The model from its files; ``trust=False`` reads only what cannot run code (``UntrustedContent``
        otherwise)."""
        ...


@runtime_checkable
class WeightsFormat(ModelFormat, Protocol):
    """A format that also keeps the model's weights apart from its code, in a form that loads without running
    code, so that whoever has the model's code can load a bundle they do not trust."""

    def load_weights(self, folder: Path, model_class: str, into: Any) -> Any:
        """``into`` (a model built from the caller's code) with the bundle's weights; ``InvalidInput`` when they
        do not fit it."""
        ...


def module_root(obj: Any) -> str:
    return type(obj).__module__.partition(".")[0]


def _mro_roots(obj: Any) -> set[str]:
    return {cls.__module__.partition(".")[0] for cls in type(obj).__mro__}


def class_path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _check_class(path: str, allowed: frozenset[str]) -> str:
    """A bundle names a model class only from those its format writes, so it never names another callable."""
    if path not in allowed:
        raise InvalidInput(
            f"artifact manifest names modelClass {path!r}, which is not one of {', '.join(sorted(allowed))}",
            field="artifact",
        )
    return path


def _import_class(path: str, allowed: frozenset[str]) -> Any:
    module, _, name = _check_class(path, allowed).rpartition(".")
    return getattr(importlib.import_module(module), name)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class _Keras:
    """Keras 3 native ``.keras`` archives (the torch backend is the one installed with Genome)."""

    name = "keras"

    def matches(self, model: Any) -> bool:
        return "keras" in _mro_roots(model) and hasattr(model, "save") and hasattr(model, "layers")

    def dump(self, model: Any, folder: Path) -> str:
        model.save(folder / "model.keras")
        return "model.keras"

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        where = "the bundle's Keras archive"
        # A zip of its own, which Keras inflates whole: checked like the bundle, its streams verified.
        with open_checked(read(manifest["modelFile"]), ZipLimits(), where=where) as archive:
            verify_members(archive, where)
            try:
                config = json.loads(read_member(archive, "config.json"))
            except (KeyError, ValueError) as exc:
                raise InvalidInput(f"{where} has no readable config.json: {exc}", field="artifact") from exc
        return set(_keras_code(config))

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        # Keras picks its backend once, at import; models saved from the torch backend load on it.
        os.environ.setdefault("KERAS_BACKEND", "torch")
        keras = require("keras", f"loading this Keras model ({model_class})")
        # Safe mode refuses Lambda layers, whose code travels as bytecode.
        return keras.saving.load_model(folder / file_name, safe_mode=not trust)


def _keras_code(config: Any) -> list[str]:
    """The layers and objects of a Keras config that are code: Lambda layers and classes from outside Keras."""
    found = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("module"), item.get("class_name")
            if name in ("Lambda", "TFOpLambda", "__lambda__") or (
                isinstance(module, str) and module.partition(".")[0] not in ("keras", "builtins")
            ):
                found.append(f"Keras {module}.{name}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class _Torch:
    """``torch.save`` of the whole module, cloudpickle carrying classes defined in a training script, and its
    ``state_dict`` beside it in ``weights.pt``: tensors only, which ``torch.load(weights_only=True)`` reads without
    running code, into a module built from the reader's own code."""

    name = "torch"
    _WEIGHTS = "weights.pt"

    def matches(self, model: Any) -> bool:
        return any(cls.__module__ == "torch.nn.modules.module" for cls in type(model).__mro__)

    def dump(self, model: Any, folder: Path) -> str:
        import torch

        torch.save(model, folder / "model.pt", pickle_module=cloudpickle)
        torch.save(model.state_dict(), folder / self._WEIGHTS)
        return "model.pt"

    def load_weights(self, folder: Path, model_class: str, into: Any) -> Any:
        torch = require("torch", f"loading the weights of this PyTorch model ({model_class})")
        if not isinstance(into, torch.nn.Module):
            raise InvalidInput(
                f"into= must be a torch.nn.Module to receive the weights of a {model_class}", field="into"
            )
        weights = folder / self._WEIGHTS
        if not weights.is_file():
            raise InvalidInput(
                "this PyTorch version was saved before Genome kept weights apart from code; only trust=True loads it",
                field="into",
            )
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # what weights_only refuses: anything but tensors and plain containers
            raise UntrustedContent([f"{self._WEIGHTS} holds more than weights ({exc})"]) from None
        try:
            into.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"the stored weights do not fit the module given as into=: {exc}", field="into"
            ) from None
        return into.eval()

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        return {
            f"a whole PyTorch module ({manifest['modelClass']}) saved with torch.save; to load its weights alone "
            "without running its code, pass into= a module built from your own code"
        }

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        if not trust:
            raise UntrustedContent([f"a whole PyTorch module ({model_class})"])
        torch = require("torch", f"loading this PyTorch model ({model_class})")
        return torch.load(folder / file_name, map_location="cpu", weights_only=False)


class _XGBoost:
    """XGBoost's own JSON model format, for boosters and their scikit-learn wrappers.

    That format keeps the trees but not a wrapper's hyperparameters (``n_estimators``, ``max_depth``, ...), which
    a refit or ``clone`` of the loaded model needs, so they travel beside it in ``xgboost-params.json``.
    """

    name = "xgboost-json"
    _PARAMS = "xgboost-params.json"

    def matches(self, model: Any) -> bool:
        return module_root(model) == "xgboost" and hasattr(model, "save_model")

    def dump(self, model: Any, folder: Path) -> str:
        model.save_model(folder / "model.json")
        if hasattr(model, "get_params"):
            # A callable objective or callbacks cannot be JSON; the trees predict without them.
            params = {key: value for key, value in model.get_params(deep=False).items() if _jsonable(value)}
            (folder / self._PARAMS).write_text(json.dumps(params))
        return "model.json"

    _CLASSES = frozenset(
        f"xgboost.{name}"
        for name in (
            "core.Booster",
            "sklearn.XGBClassifier",
            "sklearn.XGBRegressor",
            "sklearn.XGBRanker",
            "sklearn.XGBRFClassifier",
            "sklearn.XGBRFRegressor",
        )
    )

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        _check_class(manifest["modelClass"], self._CLASSES)
        return set()

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        require("xgboost", f"loading this XGBoost model ({model_class})")
        cls = _import_class(model_class, self._CLASSES)
        params_file = folder / self._PARAMS
        params = json.loads(params_file.read_text()) if params_file.is_file() else {}
        if not isinstance(params, dict) or not all(isinstance(key, str) for key in params):
            raise InvalidInput(f"the bundle's {self._PARAMS} must be an object of parameters", field="artifact")
        model = cls(**params)
        model.load_model(folder / file_name)
        return model


class _LightGBMBooster:
    """LightGBM's text format for a raw ``Booster``; its scikit-learn wrappers are pickled, as LightGBM advises."""

    name = "lightgbm-text"

    def matches(self, model: Any) -> bool:
        return class_path(model) == "lightgbm.basic.Booster"

    def dump(self, model: Any, folder: Path) -> str:
        model.save_model(str(folder / "model.txt"))
        return "model.txt"

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        return set()

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        lightgbm = require("lightgbm", f"loading this LightGBM model ({model_class})")
        return lightgbm.Booster(model_file=str(folder / file_name))


class _SparkML:
    """Spark ML's own save format: a folder of JSON metadata and Parquet data, which ``genome.visualize`` reads
    without a JVM. Loading it back into a model object needs a running SparkSession, as every Spark model does."""

    name = SPARK_FORMAT

    def matches(self, model: Any) -> bool:
        return module_root(model) == "pyspark" and hasattr(model, "write")

    def dump(self, model: Any, folder: Path) -> str:
        model.write().overwrite().save(str(folder / "model.spark"))
        return "model.spark"

    CLASSES = frozenset(
        [
            *(
                f"pyspark.ml.classification.{name}Model"
                for name in (
                    "DecisionTreeClassification",
                    "RandomForestClassification",
                    "GBTClassification",
                    "LogisticRegression",
                )
            ),
            *(
                f"pyspark.ml.regression.{name}Model"
                for name in ("DecisionTreeRegression", "RandomForestRegression", "GBTRegression", "LinearRegression")
            ),
        ]
    )

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        _check_class(manifest["modelClass"], self.CLASSES)
        return set()

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        _check_class(model_class, self.CLASSES)
        require("pyspark", f"loading this Spark ML model ({model_class}) as a Spark object")
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession

        try:
            # active() also finds a session another thread started (a server's worker thread, say), which
            # getActiveSession() alone, being per thread, misses
            SparkSession.active()
        except PySparkRuntimeError as exc:
            raise RuntimeError(
                f"loading this Spark model ({model_class}) needs a running SparkSession: start one first, e.g. "
                "SparkSession.builder.master('local[1]').getOrCreate()"
            ) from exc
        return _import_class(model_class, self.CLASSES).load(str(folder / file_name))


class _CloudPickle:
    """Anything picklable: scikit-learn estimators and pipelines, functions defined in ``__main__``."""

    name = "cloudpickle"

    def matches(self, model: Any) -> bool:
        return True

    def dump(self, model: Any, folder: Path) -> str:
        with open(folder / "model.pkl", "wb") as file:
            cloudpickle.dump(model, file, protocol=5)
        return "model.pkl"

    def untrusted(self, manifest: dict[str, Any], read: Callable[[str], bytes]) -> set[str]:
        return untrusted_globals(read(manifest["modelFile"]))

    def load(self, folder: Path, file_name: str, model_class: str, *, trust: bool = False) -> Any:
        data = (folder / file_name).read_bytes()
        return cloudpickle.loads(data) if trust else trusted_loads(data)


def default_formats() -> list[ModelFormat]:
    return [_Keras(), _Torch(), _XGBoost(), _LightGBMBooster(), _SparkML(), _CloudPickle()]


def format_for(model: Any, formats: list[ModelFormat] | None = None) -> ModelFormat:
    return next(fmt for fmt in formats or default_formats() if fmt.matches(model))


def format_named(name: str, formats: list[ModelFormat] | None = None) -> ModelFormat:
    known = formats or default_formats()
    for fmt in known:
        if fmt.name == name:
            return fmt
    names = ", ".join(fmt.name for fmt in known)
    raise InvalidInput(f"model format {name!r} is unknown; known formats: {names}", field="artifact")
