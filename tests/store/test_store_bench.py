"""``benchmarks/serve_store.py`` (group commit's writes per second): its ids, its batch and busy options, its A/B of two
checkouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _shared import REPO

SCRIPT = REPO / "benchmarks" / "serve_store.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def _serve_store() -> Any:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import serve_store
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return serve_store


def test_base_measures_both_checkouts_alternately_and_tags_each_line() -> None:
    done = _run(
        *"--seconds 0.2 --concurrency 1 --db sqlite --modes group_commit --repeats 2".split(), "--base", str(REPO)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["code"], line["repeat"]) for line in lines] == [
        ("base", 0),
        ("current", 0),
        ("base", 1),
        ("current", 1),
    ]
    for line in lines:
        assert (line["db"], line["mode"], line["concurrency"], line["errors"]) == ("sqlite", "group_commit", 1, 0)
        assert line["writes"] > 0


def test_base_must_be_a_checkout(tmp_path: Path) -> None:
    done = _run("--base", str(tmp_path))
    assert done.returncode != 0 and "no src/abrec there" in done.stderr


@pytest.mark.parametrize(("ids", "time_ordered"), [("client", True), ("random", False)])
def test_ids_are_made_as_asked(ids: str, time_ordered: bool) -> None:
    serve_store: Any = _serve_store()
    serve_store._IDS[0] = ids
    try:
        made = [serve_store._id() for _ in range(200)]
    finally:
        serve_store._IDS[0] = "client"
    assert len(set(made)) == 200 and all(len(i) == 32 for i in made)
    assert all(i[12] == ("7" if time_ordered else "4") for i in made)


def test_a_batch_write_holds_that_many_decide_reward_pairs() -> None:
    serve_store = _serve_store()
    first, decisions = serve_store._pairs([], "u1", 3)
    assert (len(first.decisions), len(first.rewards)) == (3, 0)  # nothing to reward yet
    second, again = serve_store._pairs(decisions, "u1", 3)
    assert len(second.decisions) == 3 and len({d.event_id for d in second.decisions + first.decisions}) == 6
    assert [r.event_id for r in second.rewards] == [d.event_id for d in decisions]  # each earlier decision's reward
    assert again == list(second.decisions)


def test_batch_and_busy_are_measured_and_on_every_line() -> None:
    done = _run(*"--seconds 0.3 --concurrency 1,2 --db sqlite --modes group_commit --batch 3 --busy 0.5".split())
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["concurrency"] for line in lines] == [1, 2]
    for line in lines:
        assert (line["batch"], line["busy"], line["errors"]) == (3, 0.5, 0)
        assert line["writes"] > 0
        assert 0.1 < line["busy_measured"] <= 0.6  # the thread did run Python, about half the time
    idle = _run(*"--seconds 0.2 --concurrency 1 --db sqlite --modes group_commit".split())
    assert [json.loads(line)["busy_measured"] for line in idle.stdout.splitlines()] == [0.0]


@pytest.mark.parametrize(("option", "said"), [("--batch=0", "--batch 0"), ("--busy=1.5", "--busy 1.5")])
def test_a_bad_batch_or_busy_is_one_error_line(option: str, said: str) -> None:
    done = _run(option)
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: {said}" in done.stderr and "Traceback" not in done.stderr
