from __future__ import annotations

from typer.testing import CliRunner

from abrec.cli import app

runner = CliRunner()


def test_demo_prints_a_table_of_real_results() -> None:
    result = runner.invoke(
        app, ["demo", "--rounds", "2000", "--arms", "8", "--dim", "4", "--policies", "uniform,linucb"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["policy", "clicks", "oracle"]
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert set(rows) == {"uniform", "linucb"}
    assert int(rows["linucb"][1].replace(",", "")) > int(rows["uniform"][1].replace(",", ""))
    assert "Best: linucb" in result.stdout


def test_demo_unknown_policy_suggests() -> None:
    result = runner.invoke(app, ["demo", "--rounds", "100", "--policies", "linucbb"])
    assert result.exit_code != 0
    assert "Did you mean 'linucb'" in str(result.exception)


def test_policies_lists_the_registry() -> None:
    result = runner.invoke(app, ["policies"])
    assert result.exit_code == 0
    for name in ("linucb", "bernoulli_ts", "hybrid_linucb", "uniform"):
        assert name in result.stdout
