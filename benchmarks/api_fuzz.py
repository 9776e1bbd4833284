"""Fuzz the whole HTTP API with schemathesis and count server errors (SPEC §9: zero 5xx).

    .venv/bin/python benchmarks/api_fuzz.py [--max-examples 40] [--database-url postgresql+psycopg://...]

Starts `genome serve` on a fresh database, authenticates as the admin, and runs schemathesis's coverage, fuzzing
and stateful phases over every operation in the OpenAPI document with the `not_a_server_error` check.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from genome_server import genome_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=40, help="examples per operation and phase")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="genome-fuzz-") as tmp,
        genome_server(Path(tmp) / "home", database_url=args.database_url) as (url, token),
    ):
        # The document needs a credential like every route: fetched here, then handed over as a file.
        document = Path(tmp) / "openapi.json"
        response = httpx.get(f"{url}/v1.0/genome/openapi.json", headers={"Authorization": f"Bearer {token}"})
        document.write_bytes(response.raise_for_status().content)
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            str(document),
            "--url",
            url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(args.max_examples),
            # Logging out would revoke the token the rest of the run needs.
            "--exclude-path-regex",
            "logout",
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
