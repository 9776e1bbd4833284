"""The ``local`` executor: each attempt is a subprocess of the server, in its own process group.

A process group per attempt is what lets a timeout or a cancellation end everything the step started (its shell, the
interpreter, their children), and what a restarted server kills when it finds an attempt left by a crashed one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from genome.errors import InvalidSetting
from genome.sequencer.executors.base import StepLaunch, step_environment

__all__ = ["LocalExecutor", "LocalProcess", "process_start_time"]

_TERMINATE_GRACE_SECONDS = 3.0


def process_start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc), to tell the process from a later one that reused
    its id; None when it is gone (or off Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its closing one are plain.
    return stat.rpartition(")")[2].split()[19]


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _container_name(launch: StepLaunch) -> str:
    return f"genome-{launch.run_id}-{launch.step_name}-{launch.attempt}"


def _container_runtime() -> str | None:
    """docker or podman, if one is installed and answers (a docker client without its daemon runs nothing)."""
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            probe = subprocess.run([path, "info"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return path
    return None


class LocalProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: object, container: list[str] | None = None) -> None:
        self._process = process
        self._log = log
        self._container = container  # the command that removes the step's container, for image steps
        self.host = socket.gethostname()
        self.pid = process.pid
        self.process_start = process_start_time(process.pid)

    def wait(self, timeout: float) -> int | None:
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        # The step is over; whatever it left running in its group goes with it.
        _kill_group(self._process.pid, signal.SIGKILL)
        self._log.close()  # type: ignore[attr-defined]
        return code

    def kill(self) -> None:
        if self._container is not None:
            # The container is dockerd's child, not ours: end it by name, not through the client's process group.
            subprocess.run(self._container, capture_output=True, timeout=60, check=False)
        _kill_group(self._process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(_TERMINATE_GRACE_SECONDS)
        _kill_group(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._log.close()  # type: ignore[attr-defined]

    def log_text(self) -> bytes | None:
        return None


def _account(user: str) -> pwd.struct_passwd:
    """The account steps run as; a server that cannot switch to it says so when it starts, not at the first step."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise InvalidSetting(f"GENOME_STEP_USER names {user!r}, which is not a user on this machine") from None
    if os.geteuid() != 0 and account.pw_uid != os.geteuid():
        raise InvalidSetting(f"GENOME_STEP_USER={user}: only a server running as root can run steps as another user")
    return account


class LocalExecutor:
    """Runs steps as subprocesses on this machine. A step with a ``command`` runs it (its ``image`` only names the
    environment); a step with only an ``image`` runs it with docker or podman when one is installed."""

    name = "local"

    def __init__(self, user: str | None = None) -> None:
        self.runtime = _container_runtime()
        self.container_runtime = self.runtime is not None
        self.account = _account(user) if user else None

    def _as_user(self, environment: dict[str, str]) -> dict[str, object]:
        """Popen's arguments that run a step as the configured user, in its own home and groups."""
        if self.account is None or self.account.pw_uid == os.geteuid():  # already that user
            return {}
        environment.update(HOME=self.account.pw_dir, USER=self.account.pw_name, LOGNAME=self.account.pw_name)
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _argv(self, launch: StepLaunch) -> str | list[str]:
        if launch.command is not None:
            return launch.command
        if self.runtime is None or launch.image is None:
            raise RuntimeError(f"step {launch.step_name!r} has no command and no container runtime to run its image")
        flags = [item for name in sorted(launch.env) for item in ("-e", name)]  # values come from the environment
        return [self.runtime, "run", "--rm", "--init", "--name", _container_name(launch), *flags, launch.image]

    def start(self, launch: StepLaunch) -> LocalProcess:
        argv = self._argv(launch)
        launch.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = launch.log_path.open("ab")
        environment = step_environment(launch.env)
        try:
            process = subprocess.Popen(
                argv,
                shell=isinstance(argv, str),
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_user(environment),  # type: ignore[arg-type]
            )
        except OSError:
            log.close()
            raise
        container = None
        if launch.command is None and self.runtime is not None:
            container = [self.runtime, "rm", "--force", _container_name(launch)]
        return LocalProcess(process, log, container)

    def reap(self, host: str, pid: int | None, process_start: str | None) -> bool:
        if pid is None or host != socket.gethostname() or process_start is None:
            return False
        if process_start_time(pid) != process_start:
            return False
        _kill_group(pid, signal.SIGKILL)
        return True

    def close(self) -> None:
        return None
