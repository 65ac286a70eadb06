"""The HTTP API's request and response bodies (pydantic, strict: no coercion, no NaN or infinity, no extra keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "DecideBatchRequest",
    "DecideBatchResponse",
    "DecideRequest",
    "DecideResponse",
    "ErrorResponse",
    "ExperimentInfo",
    "ExperimentsResponse",
    "Health",
    "NewItem",
    "ResultsResponse",
    "RewardIn",
    "RewardResult",
    "RewardsRequest",
    "RewardsResponse",
    "SlateItem",
    "VariantStatus",
]

#: An id (experiment, unit, item, event, request): 1 to 256 characters, no NUL.
Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
Kind = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
MAX_CANDIDATES = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class NewItem(_Strict):
    """A candidate never seen before, with its text (encoded once, then known to every process)."""

    id: Id
    text: Annotated[str, StringConstraints(max_length=20_000, pattern=r"^[^\x00]*$")]


class DecideRequest(_Strict):
    """One decision: rank ``k`` of the ``candidates`` for ``unit`` in ``experiment``."""

    experiment: Id
    unit: Id = Field(description="The randomisation unit (user, session): assigned to a variant, sticky.")
    candidates: list[Id | NewItem] = Field(
        min_length=1, max_length=MAX_CANDIDATES, description="Item ids; a new item may come as {id, text}."
    )
    k: int = Field(default=1, ge=1, le=1000, description="Slate size (at most the number of candidates).")
    context: list[Finite] | None = Field(
        default=None,
        max_length=4096,
        description="The request's context vector (length: the experiment's context_dim).",
    )
    history: list[Id] | None = Field(
        default=None, max_length=MAX_CANDIDATES, description="Item ids the user interacted with, oldest first."
    )
    request_id: Id | None = Field(
        default=None, description="Client request id: a retry with the same id returns the stored decision."
    )
    session_id: Annotated[str, StringConstraints(max_length=256, pattern=r"^[^\x00]*$")] = ""
    step: int = Field(default=0, ge=0, lt=2**62)

    @model_validator(mode="after")
    def _check(self) -> DecideRequest:
        ids = [c if isinstance(c, str) else c.id for c in self.candidates]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dupes = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
            raise ValueError(f"candidates must be distinct; repeated: {dupes[:5]}")
        if self.k > len(ids):
            raise ValueError(f"k={self.k} is more than the {len(ids)} candidates")
        if self.context is not None and self.history is not None:
            raise ValueError("give either 'context' or 'history', not both")
        return self


class SlateItem(BaseModel):
    """One shown item: its position (0 = top), the policy's propensity of putting it there, its score."""

    item: str
    position: int
    propensity: float
    score: float | None = Field(description="The policy's score; null where it is not a finite number.")


class DecideResponse(BaseModel):
    """The decision: its event id (send it with the rewards), the variant, the slate and what decided."""

    event_id: str
    experiment: str
    unit: str
    variant: str
    period: int = Field(description="The allocation period in force.")
    assignment_p: float = Field(description="The variant's traffic weight in force.")
    policy: str
    policy_version: str = Field(description="The version of the policy's algorithm.")
    snapshot_version: int = Field(description="The learned-state version that decided (0: not learned yet).")
    propensity_draws: int = Field(description="0: exact propensities; n: Monte Carlo over n draws.")
    slate: list[SlateItem]
    created_at: datetime
    window_closes_at: datetime = Field(description="Rewards after this are stored as late and not learned.")
    request_id: str | None = None
    replayed: bool = Field(description="True when request_id was seen before: this is the stored decision.")


class DecideBatchRequest(_Strict):
    """Many decisions in one call (decided together, committed in one transaction)."""

    requests: list[DecideRequest] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_ids(self) -> DecideBatchRequest:
        ids = [(r.experiment, r.request_id) for r in self.requests if r.request_id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("request_id must be distinct within one batch (per experiment)")
        return self


class DecideBatchResponse(BaseModel):
    decisions: list[DecideResponse]


class RewardIn(_Strict):
    """A reward of ``kind`` for one shown ``item`` of a decision. Idempotent on (event_id, item, kind)."""

    event_id: Id
    item: Id
    position: int | None = Field(default=None, ge=0, description="Optional; checked against the slate when given.")
    kind: Kind = "click"
    value: Finite = 1.0


class RewardsRequest(_Strict):
    rewards: list[RewardIn] = Field(min_length=1)


class RewardResult(BaseModel):
    """What happened to one reward: stored, late (stored, not learned), duplicate (a retry: stored before),
    or rejected: conflict (another value is stored), unknown_event, wrong_item."""

    event_id: str
    item: str
    kind: str
    status: Literal["stored", "late", "duplicate", "conflict", "unknown_event", "wrong_item"]
    position: int | None = None
    message: str = ""


class RewardsResponse(BaseModel):
    """One result per reward, in order; ``message`` sums up the rejected ones ("" when none was)."""

    rewards: list[RewardResult]
    accepted: int
    rejected: int
    message: str = ""


class ExperimentInfo(BaseModel):
    """A served experiment: its config and the allocation in force."""

    name: str
    status: str
    control: str
    variants: list[dict[str, Any]]
    reward: dict[str, Any]
    allocation: dict[str, Any]
    period: int
    weights: dict[str, float]
    period_started_at: datetime


class ExperimentsResponse(BaseModel):
    experiments: list[ExperimentInfo]


class VariantStatus(BaseModel):
    """A variant's counts and its learner's state, with a sentence saying why it has (not) learned."""

    variant: str
    policy: str
    learns: bool
    decisions: int
    rewards: int
    late: int
    defaulted: int
    joined: int = Field(description="Shown items learned from (a reward or the default): journal entries.")
    waiting: int = Field(description="Shown items waiting for a reward or for their window to close.")
    reward_sum: float = Field(description="Sum of the primary reward in the exported log (learned or on time).")
    snapshot_version: int = Field(description="The newest policy version (0: none built yet).")
    built_at: datetime | None
    status: str


class ResultsResponse(BaseModel):
    """The live readout (the same numbers as ``abrec analyze`` on the exported log) and the learner's status."""

    experiment: str
    control: str
    reward_kind: str
    period: int
    weights: dict[str, float]
    variants: list[VariantStatus]
    readout: dict[str, Any] | None = Field(description="abrec.abtest.scorecard.MetricsReadout.to_dict(), or null.")
    readout_note: str = ""


class Health(BaseModel):
    status: str
    detail: str = ""


class ErrorResponse(BaseModel):
    """An error: ``message`` says what was wrong (and ``detail`` holds pydantic's list for a malformed body)."""

    message: str
    detail: Any = None
