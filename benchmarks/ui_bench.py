"""The UI's pages over a large store: how long a `genome serve` takes to draw the models page and a version's page
over 100,000 versions, beside the API call each one makes, measured over HTTP in the same run.

The catalog is the one of `search_bench.py` (100,000 versions of 2,000 names in 20 applications, with tags and
aliases), inserted in bulk into a fresh database. Pages are fetched with an API token (pages accept one, as the API
does), so every request is authenticated as a browser's would be.

    .venv/bin/python benchmarks/ui_bench.py [--versions 100000] [--requests 200]
        [--postgres-url postgresql+psycopg://user:pw@host/db] [--backends sqlite,postgresql]

The bar (issue: UI part 1): the models page p50 ≤ 30 ms over 100,000 versions.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import httpx
from genome_server import genome_server
from search_bench import fresh_database, insert_catalog, plan_catalog
from sqlalchemy import text

from genome.store.db import Database

BAR_MS = 30.0


def timed(client: httpx.Client, paths: list[str], warmup: int) -> list[float]:
    for path in paths[:warmup]:
        client.get(path).raise_for_status()
    times = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> str:
    catalog = plan_catalog(args.versions, args.seed)
    rng = random.Random(args.seed)
    with fresh_database(backend, tmp, args.postgres_url) as url:
        db = Database(url)
        try:
            db.migrate()
            counts = insert_catalog(db, catalog, args.seed, backend)
            if backend == "postgresql":
                # What autovacuum does soon after a bulk load; the planner needs the statistics.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("vacuum analyze"))
        finally:
            db.dispose()
        with genome_server(tmp / f"home-{backend}", database_url=url) as (server_url, token):
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server_url, headers=headers, timeout=60) as client:
                api = "/v1.0/genome/modelstore/models"
                ids = [item["id"] for item in client.get(api, params={"limit": 500}).json()["items"]]
                n = args.requests
                apps = [rng.choice(catalog.names).application for _ in range(n)]
                teams = [rng.choice(catalog.teams) for _ in range(n)]
                chosen = [rng.choice(ids) for _ in range(n)]
                cases: list[tuple[str, list[str], list[str]]] = [
                    ("models page, newest first (25 rows)", ["/models"] * n, [f"{api}?limit=25"] * n),
                    (
                        "models page, one application and a tag",
                        [f"/models?application={a}&tag=team:{t}" for a, t in zip(apps, teams, strict=True)],
                        [f"{api}?limit=25&application={a}&tag=team:{t}" for a, t in zip(apps, teams, strict=True)],
                    ),
                    ("home page (recent versions, counts per application)", ["/"] * n, [f"{api}?limit=10"] * n),
                    (
                        "version page, overview tab (model card)",
                        [f"/models/{version}" for version in chosen],
                        [f"{api}/{version}/card" for version in chosen],
                    ),
                ]
                rows = []
                for label, pages, calls in cases:
                    page_times = timed(client, pages, args.warmup)
                    api_times = timed(client, calls, args.warmup)
                    bar = "met" if percentile(page_times, 50) <= BAR_MS else "**MISSED**"
                    rows.append(
                        f"| {label} | {percentile(page_times, 50):.1f} | {percentile(page_times, 95):.1f} | "
                        f"{percentile(api_times, 50):.1f} | {percentile(api_times, 95):.1f} | "
                        f"{percentile(page_times, 50) - percentile(api_times, 50):+.1f} | {bar} |"
                    )
    header = (
        f"### {backend}\n\n{counts['versions']:,} versions of {counts['names']:,} names; {args.requests} requests "
        f"per row after {args.warmup} warm-up requests, one client, over HTTP.\n\n"
        "| page | page p50 (ms) | page p95 (ms) | its API call p50 (ms) | API p95 (ms) | page - API p50 (ms) | "
        "p50 ≤ 30 ms |\n|---|---:|---:|---:|---:|---:|---|\n"
    )
    return header + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-url", default=os.environ.get("GENOME_BENCH_POSTGRES_URL"))
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    backends = [name for name in args.backends.split(",") if name != "postgresql" or args.postgres_url]
    with tempfile.TemporaryDirectory(prefix="genome-ui-bench-") as tmp:
        for backend in backends:
            print(run_backend(backend, args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
