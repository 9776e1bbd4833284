"""Servers on one machine never share a worker account: each claims its own, until it stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genome.serving.pool import UserClaims


def test_two_servers_claim_different_accounts_and_a_stopped_one_gives_them_back(tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    first = UserClaims("genome-sandbox", 2, folder)
    second = UserClaims("genome-sandbox", 2, folder)
    assert first.users == ["genome-sandbox-0", "genome-sandbox-1"]
    assert second.users == ["genome-sandbox-2", "genome-sandbox-3"]
    first.release()
    third = UserClaims("genome-sandbox", 1, folder)
    assert third.users == ["genome-sandbox-0"]
    second.release()
    third.release()


def test_a_server_that_dies_releases_its_claims(tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    code = (
        "import sys; from pathlib import Path; from genome.serving.pool import UserClaims; "
        f"claims = UserClaims('w', 2, Path({str(folder)!r})); print(claims.users, flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "['w-0', 'w-1']"
        assert UserClaims("w", 1, folder).users == ["w-2"]
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()  # type: ignore[union-attr]
        holder.stdout.close()  # type: ignore[union-attr]
    assert UserClaims("w", 2, folder).users == ["w-0", "w-1"]


def test_a_claims_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    with pytest.raises(RuntimeError, match="no one else may write"):
        UserClaims("w", 1, folder)
