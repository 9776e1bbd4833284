"""System accounts that confined processes run as."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess

from genome.errors import InvalidSetting

__all__ = ["ensure_user"]

# What useradd accepts on every distribution (no dots, no leading digit or dash).
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def ensure_user(name: str) -> pwd.struct_passwd:
    """The system account ``name``, created when the server runs as root and it is missing.

    A created account is a system account with its own group, no login shell and no home (``/nonexistent``), so
    nothing one confined command leaves behind is picked up by the next one.

    Raises:
        InvalidSetting: the account is missing and cannot be created (not root, a bad name, useradd failed).

    Example:
        >>> ensure_user("root").pw_uid
        0
    """
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise InvalidSetting(f"there is no user {name!r} on this machine, and only a server running as root creates it")
    if not _NAME.fullmatch(name):
        raise InvalidSetting(f"cannot create a user named {name!r}: use lowercase letters, digits, '_' and '-'")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    shell = shutil.which("nologin") or "/bin/false"
    command = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    try:
        result = subprocess.run([*command, "--shell", shell, name], capture_output=True, text=True, check=False)
        problem = result.stderr.strip() or f"useradd exited with {result.returncode}"
    except OSError as exc:
        problem = str(exc)
    try:
        return pwd.getpwnam(name)  # also when another server created it meanwhile
    except KeyError:
        raise InvalidSetting(f"could not create the system user {name!r}: {problem}") from None
