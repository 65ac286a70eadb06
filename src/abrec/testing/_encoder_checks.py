"""The text-encoder conformance checks (private; public through :mod:`abrec.testing`).

Each ``check_*`` function takes an encoder *instance* (models are costly to build) and raises
:class:`AssertionError` naming the encoder, the check and what was wrong; an unexpected exception
inside a check is reported the same way. The protocol they check (see
:class:`abrec.embeddings.Encoder`): ``encode(texts)`` returns a float32 ``(len(texts), dim)``
matrix of rows with norm 1 +- 1e-5 (an empty or blank text included), the same for the same input,
whatever the batching (one by one or all at once, within 1e-5); ``encode([])`` has shape
``(0, dim)``; a non-string input raises a ``TypeError`` or ``ValueError`` (abrec's ``InputError``)
instead of being encoded; the input list is not changed; ``identity`` is a stable non-empty str.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from ..errors import ParameterError, UnknownNameError
from ._harness import run_all
from ._runner import _expecting_failure

__all__ = ["EncoderLike", "check_encoder", "encoder_checks"]

_NORM_TOLERANCE = 1e-5
_BATCH_TOLERANCE = 1e-5
_REPEAT_TOLERANCE = 1e-6

TEXTS = (
    "Toy Story (1995). Genres: Animation, Children's, Comedy.",
    "A quiet lake at dawn, mist over the water.",
    "",
    "   ",
    "Quantenfeldtheorie für Anfänger — 第一章 🚀",
    "!!!",
    "word " * 600,
    "GoldenEye (1995). Genres: Action, Adventure, Thriller.",
)


class EncoderLike(Protocol):
    """What the checks call: ``encode``, ``identity`` and ``dim`` (every :class:`abrec.embeddings.Encoder`)."""

    @property
    def identity(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Any) -> Any: ...


class _Run:
    def __init__(self, encoder: EncoderLike, check: str) -> None:
        self.encoder = encoder
        self.check = check
        self.step = "reading the encoder's identity"
        self.label = f"{type(encoder).__name__} ({getattr(encoder, 'identity', '?')!r})"

    def fail(self, what: str) -> None:
        raise AssertionError(f"{self.label} failed {self.check}: {what}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.fail(what)

    def encode(self, texts: Any, step: str) -> Any:
        self.step = step
        return self.encoder.encode(texts)

    def matrix(self, texts: list[str], step: str) -> np.ndarray[Any, Any]:
        out = self.encode(texts, step)
        self.expect(isinstance(out, np.ndarray), f"encode returned {type(out).__name__}, not a numpy array ({step}).")
        dim = self.encoder.dim
        self.expect(
            out.shape == (len(texts), dim),
            f"encode returned shape {out.shape} for {len(texts)} texts; expected ({len(texts)}, {dim}) ({step}).",
        )
        self.expect(out.dtype == np.float32, f"encode returned dtype {out.dtype}; expected float32 ({step}).")
        return out  # type: ignore[no-any-return]


_Check = Callable[[EncoderLike], None]


def _as_check(body: Callable[[_Run], None]) -> _Check:
    @functools.wraps(body)
    def check(encoder: EncoderLike) -> None:
        run = _Run(encoder, body.__name__)
        try:
            body(run)
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(
                f"{run.label} failed {body.__name__}: {type(exc).__name__} raised while {run.step}: {exc}"
            ) from exc

    del check.__wrapped__  # type: ignore[attr-defined]  # show check(encoder), not body(run)
    return check


@_as_check
def check_identity(run: _Run) -> None:
    """``identity`` is a non-empty str, the same on every read; ``dim`` is an int >= 1."""
    first, second = run.encoder.identity, run.encoder.identity
    run.expect(isinstance(first, str) and bool(first.strip()), f"identity must be a non-empty str; got {first!r}.")
    run.expect(first == second, f"identity changed between two reads: {first!r} then {second!r}.")
    run.step = "reading the encoder's dim"
    dim = run.encoder.dim
    run.expect(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1, f"dim must be an int >= 1; got {dim!r}."
    )
    run.matrix(list(TEXTS[:2]), "encoding two texts")
    run.expect(run.encoder.identity == first, "identity changed after encoding.")


@_as_check
def check_dtype_and_shape(run: _Run) -> None:
    """``encode`` returns a float32 numpy array of shape ``(len(texts), dim)``."""
    run.matrix(list(TEXTS), f"encoding {len(TEXTS)} texts")
    run.matrix(list(TEXTS[:1]), "encoding one text")


@_as_check
def check_unit_rows(run: _Run) -> None:
    """Every row is finite with L2 norm 1 +- 1e-5, empty, blank, long and non-ASCII texts included."""
    out = run.matrix(list(TEXTS), f"encoding {len(TEXTS)} texts")
    run.expect(bool(np.isfinite(out).all()), "encode returned NaN or infinite values.")
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    worst = int(np.argmax(np.abs(norms - 1.0)))
    run.expect(
        abs(norms[worst] - 1.0) <= _NORM_TOLERANCE,
        f"rows must have L2 norm 1 +- {_NORM_TOLERANCE}; "
        f"the row of text {TEXTS[worst][:30]!r} has norm {norms[worst]:.6g}.",
    )


@_as_check
def check_deterministic(run: _Run) -> None:
    """Encoding the same texts twice gives the same matrix (within 1e-6)."""
    first = run.matrix(list(TEXTS), "encoding the texts a first time")
    second = run.matrix(list(TEXTS), "encoding the same texts again")
    gap = float(np.abs(first.astype(np.float64) - second).max())
    run.expect(gap <= _REPEAT_TOLERANCE, f"encoding the same texts twice differed by up to {gap:.3g}.")


@_as_check
def check_batch_invariant(run: _Run) -> None:
    """Texts encoded one by one equal the same texts encoded in one batch (within 1e-5)."""
    batch = run.matrix(list(TEXTS), "encoding the texts in one batch")
    single = np.vstack([run.matrix([text], f"encoding text {i} alone") for i, text in enumerate(TEXTS)])
    gaps = np.abs(batch.astype(np.float64) - single).max(axis=1)
    worst = int(np.argmax(gaps))
    run.expect(
        gaps[worst] <= _BATCH_TOLERANCE,
        f"the vector of text {TEXTS[worst][:30]!r} depends on its batch: alone and in a batch of {len(TEXTS)} "
        f"they differ by {gaps[worst]:.3g} (> {_BATCH_TOLERANCE}).",
    )


@_as_check
def check_empty_input(run: _Run) -> None:
    """``encode([])`` returns a float32 array of shape ``(0, dim)``."""
    run.matrix([], "encoding an empty list")


@_as_check
def check_rejects_non_strings(run: _Run) -> None:
    """A non-string item, or one bare str instead of a list, raises TypeError or ValueError (not encoded)."""
    for bad, what in (
        ([1, "a"], "a list holding an int"),
        (["a", None], "a list holding None"),
        ([b"bytes"], "a list holding bytes"),
        ("a bare string", "a single str instead of a list"),
    ):
        try:
            run.encode(bad, f"encoding {what}")
        except (TypeError, ValueError) as exc:
            run.expect(bool(str(exc).strip()), f"encoding {what} raised {type(exc).__name__} without a message.")
            continue
        run.fail(f"encoding {what} ({bad!r}) did not raise TypeError or ValueError.")


@_as_check
def check_input_not_mutated(run: _Run) -> None:
    """``encode`` leaves the list of texts it was given unchanged."""
    texts = list(TEXTS)
    run.matrix(texts, "encoding the texts")
    run.expect(texts == list(TEXTS), "encode changed the list of texts it was given.")


@_as_check
def check_distinguishes_texts(run: _Run) -> None:
    """Unrelated texts get different vectors (a constant encoder fails)."""
    texts = ["apple pie with cinnamon", "stock market crash of 1929", "how to tune a guitar", "deep sea octopus"]
    out = run.matrix(texts, "encoding four unrelated texts").astype(np.float64)
    unit = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-300)
    cosine = unit @ unit.T
    off = cosine[~np.eye(len(texts), dtype=bool)]
    run.expect(
        float(off.max()) < 0.9999,
        f"unrelated texts got (almost) the same vector: the highest cosine between them is {off.max():.6f}.",
    )


_CHECKS: tuple[_Check, ...] = (
    check_identity,
    check_dtype_and_shape,
    check_unit_rows,
    check_deterministic,
    check_batch_invariant,
    check_empty_input,
    check_rejects_non_strings,
    check_input_not_mutated,
    check_distinguishes_texts,
)


def _expected(expected_failures: Mapping[str, str] | None) -> dict[str, str]:
    known = [check.__name__ for check in _CHECKS]
    out: dict[str, str] = {}
    for name, reason in (expected_failures or {}).items():
        if name not in known:
            raise UnknownNameError("encoder check", name, known)
        if not isinstance(reason, str) or not reason.strip():
            raise ParameterError(
                "The 'expected_failures' parameter of encoder_checks must give a written reason for each expected "
                f"failure. Got {reason!r} for {name!r} instead."
            )
        out[name] = reason
    return out


def encoder_checks(
    encoder: EncoderLike, *, expected_failures: Mapping[str, str] | None = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The conformance checks of ``encoder`` as ``(check_name, check)`` pairs; ``check()`` runs one.

    Parameters
    ----------
    encoder : an encoder instance (anything with ``encode``, ``identity`` and ``dim``).
    expected_failures : ``{check_name: reason}``; a listed check passes when it fails and fails when
        it passes (strict, like ``xfail(strict=True)``).

    Examples
    --------
    >>> from abrec.embeddings import FakeEncoder
    >>> [name for name, _ in encoder_checks(FakeEncoder())][:3]
    ['check_identity', 'check_dtype_and_shape', 'check_unit_rows']
    """
    expected = _expected(expected_failures)
    label = f"{type(encoder).__name__}"
    pairs: list[tuple[str, Callable[[], None]]] = []
    for check in _CHECKS:
        bound: Callable[[], None] = functools.partial(check, encoder)
        reason = expected.get(check.__name__)
        if reason is not None:
            bound = _expecting_failure(bound, label, check.__name__, reason)
        pairs.append((check.__name__, bound))
    return iter(pairs)


def check_encoder(encoder: EncoderLike, *, expected_failures: Mapping[str, str] | None = None) -> None:
    """Run every encoder check on ``encoder``; raise one AssertionError listing all failures.

    Examples
    --------
    >>> from abrec.embeddings import FakeEncoder, HashingEncoder
    >>> check_encoder(FakeEncoder())
    >>> check_encoder(HashingEncoder(dim=32))
    """
    run_all(list(encoder_checks(encoder, expected_failures=expected_failures)), "encoder")
