"""The confinement mechanism: what the launcher does to itself before it execs the confined command.

Order matters and every step is checked: a new mount namespace (and network namespace), paths hidden under empty
tmpfs mounts with the interpreter bound back read-only, resource limits, then the switch to the account. Any
failure raises ``ConfinementError``, so the command is never run with less confinement than asked for.

Only the standard library is imported here: this runs before every pipeline step.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import pwd
import resource
import stat
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Confinement", "ConfinementError", "apply", "confined_argv", "decode", "encode"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_NOATIME = 0x400
_MS_NODIRATIME = 0x800
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_MS_RELATIME = 0x200000
# statvfs flags of a mount, as the mount flags a read-only remount must keep (the kernel refuses to drop them
# for a mount locked by a user namespace).
_KEPT_FLAGS = {
    os.ST_NOSUID: _MS_NOSUID,
    os.ST_NODEV: _MS_NODEV,
    os.ST_NOEXEC: _MS_NOEXEC,
    os.ST_NOATIME: _MS_NOATIME,
    os.ST_NODIRATIME: _MS_NODIRATIME,
    os.ST_RELATIME: _MS_RELATIME,
}
_TMPFS_OPTIONS = b"mode=0755,size=1m,nr_inodes=1024"
# The world-writable folders every process shares. Private ones are in memory, so they are small: the worker's
# home (its TMPDIR, where bundles are extracted) stays on disk.
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_SCRATCH_OPTIONS = b"mode=1777,size=256m,nr_inodes=65536"
_LIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "file_bytes": resource.RLIMIT_FSIZE,
    "processes": resource.RLIMIT_NPROC,
}


class ConfinementError(Exception):
    """A step of the confinement failed; the command must not run."""


@dataclass(frozen=True)
class Confinement:
    """How a process is confined. The defaults confine nothing; each field adds one restriction.

    Example:
        >>> Confinement(user="nobody", hide=(Path("/root"),), network=False).network
        False
    """

    user: str | None = None  # OS user to run as; None: stay the current user
    hide: tuple[Path, ...] = ()  # paths made invisible (an empty tmpfs mounted over each)
    network: bool = True  # False: a new network namespace with no interfaces up
    memory_bytes: int | None = None  # RLIMIT_AS
    cpu_seconds: int | None = None  # RLIMIT_CPU
    file_bytes: int | None = None  # RLIMIT_FSIZE
    processes: int | None = None  # RLIMIT_NPROC
    workdir: Path | None = None  # cwd for the confined process (created, owned by `user`, 0700)
    private_tmp: bool = False  # a fresh /tmp, /var/tmp and /dev/shm of its own (workdir stays where it is)
    partial: bool = True  # where namespaces are refused, run with what is left (a warning); False: refuse to run


def encode(confinement: Confinement) -> str:
    """The JSON form the launcher reads from its first argument."""
    fields = dataclasses.asdict(confinement)
    fields["hide"] = [str(path) for path in confinement.hide]
    fields["workdir"] = None if confinement.workdir is None else str(confinement.workdir)
    return json.dumps(fields, separators=(",", ":"))


def decode(text: str) -> Confinement:
    """The ``Confinement`` ``encode`` wrote; anything else is a ``ConfinementError``."""
    try:
        fields: Any = json.loads(text)
    except ValueError as exc:
        raise ConfinementError(f"the confinement is not JSON: {exc}") from None
    known = {field.name for field in dataclasses.fields(Confinement)}
    if not isinstance(fields, dict) or not set(fields) <= known:
        raise ConfinementError(f"the confinement must be an object with only these keys: {', '.join(sorted(known))}")
    try:
        for name in _LIMITS:
            value = fields.get(name)
            if value is not None and (type(value) is not int or value < 0):
                raise ConfinementError(f"{name} must be a whole number >= 0, not {value!r}")
        for flag in ("network", "partial", "private_tmp"):
            if not isinstance(fields.get(flag, True), bool):
                raise ConfinementError(f"{flag} must be true or false")
        if fields.get("user") is not None and not isinstance(fields["user"], str):
            raise ConfinementError("user must be a string")
        hide = tuple(Path(path) for path in fields.get("hide", ()))
        workdir = fields.get("workdir")
        return Confinement(**{**fields, "hide": hide, "workdir": None if workdir is None else Path(workdir)})
    except TypeError as exc:
        raise ConfinementError(f"the confinement is malformed: {exc}") from None


def confined_argv(confinement: Confinement, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` under ``confinement``, through the launcher ``python -m genome.sandbox``.

    The launcher execs ``argv`` in place, so the process started from the returned argv (its pid, its process
    group) is the confined command's. Start it with the environment the command should get.

    Example:
        >>> confined_argv(Confinement(network=False), ["true"])[-2:]
        ['--', 'true']
    """
    if not argv:
        raise ValueError("argv must name a program to run")
    # -I: the launcher runs with the server's privileges, so neither the working folder nor PYTHON* variables
    # may put modules of their own in front of it.
    return [sys.executable, "-I", "-m", "genome.sandbox", encode(confinement), "--", *argv]


# -- the launcher's side ---------------------------------------------------------------------------------------------


def apply(confinement: Confinement) -> None:
    """Confine this process, in the documented order; raises ``ConfinementError`` when any step fails."""
    account = _account(confinement.user) if confinement.user is not None else None
    root = os.geteuid() == 0
    if account is not None and not root and account.pw_uid != os.geteuid():
        raise ConfinementError(f"only root can run a command as {account.pw_name!r}")
    namespaced = True
    if root:
        try:
            _unshare(_CLONE_NEWNS | (0 if confinement.network else _CLONE_NEWNET))
        except ConfinementError as exc:
            # A container without CAP_SYS_ADMIN, say. Another user still cannot read the server's private files
            # (0600/0700); without one, nothing would confine the command.
            if account is None or account.pw_uid == 0 or not confinement.partial:
                raise
            namespaced = False
            print(
                f"genome.sandbox: warning: {exc}, so the confinement is partial: the command runs as "
                f"{account.pw_name} with resource limits, its files protected by their modes only (no hidden "
                "paths, network left on)",
                file=sys.stderr,
                flush=True,
            )
    else:
        namespaced = _enter_user_namespace(confinement.network)
        if not namespaced and not confinement.partial:
            raise ConfinementError("user namespaces are not available, and a partial confinement was not allowed")
        if not namespaced:
            print(
                "genome.sandbox: warning: user namespaces are not available, so the confinement is partial: "
                "resource limits only (no hidden paths, network left on)",
                file=sys.stderr,
                flush=True,
            )
    cwd = _current_folder()
    if namespaced:
        scratch = _SHARED_TMP if confinement.private_tmp else ()
        _hide(confinement.hide, scratch, confinement.workdir, account)
    _set_limits(confinement)
    if confinement.workdir is not None:
        _make_workdir(confinement.workdir, account)
    if account is not None and root:
        _switch(account)
    _chdir(confinement.workdir, cwd)


def _account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ConfinementError(f"there is no user {name!r} on this machine") from None


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc().unshare(ctypes.c_int(flags)) != 0:
        errno = ctypes.get_errno()
        raise ConfinementError(f"unshare failed: {os.strerror(errno)}")


def _mount(source: bytes | None, target: str, fstype: bytes | None, flags: int, data: bytes | None = None) -> None:
    result = _libc().mount(source, target.encode(), fstype, ctypes.c_ulong(flags), data)
    if result != 0:
        errno = ctypes.get_errno()
        raise ConfinementError(f"mount on {target} failed: {os.strerror(errno)}")


def _enter_user_namespace(network: bool) -> bool:
    """Without root: a user namespace mapping this user to itself, with its own mounts; False when unavailable."""
    uid, gid = os.getuid(), os.getgid()
    libc = _libc()
    if libc.unshare(ctypes.c_int(_CLONE_NEWUSER | _CLONE_NEWNS | (0 if network else _CLONE_NEWNET))) != 0:
        return False
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        raise ConfinementError(f"could not map the user namespace: {exc}") from None
    return True


def _within(path: str, folders: Iterable[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _outermost(paths: Iterable[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not _within(path, kept):
            kept.append(path)
    return kept


def _interpreter_paths() -> list[str]:
    """What this Python needs to start and import Genome and the installed libraries."""
    import genome

    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(os.path.dirname(os.path.abspath(genome.__file__))),
        *(sysconfig.get_paths()[name] for name in ("purelib", "platlib", "stdlib", "platstdlib")),
        *sys.path,  # with what .pth files added (an editable install, another environment's packages)
    ]
    return [os.path.realpath(path) for path in candidates if path and os.path.isdir(path)]


def _kept_flags(path: str) -> int:
    flags = os.statvfs(path).f_flag
    return sum(mount_flag for st_flag, mount_flag in _KEPT_FLAGS.items() if flags & st_flag)


def _hide(
    hide: tuple[Path, ...],
    scratch: tuple[str, ...] = (),
    workdir: Path | None = None,
    account: pwd.struct_passwd | None = None,
) -> None:
    """An empty read-only tmpfs over each hidden path, an empty writable one over each ``scratch`` folder (a /tmp
    of its own); the interpreter is bound back read-only where covered, and ``workdir`` writable where a scratch
    folder covers it."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    hidden = [os.path.realpath(path) for path in hide if os.path.lexists(path)]
    fresh = [folder for folder in scratch if os.path.isdir(folder) and not os.path.islink(folder)]
    outer = _outermost(hidden + fresh)
    if not outer:
        return
    keep = _outermost(path for path in _interpreter_paths() if _within(path, outer))
    home = os.path.realpath(workdir) if workdir is not None else None
    if home is not None and (not _within(home, fresh) or _within(home, hidden) or _within(home, keep)):
        home = None
    if home is not None:
        _make_workdir(Path(home), account)
    # Held open across the hiding: once a tmpfs covers a folder, its path no longer reaches what is kept.
    handles = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in [*keep, *([home] if home else [])]}
    flags = {path: _kept_flags(path) for path in keep}
    try:
        for path in outer:
            _cover(path, writable=path in fresh)
        for path, handle in handles.items():
            _make_mountpoint(path)
            _mount(f"/proc/self/fd/{handle}".encode(), path, None, _MS_BIND | _MS_REC)
            if path in flags:
                _mount(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags[path])
        for path in hidden:  # a hidden path inside what was just bound back
            if path not in outer and _within(path, keep):
                _cover(path)
    except OSError as exc:
        raise ConfinementError(f"could not hide paths: {exc}") from None
    finally:
        for handle in handles.values():
            os.close(handle)


def _make_mountpoint(path: str) -> None:
    """The folders down to ``path`` on a covering tmpfs, each 0755 whatever the umask, so any user can pass."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        if not os.path.isdir(current):
            os.mkdir(current)
            os.chmod(current, 0o755)


def _cover(path: str, *, writable: bool = False) -> None:
    """An empty, read-only-for-others tmpfs over a folder (``writable``: one anyone may write in, like /tmp);
    /dev/null over a file."""
    if writable:
        _mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV, _SCRATCH_OPTIONS)
    elif stat.S_ISDIR(os.stat(path).st_mode):
        _mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, _TMPFS_OPTIONS)
    else:
        _mount(b"/dev/null", path, None, _MS_BIND)
        _mount(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _kept_flags(path))


def _set_limits(confinement: Confinement) -> None:
    for name, kind in _LIMITS.items():
        value = getattr(confinement, name)
        if value is None:
            continue
        try:
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)  # never loosen a limit this process already has
            resource.setrlimit(kind, (value, value))
        except (OSError, ValueError) as exc:
            raise ConfinementError(f"could not set {name}={value}: {exc}") from None


def _current_folder() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _make_workdir(workdir: Path, account: pwd.struct_passwd | None) -> None:
    try:
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(workdir)
        if not stat.S_ISDIR(info.st_mode):
            raise ConfinementError(f"the working folder {workdir} is not a folder")
        if account is not None and (info.st_uid, info.st_gid) != (account.pw_uid, account.pw_gid):
            os.chown(workdir, account.pw_uid, account.pw_gid, follow_symlinks=False)
        os.chmod(workdir, 0o700, follow_symlinks=False)
    except OSError as exc:
        raise ConfinementError(f"could not prepare the working folder {workdir}: {exc}") from None


def _switch(account: pwd.struct_passwd) -> None:
    try:
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    except OSError as exc:
        raise ConfinementError(f"could not switch to {account.pw_name!r}: {exc}") from None
    if account.pw_uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise ConfinementError(f"after switching to {account.pw_name!r} the process could become root again")


def _chdir(workdir: Path | None, cwd: str | None) -> None:
    if workdir is not None:
        try:
            os.chdir(workdir)
        except OSError as exc:
            raise ConfinementError(f"could not enter the working folder {workdir}: {exc}") from None
        return
    # Enter the same folder again by its path: the old handle would still reach a folder hidden since.
    for folder in (cwd, "/"):
        if folder is None:
            continue
        try:
            os.chdir(folder)
            return
        except OSError:
            continue
    raise ConfinementError("could not enter any working folder")
