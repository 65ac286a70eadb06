"""Each package's ``__all__`` is sorted and names exactly its public members (httpx's test, adapted)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import abrec

PACKAGES = sorted(name for _, name, is_pkg in pkgutil.walk_packages(abrec.__path__, "abrec.") if is_pkg)


@pytest.mark.parametrize("name", ["abrec", *PACKAGES])
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    public = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_") and not inspect.ismodule(value) and key not in {"annotations"}
    }
    assert set(exported) - {"__version__"} == public, f"{name}.__all__ differs from its public names"
