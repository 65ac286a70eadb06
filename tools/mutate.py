"""Mutation testing of abrec's statistical core with mutmut (``make mutate``).

Each module in :data:`MODULES` is mutated on its own, against its own tests only (the mapping below),
in a fresh copy of the working tree under ``--work`` (default ``build/mutation/<module>``): mutmut
writes its mutants into ``<copy>/mutants/``, so neither this tree's sources nor its ``.venv`` are
touched. Within the mapped test files mutmut runs, for each mutant, only the tests that reach the
mutated function (it records that in one instrumented pass first).

Survivors are written to ``--out`` (default ``mutation-report/``) as ``report.json`` and
``report.txt``. Mutants listed in ``tests/mutation-equivalent.toml`` (a mutant that cannot change
what the code returns, with the reason why) are marked skipped before the run, so they cost nothing
and are reported apart from the real survivors. Each copy is kept until the next run, so
``mutmut show NAME`` and ``mutmut browse`` work inside ``build/mutation/<module>/``.

Usage::

    python tools/mutate.py                                  # every module (7,177 mutants: 3 to 6 hours on 2 cores)
    python tools/mutate.py abtest/srm.py ope/importance.py  # a subset (paths under src/abrec/)
    python tools/mutate.py --list                           # the module -> tests mapping
    python tools/mutate.py --rerun abtest/cuped.py          # re-test only the last run's survivors (new tests)
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "tests" / "mutation-equivalent.toml"
MUTMUT_VERSION = "3.8.1"  # keep in step with the 'mutation' extra in pyproject.toml

_ABTEST = "tests/abtest"
_OPE_ESTIMATOR_TESTS = (
    "tests/ope/test_estimators.py",
    "tests/ope/test_ipw.py",
    "tests/ope/test_checker_estimators.py",
    "tests/ope/test_estimator_conformance.py",
)

# Module (under src/abrec/) -> the test files that are its tests. Globs are allowed; a pattern that
# matches nothing is left out (so a test file added later can be listed before it exists).
MODULES: dict[str, tuple[str, ...]] = {
    # abtest: statistics and allocation
    "abtest/stats.py": (
        f"{_ABTEST}/test_stats.py",
        f"{_ABTEST}/test_frequentist.py",
        f"{_ABTEST}/test_cuped.py",
        f"{_ABTEST}/test_metrics.py",
        f"{_ABTEST}/test_mutants_stats*.py",
    ),
    "abtest/frequentist.py": (
        f"{_ABTEST}/test_frequentist.py",
        "tests/test_interval.py",
        f"{_ABTEST}/test_conventions.py",
        f"{_ABTEST}/test_relative.py",
        f"{_ABTEST}/test_mutants_frequentist*.py",
    ),
    "abtest/bayesian.py": (f"{_ABTEST}/test_bayesian.py", f"{_ABTEST}/test_mutants_bayesian*.py"),
    "abtest/sequential.py": (
        f"{_ABTEST}/test_sequential.py",
        f"{_ABTEST}/test_readout.py",
        f"{_ABTEST}/test_conventions.py",
        f"{_ABTEST}/test_relative.py",
        f"{_ABTEST}/test_mutants_sequential*.py",
    ),
    "abtest/proportions.py": (f"{_ABTEST}/test_proportions.py", f"{_ABTEST}/test_mutants_proportions*.py"),
    "abtest/best.py": (
        f"{_ABTEST}/test_best.py",
        f"{_ABTEST}/test_allocation_exact.py",
        f"{_ABTEST}/test_mutants_best*.py",
    ),
    "abtest/quantiles.py": (
        f"{_ABTEST}/test_quantiles.py",
        f"{_ABTEST}/test_quantile_relative.py",
        f"{_ABTEST}/test_quantile_readout.py",
        f"{_ABTEST}/test_mutants_quantiles*.py",
    ),
    "abtest/sketch.py": (f"{_ABTEST}/test_quantile_sketch.py",),
    "abtest/futility.py": (f"{_ABTEST}/test_futility.py",),
    "abtest/cuped.py": (
        f"{_ABTEST}/test_cuped.py",
        f"{_ABTEST}/test_cuped_conventions.py",
        "tests/test_interval.py",
        f"{_ABTEST}/test_mutants_cuped*.py",
    ),
    "abtest/srm.py": (f"{_ABTEST}/test_srm.py", f"{_ABTEST}/test_mutants_srm*.py"),
    "abtest/multiple.py": (f"{_ABTEST}/test_multiple.py", f"{_ABTEST}/test_mutants_multiple*.py"),
    "abtest/power.py": (
        f"{_ABTEST}/test_power.py",
        f"{_ABTEST}/test_power_conventions.py",
        f"{_ABTEST}/test_mutants_power*.py",
    ),
    "abtest/group_sequential.py": (
        f"{_ABTEST}/test_group_sequential.py",
        f"{_ABTEST}/test_futility.py",
        f"{_ABTEST}/test_mutants_group_sequential*.py",
    ),
    "abtest/allocation.py": (f"{_ABTEST}/test_allocation.py", f"{_ABTEST}/test_mutants_allocation*.py"),
    "abtest/readout.py": (
        f"{_ABTEST}/test_readout.py",
        "tests/experiments/test_one_readout.py",
        f"{_ABTEST}/test_metrics_readout.py",
        f"{_ABTEST}/test_quantile_readout.py",
        f"{_ABTEST}/test_mutants_readout*.py",
    ),
    # ope: estimators
    "ope/base.py": (*_OPE_ESTIMATOR_TESTS, "tests/test_interval.py", "tests/ope/test_mutants_base*.py"),
    "ope/importance.py": (*_OPE_ESTIMATOR_TESTS, "tests/ope/test_mutants_importance*.py"),
    "ope/direct.py": (*_OPE_ESTIMATOR_TESTS, "tests/ope/test_mutants_direct*.py"),
    "ope/doubly_robust.py": (
        *_OPE_ESTIMATOR_TESTS,
        "tests/ope/test_model_influence.py",
        "tests/ope/test_mutants_doubly_robust*.py",
    ),
    "ope/switch.py": (*_OPE_ESTIMATOR_TESTS, "tests/ope/test_selection.py", "tests/ope/test_mutants_switch*.py"),
    "ope/shrinkage.py": (*_OPE_ESTIMATOR_TESTS, "tests/ope/test_selection.py", "tests/ope/test_mutants_shrinkage*.py"),
    "ope/replay.py": (
        "tests/ope/test_replay_learning.py",
        "tests/ope/test_replay_slates.py",
        "tests/ope/test_zozotown.py",
        "tests/ope/test_mutants_replay*.py",
    ),
    # policies: scores and propensities (the numba kernels are decorated, so mutmut leaves them
    # alone; their numpy references in _kernels.py are mutated, and test_kernels pins one to the other)
    "policies/_slates.py": (
        "tests/test_slates.py",
        "tests/ope/test_target.py",
        "tests/test_action_distribution.py",
        "tests/test_mutants_slates*.py",
        "tests/test_item_draws.py",
        "tests/test_slate_counting.py",
    ),
    "policies/_kernels.py": (
        "tests/test_kernels.py",
        "tests/test_slates.py",
        "tests/test_gaussian_race.py",
        "tests/test_mutants_kernels*.py",
    ),
    "policies/ucb.py": (
        "tests/test_action_distribution.py",
        "tests/test_state.py",
        "tests/test_learning.py",
        "tests/test_mutants_ucb*.py",
    ),
    "policies/epsilon_greedy.py": (
        "tests/test_action_distribution.py",
        "tests/test_state.py",
        "tests/test_learning.py",
        "tests/test_mutants_epsilon_greedy*.py",
    ),
    "policies/linear.py": (
        "tests/test_scores.py",
        "tests/test_kernels.py",
        "tests/test_learning.py",
        "tests/test_state.py",
        "tests/test_logistic.py",
        "tests/test_action_distribution.py",
        "tests/test_mutants_linear*.py",
    ),
}

# Lines whose expressions mutmut leaves alone (regular expressions): every expression that starts
# on a matching line is skipped with all its parts, so a multi-line `raise` is covered whole.
DO_NOT_MUTATE_PATTERNS = [r"^\s*raise\s"]

# mutmut's exit codes, as its ``status_by_exit_code`` reads them (mutmut 3.8.1).
_STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
    2: "interrupted",
    None: "not checked",
}
# Statuses that leave a gap in the tests (a timeout or a crash is a detection).
_GAP = ("survived", "no tests", "not checked", "suspicious", "interrupted")

# Copied from the tree when git cannot list its files (a tarball, a copy without .git).
_IGNORE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "mutants",
    "mutation-report",
    "__pycache__",
    "*.egg-info",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "demo-output",
    "bench-results",
)


# ---------------------------------------------------------------------------- copying the tree
def _tree_files(root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files (git), else everything outside :data:`_IGNORE`."""
    if (root / ".git").exists() and shutil.which("git"):
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return sorted({f for f in out.split("\0") if f and (root / f).is_file()})
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in _IGNORE)]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                files.append(str(Path(dirpath, name).relative_to(root)))
    return sorted(files)


def _copy_tree(root: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    for rel in _tree_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def _test_files(root: Path, patterns: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, root_dir=root)):
            if path not in found:
                found.append(path)
    return found


def _write_config(copy: Path, module: str, tests: list[str]) -> None:
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    if "mutmut" in tomllib.loads(text).get("tool", {}):
        raise SystemExit("pyproject.toml already has a [tool.mutmut] table; tools/mutate.py writes its own.")
    config = {
        "source_paths": ["src/"],
        "only_mutate": [f"src/abrec/{module}"],
        "pytest_add_cli_args_test_selection": tests,
        # An exception's message is text, not a number: its mutants are not generated. The
        # condition that raises is still mutated.
        "do_not_mutate_patterns": DO_NOT_MUTATE_PATTERNS,
        # A mutant's tests get (their time + 1 s) x 2 x this of CPU time before it counts as a
        # timeout (a detection): mutmut's 15 makes each endless-loop mutant cost minutes.
        "timeout_multiplier": 4.0,
        "use_git_change_detection": False,
        "on_dependency_change": "ignore",
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    pyproject.write_text(text + "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------- equivalent mutants
def _norm(line: str) -> str:
    return " ".join(line.split())


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[dict[str, Any]]:
    """Entries of ``[[equivalent]]``: ``module``, ``function``, ``original``, ``mutant``, ``reason``.

    ``original`` and ``mutant`` are the changed line(s) before and after the mutation (whitespace is
    ignored); leaving both out marks every mutant of that function.
    """
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = tomllib.loads(path.read_text()).get("equivalent", [])
    for entry in entries:
        missing = {"module", "function", "reason"} - set(entry)
        if missing or ("original" in entry) != ("mutant" in entry):
            raise SystemExit(f"{path}: entry {entry} needs module, function, reason (and original with mutant).")
    return entries


def _changed_lines(diff: str) -> tuple[str, str]:
    lines = diff.splitlines()
    before = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    after = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return _norm(" ".join(before)), _norm(" ".join(after))


def _matches(entry: dict[str, Any], module: str, function: str, diff: str) -> bool:
    if entry["module"] != module or entry["function"] != function:
        return False
    if "original" not in entry:
        return True
    before, after = _changed_lines(diff)
    return before == _norm(entry["original"]) and after == _norm(entry["mutant"])


# ---------------------------------------------------------------------------- phases run inside a copy
def _phase_prepare(module: str) -> None:
    """Generate the mutants, record their diffs, and mark the listed equivalent ones as skipped (34)."""
    from mutmut.__main__ import copy_also_copy_files, copy_src_dir, create_mutants
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.mutation.trampoline import set_mutant_under_test
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    set_mutant_under_test("mutant_generation")
    Path("mutants").mkdir(exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    create_mutants(1)
    path = Path("src/abrec") / module
    data = SourceFileMutationData(path=path)
    data.load()
    entries = load_equivalents(Path("tests/mutation-equivalent.toml"))
    used: set[int] = set()
    mutants = {}
    for key in data.exit_code_by_key:
        function, cls = orig_function_and_class_names_from_key(key)
        function = f"{cls}.{function}" if cls else function
        diff = get_diff_for_mutant(key, path=path)
        hits = [i for i, e in enumerate(entries) if _matches(e, module, function, diff)]
        used.update(hits)
        reason = entries[hits[0]]["reason"] if hits else None
        if reason is not None:
            data.exit_code_by_key[key] = 34
        mutants[key] = {"function": function, "diff": diff, "equivalent": reason}
    data.save()
    Path("mutants/abrec-mutants.json").write_text(json.dumps(mutants, indent=1))
    # Entries of this module that no mutant matches any more: the code changed under them.
    stale = [e for i, e in enumerate(entries) if e["module"] == module and i not in used]
    Path("mutants/abrec-stale-equivalents.json").write_text(json.dumps(stale, indent=1))


def _phase_collect(module: str) -> None:
    from mutmut.mutation.data import SourceFileMutationData

    data = SourceFileMutationData(path=Path("src/abrec") / module)
    data.load()
    mutants = json.loads(Path("mutants/abrec-mutants.json").read_text())
    for key, code in data.exit_code_by_key.items():
        mutants[key]["status"] = _STATUS.get(code, "suspicious")
        mutants[key]["seconds"] = data.durations_by_key.get(key)
    Path("mutants/abrec-mutants.json").write_text(json.dumps(mutants, indent=1))


# ---------------------------------------------------------------------------- driver
def _mutmut() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    if exe.exists():
        return str(exe)
    found = shutil.which("mutmut")
    if not found:
        raise SystemExit(f"mutmut is not installed: pip install -e '.[mutation]' (mutmut=={MUTMUT_VERSION}).")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    shared = ROOT.parent / "shared"
    if "ABREC_SHARED" not in env and shared.exists():
        env["ABREC_SHARED"] = str(shared)  # the copies live elsewhere, so <copy>/../shared is not it
    # One thread per mutant process: mutmut forks workers, and BLAS/numba thread pools do not
    # survive fork reliably (and would oversubscribe the cores the workers already use).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.setdefault(var, "1")
    env.pop("MUTANT_UNDER_TEST", None)
    return env


def _refresh_tests(root: Path, copy: Path) -> None:
    """Bring the tests, this tool, the equivalent list and pyproject.toml of ``copy`` up to this tree's."""
    for rel in _tree_files(root):
        if rel.startswith(("tests/", "tools/")) or rel == "pyproject.toml":
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, target)


def _previous_statuses(copy: Path) -> dict[str, str]:
    found = copy / "mutants" / "abrec-mutants.json"
    if not found.exists():
        raise SystemExit(f"--rerun needs a finished run in {copy}; run the module without --rerun first.")
    return {key: m["status"] for key, m in json.loads(found.read_text()).items()}


def run_module(module: str, work: Path, max_children: int, rerun: bool = False) -> dict[str, Any]:
    tests = _test_files(ROOT, MODULES[module])
    if not tests:
        raise SystemExit(f"no test files found for {module}: {MODULES[module]}")
    copy = work / module.replace("/", "_").removesuffix(".py")
    start = time.monotonic()
    previous: dict[str, str] = {}
    todo: list[str] = []
    if rerun:  # the same mutants (the source is unchanged), re-tested with the current tests
        previous = _previous_statuses(copy)
        _refresh_tests(ROOT, copy)
    else:
        _copy_tree(ROOT, copy)
    _write_config(copy, module, tests)
    env = _env()
    log = copy / "mutmut.log"
    this = str(copy / "tools" / "mutate.py")
    with log.open("w") as out:
        for phase, argv in (
            ("prepare", [sys.executable, this, "--phase", "prepare", module]),
            ("run", [_mutmut(), "run", "--max-children", str(max_children)]),
            ("collect", [sys.executable, this, "--phase", "collect", module]),
        ):
            if phase == "run" and rerun:
                listed = json.loads((copy / "mutants" / "abrec-mutants.json").read_text())
                todo = [  # the gaps, and mutants that were listed equivalent but are no longer
                    k
                    for k, status in previous.items()
                    if (status in _GAP or status == "skipped") and listed[k]["equivalent"] is None
                ]
                if not todo:
                    continue
                argv = [*argv, *todo]
            rc = subprocess.run(argv, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                tail = log.read_text()[-3000:]
                raise SystemExit(f"{' '.join(argv[:3])} failed for {module} (rc {rc}); {log}:\n{tail}")
    mutants = json.loads((copy / "mutants" / "abrec-mutants.json").read_text())
    if rerun:  # mutmut forgets the other results when the test selection changes: keep the previous ones
        for key, m in mutants.items():
            if key not in todo:
                m["status"] = "skipped" if m["equivalent"] is not None else previous[key]
        (copy / "mutants" / "abrec-mutants.json").write_text(json.dumps(mutants, indent=1))
    counts: dict[str, int] = {}
    for m in mutants.values():
        counts[m["status"]] = counts.get(m["status"], 0) + 1
    stale = json.loads((copy / "mutants" / "abrec-stale-equivalents.json").read_text())
    survivors = {k: m for k, m in mutants.items() if m["status"] in _GAP}
    equivalent = {k: m for k, m in mutants.items() if m["equivalent"] is not None}
    return {
        "tests": tests,
        "seconds": round(time.monotonic() - start, 1),
        "total": len(mutants),
        "counts": dict(sorted(counts.items())),
        "survivors": survivors,
        "equivalent": equivalent,
        "stale_equivalents": stale,
        "log": str(log),
    }


def write_report(out: Path, results: dict[str, Any], started: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = {"tool": f"mutmut {MUTMUT_VERSION}", "started": started, "modules": results}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"Mutation testing with mutmut {MUTMUT_VERSION}, started {started}", ""]
    lines.append(
        f"{'module':<28}{'mutants':>8}{'killed':>8}{'survived':>9}{'no tests':>9}{'equiv.':>7}{'other':>7}{'s':>7}"
    )
    for module, r in results.items():
        c = r["counts"]
        other = r["total"] - c.get("killed", 0) - c.get("survived", 0) - c.get("no tests", 0) - c.get("skipped", 0)
        lines.append(
            f"{module:<28}{r['total']:>8}{c.get('killed', 0):>8}{c.get('survived', 0):>9}{c.get('no tests', 0):>9}"
            f"{len(r['equivalent']):>7}{other:>7}{r['seconds']:>7.0f}"
        )
    for r in results.values():
        for entry in r["stale_equivalents"]:
            lines.append(f"stale entry in tests/mutation-equivalent.toml (matches no mutant): {entry}")
    for module, r in results.items():
        if not r["survivors"]:
            continue
        lines += ["", f"== {module}: {len(r['survivors'])} survivor(s) (tests: {' '.join(r['tests'])})"]
        for key, m in r["survivors"].items():
            lines += ["", f"-- {key} [{m['status']}] in {m['function']}", m["diff"]]
    (out / "report.txt").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules under src/abrec/ (default: all of MODULES)")
    parser.add_argument("--out", type=Path, default=ROOT / "mutation-report")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "mutation")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--list", action="store_true", help="print the module -> tests mapping and exit")
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="re-test only the previous run's survivors (kept copy under --work) with the current tests",
    )
    parser.add_argument("--phase", choices=("prepare", "collect"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "prepare":
        _phase_prepare(args.modules[0])
        return 0
    if args.phase == "collect":
        _phase_collect(args.modules[0])
        return 0
    if args.list:
        for module, patterns in MODULES.items():
            print(f"{module}: {' '.join(_test_files(ROOT, patterns))}")
        return 0
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    results: dict[str, Any] = {}
    for module in modules:
        print(f"mutating src/abrec/{module} ...", flush=True)
        results[module] = r = run_module(module, args.work.resolve(), args.max_children, args.rerun)
        print(
            f"  {r['total']} mutants {r['counts']}: {len(r['survivors'])} survivor(s), "
            f"{len(r['equivalent'])} listed equivalent, {r['seconds']:.0f} s",
            flush=True,
        )
        write_report(args.out, results, started)
    print(f"report: {args.out / 'report.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
