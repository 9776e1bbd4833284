"""Model save + load round trip: Genome (real server + SDK) against MLflow (sqlite tracking + registry).

Both store the same ``RandomForestRegressor(n_estimators=120, max_depth=5)`` in the same run, on the same machine:
warm-up rounds, then measured rounds, one system after the other (``--interleave``: round by round).

Genome: ``ModelStore.save_model`` then ``load_model`` against a ``genome`` server on a free loopback port, with a
fresh SQLite database and artifact folder. MLflow: ``log_model`` in a run + ``register_model``, then
``mlflow.sklearn.load_model("models:/name/version")``, on a fresh sqlite tracking + registry store. Every loaded
model must predict exactly what the original predicts.

    .venv/bin/python benchmarks/modelstore_bench.py [--rounds 20] [--warmup 3] [--server process|thread]
        [--interleave] [--quick]

The bar (SPEC §9): Genome's round trip at least 5x faster than MLflow's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# MLflow reads these once, at import: no telemetry thread (this machine has no internet), quiet loggers.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")

import numpy as np
import sklearn
from genome_server import genome_server
from rich.console import Console
from rich.progress import Progress
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

BAR = 5.0
console = Console(stderr=True)


# --- data and model -------------------------------------------------------------------------------------------


def training_data() -> tuple[str, np.ndarray, np.ndarray, list[str]]:
    """California housing only if scikit-learn already has it on disk (never downloads), else diabetes."""
    try:
        from sklearn.datasets import fetch_california_housing

        housing = fetch_california_housing(download_if_missing=False)
        return "california_housing (cached)", housing.data, housing.target, list(housing.feature_names)
    except OSError:
        diabetes = load_diabetes()
        return (
            "load_diabetes (442 rows x 10 features, bundled with scikit-learn)",
            diabetes.data,
            diabetes.target,
            [str(name) for name in diabetes.feature_names],
        )


# --- one round of each system ----------------------------------------------------------------------------------


@dataclass
class Timings:
    system: str
    setting: str
    save: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    size: int = 0

    @property
    def round_trip(self) -> list[float]:
        return [s + load for s, load in zip(self.save, self.load, strict=True)]


class GenomeRound:
    def __init__(self, store: ModelStore, model: Any, feature_names: list[str]) -> None:
        self.store, self.model, self.feature_names = store, model, feature_names

    def __call__(self) -> tuple[float, float, Any, int]:
        meta = {"application": "bench", "canonicalName": "/bench/random-forest", "framework": "sklearn"}
        start = time.perf_counter()
        estimator = GenomeEstimator(
            self.model, feature_names=self.feature_names, target_classes=["target"], modality="tabular"
        )
        record = self.store.save_model(estimator, meta)
        saved = time.perf_counter()
        loaded = self.store.load_model(record["id"])
        done = time.perf_counter()
        return saved - start, done - saved, loaded.estimator, int(record["artifact"]["size"])


class MlflowRound:
    """``log_model`` + ``register_model``, then ``load_model`` by registry URI, with the given ``log_model`` options."""

    def __init__(self, model: Any, registered_name: str, options: dict[str, Any]) -> None:
        self.model, self.registered_name, self.options = model, registered_name, options

    def __call__(self) -> tuple[float, float, Any, int]:
        import mlflow
        import mlflow.sklearn

        # MLflow prints "Registered model ... / Created version ..." on stderr; keep the report readable.
        with contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(self.model, name="model", **self.options)
            version = mlflow.register_model(info.model_uri, self.registered_name)
            saved = time.perf_counter()
            loaded = mlflow.sklearn.load_model(f"models:/{self.registered_name}/{version.version}")
            done = time.perf_counter()
        return (
            saved - start,
            done - saved,
            loaded,
            folder_size(mlflow.get_logged_model(info.model_id).artifact_location),
        )


def folder_size(uri: str) -> int:
    """Bytes of the model folder MLflow wrote: the serialized model plus MLmodel, requirements and env files."""
    folder = Path(urlparse(uri).path)
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def mlflow_settings(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    requirements = [f"scikit-learn=={sklearn.__version__}"]
    # MLflow 3's default serialization is skops, which refuses to load tree models unless their node type is
    # trusted: that is the least one must add for the default to work at all.
    trusted = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]}
    settings = [
        (
            "cloudpickle + explicit pip_requirements (like for like: Genome's format)",
            {
                "serialization_format": "cloudpickle",
                "pip_requirements": requirements,
            },
        ),
        ("skops (MLflow 3 default) + explicit pip_requirements", {**trusted, "pip_requirements": requirements}),
    ]
    if not quick:
        settings.append(("all defaults (skops, requirements inferred)", trusted))
    return settings


# --- reporting -------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def stats_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{percentile(ms, 50):.1f} / {percentile(ms, 95):.1f} / {statistics.fmean(ms):.1f}"


def report(results: list[Timings], genome: Timings, args: argparse.Namespace, dataset: str) -> str:
    order = "interleaved round by round" if args.interleave else "one system after the other"
    lines = [
        f"Data set: {dataset}. Model: RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0).",
        f"{args.rounds} measured rounds after {args.warmup} warm-up rounds per system, {order}. "
        f"Genome server: {args.server}.",
        "",
        "| system | setting | artifact bytes | save p50 / p95 / mean (ms) | load p50 / p95 / mean (ms) "
        "| round trip p50 / p95 / mean (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.system} | {result.setting} | {result.size:,} | {stats_ms(result.save)} "
            f"| {stats_ms(result.load)} | {stats_ms(result.round_trip)} |"
        )
    lines += [
        "",
        "| MLflow setting | round trip p50, MLflow/Genome | round trip mean, MLflow/Genome "
        "| save p50, MLflow/Genome | load p50, MLflow/Genome | bar (≥ 5x on round trip p50) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    g_trip, g_mean = percentile(genome.round_trip, 50), statistics.fmean(genome.round_trip)
    for result in results:
        if result is genome:
            continue
        ratio = percentile(result.round_trip, 50) / g_trip
        lines.append(
            f"| {result.setting} | {ratio:.1f}x | {statistics.fmean(result.round_trip) / g_mean:.1f}x "
            f"| {percentile(result.save, 50) / percentile(genome.save, 50):.1f}x "
            f"| {percentile(result.load, 50) / percentile(genome.load, 50):.1f}x "
            f"| {'met' if ratio >= BAR else 'MISSED'} |"
        )
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------------------


def quiet_mlflow() -> None:
    warnings.filterwarnings("ignore")
    import mlflow  # noqa: F401  (configures its loggers on import; we then turn them down)

    for name in ("mlflow", "alembic", "sqlalchemy", "huey"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per system (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds per system (default 3)")
    parser.add_argument(
        "--server",
        choices=["process", "thread"],
        default="process",
        help="run the Genome server as a `genome serve` subprocess (default, like a deployment) or in a thread",
    )
    parser.add_argument(
        "--interleave", action="store_true", help="alternate the systems round by round instead of one after another"
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip MLflow's default setting (it infers requirements, ~2-5 s a round)"
    )
    args = parser.parse_args(argv)

    quiet_mlflow()
    import mlflow

    dataset, features, target, feature_names = training_data()
    console.print(f"[bold]data set[/bold]: {dataset}")
    model = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0, n_jobs=1).fit(features, target)
    expected = model.predict(features)

    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="genome-bench-"))
    # MLflow downloads each loaded model to a fresh temporary folder it never removes: keep those under tmp too.
    (tmp / "tmp").mkdir()
    tempfile.tempdir = str(tmp / "tmp")
    try:
        mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
        with contextlib.redirect_stderr(io.StringIO()):
            experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "mlartifacts").as_uri())
        mlflow.set_experiment(experiment_id=experiment)
        with genome_server(tmp / "genome-home", mode=args.server) as (url, token), ModelStore(url, token) as store:
            genome = Timings("Genome", f"SDK → server ({args.server}), SQLite + local artifacts, cloudpickle")
            systems: list[tuple[Timings, Callable[[], tuple[float, float, Any, int]]]] = [
                (genome, GenomeRound(store, model, feature_names))
            ]
            for index, (label, options) in enumerate(mlflow_settings(args.quick)):
                systems.append((Timings("MLflow", label), MlflowRound(model, f"bench-rf-{index}", options)))
            rounds = range(args.warmup + args.rounds)
            if args.interleave:
                schedule = [(system, index) for index in rounds for system in systems]
            else:
                schedule = [(system, index) for system in systems for index in rounds]
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("save + load rounds", total=len(schedule))
                for (timings, run_round), round_index in schedule:
                    save, load, loaded, size = run_round()
                    if not np.array_equal(loaded.predict(features), expected):
                        raise SystemExit(
                            f"{timings.system} ({timings.setting}) loaded a model that predicts differently"
                        )
                    if round_index >= args.warmup:
                        timings.save.append(save)
                        timings.load.append(load)
                        timings.size = size
                    progress.advance(task)
        results = [timings for timings, _ in systems]
        print(report(results, genome, args, dataset))
        print(f"\nLoad average (1 min): {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.")
    finally:
        tempfile.tempdir = None
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
