"""Environments: simulated recommendation worlds (Gymnasium) and the bandit run loop.

- :class:`World` is the model behind every simulator (items with text, users with latent tastes,
  a position-based click model, purchases, late-arriving items, exact expected rewards).
  :class:`SyntheticCatalog` is the built-in world (generated item descriptions, no data needed);
  :class:`MovieLensWorld` is calibrated on MovieLens ratings.
- Two Gymnasium views of any world: :class:`RecBanditEnv` (batches of arriving users; slates in,
  per-position clicks and purchases out) and :class:`RecSessionEnv` (RL sessions with interest
  drift, fatigue and leaving). Registered as ``abrec/<World>-<View>-v0``; :func:`make_env` builds
  one from a dict or YAML config, inside Gymnasium's standard wrappers (the view itself is
  ``env.unwrapped``); :func:`check_env_config` checks a config's keys without building it;
  :func:`describe_envs` lists them; :func:`abrec.testing.check_env` checks one.
- :class:`InterestEvolutionEnv` (``abrec/InterestEvolution-v0``): RecSim's interest-evolution
  environment (Ie et al. 2019) over a :class:`VideoCorpus` of videos with topics, quality and texts.
- :class:`LinearBandit` / :func:`make_linear_bandit` (the model of benchmark W1) and
  :func:`run_bandit`, the decide -> observe -> update loop with reward, oracle and regret.
"""

from __future__ import annotations

from .bandit import REWARDS, RecBanditEnv
from .interest_evolution import InterestEvolutionEnv, VideoCorpus
from .linear_bandit import LinearBandit, make_linear_bandit
from .llm_users import LLMUserWorld
from .movielens import Calibration, MovieLensWorld
from .registry import ENV_IDS, check_env_config, describe_envs, make_env
from .runner import BanditRun, run_bandit
from .session import RecSessionEnv, diverse_slates, repeat_slates
from .synthetic import SyntheticCatalog
from .world import Users, World

__all__ = [
    "BanditRun",
    "Calibration",
    "ENV_IDS",
    "InterestEvolutionEnv",
    "LLMUserWorld",
    "LinearBandit",
    "MovieLensWorld",
    "REWARDS",
    "RecBanditEnv",
    "RecSessionEnv",
    "SyntheticCatalog",
    "Users",
    "VideoCorpus",
    "World",
    "check_env_config",
    "describe_envs",
    "diverse_slates",
    "make_env",
    "make_linear_bandit",
    "repeat_slates",
    "run_bandit",
]
