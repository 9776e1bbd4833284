"""The ``local`` executor: each attempt is a subprocess of the server, in its own process group.

A process group per attempt is what lets a timeout or a cancellation end everything the step started (its shell, the
interpreter, their children), and what a restarted server kills when it finds an attempt left by a crashed one.

Steps run confined (``genome.sandbox``): as the step user (``GENOME_STEP_USER``, ``genome-step`` by default when the
server runs as root), with the server's home, GENOME_HOME, the database folder, the artifact folder and the logs
hidden, and with a minimal environment. The launcher execs the step in place, so the process (and group) the
server watches is the step's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from genome.errors import InvalidSetting
from genome.sandbox import Confinement, confined_argv, ensure_user
from genome.sequencer.executors.base import StepLaunch, step_environment

__all__ = ["DEFAULT_STEP_USER", "LocalExecutor", "LocalProcess", "process_start_time"]

DEFAULT_STEP_USER = "genome-step"
_TERMINATE_GRACE_SECONDS = 3.0
# A step's ``resources`` that become limits of its process (the names of ``Confinement``'s fields).
_LIMITS = ("memory_bytes", "cpu_seconds", "file_bytes", "processes")
log = logging.getLogger("genome.sequencer")


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


def _account(user: str) -> pwd.struct_passwd | None:
    """The account steps run as (None: the server's own); a server that cannot switch to it says so when it starts,
    not at the first step."""
    root = os.geteuid() == 0
    if user == DEFAULT_STEP_USER:
        if not root:  # only root can switch users: steps keep the server's user, its files still hidden
            log.info("steps run as this server's user (it does not run as root to switch to %s)", user)
            return None
        return ensure_user(user)
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise InvalidSetting(f"GENOME_STEP_USER names {user!r}, which is not a user on this machine") from None
    if not root and account.pw_uid != os.geteuid():
        raise InvalidSetting(f"GENOME_STEP_USER={user}: only a server running as root can run steps as another user")
    if account.pw_uid == 0:
        log.warning(
            "STEPS RUN AS ROOT (GENOME_STEP_USER=%s): a pipeline step can read and change anything on this machine, "
            "this server's database and credentials included. Leave GENOME_STEP_USER unset to run them as %s.",
            user,
            DEFAULT_STEP_USER,
        )
    return account


class LocalExecutor:
    """Runs steps as subprocesses on this machine. A step with a ``command`` runs it (its ``image`` only names the
    environment); a step with only an ``image`` runs it with docker or podman when one is installed.

    ``hide`` lists the paths steps must not see, ``passthrough`` the names of this server's environment variables
    they get (see ``step_environment``). A step's ``resources`` may set ``memory_bytes``, ``cpu_seconds``,
    ``file_bytes`` and ``processes``, the limits of its process.
    """

    name = "local"

    def __init__(
        self, user: str = DEFAULT_STEP_USER, *, hide: Iterable[Path] = (), passthrough: Iterable[str] = ()
    ) -> None:
        self.runtime = _container_runtime()
        self.container_runtime = self.runtime is not None
        self.account = _account(user)
        # The default account stands for one account per application, so that a step cannot read the environment
        # (the run token) or files of another application's steps, as it could under one shared user.
        self.per_application = self.account is not None and user == DEFAULT_STEP_USER
        self._accounts: dict[str, pwd.struct_passwd] = {}
        self._accounts_lock = threading.Lock()
        self.hide = tuple(hide)
        self.passthrough = tuple(passthrough)

    def account_for(self, application: str) -> pwd.struct_passwd | None:
        """The account the steps of ``application`` run as (None: the server's own)."""
        if not self.per_application:
            return self.account
        with self._accounts_lock:
            if application not in self._accounts:
                digest = hashlib.sha256(application.encode()).hexdigest()[:12]
                self._accounts[application] = ensure_user(f"{DEFAULT_STEP_USER}-{digest}")
            return self._accounts[application]

    def _environment(self, launch: StepLaunch, account: pwd.struct_passwd | None) -> dict[str, str]:
        if account is None:
            return step_environment(launch.env, self.passthrough)
        environment = step_environment(launch.env, self.passthrough, home=account.pw_dir)
        environment.update(USER=account.pw_name, LOGNAME=account.pw_name)
        return environment

    def _confined(self, launch: StepLaunch, argv: str | list[str], account: pwd.struct_passwd | None) -> list[str]:
        """The launcher's argv that runs the step's command confined."""
        command = ["/bin/sh", "-c", argv] if isinstance(argv, str) else argv
        switch = account is not None and account.pw_uid != os.geteuid()
        limits = {name: int(launch.resources[name]) for name in _LIMITS if name in launch.resources}
        confinement = Confinement(
            user=account.pw_name if switch and account is not None else None,
            hide=self.hide,
            memory_bytes=limits.get("memory_bytes"),
            cpu_seconds=limits.get("cpu_seconds"),
            file_bytes=limits.get("file_bytes"),
            processes=limits.get("processes"),
        )
        return confined_argv(confinement, command)

    def _argv(self, launch: StepLaunch) -> str | list[str]:
        if launch.command is not None:
            return launch.command
        if self.runtime is None or launch.image is None:
            raise RuntimeError(f"step {launch.step_name!r} has no command and no container runtime to run its image")
        flags = [item for name in sorted(launch.env) for item in ("-e", name)]  # values come from the environment
        # The host's network, so the step reaches this server at the loopback GENOME_URL it is given.
        run = [self.runtime, "run", "--rm", "--init", "--network", "host", "--name", _container_name(launch)]
        # No capabilities (on the host's network, NET_RAW would let it sniff loopback traffic), no new privileges.
        run += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        return [*run, *flags, launch.image]

    def start(self, launch: StepLaunch) -> LocalProcess:
        argv = self._argv(launch)
        launch.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = launch.log_path.open("ab")
        account = self.account_for(launch.env.get("APPLICATION", ""))
        # An image step's program is the container runtime's client, which the container itself confines.
        program = self._confined(launch, argv, account) if launch.command is not None else argv
        try:
            process = subprocess.Popen(
                program,
                env=self._environment(launch, account),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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
