"""``abrec train CONFIG``: train an agent on a session environment and write its state files, curve and report.

The output folder holds, once the run has finished (it is written in a temporary folder next to it and
renamed into place, so an error leaves nothing half-written):

- ``agent-seed<S>.npz``: the trained agent of each seed (``Policy.load`` reads it back);
- ``curve.jsonl``: the learning curve, one JSON object per (seed, episode);
- ``report.html``: the learning curves per seed and their mean with a band;
- ``config.yaml``: the config as it was read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..experiments.training import TrainConfig, TrainResult, load_train_config, train_agent
from ..report.training import training_report
from ._output import Progress, check_folder, table
from .embed import default_cache_dir


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder for the trained agents, curve and report.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"--out {out}: the folder exists and is not empty; choose another or pass --overwrite.")
    check_folder(out.parent, f"--out {out}")


def write_training(result: TrainResult, out: Path, *, source: Path, overwrite: bool = False) -> list[Path]:
    """Write the run's files into ``out`` all at once: staged in a temporary folder next to it, then renamed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the folder gets the mode the umask gives
        for seed, agent in result.agents.items():
            agent.save(str(stage / f"agent-seed{seed}.npz"))
        lines = [json.dumps(point.as_row(), allow_nan=False) for point in result.curve]
        (stage / "curve.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        training_report(result).write(stage / "report.html")
        shutil.copyfile(source, stage / "config.yaml")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            stage.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            stage.rename(out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(stage)
        raise
    return sorted(out.iterdir())


def train(
    config: Annotated[Path, typer.Argument(help="Training config (YAML), e.g. examples/train.yaml.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the config's 'output').")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Train an RL agent on a session environment: state files, learning curve (JSON lines), HTML report."""
    cfg: TrainConfig = load_train_config(config)
    target = Path(cfg.output) if out is None else out
    _check_target(target, overwrite)
    if cfg.warm_start is not None and not Path(cfg.warm_start).is_file():
        raise InputError(f"warm_start {cfg.warm_start}: no such file.")
    with Progress("training", "episode") as progress:
        result = train_agent(cfg, progress=progress, notify=_echo_err, cache_dir=default_cache_dir() / "embeddings")
    last = [p for p in result.curve if p.episode == cfg.episodes - 1]
    typer.echo(f"{cfg.agent} after {cfg.episodes} episodes (return per session while learning, last episode):")
    typer.echo(
        table(
            ["seed", "return per session", "session length", "left early", "transitions"],
            [[p.seed, p.return_per_session, p.session_length, p.left_early, p.transitions] for p in last],
        )
    )
    files = write_training(result, target, source=config, overwrite=overwrite)
    _echo_err(f"wrote {', '.join(p.name for p in files)} to {target} ({result.seconds:.1f} s)")
