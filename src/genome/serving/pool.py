"""The server's side of the isolated workers: a small pool of confined processes, each serving the versions routed
to it, restarted after a crash, a timeout or a number of requests.

A worker process holds the models of one application at a time: an application's versions go to the same worker
(by the application's name), so their models stay loaded there and warm requests cost one round trip over a pipe,
and a worker asked for another application's version is replaced first, so that a bundle of one application can
never read or tamper with another's in the same process. Each worker runs as its own OS user (so workers cannot
reach each other's files or processes) and answers one request at a time; workers run in parallel, which also lets
GIL-bound explanations use every core.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from genome.errors import (
    GenomeError,
    InvalidInput,
    MissingDependency,
    NotFitted,
    NotFound,
    PayloadTooLarge,
    TimedOut,
    Unavailable,
)
from genome.sandbox import Confinement, confined_argv
from genome.serving.loaded import VersionMeta
from genome.serving.protocol import WorkerGone, WorkerTimeout, decode, encode, read_frame, write_frame

__all__ = [
    "HOMES_PREFIX",
    "IsolatedFailure",
    "UserClaims",
    "WorkerPool",
    "make_homes",
    "remove_stale_homes",
    "worker_environment",
]

log = logging.getLogger("genome.serving")

# JSON grows many-fold when parsed: an answer is bounded well below what the server can hold (the largest
# legitimate ones, 1,000 explained rows of many features, are tens of MB)
_MAX_ANSWER_BYTES = 32 * 1024 * 1024
_MAX_LOG_LINE = 2000
_LOG_LINES = 200  # per worker per minute: enough for a few tracebacks
_START = 120.0  # seconds a worker may take to start (Python and its imports), apart from each request's timeout
_MAX_MESSAGE_CHARS = 4000
# The errors a worker may report as themselves; anything else it says becomes an IsolatedFailure.
_RELAYED: Mapping[str, type[GenomeError]] = {
    cls.__name__: cls for cls in (InvalidInput, PayloadTooLarge, MissingDependency, NotFound, NotFitted)
} | {"UntrustedContent": InvalidInput}
# Variables a worker's Python may need; nothing else of the server's environment reaches it.
_PASSED = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class IsolatedFailure(GenomeError):
    """An isolated worker failed to answer: its model raised, it crashed or answered nonsense (500)."""

    status = 500


def worker_environment(home: Path) -> dict[str, str]:
    """The whole environment of a worker: where Python is, one thread per library, a private home."""
    environment = {name: os.environ[name] for name in _PASSED if name in os.environ}
    return environment | {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.defpath]),
        "HOME": str(home),
        "TMPDIR": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLCONFIGDIR": str(home),
        "NUMBA_CACHE_DIR": str(home / "numba"),
        "KERAS_HOME": str(home / "keras"),
        "KERAS_BACKEND": "torch",
        # each worker is one core's worth of work; the pool gives parallelism
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so that it cannot forge lines of the log."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _kill_user(user: str) -> None:
    """Kill every process of ``user`` (a worker's own account): what a bundle started outlives no worker."""
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, StopIteration):
            status = (entry / "status").read_text()
            real = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]
            if int(real) == uid:
                os.kill(int(entry.name), signal.SIGKILL)


def _relay(process: subprocess.Popen[bytes], index: int) -> None:
    """What a worker writes to stderr (tracebacks, a model's prints), into the server's log line by line, each
    line bounded and marked as the worker's, at most ``_LOG_LINES`` lines a minute: the worker may run an
    attacker's code, which must not forge log lines nor fill the server's disk."""
    assert process.stderr is not None
    window, logged, dropped = time.monotonic(), 0, 0
    with contextlib.suppress(OSError, ValueError):
        while line := process.stderr.readline(_MAX_LOG_LINE):
            now = time.monotonic()
            if now - window >= 60:
                if dropped:
                    log.warning("isolated worker %d (pid %d): %d lines not logged", index, process.pid, dropped)
                window, logged, dropped = now, 0, 0
            if logged >= _LOG_LINES:
                dropped += 1
                continue
            logged += 1
            text = _printable(line.decode("utf-8", "replace").rstrip())
            log.warning("isolated worker %d (pid %d): %s", index, process.pid, text)
    if dropped:
        log.warning("isolated worker %d (pid %d): %d lines not logged", index, process.pid, dropped)


class _Worker:
    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.application: str | None = None  # whose models the running process holds
        self.user: str | None = None  # the OS user it runs as, when confined as another user
        self.requests = 0

    def _start(self, application: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-I", "-m", "genome.serving.worker", str(self.pool.cache_size)]
        confinement = self.pool.confine(self.index) if self.pool.confine else None
        home = confinement.workdir if confinement and confinement.workdir else Path(tempfile.gettempdir())
        if confinement is not None and confinement.workdir is not None:
            # Nothing of the application served before (caches, files it wrote) reaches the next one.
            shutil.rmtree(confinement.workdir, ignore_errors=True)
        self.user = confinement.user if confinement is not None else None
        process = subprocess.Popen(
            confined_argv(confinement, argv) if confinement is not None else argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker_environment(home),
            start_new_session=True,  # its own process group, killed whole
            close_fds=True,
        )
        self.requests = 0
        self.application = application
        self.process = process
        threading.Thread(target=_relay, args=(process, self.index), daemon=True).start()
        try:
            assert process.stdout is not None
            ready = decode(read_frame(process.stdout.fileno(), max_bytes=1024, deadline=time.monotonic() + _START))
        except (WorkerGone, WorkerTimeout, ValueError):
            ready = {}
        if ready != {"ready": True}:
            code = process.poll()
            self.stop()
            raise IsolatedFailure(f"an isolated worker could not start (exit status {code}); see the server's log")
        log.info("isolated worker %d started for application %r (pid %d)", self.index, application, process.pid)
        return process

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if self.user is not None:
            _kill_user(self.user)  # what left the process group (setsid) goes too: the next worker of this user
        for stream in (process.stdin, process.stdout, process.stderr):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        process.wait()

    def _exchange(self, header: dict[str, Any], bundle: bytes | None, deadline: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin and self.process.stdout
        write_frame(self.process.stdin.fileno(), encode({**header, "bundle": len(bundle) if bundle else 0}), deadline)
        if bundle:
            write_frame(self.process.stdin.fileno(), bundle, deadline)
        data = read_frame(self.process.stdout.fileno(), max_bytes=_MAX_ANSWER_BYTES, deadline=deadline)
        return decode(data)

    def call(self, application: str, header: dict[str, Any], bundle: Callable[[], bytes], what: str) -> dict[str, Any]:
        """One request, with this worker's lock held by the caller."""
        if (
            self.process is None
            or self.process.poll() is not None
            or self.application != application
            or self.requests >= self.pool.max_requests
        ):
            self.stop()
            self.process = self._start(application)
        deadline = time.monotonic() + self.pool.timeout
        self.requests += 1
        try:
            answer = self._exchange(header, None, deadline)
            if answer.get("need") == "bundle":
                answer = self._exchange(header, bundle(), deadline)
        except WorkerTimeout:
            self.stop()
            raise TimedOut(
                f"{what} took longer than {self.pool.timeout:g} s in its isolated worker, which was restarted "
                "(GENOME_ISOLATION_TIMEOUT_SECONDS)"
            ) from None
        except (WorkerGone, ValueError) as exc:
            code = self.process.poll() if self.process else None
            self.stop()
            how = f"exit status {code}" if code is not None and code >= 0 else f"signal {-(code or 9)}"
            raise IsolatedFailure(
                f"the isolated worker serving {what} ended ({how}; e.g. over its memory limit) or answered "
                f"nonsense ({exc}); it was restarted"
            ) from None
        return answer


HOMES_PREFIX = "genome-isolated-"
_CLAIMS = "genome-sandbox-claims"


class UserClaims:
    """OS accounts this server's workers may use, each held by one server of this machine at a time.

    A worker's account is wiped between applications (every process of it killed), so two servers sharing one
    would kill each other's workers. Each account is claimed with an exclusive ``flock`` on a file of a folder
    only this server's user can write, held while the server lives and released by the kernel when it dies; a
    server finding ``prefix-0`` taken goes on to ``prefix-1``, ``prefix-2``, ...
    """

    def __init__(self, prefix: str, count: int, folder: Path | None = None) -> None:
        import fcntl

        folder = folder or Path(tempfile.gettempdir()) / _CLAIMS
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise RuntimeError(f"{folder} must be a folder of this server's user that no one else may write")
        self._handles: list[int] = []
        self.users: list[str] = []
        index = 0
        while len(self.users) < count:
            name = f"{prefix}-{index}"
            handle = os.open(folder / name, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)  # another server (or another pool of this one) holds it
            else:
                self._handles.append(handle)
                self.users.append(name)
            index += 1

    def release(self) -> None:
        for handle in self._handles:
            os.close(handle)
        self._handles.clear()


def make_homes() -> Path:
    """A folder for the workers' homes, named after this process, that others may pass through but not list."""
    homes = Path(tempfile.mkdtemp(prefix=f"{HOMES_PREFIX}{os.getpid()}-"))
    homes.chmod(0o711)
    return homes


def remove_stale_homes() -> int:
    """Remove the workers' homes of servers that are gone (killed before they could); returns how many."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{HOMES_PREFIX}*"):
        pid = folder.name.removeprefix(HOMES_PREFIX).partition("-")[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists() or folder.is_symlink():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


class WorkerPool:
    """Confined worker processes that load bundles carrying code; ``call`` runs one operation on one version.

    Workers start when first needed. ``confine(i)`` gives worker i's confinement (None: plain subprocesses, for
    tests of the protocol only); its ``workdir`` is the worker's home.
    """

    def __init__(
        self,
        size: int,
        confine: Callable[[int], Confinement] | None,
        *,
        timeout: float,
        cache_size: int,
        max_requests: int = 10_000,
        homes: Path | None = None,
        claims: UserClaims | None = None,
    ) -> None:
        self.confine = confine
        self.homes = homes  # the folder of the workers' homes, removed with the pool
        self.claims = claims  # the workers' accounts, released with the pool
        self.timeout = timeout
        self.cache_size = cache_size
        self.max_requests = max_requests
        self._workers = [_Worker(self, index) for index in range(size)]

    def _home(self, application: str) -> int:
        digest = hashlib.sha256(application.encode()).digest()
        return int.from_bytes(digest[:4], "big") % len(self._workers)

    def _exchange(self, application: str, spread: bool, send: Callable[[_Worker], dict[str, Any]]) -> dict[str, Any]:
        """``send`` through the application's own worker; with ``spread``, through the first idle worker that is
        free or already serves the application when that one is busy, so slow requests use every core."""
        home = self._home(application)
        if spread:
            for offset in range(len(self._workers)):
                worker = self._workers[(home + offset) % len(self._workers)]
                if worker.application not in (None, application) or not worker.lock.acquire(blocking=False):
                    continue
                try:
                    return send(worker)
                finally:
                    worker.lock.release()
        worker = self._workers[home]
        # A worker busy past a request's timeout is replaced by the request that holds it; waiting longer means
        # the pool is overloaded.
        if not worker.lock.acquire(timeout=2 * self.timeout):
            raise Unavailable("the isolated workers are busy; try again later")
        try:
            return send(worker)
        finally:
            worker.lock.release()

    def pids(self) -> list[int | None]:
        return [worker.process.pid if worker.process else None for worker in self._workers]

    def call(
        self,
        meta: VersionMeta,
        bundle: Callable[[], bytes],
        operation: str,
        params: dict[str, Any],
        *,
        spread: bool = False,
    ) -> Any:
        """Run ``operation`` on the version in its worker (``spread``: in any idle one); ``bundle()`` gives the
        verified bundle bytes when the worker has not loaded it. Returns the operation's JSON answer, which the
        caller must validate."""
        header = {"op": operation, "version": asdict(meta), "params": params}
        answer = self._exchange(
            meta.application, spread, lambda worker: worker.call(meta.application, header, bundle, meta.describe())
        )
        if "ok" in answer:
            return answer["ok"]
        error = answer.get("error")
        if not isinstance(error, dict):
            raise IsolatedFailure(f"the isolated worker serving {meta.describe()} answered nonsense")
        # what a worker says may come from an attacker's code: bounded, and escaped for the log
        message = _printable(str(error.get("message"))[:_MAX_MESSAGE_CHARS])
        field = error.get("field") if isinstance(error.get("field"), str) else None
        cls = _RELAYED.get(str(error.get("type")))
        if cls is None:
            raise IsolatedFailure(f"{meta.describe()} failed in its isolated worker: {message}")
        raise cls(message, field=field)

    def close(self) -> None:
        for worker in self._workers:
            with worker.lock:
                worker.stop()
        if self.homes is not None:
            shutil.rmtree(self.homes, ignore_errors=True)
        if self.claims is not None:
            self.claims.release()
