"""Step logs that stay usable when big, through a live server: pages that end on whole lines and know their first
line's number, the tail, a line's page, search counted by the server, downloads (all or the matching lines), logs
cut when longer than the server keeps, and a run that answers 304 while unchanged."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_runs import RUNS, pipeline, start, step, wait_for

from genome.sequencer.logs import TRUNCATED, cut_middle

# 3,000 numbered lines, every 7th saying "needle", about 100 KB in all.
WRITE = (
    "import sys\n"
    "for i in range(1, 3001):\n"
    "    sys.stdout.write(f'line {i:05d} ' + ('needle ' if i % 7 == 0 else '') + 'x' * 20 + '\\n')\n"
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, fresh_database) -> tuple:
    """One server and one run whose step wrote a long log; shared by the read-only tests below."""
    from genome.config import Settings
    from live import ADMIN_PASSWORD, LiveServer

    home = tmp_path_factory.mktemp("logs-home")
    settings = Settings(home=home, database_url=fresh_database.url("sqlite"), admin_password=ADMIN_PASSWORD)
    with LiveServer(settings) as server:
        run = wait_for(server, start(server, pipeline(step("talk", WRITE)))["id"])
        assert run["status"] == "succeeded", run
        yield server, f"{RUNS}/{run['id']}/steps/talk/attempts/1/log"


def test_a_page_ends_on_a_whole_line_and_knows_its_first_line(finished) -> None:
    server, log = finished
    whole = server.http.get(log).json()
    assert whole["complete"] and whole["line"] == 1 and whole["size"] == len(whole["text"].encode())
    assert not whole["truncated"]
    lines = whole["text"].splitlines()
    assert len(lines) == 3000 and lines[41].startswith("line 00042")

    middle = server.http.get(log, params={"offset": 1000}).json()
    # A page asked from the middle of a line starts there, but the page after it starts on a line's first byte.
    following = server.http.get(log, params={"offset": middle["nextOffset"]}).json()
    assert following["offset"] == middle["nextOffset"] == whole["size"]

    tail = server.http.get(log, params={"tail": 1000}).json()
    first = tail["text"].splitlines()[0]
    assert first.startswith("line "), "the tail starts at a line's start"
    assert int(first.split()[1]) == tail["line"], "the tail knows its first line's number"
    assert tail["nextOffset"] == whole["size"] and tail["complete"]


def test_search_counts_every_match_and_returns_line_numbers(finished) -> None:
    server, log = finished
    found = server.http.get(f"{log}/search", params={"q": "NEEDLE", "limit": 10}).json()
    assert found["count"] == 3000 // 7
    assert [match["line"] for match in found["matches"]] == [7 * k for k in range(1, 11)]
    assert all("needle" in match["text"] for match in found["matches"])
    assert found["matches"][0]["text"].startswith("line 00007")

    assert server.http.get(f"{log}/search", params={"q": "no such text"}).json()["count"] == 0
    empty = server.http.get(f"{log}/search", params={"q": ""})
    assert empty.status_code == 400 and "q" in empty.text


def test_download_gives_the_whole_log_or_the_matching_lines(finished) -> None:
    server, log = finished
    whole = server.http.get(f"{log}/download")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/plain")
    assert "attachment" in whole.headers["content-disposition"]
    assert whole.text == server.http.get(log).json()["text"]

    filtered = server.http.get(f"{log}/download", params={"q": "needle"})
    lines = filtered.text.splitlines()
    assert len(lines) == 3000 // 7 and all("needle" in line for line in lines)
    assert "filtered" in filtered.headers["content-disposition"]


def test_an_unknown_attempt_is_a_404_on_every_log_route(finished) -> None:
    server, log = finished
    ghost = log.replace("/attempts/1/", "/attempts/9/")
    for route in (ghost, f"{ghost}/search?q=x", f"{ghost}/download"):
        answer = server.http.get(route)
        assert answer.status_code == 404 and "attempt" in answer.text


def test_an_unchanged_run_is_a_304(finished) -> None:
    server, log = finished
    run_url = log.split("/steps/")[0]
    first = server.http.get(run_url)
    etag = first.headers["etag"]
    again = server.http.get(run_url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert server.http.get(run_url, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_a_log_longer_than_the_server_keeps_is_cut_in_the_middle(make_server) -> None:
    server = make_server("sqlite", step_log_max_bytes=8192)
    run = wait_for(server, start(server, pipeline(step("talk", WRITE)))["id"])
    log = f"{RUNS}/{run['id']}/steps/talk/attempts/1/log"
    chunk = server.http.get(log).json()
    assert chunk["truncated"]
    text = chunk["text"]
    assert text.startswith(TRUNCATED.decode()) and "cut here" in text
    assert "line 00001" in text and text.rstrip().endswith("x" * 20) and "line 03000" in text
    assert "line 01500" not in text, "the middle is gone"
    assert chunk["size"] <= 8192 + 200


def test_cut_middle_keeps_the_head_and_the_tail(tmp_path: Path) -> None:
    source = tmp_path / "big.log"
    source.write_bytes(b"".join(b"%06d\n" % i for i in range(100_000)))
    target = io.BytesIO()
    cut_middle(source, 70_000, target)
    data = target.getvalue()
    first, rest = data.split(b"\n", 1)
    assert first.startswith(TRUNCATED) and b"630,000" in first
    assert rest.startswith(b"000000\n") and data.endswith(b"099999\n")
    assert len(data) < 70_000 + 200
