from __future__ import annotations

from typer.testing import CliRunner

from abrec.cli import app

runner = CliRunner()


def test_policies_lists_the_registry() -> None:
    result = runner.invoke(app, ["policies"])
    assert result.exit_code == 0
    for name in ("linucb", "bernoulli_ts", "hybrid_linucb", "uniform"):
        assert name in result.stdout
