"""One system on W1, in its own process: ``python benchmarks/w1_worker.py --system NAME --batch B ...``.

Run by ``w1_peers.py`` with the interpreter of the system's virtual environment (abrec's ``.venv`` or a
peer's under ``.bench-peers/``), so this file imports only numpy, threadpoolctl and the one system it runs.
It loads the W1 file (the loading logic of ``shared/bench/make_linear_bandit.py``), builds the system, warms
it up on a throwaway copy where it compiles code (abrec's numba kernels), then times the loop: online
(decide for one context, observe ``R[t, chosen]``, update) or batches (decide for ``B`` contexts, then
update with their outcomes). It prints one JSON object: rounds, reward, wall seconds and CPU seconds of the
loop (``resource.getrusage`` of this process, every thread included), thread settings, versions.

Systems (``SYSTEMS``): ``abrec_linucb`` (abrec's ``linucb``, default hyperparameters, through
``decide``/``update``), ``vw_squarecb`` (Vowpal Wabbit ``--cb_explore_adf --squarecb -q UA``),
``mabwiser_linucb`` (MABWiser ``LinUCB(alpha=1)``), ``contextualbandits_linucb`` (contextualbandits
``LinUCB``, default hyperparameters).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SYSTEMS = ("abrec_linucb", "vw_squarecb", "mabwiser_linucb", "contextualbandits_linucb")
PACKAGES = {
    "abrec_linucb": ("abrec", "numpy", "numba"),
    "vw_squarecb": ("vowpalwabbit", "numpy"),
    "mabwiser_linucb": ("mabwiser", "numpy", "scikit-learn"),
    "contextualbandits_linucb": ("contextualbandits", "numpy", "scikit-learn"),
}
DESCRIPTIONS = {
    "abrec_linucb": "abrec linucb (defaults), decide + update",
    "vw_squarecb": "Vowpal Wabbit --cb_explore_adf --squarecb -q UA",
    "mabwiser_linucb": "MABWiser LinUCB(alpha=1)",
    "contextualbandits_linucb": "contextualbandits LinUCB (defaults)",
}

# A system is built (imports, model, warm-up) into a loop(deadline) -> the items chosen in the rounds done;
# the loop stops at the first check (every 100 online rounds, or after a batch) past the deadline.
Loop = Callable[[float], np.ndarray]


def load(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (T, d) float64, R (T, K) uint8, oracle (T,): the logic of ``make_linear_bandit.load``."""
    with np.load(path) as z:
        _, k = z["R_shape"]
        R = np.unpackbits(z["R_packed"], axis=1, count=int(k))
        return z["X"].astype(np.float64), R, z["oracle"].astype(np.int64)


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its finished children (joblib workers, if any)."""
    return sum(
        ru.ru_utime + ru.ru_stime
        for ru in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


# --- abrec ------------------------------------------------------------------------------------------


def _abrec(X: np.ndarray, R: np.ndarray, batch: int, rounds: int, seed: int, threads: str) -> Loop:
    from abrec.policies import make_policy
    from abrec.policies.records import Feedback

    k = R.shape[1]
    cands = np.arange(k, dtype=np.int64)
    rng = np.random.default_rng(12345)
    warm = make_policy("linucb", seed=1)  # compiles the numba kernels outside the timed loop
    for n in (1, 1, 1, 1000, 1):
        x = rng.standard_normal((n, X.shape[1]))
        dec = warm.decide(cands, x)
        warm.update(dec.feedback(rng.integers(0, 2, n).astype(np.float64), x))
    policy = make_policy("linucb", seed=seed)

    def loop(deadline: float) -> np.ndarray:
        # The loop of abrec.envs.run_bandit: decide, observe, update with a Feedback record.
        chosen = np.empty(rounds, dtype=np.int64)
        done = 0
        for s in range(0, rounds, batch):
            e = min(s + batch, rounds)
            x = X[s:e]
            a = policy.decide(cands, x).items[:, 0]
            chosen[s:e] = a
            policy.update(Feedback(a, R[np.arange(s, e), a].astype(np.float64), x))
            done = e
            if (batch > 1 or e % 100 == 0) and time.perf_counter() > deadline:
                break
        return chosen[:done]

    return loop


# --- Vowpal Wabbit ----------------------------------------------------------------------------------


def _vw(X: np.ndarray, R: np.ndarray, batch: int, rounds: int, seed: int, threads: str) -> Loop:
    import vowpalwabbit

    k = R.shape[1]
    ws = vowpalwabbit.Workspace(f"--cb_explore_adf --squarecb -q UA --quiet --random_seed {seed}")
    actions = [f"|A a{i}" for i in range(k)]
    rng = np.random.default_rng(seed)

    def shared(x: np.ndarray) -> str:
        return "shared |U " + " ".join(f"{j}:{v:.6f}" for j, v in enumerate(x))

    def choose(lines: list[str]) -> tuple[int, float]:
        pmf = np.asarray(ws.predict(lines), dtype=np.float64)
        pmf /= pmf.sum()
        a = int(rng.choice(k, p=pmf))
        return a, float(pmf[a])

    def learn(lines: list[str], a: int, p: float, r: float) -> None:
        labelled = list(lines)
        labelled[1 + a] = f"{a}:{-r}:{p} {actions[a]}"
        ws.learn(labelled)

    def loop(deadline: float) -> np.ndarray:
        chosen = []
        for s in range(0, rounds, batch):
            e = min(s + batch, rounds)
            pending = []
            for t in range(s, e):
                lines = [shared(X[t]), *actions]
                a, p = choose(lines)
                pending.append((lines, a, p))
                chosen.append(a)
                if batch == 1:
                    learn(lines, a, p, float(R[t, a]))
            if batch > 1:
                for t, (lines, a, p) in zip(range(s, e), pending, strict=True):
                    learn(lines, a, p, float(R[t, a]))
            if (batch > 1 or e % 100 == 0) and time.perf_counter() > deadline:
                break
        ws.finish()
        return np.asarray(chosen, dtype=np.int64)

    return loop


# --- MABWiser ---------------------------------------------------------------------------------------


def _mabwiser(X: np.ndarray, R: np.ndarray, batch: int, rounds: int, seed: int, threads: str) -> Loop:
    from mabwiser.mab import MAB, LearningPolicy

    k = R.shape[1]
    arms = list(range(k))
    # n_jobs stays at MABWiser's default (1): only the BLAS threads change between the settings.
    mab = MAB(arms=arms, learning_policy=LearningPolicy.LinUCB(alpha=1.0), seed=seed)
    rng = np.random.default_rng(seed)

    def loop(deadline: float) -> np.ndarray:
        chosen = np.empty(rounds, dtype=np.int64)
        done = 0
        for s in range(0, rounds, batch):
            e = min(s + batch, rounds)
            x = X[s:e]
            if s == 0:  # MABWiser cannot predict before its first fit: the first batch is uniform
                a = rng.integers(0, k, e - s)
                mab.fit(a, R[np.arange(s, e), a], x)
            else:
                pred = mab.predict(x)
                a = np.atleast_1d(np.asarray(pred, dtype=np.int64))
                mab.partial_fit(a, R[np.arange(s, e), a], x)
            chosen[s:e] = a
            done = e
            if (batch > 1 or e % 100 == 0) and time.perf_counter() > deadline:
                break
        return chosen[:done]

    return loop


# --- contextualbandits ------------------------------------------------------------------------------


def _cb(X: np.ndarray, R: np.ndarray, batch: int, rounds: int, seed: int, threads: str) -> Loop:
    from contextualbandits.online import LinUCB

    k = R.shape[1]
    njobs = 1 if threads == "1" else -1  # -1 (all cores, joblib threads) is contextualbandits' default
    model = LinUCB(nchoices=k, random_state=seed + 1, njobs=njobs)  # it requires random_state > 0

    def loop(deadline: float) -> np.ndarray:
        chosen = np.empty(rounds, dtype=np.int64)
        done = 0
        for s in range(0, rounds, batch):
            e = min(s + batch, rounds)
            x = X[s:e]
            a = np.asarray(model.predict(x), dtype=np.int64).reshape(-1)
            model.partial_fit(x, a, R[np.arange(s, e), a].astype(np.float64))
            chosen[s:e] = a
            done = e
            if (batch > 1 or e % 100 == 0) and time.perf_counter() > deadline:
                break
        return chosen[:done]

    return loop


BUILDERS: dict[str, Callable[[np.ndarray, np.ndarray, int, int, int, str], Loop]] = {
    "abrec_linucb": _abrec,
    "vw_squarecb": _vw,
    "mabwiser_linucb": _mabwiser,
    "contextualbandits_linucb": _cb,
}


def _threadpools() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {"api": p.get("internal_api"), "num_threads": p.get("num_threads"), "user_api": p.get("user_api")}
        for p in threadpool_info()
    ]


def _versions(system: str) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES[system]:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--system", choices=SYSTEMS, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", choices=("1", "default"), default="default")
    args = ap.parse_args(argv)
    X, R, oracle = load(args.data)
    rounds = X.shape[0] if args.rounds is None else min(args.rounds, X.shape[0])
    loop = BUILDERS[args.system](X, R, args.batch, rounds, args.seed, args.threads)
    limiter = None
    if args.threads == "1":  # after the imports: threadpoolctl limits the libraries loaded so far
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1)
    start_cpu, start = _cpu(), time.perf_counter()
    chosen = loop(start + args.max_seconds)
    wall, cpu = time.perf_counter() - start, _cpu() - start_cpu
    done = int(chosen.shape[0])
    reward = int(R[np.arange(done), chosen].sum())
    line = {
        "workload": "w1",
        "system": args.system,
        "description": DESCRIPTIONS[args.system],
        "batch": args.batch,
        "threads": args.threads,
        "rounds": done,
        "capped": done < rounds,
        "reward": reward,
        "oracle_reward": int(R[np.arange(done), oracle[:done]].sum()),
        "seconds": round(wall, 6),
        "cpu_seconds": round(cpu, 6),
        "rounds_per_s": round(done / wall, 1),
        "rounds_per_cpu_s": round(done / cpu, 1) if cpu > 0 else None,
        "threadpools": _threadpools(),
        "thread_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "cpu_count": os.cpu_count(),
        "versions": _versions(args.system),
        "seed": args.seed,
    }
    del limiter
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
