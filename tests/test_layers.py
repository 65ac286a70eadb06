"""The architecture's one-way dependencies: a lower layer never imports a higher one (lazily or not).

data -> embeddings -> policies (agents beside them) -> envs -> ope / abtest -> experiments -> store -> report -> cli
(``store``, the event store, reads only data, embeddings, policies and abtest; ``service``, the HTTP decision
service, sits on ``store`` and everything below it; ``client`` is a leaf: httpx, ``abrec.errors`` and ``abrec._ids``
only).
``abtest`` is pure statistics: it reads the event record (``data``) and nothing above it, so importing it loads neither
policies nor numba.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "abrec"
BASE = {"errors", "_ids", "_params", "_random", "_threads", "_interval", "_header", "_keyed_file", "__version__"}
ALLOWED: dict[str, set[str]] = {
    "data": BASE,
    "embeddings": BASE | {"data"},
    "llm": BASE | {"data", "embeddings"},
    "policies": BASE | {"data", "embeddings", "llm"},
    "agents": BASE | {"data", "embeddings", "llm", "policies"},
    "envs": BASE | {"data", "embeddings", "llm", "policies", "agents"},
    "ope": BASE | {"data", "embeddings", "policies"},
    "abtest": BASE | {"data"},
    "experiments": BASE | {"data", "embeddings", "llm", "policies", "agents", "envs", "ope", "abtest"},
    "testing": BASE | {"data", "embeddings", "llm", "policies", "agents", "envs", "ope", "abtest"},
    "store": BASE | {"data", "embeddings", "policies", "abtest"},
    "service": BASE
    | {"data", "embeddings", "llm", "policies", "agents", "envs", "ope", "abtest", "experiments", "store", "report"},
    "report": BASE | {"data", "abtest", "ope", "experiments"},
    "cli": BASE
    | {"data", "embeddings", "llm", "policies", "agents", "envs", "ope", "abtest", "experiments", "report", "testing"}
    | {"store"}
    | {"service"},
}


def _imports(path: Path) -> set[str]:
    """The abrec packages a module imports (relative or absolute, at any depth in the file)."""
    package = path.relative_to(SRC).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level >= 2:
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.startswith("abrec."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("abrec."))
    return found - {package}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_layer_imports_a_higher_one(package: str) -> None:
    wrong = {}
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _imports(path) - ALLOWED[package]
        if bad:
            wrong[str(path.relative_to(SRC))] = sorted(bad)
    assert not wrong, f"{package} imports higher layers: {wrong}"


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)


def test_importing_abtest_loads_neither_policies_nor_numba() -> None:
    code = (
        "import sys, abrec.abtest, abrec.abtest.readout, abrec.abtest.stats\n"
        "bad = [m for m in sys.modules if m == 'numba' or m.startswith(('abrec.policies', 'abrec.envs'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_client_imports_only_httpx_and_abrecs_errors_and_ids() -> None:
    path = SRC / "client.py"
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            modules.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names)
    third_party = {m.split(".")[0] for m in modules if not m.startswith(".")} - set(sys.stdlib_module_names)
    assert third_party == {"httpx"}
    assert {m for m in modules if m.startswith(".")} == {".errors", "._ids"}
