"""The ``dask`` executor: each attempt runs as a subprocess on a worker of a dask.distributed cluster.

``GENOME_EXECUTOR=dask`` and ``GENOME_DASK_SCHEDULER=tcp://host:8786`` point Genome at any cluster (started by hand,
by dask-kubernetes, dask-gateway, ...); its workers need Genome installed (for ``run_step``) and whatever the
steps run. A step's ``resources`` become the task's dask resources, so ``{"GPU": 1}`` waits for a worker started
with ``--resources GPU=1``.

On the worker the step runs in its own process group, next to a small watchdog process that kills that group if
the worker dies, so a killed worker leaves no step running behind it. The scheduler then runs the task again on
another worker, or, if it gives up on it (``KilledWorker``), the attempt is ``lost`` and the step's own ``retry``
decides.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from genome.sequencer.executors.base import StepLaunch, StepLost, step_environment

__all__ = ["DaskExecutor", "run_step"]

_POLL_SECONDS = 0.1
_CANCEL_CHECK_SECONDS = 0.5
_WATCHDOG = """
import os, signal, sys, time
parent, group = int(sys.argv[1]), int(sys.argv[2])
while True:
    time.sleep(0.5)
    try:
        os.killpg(group, 0)
    except OSError:
        break  # the step has ended
    if os.getppid() != parent:  # orphaned: the worker died, and its step goes with it
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        break
"""


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_step(
    command: str | list[str],
    env: dict[str, str],
    cancel_event: str,
    grace: float = 3.0,
    passthrough: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one attempt on a dask worker (called by the scheduler, not by users): the command in its own process
    group, with the step's variables ``env`` and the minimal environment of ``step_environment`` (the worker's
    variables named in ``passthrough``, no others), until it exits or the ``cancel_event`` dask Event is set.
    Returns the exit code, the output and where it ran."""
    from distributed import Event

    cancelled = Event(cancel_event)
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                env={**step_environment(env, passthrough), "GENOME_WORKER_PID": str(os.getpid())},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:  # e.g. the program is not installed on this worker
            message = f"could not start on {socket.gethostname()}: {exc}\n".encode()
            return {"exit_code": 127, "cancelled": False, "log": message, "host": socket.gethostname(), "pid": None}
        subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(process.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        was_cancelled = False
        last_check = time.monotonic()
        while True:
            try:
                code: int | None = process.wait(_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() - last_check >= _CANCEL_CHECK_SECONDS:
                last_check = time.monotonic()
                if cancelled.is_set():
                    was_cancelled = True
                    _kill_group(process.pid, signal.SIGTERM)
                    try:
                        code = process.wait(grace)
                    except subprocess.TimeoutExpired:
                        _kill_group(process.pid, signal.SIGKILL)
                        code = process.wait()
                    break
        _kill_group(process.pid, signal.SIGKILL)
        log.seek(0)
        output = log.read()
    return {
        "exit_code": code,
        "cancelled": was_cancelled,
        "log": output,
        "host": socket.gethostname(),
        "pid": process.pid,
    }


class DaskProcess:
    def __init__(self, future: Any, cancel: Any, key: str) -> None:
        self._future = future
        self._cancel = cancel
        self._result: dict[str, Any] | None = None
        # Until the attempt ends, it is known by its task: the key is what reaping after a crash needs.
        self.host = "dask"
        self.pid: int | None = None
        self.process_start: str | None = key

    def wait(self, timeout: float) -> int | None:
        from distributed import TimeoutError as DaskTimeout
        from distributed.scheduler import KilledWorker

        if self._result is None:
            try:
                self._result = self._future.result(timeout=timeout)
            except (DaskTimeout, TimeoutError):
                return None
            except KilledWorker as exc:
                raise StepLost(f"the dask workers running it died: {exc}") from exc
            except Exception as exc:  # cancelled by the scheduler, client gone, ...
                raise StepLost(f"dask lost the task: {type(exc).__name__}: {exc}") from exc
            assert self._result is not None
            self.host, self.pid = self._result["host"], self._result["pid"]
        return int(self._result["exit_code"])

    def kill(self) -> None:
        self._cancel.set()
        with contextlib.suppress(Exception):
            self.wait(30)

    def log_text(self) -> bytes | None:
        return self._result["log"] if self._result is not None else None


class DaskExecutor:
    """Runs steps on a dask.distributed cluster (``GENOME_DASK_SCHEDULER``)."""

    name = "dask"
    container_runtime = False

    def __init__(self, scheduler: str, *, passthrough: tuple[str, ...] = ()) -> None:
        self.scheduler = scheduler
        self.passthrough = passthrough  # names of the workers' variables steps get (GENOME_STEP_ENV_PASSTHROUGH)
        self._client: Any = None
        self._lock = threading.Lock()  # parallel first steps share one client

    def _connect(self) -> Any:
        with self._lock:
            return self._connect_locked()

    def _connect_locked(self) -> Any:
        if self._client is None:
            try:
                from distributed import Client
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("the dask executor needs distributed: pip install 'genome[dask]'") from exc
            self._client = Client(self.scheduler, timeout=30, set_as_default=False)
        return self._client

    def start(self, launch: StepLaunch) -> DaskProcess:
        from distributed import Event

        if launch.command is None:
            raise RuntimeError(f"step {launch.step_name!r} has no command; the dask executor runs commands only")
        client = self._connect()
        key = f"genome-{launch.run_id}-{launch.step_name}-{launch.attempt}"
        cancel = Event(f"{key}-cancel", client=client)
        future = client.submit(
            run_step,
            launch.command,
            launch.env,
            f"{key}-cancel",
            passthrough=self.passthrough,
            key=key,
            pure=False,
            resources=dict(launch.resources) or None,
        )
        return DaskProcess(future, cancel, key)

    def reap(self, host: str, pid: int | None, process_start: str | None) -> bool:
        """Ask the attempt's task (``process_start`` holds its key) to end its step, wherever it runs."""
        from distributed import Event

        if host != "dask" or not process_start:
            return False
        Event(f"{process_start}-cancel", client=self._connect()).set()
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
