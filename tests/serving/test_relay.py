"""What an isolated worker writes to stderr reaches the server's log escaped and bounded."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from genome.serving import pool


def test_a_worker_flooding_stderr_cannot_forge_log_lines_nor_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    flood = (
        "import sys\n"
        "for i in range(5000): sys.stderr.write('line %d\\rFORGED: admin logged in\\x1b[2J' % i + 'x' * 5000 + '\\n')"
    )
    process = subprocess.Popen([sys.executable, "-c", flood], stderr=subprocess.PIPE)
    with caplog.at_level(logging.WARNING, logger=pool.log.name):
        pool._relay(process, 3)
    process.wait()
    process.stderr.close()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) <= pool._LOG_LINES + 1
    assert lines[-1].endswith("lines not logged")
    assert all(line.startswith("isolated worker 3 (pid ") for line in lines)
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)
    assert all(len(line) < pool._MAX_LOG_LINE + 200 for line in lines)
