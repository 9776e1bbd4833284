"""Model version search over a large store: 100,000 versions on SQLite and on PostgreSQL.

The catalog is inserted in bulk straight into the store tables (a fresh database, migrated as a server would), with
a realistic spread: ~2,000 canonicalNames over 20 applications, ~50 versions each, a framework / modality /
prediction type per name, team / stage / dataset / experiment tags, pipeline runs shared by the versions a run
saved, aliases, and ``search_text`` built as ``service.create_version`` builds it. Then each kind of query runs
~200 times with varied arguments through ``genome.models.service`` (and one kind once more over HTTP, through a
``genome serve`` process on the same database, to show the HTTP overhead).

    .venv/bin/python benchmarks/search_bench.py [--versions 100000] [--queries 200]
        [--postgres-url postgresql+psycopg://user:pw@host/db] [--backends sqlite,postgresql]

PostgreSQL: a database is created for the run (the role needs CREATEDB) and dropped after; the URL comes from
``--postgres-url`` or ``GENOME_BENCH_POSTGRES_URL``, and without one PostgreSQL is skipped. The bar (SPEC §9):
p50 ≤ 20 ms for each query on both backends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from genome_server import genome_server
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from genome.auth.principal import LOCAL_ADMIN as ADMIN
from genome.models import service
from genome.models.schemas import ModelVersionSearch
from genome.models.search import build_query
from genome.modelstore.client import ModelStore
from genome.store.db import Database
from genome.store.tables import ModelAlias, ModelName, ModelTag, ModelVersion

BAR_MS = 20.0
PAGE_SIZE_MAX = 500
console = Console(stderr=True)

# --- the catalog -----------------------------------------------------------------------------------------------

APPLICATIONS = [
    "search", "ads", "recommendations", "fraud", "risk", "pricing", "logistics", "support", "marketing", "growth",
    "payments", "catalog", "vision-qa", "voice", "maps", "trust-safety", "hr-analytics", "finance", "supply", "care",
]  # fmt: skip
DOMAINS = [
    "ctr", "churn", "ltv", "eta", "demand", "intent", "toxicity", "defects", "credit", "anomaly", "ranking",
    "pricing", "sentiment", "ocr", "routing", "forecast", "propensity", "segmentation", "lead-score", "retention",
]  # fmt: skip
REGIONS = ["us", "eu", "apac", "latam", "global"]
STAGE_TAGS = ["dev"] * 50 + ["staging"] * 25 + ["prod"] * 15 + ["archived"] * 10
PIPELINE_STAGES = ["train"] * 60 + ["tune"] * 20 + ["evaluate"] * 10 + [None] * 10
USERS = [f"user{n:02d}" for n in range(40)]
# framework → (weight, modalities, [(estimator class, category, prediction type, format)])
FRAMEWORKS: dict[str, tuple[int, list[str], list[tuple[str, str, str, str]]]] = {
    "sklearn": (45, ["tabular"] * 8 + ["text"] * 2, [
        ("sklearn.ensemble._forest.RandomForestClassifier", "ensemble", "classification", "cloudpickle"),
        ("sklearn.ensemble._forest.RandomForestRegressor", "ensemble", "regression", "cloudpickle"),
        ("sklearn.linear_model._logistic.LogisticRegression", "linear", "classification", "cloudpickle"),
        ("sklearn.ensemble._gb.GradientBoostingRegressor", "ensemble", "regression", "cloudpickle"),
        ("sklearn.pipeline.Pipeline", "pipeline", "classification", "cloudpickle"),
    ]),
    "xgboost": (20, ["tabular"], [
        ("xgboost.sklearn.XGBClassifier", "ensemble", "classification", "xgboost-json"),
        ("xgboost.sklearn.XGBRegressor", "ensemble", "regression", "xgboost-json"),
    ]),
    "lightgbm": (15, ["tabular"], [
        ("lightgbm.sklearn.LGBMClassifier", "ensemble", "classification", "cloudpickle"),
        ("lightgbm.sklearn.LGBMRegressor", "ensemble", "regression", "cloudpickle"),
        ("lightgbm.basic.Booster", "ensemble", "regression", "lightgbm-text"),
    ]),
    "pytorch": (10, ["image"] * 6 + ["text"] * 4, [
        ("models.resnet.ResNet", "neural-network", "classification", "torch"),
        ("__main__.TextCNN", "neural-network", "classification", "torch"),
    ]),
    "keras": (7, ["image", "text", "tabular"], [
        ("keras.src.models.sequential.Sequential", "neural-network", "classification", "keras"),
        ("keras.src.models.functional.Functional", "neural-network", "regression", "keras"),
    ]),
    "custom": (3, ["tabular"], [("__main__.RuleModel", "other", "classification", "cloudpickle")]),
}  # fmt: skip
FAMILY = {"classification": ["classifier", "ranker", "detector", "scorer"], "regression": ["regressor", "forecaster"]}
SYLLABLES = ["ka", "lo", "mi", "ra", "ve", "zu", "to", "ne", "pa", "si", "qu", "dro", "fen", "gal", "hux", "jor"]
NOW_MS = 1_767_225_600_000  # 2026-01-01: the catalog spans the two years before it
SPAN_MS = 2 * 365 * 24 * 3600 * 1000
COMMON_KEYWORDS = ["classifier", "sklearn", "train", "ensemble"]


@dataclass
class Name:
    application: str
    canonical_name: str
    codename: str
    framework: str
    modality: str
    estimator: tuple[str, str, str, str]
    team: str
    pipeline_name: str
    features: list[str]
    versions: int


@dataclass
class Catalog:
    names: list[Name]
    teams: list[str]
    experiments: list[str]


def _codenames(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add("".join(rng.choice(SYLLABLES) for _ in range(3)) + rng.choice(["n", "x", "r", "s"]))
    return sorted(seen)


def plan_catalog(versions: int, seed: int) -> Catalog:
    """Names and how many versions each gets (lognormal spread around 50, summing to ``versions``)."""
    rng = random.Random(seed)
    n_names = max(1, round(versions / 50))
    teams_by_app = {app: [f"{app}-{suffix}" for suffix in ("core", "ml", "platform")[: rng.randint(1, 3)]]
                    for app in APPLICATIONS}  # fmt: skip
    codenames = _codenames(rng, n_names)
    rng.shuffle(codenames)
    weights = [rng.lognormvariate(0, 0.6) for _ in range(n_names)]
    scale = versions / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    for index in range(versions - sum(counts)):  # hand out the rounding remainder
        counts[index % n_names] += 1
    while sum(counts) > versions:
        counts[counts.index(max(counts))] -= 1
    framework_names = list(FRAMEWORKS)
    framework_weights = [FRAMEWORKS[f][0] for f in framework_names]
    names = []
    for index in range(n_names):
        application = APPLICATIONS[index % len(APPLICATIONS)]
        framework = rng.choices(framework_names, framework_weights)[0]
        _, modalities, estimators = FRAMEWORKS[framework]
        estimator = rng.choice(estimators)
        domain, region = rng.choice(DOMAINS), rng.choice(REGIONS)
        family = rng.choice(FAMILY[estimator[2]])
        names.append(
            Name(
                application=application,
                canonical_name=f"/{domain}/{region}/{codenames[index]}-{family}",
                codename=codenames[index],
                framework=framework,
                modality=rng.choice(modalities),
                estimator=estimator,
                team=rng.choice(teams_by_app[application]),
                pipeline_name=f"{application}-{domain}-{rng.choice(['training', 'retrain', 'nightly'])}",
                features=[f"f_{domain}_{k}" for k in range(rng.randint(5, 60))],
                versions=counts[index],
            )
        )
    teams = sorted({team for group in teams_by_app.values() for team in group})
    return Catalog(names=names, teams=teams, experiments=[f"exp-{n:03d}" for n in range(300)])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def name_rows(name: Name, rng: random.Random, catalog: Catalog) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The version rows and tag rows of one name, numbered 1..n in creation order."""
    estimator_class, category, prediction_type, artifact_format = name.estimator
    first = NOW_MS - rng.randint(SPAN_MS // 10, SPAN_MS)
    created_times = sorted(rng.randint(first, NOW_MS) for _ in range(name.versions))
    versions, tags = [], []
    for number, created in enumerate(created_times, start=1):
        version_id = _hex(rng, 32)
        version_name = f"{1 + number // 20}.{number % 20}.{rng.randint(0, 3)}" if rng.random() < 0.7 else None
        stage = rng.choice(PIPELINE_STAGES)
        described = rng.random() < 0.25
        description = (
            f"{name.codename} {FAMILY[prediction_type][0]} for {name.application}; retrained on "
            f"{rng.choice(['weekly', 'daily', 'monthly'])} data, {rng.choice(['baseline', 'candidate', 'hotfix'])}"
            if described
            else None
        )
        sha = _hex(rng, 64)
        metrics = (
            {"auc": round(rng.uniform(0.6, 0.99), 4), "accuracy": round(rng.uniform(0.6, 0.99), 4)}
            if prediction_type == "classification"
            else {"rmse": round(rng.uniform(0.1, 50), 3), "mae": round(rng.uniform(0.1, 30), 3)}
        )
        parameters = {
            "estimatorClass": estimator_class,
            "framework": name.framework,
            "category": category,
            "numberOfEstimators": rng.choice([50, 100, 200, 500]) if category == "ensemble" else None,
            "numberOfFeatures": len(name.features),
            "featureNames": name.features,
            "predictionType": prediction_type,
        }
        versions.append(
            {
                "id": version_id,
                "application": name.application,
                "canonical_name": name.canonical_name,
                "version_number": number,
                "version_name": version_name,
                "pipeline_name": name.pipeline_name,
                # one pipeline run per pipeline and day: the versions a nightly run saved share its id
                "pipeline_run_id": f"{name.pipeline_name}-{created // 86_400_000}" if rng.random() < 0.85 else None,
                "pipeline_stage": stage,
                "framework": name.framework,
                "input_modality": name.modality,
                "prediction_type": prediction_type,
                "description": description,
                "code": {"ref": f"registry.local/{name.application}:{_hex(rng, 7)}", "refType": "image"},
                "parameters": {k: v for k, v in parameters.items() if v is not None},
                "metrics": metrics,
                "feature_importance": None,
                "artifact_ref": f"sha256/{sha[:2]}/{sha}",
                "artifact_sha256": sha,
                "artifact_size": rng.randint(10_000, 200_000_000),
                "artifact_format": artifact_format,
                "created": created,
                "artifact_time": created - rng.randint(0, 3 * 3600 * 1000),
                "created_by": rng.choice(USERS),
                "search_text": service.search_text(  # the exact text create_version stores
                    name.application,
                    name.canonical_name,
                    version_name,
                    name.pipeline_name,
                    stage,
                    estimator_class,
                    description,
                ),
            }
        )
        version_tags = {
            "team": name.team,
            "stage": rng.choice(STAGE_TAGS),
            "dataset": f"{name.codename}-{created // (90 * 86_400_000)}",
        }
        if rng.random() < 0.2:
            version_tags["experiment"] = rng.choice(catalog.experiments)
        tags += [{"version_id": version_id, "key": k, "value": v} for k, v in sorted(version_tags.items())]
    return versions, tags


def alias_rows(name: Name, versions: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for alias, share in (("production", 0.6), ("staging", 0.3), ("champion", 0.1)):
        if rng.random() < share:
            target = rng.choice(versions[-10:])
            rows.append(
                {
                    "application": name.application,
                    "canonical_name": name.canonical_name,
                    "alias": alias,
                    "version_id": target["id"],
                    "updated": target["created"] + 1000,
                }
            )
    return rows


def insert_catalog(db: Database, catalog: Catalog, seed: int, label: str) -> dict[str, int]:
    """Bulk insert through SQLAlchemy Core, a transaction per batch of names; returns row counts."""
    rng = random.Random(seed + 1)
    total = sum(name.versions for name in catalog.names)
    counts = {"versions": 0, "tags": 0, "aliases": 0, "names": 0}
    batch_names = 40
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{label}: inserting versions", total=total)
        for start in range(0, len(catalog.names), batch_names):
            names = catalog.names[start : start + batch_names]
            versions: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            aliases: list[dict[str, Any]] = []
            for name in names:
                name_versions, name_tags = name_rows(name, rng, catalog)
                versions += name_versions
                tags += name_tags
                aliases += alias_rows(name, name_versions, rng)
            model_names = [
                {
                    "application": name.application,
                    "canonical_name": name.canonical_name,
                    "last_version": name.versions,
                    "created": NOW_MS - SPAN_MS,
                }
                for name in names
            ]
            with db.engine.begin() as connection:
                connection.execute(insert(ModelName.__table__), model_names)
                connection.execute(insert(ModelVersion.__table__), versions)
                connection.execute(insert(ModelTag.__table__), tags)
                if aliases:
                    connection.execute(insert(ModelAlias.__table__), aliases)
            counts["versions"] += len(versions)
            counts["tags"] += len(tags)
            counts["aliases"] += len(aliases)
            counts["names"] += len(names)
            progress.advance(task, len(versions))
    return counts


# --- backends --------------------------------------------------------------------------------------------------


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(backend: str, tmp: Path, postgres_url: str | None) -> Iterator[str]:
    """A new empty database for the run: a SQLite file under ``tmp``, or a PostgreSQL database dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'search-bench.db'}"
        return
    assert postgres_url is not None
    name = f"genome_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(postgres_url), autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_url(postgres_url), autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


@dataclass
class Query:
    """One timed call, the variant it belongs to, and (untimed) how many versions its filter matches."""

    run: Callable[[], int]
    variant: str
    matches: Callable[[], int]


@dataclass
class Workload:
    key: str
    label: str
    queries: list[Query]


@dataclass
class Result:
    label: str
    times_ms: list[float]
    variants: list[str]
    matches: list[int]

    def p(self, q: float, variant: str | None = None) -> float:
        times = [t for t, v in zip(self.times_ms, self.variants, strict=True) if variant in (None, v)]
        return float(np.percentile(times, q))


def _count(db: Database, search: ModelVersionSearch) -> int:
    everything = search.model_copy(update={"cursor": None})
    query = build_query(everything).subquery()
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(query)) or 0)


def _search(db: Database, variant: str, **fields: Any) -> Query:
    search = ModelVersionSearch.model_validate(fields)

    def run() -> int:
        return len(service.search_versions(db, ADMIN, search, page_size_max=PAGE_SIZE_MAX).items)

    return Query(run, variant, lambda: _count(db, search))


def _second_page(db: Database, variant: str, **fields: Any) -> Query:
    """Page one is fetched (untimed) when the workload is built, for its cursor; the timed call is page two."""
    first = service.search_versions(db, ADMIN, ModelVersionSearch.model_validate(fields), page_size_max=PAGE_SIZE_MAX)
    return _search(db, variant, **fields, cursor=first.nextCursor)


def _resolve(db: Database, name: Name) -> Query:
    def run() -> int:
        service.resolve_version(db, ADMIN, name.application, name.canonical_name)
        return 1

    return Query(run, "latest", lambda: name.versions)


def _tag_query(db: Database, rng: random.Random, catalog: Catalog) -> Query:
    key, value = rng.choice(
        [
            ("team", rng.choice(catalog.teams)),
            ("stage", rng.choice(["prod", "staging"])),
            ("experiment", rng.choice(catalog.experiments)),
        ]
    )
    return _search(db, f"tags.{key}", filter={"field": f"tags.{key}", "op": "eq", "value": value}, limit=50)


def build_workloads(db: Database, catalog: Catalog, count: int, seed: int) -> list[Workload]:
    rng = random.Random(seed + 2)
    names = catalog.names
    latest = [_resolve(db, name) for name in rng.sample(names, min(count, len(names)))]
    by_tag = [_tag_query(db, rng, catalog) for _ in range(count)]
    rare = [_search(db, "codename", keyword=rng.choice(names).codename, limit=50) for _ in range(count)]
    common = []
    for _ in range(count):
        word = rng.choice(COMMON_KEYWORDS)
        common.append(_search(db, word, keyword=word, limit=50))
    combined = []
    for _ in range(count):
        tree = {
            "and": [
                {"field": "inputModality", "op": "eq", "value": rng.choice(["tabular", "tabular", "text", "image"])},
                {
                    "or": [
                        {"field": "tags.team", "op": "eq", "value": rng.choice(catalog.teams)},
                        {"field": "framework", "op": "in", "value": rng.sample(["xgboost", "lightgbm", "pytorch"], 2)},
                    ]
                },
                {"field": "created", "op": "gte", "value": NOW_MS - rng.randint(30, 600) * 86_400_000},
            ]
        }
        sort = rng.choice(["-created", "created", "canonicalName", "-versionNumber", "-artifactTime"])
        combined.append(_second_page(db, f"sort {sort}", filter=tree, sort=sort, limit=50))
    return [
        Workload("a", "(a) latest version of a name (`service.resolve_version`)", latest),
        Workload("b", "(b) `tags.<key> = value`, page of 50", by_tag),
        Workload("c1", "(c) keyword matching few rows (a name's codename)", rare),
        Workload("c2", f"(c) keyword matching many rows ({', '.join(COMMON_KEYWORDS)})", common),
        Workload("d", "(d) `inputModality = … AND (tags.team = … OR framework IN […]) AND created >= …`, "
                 "varied sort, cursor → second page of 50", combined),
    ]  # fmt: skip


def time_workload(workload: Workload, warmup: int, counted: int = 40) -> Result:
    for query in workload.queries[:warmup]:
        query.run()
    times = []
    for query in workload.queries:
        start = time.perf_counter()
        query.run()
        times.append((time.perf_counter() - start) * 1000)
    matches = [query.matches() for query in workload.queries[:counted]]
    return Result(workload.label, times, [query.variant for query in workload.queries], matches)


def _team_filters(catalog: Catalog, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed + 3)
    return [{"field": "tags.team", "op": "eq", "value": rng.choice(catalog.teams)} for _ in range(count)]


def time_http(url: str, token: str, db: Database, catalog: Catalog, count: int, seed: int, warmup: int) -> Result:
    """``tags.team = value`` once more, through the SDK and a live server on the same database."""
    filters = _team_filters(catalog, count, seed)
    times = []
    with ModelStore(url, token) as store:
        for tree in filters[:warmup]:
            store.search_models(tree, limit=50)
        for tree in filters:
            start = time.perf_counter()
            store.search_models(tree, limit=50)
            times.append((time.perf_counter() - start) * 1000)
    matches = [_count(db, ModelVersionSearch.model_validate({"filter": tree})) for tree in filters[:40]]
    label = "(b) `tags.team = value`, page of 50, over HTTP: SDK → `genome serve`"
    return Result(label, times, ["http"] * len(times), matches)


def time_service_team(db: Database, catalog: Catalog, count: int, seed: int, warmup: int) -> Result:
    queries = [_search(db, "service", filter=tree, limit=50) for tree in _team_filters(catalog, count, seed)]
    label = "(b) `tags.team = value`, page of 50, the same queries as a service call"
    return time_workload(Workload("b-team", label, queries), warmup=warmup)


# --- main ------------------------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| query | versions matching (median) | p50 (ms) | p95 (ms) | mean (ms) | p50 by variant (ms) | p50 ≤ 20 ms |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        variants = sorted(set(result.variants))
        by_variant = ", ".join(f"{v} {result.p(50, v):.1f}" for v in variants) if len(variants) > 1 else ""
        verdict = "met" if result.p(50) <= BAR_MS else "**MISSED**"
        lines.append(
            f"| {result.label} | {statistics.median(result.matches):,.0f} | {result.p(50):.1f} | {result.p(95):.1f} "
            f"| {statistics.fmean(result.times_ms):.1f} | {by_variant} | {verdict} |"
        )
    return "\n".join(lines)


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> str:
    catalog = plan_catalog(args.versions, args.seed)
    with fresh_database(backend, tmp, args.postgres_url) as url:
        db = Database(url)
        try:
            db.migrate()
            started = time.perf_counter()
            counts = insert_catalog(db, catalog, args.seed, backend)
            inserted = time.perf_counter() - started
            if backend == "postgresql":
                # What autovacuum does soon after a bulk load; the planner needs the statistics.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("vacuum analyze"))
            with db.read() as session:
                assert session.scalar(select(func.count()).select_from(ModelVersion)) == counts["versions"]
            console.print(f"{backend}: inserted {counts['versions']:,} versions in {inserted:.0f} s; timing queries")
            results = []
            for workload in build_workloads(db, catalog, args.queries, args.seed):
                results.append(time_workload(workload, warmup=args.warmup))
                console.print(f"  {workload.label}: p50 {results[-1].p(50):.1f} ms")
            http_note = ""
            if not args.no_http:
                service_team = time_service_team(db, catalog, args.queries, args.seed, args.warmup)
                with genome_server(tmp / f"home-{backend}", database_url=url) as (server_url, token):
                    over_http = time_http(server_url, token, db, catalog, args.queries, args.seed, args.warmup)
                results += [service_team, over_http]
                http_note = (
                    f"\nHTTP overhead on (b) tags.team: p50 {over_http.p(50) - service_team.p(50):+.1f} ms "
                    f"({service_team.p(50):.1f} ms as a service call, {over_http.p(50):.1f} ms over HTTP).\n"
                )
        finally:
            db.dispose()
    if backend == "postgresql":
        setup = "VACUUM ANALYZE after the load; Genome's connections set max_parallel_workers_per_gather = 0."
    else:
        setup = "No ANALYZE (Genome never runs it)."
    header = (
        f"### {backend}\n\n{counts['versions']:,} versions of {counts['names']:,} names in "
        f"{len(APPLICATIONS)} applications, {counts['tags']:,} tags, {counts['aliases']:,} aliases; bulk insert "
        f"{inserted:.0f} s. {args.queries} queries per row, after {args.warmup} warm-up queries. {setup}\n\n"
    )
    return header + table(results) + "\n" + http_note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000, help="model versions to insert (default 100000)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per kind (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries per kind first (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the catalog and the queries")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GENOME_BENCH_POSTGRES_URL"),
        help="PostgreSQL server to create the benchmark database on (default: GENOME_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated (default both)")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP overhead measurement")
    args = parser.parse_args(argv)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends and not args.postgres_url:
        print("Note: PostgreSQL skipped: give --postgres-url or set GENOME_BENCH_POSTGRES_URL.\n")
        backends.remove("postgresql")
    sections = []
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="genome-search-bench-"))
    try:
        for backend in backends:
            sections.append(run_backend(backend, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(sections))
    print(f"Load average (1 min): {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
