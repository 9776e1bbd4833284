"""``EvaluationStore``: the Python client of the Genome Evaluation Store.

Runs are usually stored by ``GenomeEvaluationRun.to_run()`` (``genome.modelstore.evaluationspec``); this client
also finds them, follows one evaluation across a model's versions and compares two runs.

Example:
    >>> with EvaluationStore() as evaluations:  # doctest: +SKIP
    ...     failed = evaluations.search_runs(target="/housing/ca/forest-1", status="failed")["items"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from genome.modelstore._http import DEFAULT_URL, ApiClient

__all__ = ["DEFAULT_URL", "EvaluationStore"]


class EvaluationStore(ApiClient):
    """Stores and finds evaluation runs through a Genome server (``GENOME_URL``, ``GENOME_TOKEN``)."""

    def save_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Store a finished run (the record ``GenomeEvaluationRun.run()`` returns); returns the stored run."""
        stored: dict[str, Any] = self._request("POST", "/evaluations/runs", json=dict(record)).json()
        return stored

    def get_run(self, id: str) -> dict[str, Any]:
        """One run with all its tasks."""
        run: dict[str, Any] = self._request("GET", f"/evaluations/runs/{id}").json()
        return run

    def search_runs(
        self,
        *,
        application: str | None = None,
        name: str | None = None,
        target: str | None = None,
        status: str | None = None,
        pipeline_run_id: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of runs, newest first: ``{"items": [...], "nextCursor": ...}`` (items without their tasks).

        ``target`` is a model version id or a model's canonicalName; times are ms since epoch, inclusive.
        """
        params = {
            "application": application,
            "name": name,
            "target": target,
            "status": status,
            "pipelineRunId": pipeline_run_id,
            "createdAfter": created_after,
            "createdBefore": created_before,
            "limit": limit,
            "cursor": cursor,
        }
        page: dict[str, Any] = self._request(
            "GET", "/evaluations/runs", params={key: value for key, value in params.items() if value is not None}
        ).json()
        return page

    def iter_runs(self, *, page_size: int = 200, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching run (``search_runs``' filters), fetching pages as it goes."""
        cursor = None
        while True:
            page = self.search_runs(limit=page_size, cursor=cursor, **filters)
            yield from page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return

    def history(self, *, application: str, name: str, canonical_name: str) -> list[dict[str, Any]]:
        """Evaluation ``name`` across the versions of model ``canonical_name``: per version, oldest first, its
        latest run and that run's metrics by task."""
        points: list[dict[str, Any]] = []
        params: dict[str, Any] = {"application": application, "name": name, "canonicalName": canonical_name}
        while True:
            page = self._request("GET", "/evaluations/history", params=params).json()
            points.extend(page["points"])
            if page["nextCursor"] is None:
                return points
            params["cursor"] = page["nextCursor"]

    def diff(self, base: str, head: str) -> dict[str, Any]:
        """What changed from run ``base`` to run ``head``: flipped tasks, metric deltas, added and removed tasks."""
        diff: dict[str, Any] = self._request("GET", f"/evaluations/runs/{head}/diff/{base}").json()
        return diff
