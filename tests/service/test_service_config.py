"""The service config (experiments in ``abrec simulate``'s vocabulary plus the service's keys) and the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _service_config import config_mapping, experiment
from typer.testing import CliRunner

from abrec.cli import app
from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.service import ServiceConfig, load_service_config, load_settings


def parse(**overrides: Any) -> ServiceConfig:
    return ServiceConfig.from_mapping(config_mapping(experiment(**overrides)))


def test_a_config_reads_as_abrec_simulate_reads_its_variants() -> None:
    config = parse(allocation={"method": "top_two", "min_share": 0.1, "cadence": 30})
    (spec,) = config.experiments
    assert spec.variant_names == ("random", "ts", "lin")
    assert spec.config.variants[1].params == {"propensity_draws": 50}
    assert spec.adaptive and spec.cadence == 30.0
    assert dict(spec.config.allocation) == {"method": "top_two", "min_share": 0.1}
    assert spec.reward.kind == "click" and spec.reward.window == 3600.0
    assert spec.context_dim == spec.config.feature_dim == 3
    assert config.catalog.ids[:2] == ("a", "b") and config.catalog.texts[0] == "red running shoe"


def test_one_experiment_may_sit_at_the_top_level() -> None:
    mapping = {**experiment(), "catalog": {"items": [{"id": 1, "text": "x"}]}}
    config = ServiceConfig.from_mapping(mapping)
    assert [e.name for e in config.experiments] == ["home"]
    assert config.catalog.ids == ("1",)  # ids are strings in the service


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"variantz": []}, InputError, "Did you mean 'variants'"),
        ({"reward": {"kind": "click", "windw": 3}}, InputError, "Did you mean 'window'"),
        ({"reward": {"kind": "reward"}}, InputError, "not 'reward'"),
        ({"reward": {"window": 0}}, InputError, "must be > 0"),
        ({"reward": {"default": float("nan")}}, InputError, "finite number"),
        ({"allocation": {"method": "top_two", "period": 5}}, InputError, "use allocation.cadence"),
        ({"allocation": {"method": "fixed", "cadence": 5}}, InputError, "adaptive allocation"),
        ({"allocation": {"method": "thompsn"}}, ParameterError, "Did you mean 'thompson'"),
        ({"control": "nobody"}, ParameterError, "must be one of the variants"),
        ({"name": "has space"}, InputError, "part of URLs"),
        (
            {"variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "lincub"}]},
            UnknownNameError,
            "linucb",
        ),
        (
            {
                "variants": [
                    {"name": "a", "policy": "uniform"},
                    {"name": "b", "policy": "linucb", "params": {"alpah": 1}},
                ]
            },
            InputError,
            "Did you mean 'alpha'",
        ),
    ],
)
def test_config_errors_name_the_key_and_say_what_to_do(overrides: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace("'", "'")):
        parse(**overrides)


def test_a_catalog_file_is_read_as_abrec_embed_reads_it(tmp_path: Path) -> None:
    pd.DataFrame({"item_id": [7, 3], "title": ["Red shoe", "Hat"], "colour": ["red", None]}).to_csv(
        tmp_path / "items.csv", index=False
    )
    mapping = {**config_mapping(), "catalog": {"path": "items.csv", "text_columns": ["title", "colour"]}}
    config = ServiceConfig.from_mapping(mapping, base=tmp_path)
    assert config.catalog.ids == ("7", "3")
    assert config.catalog.texts == ("Red shoe. red", "Hat")


def test_settings_env_overrides_the_yaml_and_options_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    section = {"database_url": "sqlite:///yaml.db", "port": 9000, "workers": 2}
    assert load_settings(section).port == 9000
    monkeypatch.setenv("ABREC_PORT", "9100")
    monkeypatch.setenv("ABREC_LEARNER", "false")
    settings = load_settings(section)
    assert (settings.port, settings.workers, settings.learner) == (9100, 2, False)
    assert settings.database_url == "sqlite:///yaml.db"
    assert load_settings(section, port=9200, workers=None).port == 9200
    with pytest.raises(InputError, match="workers"):
        load_settings({"workers": "many"})
    monkeypatch.setenv("ABREC_PORT", "70000")
    with pytest.raises(InputError, match="port"):
        load_settings(section)
    with pytest.raises(InputError, match="databse_url"):
        load_settings({"databse_url": "x"})


def test_abrec_serve_reports_a_config_error_in_one_line(write_config: Callable[..., Path]) -> None:
    path = write_config(config_mapping(experiment(reward={"kind": "click", "windw": 3})))
    result = CliRunner().invoke(app, ["serve", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Did you mean 'window'" in lines[0]


def test_abrec_serve_refuses_a_database_that_is_not_upgraded(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    result = CliRunner().invoke(app, ["serve", str(path), "--database-url", f"sqlite:///{tmp_path / 'new.db'}"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "abrec db upgrade" in result.output


def test_a_missing_config_file_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    with pytest.raises(InputError, match="cannot read"):
        load_service_config(tmp_path / "nope.yaml")


def test_snapshot_keep_defaults_to_100_and_refuses_a_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings({}).snapshot_keep == 100
    monkeypatch.setenv("ABREC_SNAPSHOT_KEEP", "0")  # keep every snapshot
    assert load_settings({}).snapshot_keep == 0
    monkeypatch.setenv("ABREC_SNAPSHOT_KEEP", "-1")
    with pytest.raises(InputError, match="snapshot_keep"):
        load_settings({})
