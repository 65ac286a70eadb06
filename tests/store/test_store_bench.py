"""``benchmarks/serve_store.py`` (group commit's writes per second): its ids and its A/B of two checkouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _shared import REPO

SCRIPT = REPO / "benchmarks" / "serve_store.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


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
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import serve_store
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    serve_store._IDS[0] = ids
    try:
        made = [serve_store._id() for _ in range(200)]
    finally:
        serve_store._IDS[0] = "client"
    assert len(set(made)) == 200 and all(len(i) == 32 for i in made)
    assert all(i[12] == ("7" if time_ordered else "4") for i in made)
