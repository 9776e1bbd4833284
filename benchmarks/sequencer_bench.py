"""Sequencer overhead per step beyond the step's own process time (SPEC §9: ≤ 100 ms), against running the same
commands by hand.

    .venv/bin/python benchmarks/sequencer_bench.py [--rounds 5] [--command true]

On one `genome serve` process (SQLite, local executor, 20 steps at once) it times, in the same run:
- a 10-step chain: ten steps one after the other, against `subprocess.run` of the ten commands in a row;
- a 20-way parallel group: twenty steps at once, against starting the twenty commands together and waiting.
A run's time is from the POST to its `finished` stamp (the server's clock), so polling does not count; the
overhead per step is the difference divided by the number of steps in sequence (10, and 1 for the group).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from genome_server import genome_server

ROUTE = "/v1.0/genome/compute"


def by_hand_chain(command: list[str], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        subprocess.run(command, check=True)
    return (time.perf_counter() - start) * 1000


def by_hand_parallel(command: list[str], steps: int) -> float:
    start = time.perf_counter()
    processes = [subprocess.Popen(command) for _ in range(steps)]
    for process in processes:
        process.wait()
    return (time.perf_counter() - start) * 1000


def genome_run(client: httpx.Client, command: list[str], steps: list) -> tuple[float, float]:
    """Wall time from the POST to the end (server stamps) and as the client saw it, in ms."""
    body = {"application": "bench", "pipelineName": "bench", "steps": steps}
    start = time.perf_counter()
    created = client.post(f"{ROUTE}/sequencer/run", json=body)
    created.raise_for_status()
    run_id = created.json()["id"]
    while True:
        run = client.get(f"{ROUTE}/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.01)
    seen = (time.perf_counter() - start) * 1000
    assert run["status"] == "succeeded", run
    return float(run["finished"] - run["created"]), seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--command", default="true", help="the step's command (shell words)")
    args = parser.parse_args(argv)
    command = shlex.split(args.command)

    def step(name: str) -> dict:
        return {"stepName": name, "command": command}

    chain = [step(f"step-{i}") for i in range(10)]
    group = [[step(f"step-{i}") for i in range(20)]]
    hand_chain = [by_hand_chain(command, 10) for _ in range(args.rounds)]
    hand_group = [by_hand_parallel(command, 20) for _ in range(args.rounds)]
    with (
        tempfile.TemporaryDirectory(prefix="genome-sequencer-bench-") as tmp,
        genome_server(Path(tmp) / "home", settings={"executor_concurrency": "20"}) as (url, token),
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client,
    ):
        genome_run(client, command, chain)  # warm-up
        chains = [genome_run(client, command, chain) for _ in range(args.rounds)]
        groups = [genome_run(client, command, group) for _ in range(args.rounds)]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    chain_server, chain_seen = median([c[0] for c in chains]), median([c[1] for c in chains])
    group_server, group_seen = median([g[0] for g in groups]), median([g[1] for g in groups])
    per_step = (chain_server - median(hand_chain)) / 10
    per_group = group_server - median(hand_group)
    print(f"Step command: {args.command!r}; medians of {args.rounds} runs.")
    print("| pipeline | by hand (ms) | Genome, POST to finished (ms) | as the client saw it (ms) | overhead |")
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("10-step chain", median(hand_chain), chain_server, chain_seen, f"{per_step:.1f} ms per step"),
        ("20-way parallel group", median(hand_group), group_server, group_seen, f"{per_group:.1f} ms for the group"),
    ]
    for label, hand, server, seen, overhead in rows:
        print(f"| {label} | {hand:.1f} | {server:.1f} | {seen:.1f} | {overhead} |")
    verdict = "met" if per_step <= 100 else "MISSED"
    print(f"\nPer-step overhead in a chain: {per_step:.1f} ms (bar: at most 100 ms): {verdict}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
