"""The launcher: a confined command runs as another user, without network, within its limits, without seeing hidden
paths, and a confinement that cannot be applied stops the command instead of running it unconfined."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import genome
from genome.errors import InvalidSetting
from genome.sandbox import Confinement, confined_argv, ensure_user
from genome.sandbox.confine import ConfinementError, decode, encode

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="confining as another user needs root (CI runs as root)")
# The server's home is hidden in every case below: it is what makes /root/.pyenv (this Python) reachable by nobody,
# through the launcher's read-only bind of the interpreter.
HOME = (Path.home(),)


def run(confinement: Confinement, code: str, **popen: object) -> subprocess.CompletedProcess[str]:
    argv = confined_argv(confinement, [sys.executable, "-c", code])
    environment = {"PATH": os.environ.get("PATH", os.defpath)}
    return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=120, **popen)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder any user may use (``tmp_path`` is private to the user running the tests)."""
    path = Path(f"/tmp/genome-sandbox-{uuid.uuid4().hex[:8]}")
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_confinement_round_trips_through_the_launchers_argument() -> None:
    confinement = Confinement(user="nobody", hide=(Path("/srv/a"),), network=False, memory_bytes=1, workdir=Path("/w"))
    argv = confined_argv(confinement, ["echo", "hi"])
    assert argv[:4] == [sys.executable, "-I", "-m", "genome.sandbox"] and argv[-3:] == ["--", "echo", "hi"]
    assert decode(argv[4]) == confinement == decode(encode(confinement))
    for bad in ("[]", "{", '{"user": 1}', '{"memory_bytes": -1}', '{"memory_bytes": 1.5}', '{"shell": true}'):
        with pytest.raises(ConfinementError):
            decode(bad)
    with pytest.raises(ValueError, match="program"):
        confined_argv(confinement, [])


@needs_root
def test_a_step_as_nobody_runs_this_python_with_genome_and_sklearn_while_the_home_is_hidden() -> None:
    home = Path.home()
    code = (
        "import json, os, genome, sklearn; "
        f"print(json.dumps([os.getuid(), os.getgid(), os.getgroups(), sorted(os.listdir({str(home)!r}))]))"
    )
    result = run(Confinement(user="nobody", hide=HOME), code)
    assert result.returncode == 0, result.stderr
    nobody = pwd.getpwnam("nobody")
    uid, gid, groups, listing = json.loads(result.stdout)
    assert (uid, gid, groups) == (nobody.pw_uid, nobody.pw_gid, [])
    # the home shows only the folders leading to what the interpreter needs
    interpreter = (Path(os.path.realpath(path)) for path in (sys.prefix, sys.base_prefix, sys.executable))
    needed = {path.relative_to(home).parts[0] for path in interpreter if path.is_relative_to(home)}
    assert set(listing) <= needed


@needs_root
def test_without_network_a_loopback_server_cannot_be_reached() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')"
        assert run(Confinement(user="nobody", hide=HOME), code).stdout.strip() == "connected"  # the control
        result = run(Confinement(user="nobody", hide=HOME, network=False), code)
    assert result.returncode != 0 and "connected" not in result.stdout
    assert "Network is unreachable" in result.stderr or "Connection refused" in result.stderr


@needs_root
def test_a_file_cannot_grow_past_file_bytes(open_dir: Path) -> None:
    workdir = open_dir / "work"
    code = "f = open('out', 'wb'); f.write(b'x' * 100_000); f.flush()"
    result = run(Confinement(user="nobody", hide=HOME, file_bytes=4096, workdir=workdir), code)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert (workdir / "out").stat().st_size <= 4096
    info = workdir.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (pwd.getpwnam("nobody").pw_uid, 0o700)


@needs_root
def test_memory_cannot_be_allocated_past_memory_bytes() -> None:
    result = run(Confinement(user="nobody", hide=HOME, memory_bytes=1024**3), "bytearray(2 * 1024**3)")
    assert result.returncode != 0 and "MemoryError" in result.stderr
    small = run(Confinement(user="nobody", hide=HOME, memory_bytes=1024**3), "print(len(bytearray(50 * 1024**2)))")
    assert small.stdout.strip() == str(50 * 1024**2), small.stderr


@needs_root
def test_a_hidden_path_cannot_be_read_even_by_root(open_dir: Path) -> None:
    secret = open_dir / "secret"
    secret.mkdir()
    (secret / "key").write_text("s3cr3t")
    code = f"print(open({str(secret / 'key')!r}).read())"
    assert run(Confinement(), code).stdout.strip() == "s3cr3t"  # the control: same user, nothing hidden
    result = run(Confinement(hide=(secret, *HOME)), code)
    assert result.returncode != 0 and "No such file" in result.stderr and "s3cr3t" not in result.stdout
    listing = run(Confinement(user="nobody", hide=(secret, *HOME)), f"import os; print(os.listdir({str(secret)!r}))")
    assert listing.stdout.strip() == "[]"
    # the hiding is the command's own: the folder is intact outside
    assert (secret / "key").read_text() == "s3cr3t"


@needs_root
def test_a_private_tmp_shares_nothing_with_others_and_keeps_the_home_inside_it(open_dir: Path) -> None:
    planted = open_dir / "planted"  # what another user left in the shared /tmp
    planted.write_text("from outside")
    shm = Path(f"/dev/shm/genome-sandbox-{uuid.uuid4().hex[:8]}")
    home = open_dir / "home"
    code = (
        "import os, pathlib\n"
        f"print(os.path.exists({str(planted)!r}), os.path.exists({str(open_dir)!r}))\n"
        f"pathlib.Path('/tmp/left-behind').write_text('x'); pathlib.Path({str(shm)!r}).write_text('x')\n"
        "pathlib.Path('in-home').write_text('kept')\n"
        "print(os.getcwd(), sorted(os.listdir('/tmp')))"
    )
    try:
        result = run(Confinement(user="nobody", hide=HOME, workdir=home, private_tmp=True), code)
        assert result.returncode == 0, result.stderr
        seen, where = result.stdout.splitlines()
        assert seen == "False True"  # the home's parents are there again, nothing else of the shared /tmp
        # the home's parents, what the command wrote, and this Python when it is installed under /tmp (CI's checkout)
        interpreter = {Path(path).parts[2] for path in (sys.prefix, genome.__file__) if path.startswith("/tmp/")}
        assert where == f"{home} {sorted({open_dir.name, 'left-behind'} | interpreter)}"
        assert not Path("/tmp/left-behind").exists() and not shm.exists()
        assert (home / "in-home").read_text() == "kept"  # the home is the real folder, on disk
    finally:
        shm.unlink(missing_ok=True)


@needs_root
def test_an_interpreter_installed_under_tmp_still_runs_under_a_private_tmp(open_dir: Path) -> None:
    """A checkout in /tmp (as CI makes) with its virtual environment there: the private /tmp must not cover it."""
    venv = open_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    outer = [path for path in sys.path if path.endswith("site-packages")]  # with their .pth files
    (site / "outer.pth").write_text("".join(f"import site; site.addsitedir({path!r})\n" for path in outer))
    python = str(venv / "bin" / "python")
    confinement = Confinement(user="nobody", hide=HOME, workdir=open_dir / "home", private_tmp=True)
    argv = [python, "-I", "-m", "genome.sandbox", encode(confinement), "--", python, "-c", "import sklearn; print(1)"]
    result = subprocess.run(argv, env={"PATH": os.defpath}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr


@needs_root
def test_a_hidden_working_folder_is_left_for_the_hidden_one(open_dir: Path) -> None:
    """A command started in a folder that gets hidden must not keep reaching it through its old handle."""
    secret = open_dir / "secret"
    secret.mkdir()
    (secret / "key").write_text("s3cr3t")
    result = run(Confinement(hide=(secret, *HOME)), "import os; print(os.listdir('.'))", cwd=secret)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@needs_root
def test_a_confinement_that_fails_stops_the_command(open_dir: Path) -> None:
    marker = open_dir / "ran"
    code = f"open({str(marker)!r}, 'w').write('unconfined')"
    for confinement in (
        Confinement(user="no-such-user-anywhere"),
        Confinement(user="nobody", workdir=Path("/proc/genome-cannot-be-here")),
    ):
        result = run(confinement, code)
        assert result.returncode == 125, result.stderr
        assert "the command was not run" in result.stderr
        assert not marker.exists()
    broken = subprocess.run(
        [sys.executable, "-m", "genome.sandbox", "{not json", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 125 and "not JSON" in broken.stderr and not marker.exists()


def _system_python() -> str | None:
    """A Python any user can run (this one lives under /root), to start the launcher as nobody."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK) and (Path(candidate).stat().st_mode & 0o005) == 0o005:
            return candidate
    return None


@needs_root
@pytest.mark.skipif(_system_python() is None, reason="needs a Python outside /root that nobody can run")
def test_without_root_the_launcher_hides_paths_in_a_user_namespace_or_says_it_cannot(open_dir: Path) -> None:
    secret = open_dir / "secret"
    secret.mkdir()
    (secret / "key").write_text("s3cr3t")
    secret.chmod(0o755)
    marker = open_dir / "ran-as-root"
    code = f"open({str(marker)!r}, 'w')"
    source = str(Path(__import__("genome").__file__).parents[1])
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": source}

    def launch(confinement: dict[str, object], command: list[str]) -> subprocess.CompletedProcess[str]:
        argv = [str(_system_python()), "-m", "genome.sandbox", json.dumps(confinement), "--", *command]
        as_nobody = {"user": "nobody", "group": pwd.getpwnam("nobody").pw_gid, "extra_groups": []}
        return subprocess.run(argv, env=environment, capture_output=True, text=True, cwd="/", **as_nobody)  # type: ignore[call-overload, no-any-return]

    hidden = launch({"hide": [str(secret)]}, ["cat", str(secret / "key")])
    if "confinement is partial" in hidden.stderr:  # no unprivileged user namespaces on this kernel
        assert hidden.stdout == "s3cr3t"
    else:
        assert hidden.returncode != 0 and "s3cr3t" not in hidden.stdout, hidden.stderr
    refused = launch({"user": "root"}, ["sh", "-c", code])
    assert refused.returncode == 125 and "only root" in refused.stderr and not marker.exists()


@needs_root
def test_ensure_user_creates_a_missing_system_account_without_login_or_home() -> None:
    name = f"gnm-t-{uuid.uuid4().hex[:8]}"
    try:
        account = ensure_user(name)
        assert account.pw_name == name and 0 < account.pw_uid < 1000
        assert account.pw_dir == "/nonexistent" and not Path(account.pw_dir).exists()
        assert account.pw_shell.endswith(("nologin", "false"))
        assert ensure_user(name) == account  # found, not created twice
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
    with pytest.raises(InvalidSetting, match="cannot create a user named"):
        ensure_user("Bad Name!")


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal a server not running as root gives")
def test_ensure_user_without_root_names_the_missing_account() -> None:
    with pytest.raises(InvalidSetting, match="only a server running as root creates it"):
        ensure_user("genome-no-such-account")


_WITHOUT_NAMESPACES = (
    "import sys\n"
    "import genome.sandbox.confine as confine\n"
    "from genome.sandbox.__main__ import main\n"
    "def refused(flags):\n"
    "    raise confine.ConfinementError('unshare failed: Operation not permitted')\n"
    "confine._unshare = refused\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@needs_root
def test_without_namespaces_root_still_switches_user_and_says_the_confinement_is_partial() -> None:
    # As in a container without CAP_SYS_ADMIN: unshare is refused.
    def launch(confinement: Confinement) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-I", "-c", _WITHOUT_NAMESPACES, encode(confinement), "--", "/usr/bin/id", "-u"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    switched = launch(Confinement(user="nobody", hide=HOME, network=False))
    assert switched.returncode == 0, switched.stderr
    assert int(switched.stdout) == pwd.getpwnam("nobody").pw_uid
    assert "confinement is partial" in switched.stderr and "nobody" in switched.stderr
    # Without another user, nothing would confine the command: it is not run; nor when partial is not allowed.
    for refused in (Confinement(hide=HOME, network=False), Confinement(user="nobody", hide=HOME, partial=False)):
        result = launch(refused)
        assert result.returncode == 125 and "the command was not run" in result.stderr, result.stderr
