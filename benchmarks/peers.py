"""The peer systems (Vowpal Wabbit, MABWiser, contextualbandits, Open Bandit Pipeline): install and run.

Each peer lives in its own virtual environment under ``<repo>/.bench-peers/<name>/`` (git-ignored),
installed once with pinned versions; a stamp file records the pins, so a changed pin reinstalls it.
``python benchmarks/peers.py install [NAME ...]`` installs them ahead of a run.

Every system, abrec included, runs in a subprocess (``run_worker``): the worker script times its own
loop (wall clock and the process's CPU time from ``resource.getrusage``) and prints one JSON object;
the parent adds the subprocess's whole resource usage (``os.wait4``), imports and data loading included.

Thread settings (``THREAD_SETTINGS``): ``"1"`` sets OMP/OPENBLAS/MKL/VECLIB/NUMEXPR/NUMBA_NUM_THREADS=1 in
the subprocess's environment and the worker also calls ``threadpoolctl.threadpool_limits(1)``;
``"default"`` removes those variables, so every library uses the machine's default.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / ".bench-peers"
BENCH_DIR = Path(__file__).resolve().parent
INSTALL_TIMEOUT_S = 1800.0

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
THREAD_SETTINGS = ("1", "default")


@dataclass(frozen=True)
class Peer:
    """A peer: its venv name, the pip steps that install it (each a list of arguments), its packages."""

    name: str
    steps: tuple[tuple[str, ...], ...]
    packages: tuple[str, ...]  # distributions whose versions each result line reports
    note: str = ""


_NUMPY_STACK = ("numpy==1.26.4", "scipy==1.13.1", "scikit-learn==1.5.2", "joblib==1.4.2", "threadpoolctl==3.5.0")

PEERS: dict[str, Peer] = {
    "vowpalwabbit": Peer(
        "vowpalwabbit",
        (("vowpalwabbit==9.11.9", "numpy==1.26.4", "threadpoolctl==3.5.0"),),
        ("vowpalwabbit", "numpy"),
    ),
    "mabwiser": Peer(
        "mabwiser",
        (("mabwiser==2.7.4", "pandas==2.2.3", *_NUMPY_STACK),),
        ("mabwiser", "numpy", "scikit-learn"),
    ),
    "contextualbandits": Peer(
        "contextualbandits",
        (
            ("Cython==3.0.11", "setuptools", "wheel", "pandas==2.2.3", *_NUMPY_STACK),
            # The sdist compiles Cython extensions against the numpy installed just above.
            ("--no-build-isolation", "--no-binary", "contextualbandits", "contextualbandits==0.3.30"),
        ),
        ("contextualbandits", "numpy", "scikit-learn"),
        note="sdist, compiled with Cython",
    ),
    "obp": Peer(
        "obp",
        (
            # OBP 0.5.7 declares python<3.11; it runs on 3.11 with these working pins.
            ("--no-deps", "--ignore-requires-python", "obp==0.5.7"),
            (
                "numpy==1.23.5",
                "scipy==1.9.3",
                "scikit-learn==1.1.3",
                "pandas==1.5.2",
                "PyYAML>=6.0.1",
                "seaborn==0.11.2",
                "matplotlib<3.9",
                "tqdm",
                "mypy-extensions",
                "threadpoolctl==3.5.0",
            ),
            # The CPU build: this machine's wheel folder holds torch 2.13.0+cpu (never a CUDA build).
            ("torch==2.13.0",),
        ),
        ("obp", "numpy", "scikit-learn", "torch"),
        note="pip install --no-deps --ignore-requires-python obp==0.5.7, then its working pins",
    ),
}


@dataclass
class PeerEnv:
    """An installed peer (``python`` set) or one that is not (``reason`` says why)."""

    name: str
    python: Path | None
    reason: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.python is not None


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def _pins_hash(peer: Peer) -> str:
    return hashlib.sha256(json.dumps(peer.steps).encode()).hexdigest()[:16]


def venv_python(name: str, root: Path = PEERS_DIR) -> Path:
    return root / name / "bin" / "python"


def _versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = None\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip()[-500:])
    return {k: v for k, v in json.loads(res.stdout).items() if v is not None}


def ensure(name: str, root: Path = PEERS_DIR, timeout_s: float = INSTALL_TIMEOUT_S) -> PeerEnv:
    """Install peer ``name`` into ``root/name`` unless its stamp says the same pins are there.

    Never raises for an install failure: the returned ``PeerEnv`` then has ``python=None`` and the reason
    (the last lines of pip's output). pip runs under ``nice -n 10``.
    """
    peer = PEERS[name]
    target = root / name
    python = venv_python(name, root)
    stamp = target / ".abrec-installed"
    want = _pins_hash(peer)
    if not (stamp.is_file() and stamp.read_text().strip() == want and python.is_file()):
        _log(f"installing {name} into {target} (pinned; takes minutes) ...")
        try:
            if not python.is_file():
                venv.EnvBuilder(with_pip=True, clear=True).create(target)
            pip = ["nice", "-n", "10", str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            deadline = time.monotonic() + timeout_s
            for step in peer.steps:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(pip, timeout_s)
                res = subprocess.run([*pip, *step], capture_output=True, text=True, timeout=left)
                if res.returncode != 0:
                    tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-4:])
                    return PeerEnv(name, None, f"pip install {' '.join(step)} failed: {tail}")
        except subprocess.TimeoutExpired:
            return PeerEnv(name, None, f"install did not finish within {timeout_s:g} s")
        except OSError as exc:
            return PeerEnv(name, None, f"could not create the virtual environment {target}: {exc}")
        stamp.write_text(want + "\n")
    try:
        versions = _versions(python, peer.packages)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return PeerEnv(name, None, f"installed, but its packages cannot be read: {exc}")
    missing = [p for p in peer.packages if p not in versions]
    if missing:
        return PeerEnv(name, None, f"installed, but {', '.join(missing)} missing from {target}")
    return PeerEnv(name, python, versions=versions)


def thread_env(threads: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The subprocess environment for a thread setting (``"1"`` or ``"default"``)."""
    if threads not in THREAD_SETTINGS:
        raise ValueError(f"threads must be one of {THREAD_SETTINGS}. Got {threads!r}.")
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env.pop(var, None)
        if threads == "1":
            env[var] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


class WorkerError(RuntimeError):
    """A benchmark subprocess failed or printed no result."""


def run_worker(python: Path, script: str, args: list[str], threads: str, timeout_s: float) -> dict[str, Any]:
    """Run ``python benchmarks/<script> args`` with the thread setting; return its last JSON line.

    The result gets ``process_cpu_s`` / ``process_wall_s``: the subprocess's whole
    resource usage, imports and data loading included (the timed loop's own figures are the worker's).
    """
    cmd = [str(python), str(BENCH_DIR / script), *args, "--threads", threads]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # one child at a time: the delta is this one's
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=thread_env(threads), cwd=REPO
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WorkerError(f"{' '.join(cmd[1:])} ran past {timeout_s:g} s") from None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-6:])
        raise WorkerError(f"{' '.join(cmd[1:])} exited with {proc.returncode}: {tail}")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise WorkerError(f"{' '.join(cmd[1:])} printed no JSON result; stderr: {err.strip()[-300:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["load_average_1m_before"] = round(load, 2)
    result["process_wall_s"] = round(wall, 3)
    result["process_cpu_s"] = round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "install":
        print("usage: python benchmarks/peers.py install [NAME ...]", file=sys.stderr)
        return 2
    names = args[1:] or list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        print(f"error: unknown peers {unknown}. Known: {', '.join(PEERS)}.", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        env = ensure(name)
        status = "ok" if env.available else "unavailable"
        print(json.dumps({"peer": name, "status": status, "reason": env.reason, "versions": env.versions}))
        failed += not env.available
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())


def machine_line(workload: str, argv: list[str] | None = None) -> dict[str, Any]:
    """Where and when this run happened: date, CPU model, core count, load average, the command."""
    import datetime
    import platform

    model = platform.processor() or platform.machine()
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "workload": workload,
        "part": "machine",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "command": " ".join(["benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)]),
    }
