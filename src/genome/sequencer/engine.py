"""The engine that runs pipelines: claims queued runs, drives their steps through an executor, fires schedules,
and reconciles runs whose server died.

Every state change is written to the database before the engine acts on it, so any server can pick up where a
crashed one stopped: a run is owned by one server, which renews its ``heartbeat``; a run whose owner stops renewing
(or whose owner process is gone from this host) is reclaimed, its running attempts marked ``lost`` (their process
trees killed when still alive here) and retried or failed per the step's policy. Scheduled firings are rows with a
unique ``(pipeline, scheduled_for)``, claimed with ``FOR UPDATE SKIP LOCKED``, so several replicas on one PostgreSQL
fire each of them exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from genome.auth import service as auth
from genome.clock import now_ms
from genome.sequencer.executors.base import Executor, StepLaunch, StepLost, StepProcess
from genome.sequencer.schedule import parse_schedule
from genome.sequencer.service import new_run
from genome.sequencer.spec import PipelineSpec, StepSpec, parse_pipeline
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.store.tables import Deployment, Pipeline, PipelineRun, RunStep, StepAttempt

__all__ = ["EngineSettings", "Sequencer"]

log = logging.getLogger("genome.sequencer")


@dataclass(frozen=True)
class EngineSettings:
    public_url: str
    log_root: Path
    max_runs: int = 8
    max_steps: int = 4
    lease_seconds: float = 30.0
    tick_seconds: float = 0.2
    retry_backoff_seconds: float = 1.0
    token_hours: float = 24.0


def _step_variables(
    run: PipelineRun, step: StepSpec, deployment: dict[str, Any], url: str, token: str
) -> dict[str, str]:
    return {
        "DEPLOYMENT": run.deployment or "",
        "DEPLOYMENT_PARAMETERS": json.dumps(deployment),
        "APPLICATION": run.application,
        "PIPELINE_RUNID": run.id,
        "PIPELINE_NAME": run.pipeline_name,
        "STEP_NAME": step.stepName,
        "STEP_TYPE": step.stepType,
        "PARAMETERS": json.dumps(step.parameters),
        "DATASETS": json.dumps(step.datasets),
        "GENOME_URL": url,
        "GENOME_TOKEN": token,
    }


@dataclass(frozen=True)
class _StepSignals:
    cancel: threading.Event  # the run is being cancelled
    group_failed: threading.Event  # a step of the same group failed
    started: threading.Event  # this step has taken a slot (or given up): the next step of its group may ask


class Sequencer:
    """Runs in each API server: one dispatcher thread, a thread per running run and per running step."""

    def __init__(self, db: Database, artifacts: ArtifactStore, executor: Executor, settings: EngineSettings) -> None:
        self.db = db
        self.artifacts = artifacts
        self.executor = executor
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = threading.BoundedSemaphore(settings.max_steps)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._runs: dict[str, threading.Event] = {}  # run id -> its cancel event, for the runs this server drives
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._reclaim(dead_owners_only=True)
        self._thread = threading.Thread(target=self._dispatch, name="genome-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop taking work. Runs in flight keep their processes; another server (or this one, restarted) reclaims
        them once their lease lapses."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.executor.close()

    def wake(self) -> None:
        """Look for queued runs now rather than at the next tick (a run was just created)."""
        self._wake.set()

    # -- dispatcher --------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        last_slow = 0.0
        while not self._stop.is_set():
            try:
                self._watch_cancellations()
                if time.monotonic() - last_slow >= 1.0:
                    last_slow = time.monotonic()
                    self._heartbeat()
                    self._reclaim(dead_owners_only=False)
                    self._fire_schedules()
                self._claim()
            except Exception:  # the dispatcher must outlive a database hiccup
                log.exception("sequencer dispatch failed; retrying")
            self._wake.wait(self.settings.tick_seconds)
            self._wake.clear()

    def _claim(self) -> None:
        while len(self._runs) < self.settings.max_runs and not self._stop.is_set():
            with self.db.write() as session:
                query = (
                    select(PipelineRun)
                    .where(PipelineRun.status == "queued")
                    .order_by(PipelineRun.created)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                run = session.scalars(query).first()
                if run is None:
                    return
                run.status, run.owner, run.heartbeat = "running", self.owner, now_ms()
                run.started = run.started or now_ms()
                run_id = run.id
            cancel = threading.Event()
            with self._lock:
                self._runs[run_id] = cancel
            threading.Thread(
                target=self._drive, args=(run_id, cancel), name=f"genome-run-{run_id}", daemon=True
            ).start()

    def _heartbeat(self) -> None:
        with self._lock:
            ids = list(self._runs)
        if ids:
            with self.db.write() as session:
                session.execute(
                    update(PipelineRun)
                    .where(PipelineRun.id.in_(ids), PipelineRun.owner == self.owner)
                    .values(heartbeat=now_ms())
                )

    def _watch_cancellations(self) -> None:
        with self._lock:
            ids = list(self._runs)
        if not ids:
            return
        with self.db.read() as session:
            asked = session.scalars(
                select(PipelineRun.id).where(PipelineRun.id.in_(ids), PipelineRun.cancel_requested.is_(True))
            ).all()
        for run_id in asked:
            self._runs[run_id].set()

    def _owner_is_dead(self, owner: str | None) -> bool:
        if owner is None:
            return True
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or owner == self.owner:
            return False
        return not Path(f"/proc/{pid}").exists()

    def _reclaim(self, *, dead_owners_only: bool) -> None:
        """Requeue runs whose server died: their running attempts are lost (killed if still alive here)."""
        stale_before = now_ms() - int(self.settings.lease_seconds * 1000)
        with self.db.write() as session:
            candidates = session.scalars(
                select(PipelineRun).where(PipelineRun.status == "running", PipelineRun.owner != self.owner)
            ).all()
            for run in candidates:
                dead = self._owner_is_dead(run.owner)
                stale = (run.heartbeat or 0) < stale_before
                if not dead and (dead_owners_only or not stale):
                    continue
                log.warning("reclaiming run %s from %s (%s)", run.id, run.owner, "gone" if dead else "lease lapsed")
                for step in run.steps:
                    for attempt in step.attempts:
                        if attempt.status != "running":
                            continue
                        if attempt.pid is not None and attempt.host:
                            self.executor.reap(attempt.host, attempt.pid, attempt.process_start)
                        attempt.status, attempt.reason, attempt.end = "failed", "lost", now_ms()
                        attempt.message = f"the server running it ({run.owner}) stopped"
                    if step.status == "running":
                        step.status = "pending"
                run.status, run.owner, run.heartbeat = "queued", None, None

    def _fire_schedules(self) -> None:
        now = now_ms()
        with self.db.write() as session:
            due = session.scalars(
                select(Pipeline)
                .where(Pipeline.next_run <= now, Pipeline.paused.is_(False))
                .with_for_update(skip_locked=True)
            ).all()
            for pipeline in due:
                assert pipeline.schedule is not None and pipeline.next_run is not None
                spec = parse_pipeline(pipeline.spec, container_runtime=True)
                session.add(
                    new_run(spec, pipeline.created_by, pipeline_id=pipeline.id, scheduled_for=pipeline.next_run)
                )
                # A schedule missed while no server ran fires once now, then keeps its phase.
                pipeline.next_run = parse_schedule(pipeline.schedule).next_after(pipeline.next_run, now)
                log.info("pipeline %s fired; next run at %s", pipeline.id, pipeline.next_run)
        if due:
            self._wake.set()

    # -- one run ---------------------------------------------------------------------------------------------

    def _drive(self, run_id: str, cancel: threading.Event) -> None:
        credential_id = None
        try:
            with self.db.read() as session:
                run = session.get(PipelineRun, run_id)
                assert run is not None
                spec = parse_pipeline(run.spec, container_runtime=True)
                deployment = session.get(Deployment, (run.application, run.deployment)) if run.deployment else None
                parameters = deployment.parameters if deployment else {}
                statuses = {step.step_name: step.status for step in run.steps}
                attempts = {step.step_name: len(step.attempts) for step in run.steps}
                session.expunge(run)
            token, credential_id = auth.mint_run_token(
                self.db,
                run.created_by,
                run.application,
                run.id,
                ttl_seconds=int(self.settings.token_hours * 3600),
            )
            outcome, reason = self._drive_groups(run, spec, parameters, token, statuses, attempts, cancel)
            self._finish(run_id, outcome, reason)
        except Exception as exc:
            log.exception("run %s failed in the engine", run_id)
            self._finish(run_id, "failed", f"the sequencer failed: {type(exc).__name__}: {exc}")
        finally:
            if credential_id is not None:
                auth.revoke_credential(self.db, credential_id)
            with self._lock:
                self._runs.pop(run_id, None)

    def _drive_groups(
        self,
        run: PipelineRun,
        spec: PipelineSpec,
        deployment: dict[str, Any],
        token: str,
        statuses: dict[str, str],
        attempts: dict[str, int],
        cancel: threading.Event,
    ) -> tuple[str, str | None]:
        for group in spec.groups:
            todo = [step for step in group if statuses[step.stepName] != "succeeded"]
            stop = threading.Event()  # set when a step of the group fails: steps not started yet are cancelled
            with ThreadPoolExecutor(max_workers=max(len(todo), 1), thread_name_prefix=f"genome-{run.id}") as pool:
                futures = []
                for step in todo:
                    started = threading.Event()
                    futures.append(
                        pool.submit(
                            self._drive_step,
                            run,
                            step,
                            deployment,
                            token,
                            attempts[step.stepName],
                            _StepSignals(cancel, stop, started),
                        )
                    )
                    started.wait()  # a group's steps take the free slots in the order they are written
                results = {step.stepName: future.result() for step, future in zip(todo, futures, strict=True)}
            failed = [name for name, status in results.items() if status != "succeeded"]
            if failed:
                self._cancel_pending(run.id)
                if cancel.is_set():
                    return "cancelled", "cancelled on request"
                return "failed", f"step {', '.join(sorted(failed))} failed"
        return "succeeded", None

    def _drive_step(
        self,
        run: PipelineRun,
        step: StepSpec,
        deployment: dict[str, Any],
        token: str,
        done: int,
        signals: _StepSignals,
    ) -> str:
        try:
            status = self._attempts(run, step, deployment, token, done, signals)
        finally:
            signals.started.set()
        self._set_step(run.id, step.stepName, status)
        return status

    def _attempts(
        self,
        run: PipelineRun,
        step: StepSpec,
        deployment: dict[str, Any],
        token: str,
        done: int,
        signals: _StepSignals,
    ) -> str:
        """Attempts until one succeeds or the retries are spent; the step's final status."""
        env = _step_variables(run, step, deployment, self.settings.public_url, token)
        cancel, total = signals.cancel, 1 + step.retry
        while done < total:
            number = done + 1
            # Before its first attempt, a step also gives up when a sibling in its group has failed.
            if not self._acquire(cancel, signals.group_failed if not signals.started.is_set() else None):
                return "cancelled"
            signals.started.set()
            try:
                status, reason = self._attempt(run, step, number, env, cancel)
                if status != "succeeded" and reason != "cancelled" and number >= total:
                    signals.group_failed.set()  # while the slot is still held, so no sibling takes it meanwhile
            finally:
                self._slots.release()
            if status == "succeeded":
                return "succeeded"
            done = number
            if reason == "cancelled":
                return "cancelled"
            if done < total:
                self._set_step(run.id, step.stepName, "pending")
                backoff = min(self.settings.retry_backoff_seconds * 2 ** (done - 1), 300.0)
                if cancel.wait(backoff):
                    return "cancelled"
        return "failed"

    def _acquire(self, cancel: threading.Event, group_failed: threading.Event | None) -> bool:
        """Take a step slot, unless the run is cancelled (or the group failed) first."""

        def given_up() -> bool:
            return cancel.is_set() or (group_failed is not None and group_failed.is_set())

        while not given_up():
            if self._slots.acquire(timeout=0.05):
                if not given_up():
                    return True
                self._slots.release()  # the slot came free because a sibling failed: not ours to use
        return False

    def _attempt(
        self, run: PipelineRun, step: StepSpec, number: int, env: dict[str, str], cancel: threading.Event
    ) -> tuple[str, str | None]:
        log_path = self.settings.log_root / run.id / f"{step.stepName}.{number}.log"
        started = now_ms()
        with self.db.write() as session:
            session.add(
                StepAttempt(
                    run_id=run.id,
                    step_name=step.stepName,
                    number=number,
                    status="running",
                    start=started,
                    log_path=str(log_path),
                )
            )
            session.execute(
                update(RunStep)
                .where(RunStep.run_id == run.id, RunStep.step_name == step.stepName)
                .values(status="running")
            )
        launch = StepLaunch(run.id, step.stepName, number, step.command, step.image, env, log_path, step.resources)
        try:
            process = self.executor.start(launch)
        except (OSError, RuntimeError) as exc:
            self._end_attempt(run.id, step.stepName, number, "failed", "failed", None, f"could not start: {exc}", None)
            return "failed", "failed"
        with self.db.write() as session:
            attempt = session.get(StepAttempt, (run.id, step.stepName, number))
            assert attempt is not None
            attempt.host, attempt.pid, attempt.process_start = process.host, process.pid, process.process_start
        code, reason, message = self._watch(process, step, started, cancel)
        status = "succeeded" if code == 0 and reason is None else "failed"
        if status == "failed" and reason is None:
            reason, message = "failed", f"exited with code {code}"
        self._end_attempt(run.id, step.stepName, number, status, reason, code, message, process)
        return status, reason

    def _watch(
        self, process: StepProcess, step: StepSpec, started: int, cancel: threading.Event
    ) -> tuple[int | None, str | None, str | None]:
        deadline = started / 1000 + step.timeout if step.timeout else None
        while True:
            try:
                code = process.wait(0.02)
            except StepLost as exc:
                return None, "lost", str(exc)
            if code is not None:
                return code, None, None
            if cancel.is_set():
                return self._end(process), "cancelled", "cancelled on request"
            if deadline is not None and time.time() >= deadline:
                return self._end(process), "timed out", f"ran longer than its timeout of {step.timeout:g} s"

    @staticmethod
    def _end(process: StepProcess) -> int | None:
        process.kill()
        try:
            return process.wait(5)
        except StepLost:
            return None

    def _end_attempt(
        self,
        run_id: str,
        step_name: str,
        number: int,
        status: str,
        reason: str | None,
        code: int | None,
        message: str | None,
        process: StepProcess | None,
    ) -> None:
        log_ref = log_sha = None
        with self.db.read() as session:
            attempt = session.get(StepAttempt, (run_id, step_name, number))
            path = Path(attempt.log_path) if attempt and attempt.log_path else None
        remote = process.log_text() if process is not None else None
        if remote is not None and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(remote)
        if path is not None and path.is_file():
            with path.open("rb") as file:
                stored = self.artifacts.put(file)
            log_ref, log_sha = stored.key, stored.sha256
        with self.db.write() as session:
            attempt = session.get(StepAttempt, (run_id, step_name, number))
            assert attempt is not None
            attempt.status, attempt.reason, attempt.exit_code, attempt.message = status, reason, code, message
            attempt.end, attempt.log_ref, attempt.log_sha256 = now_ms(), log_ref, log_sha

    def _set_step(self, run_id: str, step_name: str, status: str) -> None:
        with self.db.write() as session:
            session.execute(
                update(RunStep).where(RunStep.run_id == run_id, RunStep.step_name == step_name).values(status=status)
            )

    def _cancel_pending(self, run_id: str) -> None:
        with self.db.write() as session:
            session.execute(
                update(RunStep).where(RunStep.run_id == run_id, RunStep.status == "pending").values(status="cancelled")
            )

    def _finish(self, run_id: str, status: str, reason: str | None) -> None:
        with self.db.write() as session:
            run = session.get(PipelineRun, run_id)
            if run is None or run.owner != self.owner:
                return  # reclaimed by another server meanwhile: its outcome is theirs to write
            run.status, run.reason, run.finished, run.owner = status, reason, now_ms(), None
