"""Fixtures for the visualizer tests: one local SparkSession, started only by the tests that train Spark models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local, single-core SparkSession shared by the whole run: the JVM takes about 10 s to start."""
    from pyspark.sql import SparkSession  # imported here so the other visualizer tests never pay for pyspark

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
