"""``Compute``: the Python client of the Sequencer: run pipelines, store scheduled ones, follow runs and logs.

Example:
    >>> with Compute() as compute:  # doctest: +SKIP
    ...     run = compute.run_pipeline({"application": "search", "pipelineName": "pipe-1", "steps": [
    ...         {"stepName": "train", "command": ["python", "train.py"], "timeout": "30m", "retry": 2}]})
    ...     compute.wait(run["id"])["status"]
    'succeeded'
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from genome.modelstore._http import ApiClient

__all__ = ["FINISHED", "Compute"]

FINISHED = ("succeeded", "failed", "cancelled", "skipped")  # skipped: a schedule fired for an owner without the role


class Compute(ApiClient):
    """Pipelines and their runs on a Genome server (``GENOME_URL``, ``GENOME_TOKEN``)."""

    def run_pipeline(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Run a pipeline now (the seed's body: application, pipelineName, steps; a nested list of steps runs in
        parallel). Returns the queued run."""
        run: dict[str, Any] = self._request("POST", "/compute/sequencer/run", json=dict(spec)).json()
        return run

    def run_stored(self, pipeline_id: str) -> dict[str, Any]:
        """Run a stored pipeline now."""
        run: dict[str, Any] = self._request("POST", "/compute/sequencer/run", json={"pipelineId": pipeline_id}).json()
        return run

    def store_pipeline(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Store a pipeline; with ``"schedule"`` ("30m", "6h", "1d" or cron) it runs one period from now on."""
        pipeline: dict[str, Any] = self._request("POST", "/compute/sequencer", json=dict(spec)).json()
        return pipeline

    def list_pipelines(self, *, application: str | None = None, limit: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, **({"application": application} if application else {})}
        page: dict[str, Any] = self._request("GET", "/compute/pipelines", params=params).json()
        return page

    def get_pipeline(self, id: str) -> dict[str, Any]:
        pipeline: dict[str, Any] = self._request("GET", f"/compute/pipelines/{id}").json()
        return pipeline

    def pause(self, id: str) -> dict[str, Any]:
        pipeline: dict[str, Any] = self._request("POST", f"/compute/pipelines/{id}/pause").json()
        return pipeline

    def resume(self, id: str) -> dict[str, Any]:
        pipeline: dict[str, Any] = self._request("POST", f"/compute/pipelines/{id}/resume").json()
        return pipeline

    def delete_pipeline(self, id: str) -> None:
        self._request("DELETE", f"/compute/pipelines/{id}")

    def list_runs(
        self,
        *,
        application: str | None = None,
        pipeline_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of runs, newest first: ``{"items": [...], "nextCursor": ...}``."""
        params = {"application": application, "pipelineId": pipeline_id, "status": status, "limit": limit}
        params["cursor"] = cursor
        page: dict[str, Any] = self._request(
            "GET", "/compute/runs", params={key: value for key, value in params.items() if value is not None}
        ).json()
        return page

    def get_run(self, id: str) -> dict[str, Any]:
        """A run with its steps and their attempts."""
        run: dict[str, Any] = self._request("GET", f"/compute/runs/{id}").json()
        return run

    def cancel(self, id: str) -> dict[str, Any]:
        run: dict[str, Any] = self._request("POST", f"/compute/runs/{id}/cancel").json()
        return run

    def wait(self, id: str, *, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """The run once it has ended (``TimeoutError`` after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(id)
            if run["status"] in FINISHED:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {id} is still {run['status']} after {timeout} s")
            time.sleep(poll)

    def log(self, id: str, step: str, attempt: int = 1, *, offset: int = 0) -> dict[str, Any]:
        """Part of an attempt's output from byte ``offset``: ``{text, offset, nextOffset, complete}``."""
        chunk: dict[str, Any] = self._request(
            "GET", f"/compute/runs/{id}/steps/{step}/attempts/{attempt}/log", params={"offset": offset}
        ).json()
        return chunk

    def follow_log(self, id: str, step: str, attempt: int = 1, *, poll: float = 0.5) -> Iterator[str]:
        """The attempt's output as it is written, until the attempt ends."""
        offset = 0
        while True:
            chunk = self.log(id, step, attempt, offset=offset)
            if chunk["text"]:
                yield chunk["text"]
            offset = chunk["nextOffset"]
            if chunk["complete"]:
                return
            if not chunk["text"]:
                time.sleep(poll)

    def put_deployment(self, application: str, name: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a deployment: parameters every step of its runs gets as DEPLOYMENT_PARAMETERS. Each
        change is a new ``version``; the same parameters as the current version's make none."""
        deployment: dict[str, Any] = self._request(
            "PUT", f"/compute/deployments/{application}/{name}", json={"parameters": dict(parameters)}
        ).json()
        return deployment

    def get_deployment(self, application: str, name: str, *, at: int | None = None) -> dict[str, Any]:
        """A deployment's current parameters and version; with ``at`` (ms since epoch), the ones current then."""
        params = {} if at is None else {"at": at}
        deployment: dict[str, Any] = self._request(
            "GET", f"/compute/deployments/{application}/{name}", params=params
        ).json()
        return deployment

    def list_deployments(self, application: str) -> list[dict[str, Any]]:
        deployments: list[dict[str, Any]] = self._request("GET", f"/compute/deployments/{application}").json()
        return deployments

    def delete_deployment(self, application: str, name: str) -> None:
        """Delete a deployment; its history stays, ending with the version that deleted it."""
        self._request("DELETE", f"/compute/deployments/{application}/{name}")

    def deployment_history(
        self, application: str, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of a deployment's versions, newest first: ``{"items": [...], "nextCursor": ...}``."""
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page: dict[str, Any] = self._request(
            "GET", f"/compute/deployments/{application}/{name}/versions", params=params
        ).json()
        return page

    def get_deployment_version(self, application: str, name: str, version: int) -> dict[str, Any]:
        found: dict[str, Any] = self._request(
            "GET", f"/compute/deployments/{application}/{name}/versions/{version}"
        ).json()
        return found

    def diff_deployment(self, application: str, name: str, from_version: int, to_version: int) -> dict[str, Any]:
        """Keys ``added``, ``removed`` and ``changed`` (old and new values) between two versions, by key path."""
        diff: dict[str, Any] = self._request(
            "GET",
            f"/compute/deployments/{application}/{name}/diff",
            params={"from": from_version, "to": to_version},
        ).json()
        return diff
