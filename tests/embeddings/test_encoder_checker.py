"""The encoder conformance checker itself, tested on deliberately broken encoders.

Each broken encoder below has one realistic bug; it must fail exactly the check written for it,
with a message naming the encoder and the check, and pass every other check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from abrec.embeddings import FakeEncoder
from abrec.errors import ParameterError, UnknownNameError
from abrec.testing import check_encoder, encoder_checks


class NotNormalised(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        return super().encode(texts) * np.float32(2.0)


class Float64(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        return super().encode(texts).astype(np.float64)


class DropsEmptyTexts(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        out = super().encode(texts)
        keep = [bool(t.strip()) for t in texts]
        return out[keep] if len(texts) > 1 else out


class Noisy(FakeEncoder):
    """Adds a tiny alternating offset (like nondeterministic GPU kernels): above 1e-6, below 1e-5."""

    sign = 1.0

    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        self.sign = -self.sign
        return super().encode(texts) + np.float32(3e-6 * self.sign)


class BatchDependent(FakeEncoder):
    """Centres each batch (a real bug: normalising with batch statistics)."""

    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        out = super().encode(texts).astype(np.float64)
        if len(out) > 1:
            out = out - 0.1 * out.mean(axis=0)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


class CrashesOnEmpty(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        if len(texts) == 0:
            return np.zeros((0,), dtype=np.float32)
        return super().encode(texts)


class StringifiesEverything(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        if isinstance(texts, str):
            texts = [texts]
        return super().encode([t.decode() if isinstance(t, bytes) else str(t) for t in texts])


class MutatesInput(FakeEncoder):
    def encode(self, texts: Any, *, batch_size: int | None = None) -> Any:
        out = super().encode(texts)
        if isinstance(texts, list):
            texts.sort()
        return out


class DriftingIdentity(FakeEncoder):
    calls_to_identity = 0

    @property
    def identity(self) -> str:
        self.calls_to_identity += 1
        return f"drifting-{self.calls_to_identity}"


class Constant(FakeEncoder):
    def __init__(self) -> None:
        super().__init__(handler=lambda texts: np.ones((len(texts), 8)))


BROKEN = [
    (NotNormalised, "check_unit_rows", "L2 norm 1"),
    (Float64, "check_dtype_and_shape", "expected float32"),
    (DropsEmptyTexts, "check_dtype_and_shape", "expected (8, 8)"),
    (Noisy, "check_deterministic", "encoding the same texts twice differed"),
    (BatchDependent, "check_batch_invariant", "depends on its batch"),
    (CrashesOnEmpty, "check_empty_input", "returned shape (0,)"),
    (StringifiesEverything, "check_rejects_non_strings", "did not raise TypeError or ValueError"),
    (MutatesInput, "check_input_not_mutated", "changed the list of texts"),
    (DriftingIdentity, "check_identity", "identity changed between two reads"),
    (Constant, "check_distinguishes_texts", "almost) the same vector"),
]


@pytest.mark.parametrize(("cls", "failing", "message"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_broken_encoder_fails_exactly_its_check(cls: type[FakeEncoder], failing: str, message: str) -> None:
    broken = cls()
    outcomes: dict[str, str | None] = {}
    for name, check in encoder_checks(broken):
        try:
            check()
            outcomes[name] = None
        except AssertionError as exc:
            outcomes[name] = str(exc)
    # Shape and dtype bugs also break the checks that read the matrix; the others must be alone.
    extra = {"check_dtype_and_shape", "check_unit_rows"} if failing == "check_dtype_and_shape" else set()
    failed = {name for name, error in outcomes.items() if error is not None}
    assert failing in failed
    assert failed - {failing} <= extra | (failed if extra else set()), failed
    if not extra:
        assert failed == {failing}, outcomes
    error = outcomes[failing]
    assert error is not None and message in error and cls.__name__ in error and failing in error


def test_check_encoder_lists_every_failure() -> None:
    with pytest.raises(AssertionError, match=r"1 of 9 encoder checks failed:\n- NotNormalised"):
        check_encoder(NotNormalised())


def test_expected_failures_are_strict() -> None:
    check_encoder(NotNormalised(), expected_failures={"check_unit_rows": "known: doubles every vector"})
    with pytest.raises(AssertionError, match="listed as an expected failure"):
        check_encoder(FakeEncoder(), expected_failures={"check_unit_rows": "it is not broken"})
    with pytest.raises(UnknownNameError, match="Did you mean 'check_unit_rows'"):
        list(encoder_checks(FakeEncoder(), expected_failures={"check_unit_row": "typo"}))
    with pytest.raises(ParameterError, match="written reason"):
        list(encoder_checks(FakeEncoder(), expected_failures={"check_unit_rows": " "}))


def test_unexpected_exception_is_reported_with_its_step() -> None:
    class Explodes(FakeEncoder):
        def _encode(self, texts: list[str]) -> Any:
            raise RuntimeError("model on fire")

    with pytest.raises(AssertionError, match=r"Explodes .* failed check_dtype_and_shape: (EncoderError|RuntimeError)"):
        dict(encoder_checks(Explodes()))["check_dtype_and_shape"]()
