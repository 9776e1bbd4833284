"""Realtime visualization latency over HTTP, against the same view computed in-process, and payload bounds.

    .venv/bin/python benchmarks/visualize_bench.py [--rounds 200]

One `genome serve` process with an admin API token, on one machine:

- forest: the seed's RandomForestRegressor(n_estimators=120, max_depth=5) on scikit-learn's bundled diabetes data,
  saved with a 442-row sample and its targets (so every view carries node data). Each request asks for a different
  tree (depth 4) with a different record's path; reported: the first requests (the server's very first, then a
  second version's: artifact load, checksum, unpickling, extraction), p50/p95 of JSON views, of SVG drawings, and
  the same view built in-process by `ModelVisualizer` (no HTTP, no JSON).
- dtreeviz: the same tree view (depth 4, the record's path, histograms and scatters drawn from the training data)
  rendered to SVG by dtreeviz, the library our drawings follow, when it and graphviz's `dot` are installed
  (`pip install dtreeviz`, `apt install graphviz`).
- big tree: an unpruned DecisionTreeRegressor on 50,000 rows (about 100,000 nodes) asked for its whole
  depth: the view stops at the server's node cap and says so; reported: nodes, bytes and latency.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from genome_server import genome_server
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from genome.visualize import ModelVisualizer

ROUTE = "/v1.0/genome/routing/visualization"


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def row(label: str, times: list[float]) -> str:
    p50, p95, mean = statistics.median(times), np.percentile(times, 95), statistics.fmean(times)
    return f"| {label} | {p50:.2f} | {p95:.2f} | {mean:.2f} |"


def dtreeviz_times(forest: RandomForestRegressor, data, rounds: int) -> list[float] | None:
    """The same view drawn by dtreeviz (model set up once, then view + SVG per record), or None without it."""
    try:
        import dtreeviz
    except ImportError:
        return None
    if shutil.which("dot") is None:
        return None
    warnings.simplefilter("ignore")  # dtreeviz warns about missing fonts on a headless machine
    viz = dtreeviz.model(
        forest.estimators_[0], data.data, data.target, feature_names=list(data.feature_names), target_name="y"
    )
    return [timed(lambda i=i: viz.view(x=data.data[i], depth_range_to_display=(0, 4)).svg()) for i in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    data = load_diabetes()
    names = list(data.feature_names)
    forest = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0).fit(data.data, data.target)
    rng = np.random.default_rng(0)
    big_X = rng.normal(size=(50_000, 10))
    big_y = big_X[:, 0] * 3 + np.sin(big_X[:, 1] * 4) + rng.normal(scale=0.5, size=50_000)
    big = DecisionTreeRegressor(random_state=0).fit(big_X, big_y)

    with tempfile.TemporaryDirectory() as home, genome_server(Path(home)) as (url, token):
        with ModelStore(url, token) as store:
            genome_model = GenomeEstimator(forest, feature_names=names, target_classes=["progression"])
            genome_model.explainer.sampleExplanations(data.data, data.target, progress=False)
            meta = {"application": "bench", "framework": "sklearn", "inputModality": "tabular"}
            store.save_model(genome_model, {**meta, "canonicalName": "/diabetes/forest"})
            other = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=1).fit(data.data, data.target)
            second = GenomeEstimator(other, feature_names=names, target_classes=["progression"])
            second.explainer.sampleExplanations(data.data, data.target, progress=False)
            second_saved = store.save_model(second, {**meta, "canonicalName": "/diabetes/forest-2"})
            big_saved = store.save_model(GenomeEstimator(big), {**meta, "canonicalName": "/synthetic/big-tree"})
            # The same forest with a lambda in its bundle: it carries code, so the isolated worker serves it.
            isolated = GenomeEstimator(
                forest, feature_names=names, target_classes=["progression"], data_preprocessor=lambda rows: rows
            )
            isolated.explainer.sampleExplanations(data.data, data.target, progress=False)
            isolated_saved = store.save_model(isolated, {**meta, "canonicalName": "/diabetes/forest-isolated"})
            assert isolated_saved["artifact"]["isolated"]
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

        def body(i: int, name: str = "/diabetes/forest", **extra: object) -> dict:
            record = dict(zip(names, data.data[i % len(data.data)].tolist(), strict=True))
            return {
                "application": "bench",
                "canonicalName": name,
                "tree": i % 120,
                "record": record,
                **extra,
            }

        def view(i: int, **extra: object) -> httpx.Response:
            response = client.post(ROUTE, json=body(i, **extra))
            response.raise_for_status()
            return response

        cold = timed(lambda: view(0))
        second_cold = timed(lambda: client.post(ROUTE, json={"id": second_saved["id"]}).raise_for_status())
        for i in range(1, 120):  # every tree once: later rounds measure views, not first extractions
            view(i)
        json_times = [timed(lambda i=i: view(i)) for i in range(args.rounds)]
        svg_times = [timed(lambda i=i: view(i, format="svg")) for i in range(args.rounds)]
        isolated_cold = timed(lambda: view(0, name="/diabetes/forest-isolated"))
        for i in range(1, 120):
            view(i, name="/diabetes/forest-isolated")
        isolated_times = [timed(lambda i=i: view(i, name="/diabetes/forest-isolated")) for i in range(args.rounds)]
        isolated_svg = [
            timed(lambda i=i: view(i, name="/diabetes/forest-isolated", format="svg")) for i in range(args.rounds)
        ]
        sample_bytes = len(view(7).content)
        svg_bytes = len(view(7, format="svg").content)

        local = ModelVisualizer().fit(forest, feature_names=names, sample=data.data, targets=data.target)
        for i in range(120):
            local.visualize(tree=i)
        local_times = [
            timed(lambda i=i: local.visualize(tree=i % 120, record=data.data[i % len(data.data)].tolist()))
            for i in range(args.rounds)
        ]

        full = {"id": big_saved["id"], "depth": 64, "record": big_X[0].tolist()}
        big_cold = timed(lambda: client.post(ROUTE, json=full).raise_for_status())
        big_times = [timed(lambda: client.post(ROUTE, json=full).raise_for_status()) for _ in range(20)]
        big_view = client.post(ROUTE, json=full).json()

    reference = dtreeviz_times(forest, data, rounds=10)
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds\n")
    print("| call | p50 (ms) | p95 (ms) | mean (ms) |")
    print("|---|---:|---:|---:|")
    print(row("forest, JSON view over HTTP (depth 4 + path + node data)", json_times))
    print(row("forest, SVG drawing over HTTP", svg_times))
    print(row("the same forest served by the isolated worker (its bundle carries code), JSON", isolated_times))
    print(row("the same forest served by the isolated worker, SVG", isolated_svg))
    print(row("forest, the same view in-process (ModelVisualizer)", local_times))
    print(row(f"big tree ({big.tree_.node_count:,} nodes), whole depth asked", big_times))
    if reference is not None:
        print(row("dtreeviz, the same tree view with the record's path, to SVG (in-process, 10 rounds)", reference))
    else:
        print("\n(dtreeviz or graphviz's dot is not installed: no dtreeviz comparison)")
    print(
        f"\nfirst request of the server (imports scikit-learn's ensemble module): {cold:.1f} ms; first request of "
        f"another forest version (load, verify, unpickle, extract): {second_cold:.1f} ms; big tree's first: "
        f"{big_cold:.1f} ms"
    )
    print(f"first request of the isolated forest (starts a worker, loads the bundle there): {isolated_cold:.1f} ms")
    print(f"forest view: {sample_bytes:,} bytes JSON, {svg_bytes:,} bytes SVG")
    shown = big_view["shownNodes"]
    print(
        f"big tree view: {shown} of {big_view['totalNodes']:,} nodes, truncated={big_view['truncated']}, "
        f"{len(json.dumps(big_view)):,} bytes"
    )


if __name__ == "__main__":
    main()
