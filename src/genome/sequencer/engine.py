"""The engine that runs pipelines: claims queued runs, drives their steps through an executor, fires schedules,
and reconciles runs whose server died.

Every state change is written to the database before the engine acts on it, so any server can pick up where a
crashed one stopped: a run is owned by one server, which renews its ``heartbeat``; a run whose owner stops renewing
(or whose owner process is gone from this host) is reclaimed, its running attempts marked ``lost`` (their process
trees killed when still alive here) and retried or failed per the step's policy. Scheduled firings are rows with a
unique ``(pipeline, scheduled_for)``, claimed with ``FOR UPDATE SKIP LOCKED``, so several replicas on one PostgreSQL
fire each of them exactly once.

Every write about a run is made under a lock on the run's row and only while this server still owns it: a server
that was slow rather than dead, and whose run was reclaimed meanwhile, finds out at its next write (or heartbeat),
stops its steps and leaves the run to its new owner.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from genome.auth import service as auth
from genome.clock import now_ms
from genome.sequencer.deployments import run_parameters
from genome.sequencer.executors.base import Executor, StepLaunch, StepLost, StepProcess
from genome.sequencer.logs import cut_middle
from genome.sequencer.schedule import parse_schedule
from genome.sequencer.service import new_run
from genome.sequencer.spec import PipelineSpec, StepSpec, parse_pipeline
from genome.store.artifacts import ArtifactStore, StoredArtifact
from genome.store.db import Database
from genome.store.tables import Credential, Pipeline, PipelineRun, RunStep, StepAttempt

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
    log_max_bytes: int = 64 * 1024 * 1024


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


def _skip(run: PipelineRun, reason: str) -> None:
    run.status, run.reason, run.finished = "skipped", reason, now_ms()
    for step in run.steps:
        step.status = "skipped"


class _LeaseLost(Exception):
    """This server no longer owns the run: another one reclaimed it."""


def _token_seconds(spec: PipelineSpec, floor_hours: float) -> int:
    """How long a run's token must last: the longest the run may take, if its steps all have timeouts."""
    budget = 0.0
    for group in spec.groups:
        longest = max((step.timeout or 0.0) * (1 + step.retry) for step in group)
        budget += longest
    return int(max(floor_hours * 3600, budget + 3600))


@dataclass(frozen=True)
class _Driven:
    lease: str  # the run's owner while this server drives it: this server's name and the claim's own
    cancel: threading.Event


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
        self._runs: dict[str, _Driven] = {}  # the runs this server drives, by id
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
        with self._lock:
            idle = not self._runs
        if idle:  # with runs in flight, their steps still use the executor until the process exits
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
                lease = f"{self.owner}/{uuid.uuid4().hex[:8]}"
                run.status, run.owner, run.heartbeat = "running", lease, now_ms()
                run.started = run.started or now_ms()
                run_id, cancel_requested = run.id, run.cancel_requested
            driven = _Driven(lease, threading.Event())
            if cancel_requested:
                driven.cancel.set()
            with self._lock:
                self._runs[run_id] = driven
            threading.Thread(
                target=self._drive, args=(run_id, driven), name=f"genome-run-{run_id}", daemon=True
            ).start()

    def _heartbeat(self) -> None:
        """Renew the lease of the runs driven here; stop driving any another server has reclaimed."""
        with self._lock:
            leases = {run_id: driven.lease for run_id, driven in self._runs.items()}
        if not leases:
            return
        with self.db.write() as session:
            held = session.execute(
                select(PipelineRun.id, PipelineRun.owner).where(PipelineRun.id.in_(list(leases)))
            ).all()
            owned = [run_id for run_id, owner in held if owner == leases[run_id]]
            if owned:
                session.execute(update(PipelineRun).where(PipelineRun.id.in_(owned)).values(heartbeat=now_ms()))
        for run_id in set(leases) - set(owned):
            log.warning("run %s was reclaimed by another server; stopping its steps here", run_id)
            self._signal(run_id)

    def _signal(self, run_id: str) -> None:
        with self._lock:
            driven = self._runs.get(run_id)
        if driven is not None:
            driven.cancel.set()

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
            self._signal(run_id)

    def _owner_is_dead(self, owner: str | None) -> bool:
        if owner is None:
            return True
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or owner == self.owner:
            return False
        return not Path(f"/proc/{pid}").exists()

    def _reclaim(self, *, dead_owners_only: bool) -> None:
        """Requeue runs whose server died or stopped renewing them (or this server's own runs that lost their
        driver): their running attempts are lost, killed where they still run. A run asked to cancel ends there."""
        stale_before = now_ms() - int(self.settings.lease_seconds * 1000)
        with self._lock:
            leases = {driven.lease for driven in self._runs.values()}
        with self.db.write() as session:
            candidates = session.scalars(
                select(PipelineRun).where(PipelineRun.status == "running").with_for_update(skip_locked=True)
            ).all()
            for run in candidates:
                if run.owner in leases:
                    continue
                if run.owner is not None and run.owner.startswith(f"{self.owner}/"):
                    why = "its driver here stopped"
                elif self._owner_is_dead(run.owner):
                    why = "its server is gone"
                elif not dead_owners_only and (run.heartbeat or 0) < stale_before:
                    why = "its lease lapsed"
                else:
                    continue
                log.warning("reclaiming run %s from %s: %s", run.id, run.owner, why)
                self._release(session, run, f"the server running it ({run.owner}) stopped: {why}")

    def _release(self, session: Session, run: PipelineRun, message: str) -> None:
        for step in run.steps:
            for attempt in step.attempts:
                if attempt.status != "running":
                    continue
                if attempt.host:
                    self.executor.reap(attempt.host, attempt.pid, attempt.process_start)
                attempt.status, attempt.reason, attempt.end, attempt.message = "failed", "lost", now_ms(), message
            if step.status == "running":
                step.status = "pending"
        if run.credential_id is not None:
            credential = session.get(Credential, run.credential_id)
            if credential is not None and credential.revoked is None:
                credential.revoked = now_ms()
        run.owner, run.heartbeat, run.credential_id = None, None, None
        if run.cancel_requested:
            for step in run.steps:
                if step.status == "pending":
                    step.status = "cancelled"
            run.status, run.reason, run.finished = "cancelled", "cancelled on request", now_ms()
        else:
            run.status = "queued"

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
                try:
                    with session.begin_nested():  # one broken pipeline must not hold the others back
                        spec = parse_pipeline(pipeline.spec, container_runtime=True)
                        run = new_run(
                            spec, pipeline.created_by, pipeline_id=pipeline.id, scheduled_for=pipeline.next_run
                        )
                        # A schedule acts as its owner, so only while the owner may still run pipelines here; a
                        # firing without them is kept, skipped with why, where operators list runs.
                        missing = auth.missing_role(
                            session, pipeline.created_by, spec.application, since=pipeline.created
                        )
                        if missing is not None:
                            _skip(run, missing)
                        session.add(run)
                        # A schedule missed while no server ran fires once now, then keeps its phase.
                        pipeline.next_run = parse_schedule(pipeline.schedule).next_after(pipeline.next_run, now)
                    if missing is None:
                        log.info("pipeline %s fired; next run at %s", pipeline.id, pipeline.next_run)
                    else:
                        log.warning(
                            "pipeline %s skipped a firing (%s); next at %s", pipeline.id, missing, pipeline.next_run
                        )
                except Exception:
                    log.exception("pipeline %s cannot fire; pausing its schedule", pipeline.id)
                    pipeline.paused = True
        if due:
            self._wake.set()

    # -- one run ---------------------------------------------------------------------------------------------

    def _drive(self, run_id: str, driven: _Driven) -> None:
        credential_id, run = None, None
        cancel = driven.cancel
        try:
            with self.db.read() as session:
                run = session.get(PipelineRun, run_id)
                assert run is not None
                spec = parse_pipeline(run.spec, container_runtime=True)
                parameters, deployment_version = run_parameters(
                    session, run.application, run.deployment, run.deployment_version
                )
                statuses = {step.step_name: step.status for step in run.steps}
                attempts = {step.step_name: len(step.attempts) for step in run.steps}
                # Its token would carry no more than what the creator holds now; a run they may no longer start
                # is not started (nor resumed), rather than left to fail step by step.
                missing = auth.missing_role(session, run.created_by, run.application, since=run.created)
                session.expunge(run)
            run.owner = driven.lease  # what every write checks the row still holds
            if missing is not None:
                self._cancel_pending(run)
                self._finish(run, "failed", f"{'not resumed' if any(attempts.values()) else 'not started'}: {missing}")
                return
            token, credential_id = auth.mint_run_token(
                self.db,
                run.created_by,
                run.application,
                run.id,
                ttl_seconds=_token_seconds(spec, self.settings.token_hours),
            )
            with self._owned(run) as (_, row):
                row.credential_id = credential_id  # so whoever reclaims the run can revoke it
                row.deployment_version = deployment_version  # which parameters its steps got
            outcome, reason = self._drive_groups(run, spec, parameters, token, statuses, attempts, cancel)
            self._finish(run, outcome, reason)
        except _LeaseLost:
            cancel.set()
            log.warning("run %s: another server owns it now", run_id)
        except Exception as exc:
            log.exception("run %s failed in the engine", run_id)
            if run is not None and not self._stop.is_set():  # a stopping server leaves its runs to be reclaimed
                self._finish(run, "failed", f"the sequencer failed: {type(exc).__name__}: {exc}")
        finally:
            if credential_id is not None:
                auth.revoke_credential(self.db, credential_id)
            with self._lock:
                if self._runs.get(run_id) is driven:
                    del self._runs[run_id]

    @contextmanager
    def _owned(self, run: PipelineRun) -> Iterator[tuple[Session, PipelineRun]]:
        """A write transaction holding the run's row, if this driver's lease on it still holds; else
        ``_LeaseLost``."""
        with self.db.write() as session:
            row = session.scalars(select(PipelineRun).where(PipelineRun.id == run.id).with_for_update()).first()
            if row is None or row.owner != run.owner:
                raise _LeaseLost(run.id)
            yield session, row

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
                self._cancel_pending(run)
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
        except _LeaseLost:
            signals.cancel.set()  # the run's other steps stop too
            raise
        finally:
            signals.started.set()
        self._set_step(run, step.stepName, status)
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
                self._set_step(run, step.stepName, "pending")
                backoff = min(self.settings.retry_backoff_seconds * 2 ** (done - 1), 300.0)
                if cancel.wait(backoff):
                    return "cancelled"
        signals.group_failed.set()  # also when a reclaimed step comes back with its retries spent
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
        with self._owned(run) as (session, _):
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
            self._end_attempt(run, step.stepName, number, "failed", "failed", None, f"could not start: {exc}", None)
            return "failed", "failed"
        try:
            with self._owned(run) as (session, _):
                attempt = session.get(StepAttempt, (run.id, step.stepName, number))
                assert attempt is not None
                attempt.host, attempt.pid, attempt.process_start = process.host, process.pid, process.process_start
            code, reason, message = self._watch(process, step, started, cancel)
        except _LeaseLost:
            self._end(process)
            raise
        except Exception as exc:  # whatever happened, the attempt ends and its process with it
            log.exception("run %s: lost track of step %s attempt %s", run.id, step.stepName, number)
            self._end(process)
            code, reason, message = None, "lost", f"the sequencer lost track of it: {type(exc).__name__}: {exc}"
        status = "succeeded" if code == 0 and reason is None else "failed"
        if status == "failed" and reason is None:
            reason, message = "failed", f"exited with code {code}"
        self._end_attempt(run, step.stepName, number, status, reason, code, message, process)
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
        try:
            process.kill()
            return process.wait(5)
        except Exception:  # gone already, or unreachable: nothing more to end
            return None

    def _end_attempt(
        self,
        run: PipelineRun,
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
            attempt = session.get(StepAttempt, (run.id, step_name, number))
            path = Path(attempt.log_path) if attempt and attempt.log_path else None
        remote = process.log_text() if process is not None else None
        if remote is not None and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(remote)
        if path is not None and path.is_file():
            stored = self._store_log(path)
            log_ref, log_sha = stored.key, stored.sha256
        with self._owned(run) as (session, _):
            attempt = session.get(StepAttempt, (run.id, step_name, number))
            assert attempt is not None
            attempt.status, attempt.reason, attempt.exit_code, attempt.message = status, reason, code, message
            attempt.end, attempt.log_ref, attempt.log_sha256 = now_ms(), log_ref, log_sha
        if log_ref is not None and path is not None:
            path.unlink(missing_ok=True)  # the artifact store keeps it now

    def _store_log(self, path: Path) -> StoredArtifact:
        limit = self.settings.log_max_bytes
        if path.stat().st_size <= limit:
            with path.open("rb") as file:
                return self.artifacts.put(file)
        with tempfile.TemporaryFile(dir=path.parent) as cut:
            cut_middle(path, limit, cut)
            cut.seek(0)
            return self.artifacts.put(cut)

    def _set_step(self, run: PipelineRun, step_name: str, status: str) -> None:
        with self._owned(run) as (session, _):
            session.execute(
                update(RunStep).where(RunStep.run_id == run.id, RunStep.step_name == step_name).values(status=status)
            )

    def _cancel_pending(self, run: PipelineRun) -> None:
        with self._owned(run) as (session, _):
            session.execute(
                update(RunStep).where(RunStep.run_id == run.id, RunStep.status == "pending").values(status="cancelled")
            )

    def _finish(self, run: PipelineRun, status: str, reason: str | None) -> None:
        try:
            with self._owned(run) as (_, row):
                row.status, row.reason, row.finished, row.owner = status, reason, now_ms(), None
                row.credential_id = None
        except _LeaseLost:
            log.warning("run %s: reclaimed by another server before it could finish here", run.id)
