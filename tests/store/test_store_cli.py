"""``abrec db upgrade`` and ``abrec export`` on both databases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from store_records import allocation, decision, reward
from typer.testing import CliRunner

from abrec.cli import app
from abrec.data.interactions import InteractionLog
from abrec.store import EventStore, WriteBatch

runner = CliRunner()


def test_db_upgrade_creates_the_tables_once(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = runner.invoke(app, ["db", "upgrade", "--database-url", empty_database_url])
    assert first.exit_code == 0, first.output
    assert "at revision 0005" in first.output
    monkeypatch.setenv("ABREC_DATABASE_URL", empty_database_url)
    again = runner.invoke(app, ["db", "upgrade"])  # the URL from the environment; a no-op
    assert again.exit_code == 0 and "at revision 0005" in again.output
    EventStore(empty_database_url).close()


def test_db_upgrade_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", f"sqlite:///{tmp_path}/missing/dir/a.db"])
    assert result.exit_code == 2
    assert result.output.startswith("error: Cannot create or migrate the tables of sqlite:///")
    bad = runner.invoke(app, ["db", "upgrade", "--database-url", "mysql://x@y/z"])
    assert bad.exit_code == 2 and "error: Unsupported database URL" in bad.output


@pytest.mark.parametrize("name", ["log.parquet", "log.csv"])
def test_export_writes_the_joined_log(database_url: str, tmp_path: Path, name: str) -> None:
    with EventStore(database_url) as store:
        store.put_experiment("exp", {}, allocation("exp"))
        store.put_experiment("b", {}, allocation("b"))
        store.write(WriteBatch(decisions=[decision("e1"), decision("e2", experiment="b")], rewards=[reward("e1", "b")]))
        expected = store.export_log("exp")
    out = tmp_path / "out" / name
    result = runner.invoke(app, ["export", str(out), "--experiment", "exp", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "wrote 3 rows (1 decisions)" in result.output
    back = InteractionLog.read(out)
    assert back.frame["reward"].tolist() == [0.0, 1.0, 0.0] and back.frame["request_id"].unique().tolist() == ["e1"]
    if name.endswith(".parquet"):
        assert back == expected
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary file left


def test_export_of_one_variant(database_url: str, tmp_path: Path) -> None:
    with EventStore(database_url) as store:
        store.put_experiment("exp", {}, allocation("exp"))
        decisions = [decision("c1", variant="control"), decision("t1", variant="treatment", unit="u2")]
        store.write(WriteBatch(decisions=decisions))
        expected = store.export_log("exp", variant="treatment")
    out = tmp_path / "t.parquet"
    args = ["export", str(out), "--experiment", "exp", "--variant", "treatment", "--database-url", database_url]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    back = InteractionLog.read(out)
    assert back == expected and back.frame["request_id"].unique().tolist() == ["t1"]
    assert set(back.frame["variant"]) == {"treatment"}


def test_export_errors(database_url: str, tmp_path: Path) -> None:
    out = str(tmp_path / "v.parquet")
    alone = runner.invoke(app, ["export", out, "--variant", "a", "--database-url", database_url])
    assert alone.exit_code == 2 and "error: --variant needs --experiment" in alone.output
    with EventStore(database_url) as store:
        store.put_experiment("exp", {}, allocation("exp"))
    args = ["export", str(tmp_path / "v.parquet"), "--experiment", "exp", "--variant", "treatmnt"]
    wrong = runner.invoke(app, [*args, "--database-url", database_url])
    assert wrong.exit_code == 2 and "error: Unknown variant of experiment 'exp' 'treatmnt'" in wrong.output
    assert "Did you mean 'treatment'" in wrong.output or "did you mean 'treatment'" in wrong.output.lower()
    assert not (tmp_path / "v.parquet").exists()
    unknown = runner.invoke(
        app, ["export", str(tmp_path / "x.parquet"), "--experiment", "nope", "--database-url", database_url]
    )
    assert unknown.exit_code == 2 and "error: Unknown experiment 'nope'" in unknown.output
    assert not (tmp_path / "x.parquet").exists()
    suffix = runner.invoke(app, ["export", str(tmp_path / "x.txt"), "--database-url", database_url])
    assert suffix.exit_code == 2 and "unknown file type" in suffix.output
    missing = runner.invoke(app, ["export", str(tmp_path / "x.csv"), "--database-url", f"sqlite:///{tmp_path}/none.db"])
    assert missing.exit_code == 2 and "error: There is no database at" in missing.output
    assert "abrec db upgrade" in missing.output and not (tmp_path / "none.db").exists()


def test_without_the_serve_extra_the_commands_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "abrec.store", None)  # import abrec.store now raises ImportError
    result = runner.invoke(app, ["db", "upgrade", "--database-url", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "error: The event store needs the 'serve' extra" in result.output and "abrec[serve]" in result.output
