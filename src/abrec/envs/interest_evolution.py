"""RecSim's interest-evolution environment (Ie et al. 2019) as a vectorised Gymnasium env.

:class:`InterestEvolutionEnv` re-implements, from the SlateQ / RecSim papers and RecSim's public
specification (``recsim/environments/interest_evolution.py`` with ``create_environment``'s
choices: the utility-model document and user samplers and the proportional choice model), the
environment of the published interest-evolution study: users with interests over topics watch
videos of a topic-dependent quality, spend a time budget, and drift in interest with what they
watch. Trashy topics attract clicks but end sessions early; nutritious ones extend them. Registered
as ``abrec/InterestEvolution-v0``.

:class:`VideoCorpus` is its fixed catalogue of videos, with one text per video (what abrec's text
encoders read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from .._params import Interval, StrOptions, validate_params
from .._random import Seed, as_generator
from ..errors import InputError
from . import _sim_kernels as kernels

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Observation = dict[str, Any]

__all__ = ["QUALITY_WORDS", "TOPIC_NAMES", "InterestEvolutionEnv", "VideoCorpus", "quality_word"]

#: Names of the topics, in order of increasing mean quality (topic ``t`` of ``n_topics`` is ``TOPIC_NAMES[t]``).
TOPIC_NAMES = (
    "celebrity gossip",
    "pranks",
    "unboxing",
    "reaction clips",
    "clickbait lists",
    "game streams",
    "makeup",
    "fashion hauls",
    "memes",
    "sports highlights",
    "music videos",
    "comedy sketches",
    "pets",
    "travel",
    "cooking",
    "fitness",
    "home repair",
    "gardening",
    "personal finance",
    "history",
    "biology",
    "mathematics",
    "programming",
    "astronomy",
)
#: ``(upper bound, word)``: a video of quality ``q`` is described by the first word whose bound exceeds ``q``.
QUALITY_WORDS = (
    (-2.5, "terrible"),
    (-1.5, "poor"),
    (-0.5, "mediocre"),
    (0.5, "ordinary"),
    (1.5, "good"),
    (2.5, "great"),
    (math.inf, "outstanding"),
)

_CONSTRAINTS = {
    "n_users": Interval("int", 1),
    "n_candidates": Interval("int", 1),
    "slate_size": Interval("int", 1),
    "n_topics": Interval("int", 2, len(TOPIC_NAMES)),
    "n_items": Interval("int", 1),
    "time_budget": Interval("float", 0.0, closed="neither"),
    "step_penalty": Interval("float", 0.0, closed="neither"),
    "video_length": Interval("float", 0.0, closed="neither"),
    "quality_range": Interval("float", 0.0),
    "quality_std": Interval("float", 0.0),
    "no_click_mass": Interval("float", 0.0),
    "choice": StrOptions(("proportional", "logit")),
    "budget_alpha": Interval("float", 0.0),
    "interest_step": Interval("float", 0.0, 1.0),
    "reward": StrOptions(("watch_time", "clicks")),
    "observe": StrOptions(("interests", "history")),
    "max_steps": Interval("int", 1),
}


def quality_word(quality: float) -> str:
    """The word that describes a video of this quality (see :data:`QUALITY_WORDS`).

    Examples
    --------
    >>> quality_word(-3.0), quality_word(0.2), quality_word(2.9)
    ('terrible', 'ordinary', 'outstanding')
    """
    return next(word for bound, word in QUALITY_WORDS if quality < bound)


def topic_quality_means(n_topics: int, quality_range: float) -> FloatArray:
    """RecSim's topic mean qualities: ``int(0.7 T)`` trashy ones on ``linspace(-r, 0)``, the rest on ``linspace(0, r)``.

    Examples
    --------
    >>> topic_quality_means(5, 3.0).tolist()
    [-3.0, -1.5, 0.0, 0.0, 3.0]
    """
    trashy = int(0.7 * n_topics)
    means: FloatArray = np.concatenate(
        [np.linspace(-quality_range, 0.0, trashy), np.linspace(0.0, quality_range, n_topics - trashy)]
    )
    return means


@dataclass(frozen=True, eq=False)
class VideoCorpus:
    """The videos an :class:`InterestEvolutionEnv` recommends: one topic, quality and length each.

    Attributes
    ----------
    item_ids : ndarray of shape (n_items,), int64
        Public ids (``0 .. n_items - 1``; a row is its id).
    topic : ndarray of shape (n_items,), int64
        Each video's topic in ``[0, n_topics)``.
    quality : ndarray of shape (n_items,), float64
        Each video's quality (negative: trashy, positive: nutritious).
    length : ndarray of shape (n_items,), float64
        Each video's length in minutes.
    topic_names : tuple of str
        The name of each topic.
    """

    item_ids: IntArray
    topic: IntArray
    quality: FloatArray
    length: FloatArray
    topic_names: tuple[str, ...]

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def n_topics(self) -> int:
        return len(self.topic_names)

    @property
    def ids(self) -> IntArray:
        """The public item ids (with :meth:`texts`, the corpus is a catalog for ``abrec.embeddings.item_features``)."""
        return self.item_ids

    def texts(self) -> list[str]:
        """``"a good video about cooking"``: each video's quality word and topic name, in the order of :attr:`ids`."""
        words = [quality_word(float(q)) for q in self.quality]
        names = [self.topic_names[int(t)] for t in self.topic]
        return [f"{'an' if w[0] in 'aeiou' else 'a'} {w} video about {n}" for w, n in zip(words, names, strict=True)]


class InterestEvolutionEnv(gymnasium.Env[Observation, IntArray]):
    r"""RecSim's interest-evolution environment: ``n_users`` concurrent sessions, vectorised with numpy.

    **Corpus** (built once, from ``seed``). ``n_items`` videos; video ``d`` has a topic ``c_d``
    uniform over ``T = n_topics`` topics, a quality ``q_d ~ N(mu_{c_d}, quality_std^2)`` and a
    length ``L = video_length`` minutes. The topic means ``mu`` are RecSim's: the first
    ``int(0.7 T)`` topics ("trashy") evenly spaced on ``[-r, 0]``, the others ("nutritious") on
    ``[0, r]``, ``r = quality_range`` (:func:`topic_quality_means`). Its text is ``"a {word} video
    about {topic}"``, the word naming the quality (:data:`QUALITY_WORDS`), the topic one of
    :data:`TOPIC_NAMES` in order of mean quality.

    **Users.** At ``reset`` every session draws interests ``u ~ U[-1, 1]^T`` and starts with the
    time budget ``B = time_budget`` minutes.

    **Candidates.** Each step every active session gets ``n_candidates`` distinct videos drawn
    uniformly, in random order, from the corpus; the action picks ``slate_size`` of them (a column
    repeated within a slate shows nothing at its later positions). Positions do not matter.

    **Choice** (one click at most per slate). A shown video ``d`` has the weight
    ``w_d = u_{c_d} + 1`` (``choice="proportional"``, RecSim's multinomial proportional model: the
    score ``u . onehot(c_d)`` minus its ``min_normalizer = -1``) or ``w_d = exp(u_{c_d})``
    (``"logit"``, the multinomial logit); not clicking has ``w_0 = no_click_mass + 1`` or
    ``exp(no_click_mass)``. The user clicks ``d`` with probability ``w_d / (w_0 + sum_{shown} w)``
    and nothing with ``w_0 / (w_0 + sum_{shown} w)``.

    **Response and reward.** A click watches ``W = min(B, L)`` minutes. The reward of a session's
    step is ``W`` (``reward="watch_time"``, RecSim's ``clicked_watchtime_reward``) or the click
    (``"clicks"``, RecSim's ``total_clicks_reward``); a step without a click pays 0.

    **Budget.** After a click on ``d``: ``B <- B - W + budget_alpha * W * q_d``; after a step
    without one: ``B <- B - step_penalty``. The session ends once ``B <= 0``.

    **Interest evolution.** After a click on ``d`` of topic ``c`` (only that coordinate moves), with
    ``x = u_c``: the step ``delta = interest_step * (1 - |x|) * (1 - x)``; with probability
    ``(x + 1) / 2`` the interest moves towards the topic, ``u_c <- x + delta``, otherwise away,
    ``u_c <- x - delta``; then it is clipped to ``[-1, 1]``. (The move does not depend on quality.)

    **Observation.** RecSim's user observation is the interest vector itself
    (``IEvUserState.create_observation``), which ``observe="interests"`` follows; the budget is
    hidden. ``observe="history"`` hides the interests too and shows the session so far: per topic,
    the clicks and the impressions. A session that ended is frozen: its actions are ignored, its
    reward is 0 and its observation rows keep their last values.

    **Episode.** ``reward`` is the sum over sessions; ``terminated`` once every session has ended,
    ``truncated`` after ``max_steps`` steps (a cap RecSim does not have: at the defaults a session
    costs at least ``min(step_penalty, L (1 - budget_alpha max_d q_d))`` minutes a step, so budgets
    end sessions long before 1,000 steps).

    **Randomness**, all from ``np_random``: ``reset`` draws the interests (``uniform(-1, 1, (n, T))``)
    then the candidates; each step draws one ``(n, 2)`` uniform array ``U``, then the next
    candidates. Session ``i`` clicks position ``j`` when ``U[i, 0]`` falls in ``[P_{<j}, P_{<=j})``
    of the cumulative click probabilities in slate order (nothing when ``U[i, 0] >= P_{<=k}``), and
    moves its interest towards the clicked topic when ``U[i, 1] < (x + 1) / 2``.

    **Defaults and deviations.** The defaults are RecSim's (``create_environment`` with
    ``UtilityModelVideoSampler``, ``UtilityModelUserSampler`` and
    ``MultinomialProportionalChoiceModel``): 20 topics, quality range 3 with standard deviation 0.1,
    4-minute videos, budget 200 minutes, step penalty 0.5, ``no_click_mass`` 1,
    ``budget_alpha = 0.9 / 3.4`` (RecSim's ``user_update_alpha``), ``interest_step`` 0.3 (RecSim's
    ``alpha_y_intercept``, with ``alpha_x_intercept`` 1), and the 10 candidates and slates of 2 of
    RecSim's overview notebook. Deviations: (1) RecSim samples fresh documents for every candidate
    set (``resample_documents=True``); here candidates are drawn from a fixed corpus of ``n_items``
    videos so that items have ids and texts (at 1,000 videos over 20 topics a candidate set looks
    the same in distribution); (2) the agent sees only a video's topic in RecSim, while here its
    text also names its quality in words (quality is its topic's mean up to ``N(0, 0.1^2)``, so this
    reveals little); (3) RecSim has no step cap (``max_steps``); (4) RecSim's ``int(0.3 T)``
    nutritious topics are ``T - int(0.7 T)`` here (the same for ``T = 20``); (5) randomness comes
    from the env's own generator, not numpy's global one.

    Parameters
    ----------
    n_users : int, default 64
        Concurrent sessions (rows of every observation and action).
    n_candidates, slate_size : int, default 10 and 2
        Candidate videos per session and step; videos per slate (``slate_size <= n_candidates``).
    n_topics : int, default 20
        Topics ``T`` (at most ``len(TOPIC_NAMES)``).
    n_items : int, default 1000
        Videos in the corpus (at least ``n_candidates``).
    time_budget, step_penalty, video_length : float, default 200.0, 0.5 and 4.0
        Minutes: the starting budget, the cost of a step without a click, every video's length.
    quality_range, quality_std : float, default 3.0 and 0.1
        ``r`` of the topic means and the standard deviation of a video's quality around its topic's mean.
    no_click_mass : float, default 1.0
        The score of not clicking.
    choice : {"proportional", "logit"}, default "proportional"
        The choice model (see above).
    budget_alpha : float, default 0.9 / 3.4
        Budget bonus per watched minute and unit of quality (0: quality has no effect).
    interest_step : float, default 0.3
        Largest interest step (0: interests never move).
    reward : {"watch_time", "clicks"}, default "watch_time"
        What the return counts.
    observe : {"interests", "history"}, default "interests"
        The user observation ``context`` (see above).
    max_steps : int, default 1000
        Steps before the episode is truncated.
    seed : int, numpy.random.Generator or None, default None
        Builds the corpus, then seeds the draws until ``reset(seed=...)`` reseeds them.

    Attributes
    ----------
    corpus : VideoCorpus
        The videos (``corpus.ids`` and ``corpus.texts()`` make it a catalog for ``item_features``).
    quality_means_ : ndarray of shape (n_topics,)
        The mean quality of each topic.
    observation_space : Dict
        ``candidates`` Box (n_users, n_candidates) int64 corpus rows; ``context`` Box (n_users, T)
        float64 in [-1, 1] (interests) or (n_users, 2T) counts in [0, max_steps * slate_size]
        (history: clicks per topic, then impressions per topic); ``active`` MultiBinary (n_users,).
    action_space : MultiDiscrete
        (n_users, slate_size) candidate columns.

    Notes
    -----
    ``info`` of :meth:`step` holds arrays over sessions: ``clicks`` (n, k) bool; ``shown`` (n, k)
    corpus rows (-1 where nothing was shown); ``rewards`` and ``watch_time`` (n,); under the state
    before the step, exactly: ``expected_clicks``, ``expected_watch_time`` and ``expected_rewards``
    (n,) of the chosen slates, and ``oracle_clicks`` and ``oracle_rewards`` (n,) of the myopic
    oracle's (:meth:`myopic_slates`); ``active`` (sessions the step acted on), ``left`` (sessions
    whose budget ran out with it), ``time_budget`` (after it), ``returns`` (per-session return so
    far) and ``session_lengths`` (steps each session has been active).

    Examples
    --------
    >>> import numpy as np
    >>> env = InterestEvolutionEnv(n_users=3, seed=0)
    >>> obs, info = env.reset(seed=1)
    >>> obs["candidates"].shape, obs["context"].shape
    ((3, 10), (3, 20))
    >>> env.corpus.texts()[0]
    'a great video about gardening'
    >>> obs, reward, terminated, truncated, info = env.step(env.myopic_slates())
    >>> bool(np.allclose(info["expected_clicks"], info["oracle_clicks"]))
    True
    """

    metadata = {"render_modes": []}  # noqa: RUF012 - Gymnasium declares it a plain class attribute

    def __init__(
        self,
        *,
        n_users: int = 64,
        n_candidates: int = 10,
        slate_size: int = 2,
        n_topics: int = 20,
        n_items: int = 1000,
        time_budget: float = 200.0,
        step_penalty: float = 0.5,
        video_length: float = 4.0,
        quality_range: float = 3.0,
        quality_std: float = 0.1,
        no_click_mass: float = 1.0,
        choice: Literal["proportional", "logit"] = "proportional",
        budget_alpha: float = 0.9 / 3.4,
        interest_step: float = 0.3,
        reward: Literal["watch_time", "clicks"] = "watch_time",
        observe: Literal["interests", "history"] = "interests",
        max_steps: int = 1000,
        seed: Seed = None,
    ) -> None:
        validate_params(
            "InterestEvolutionEnv",
            _CONSTRAINTS,
            {
                "n_users": n_users,
                "n_candidates": n_candidates,
                "slate_size": slate_size,
                "n_topics": n_topics,
                "n_items": n_items,
                "time_budget": time_budget,
                "step_penalty": step_penalty,
                "video_length": video_length,
                "quality_range": quality_range,
                "quality_std": quality_std,
                "no_click_mass": no_click_mass,
                "choice": choice,
                "budget_alpha": budget_alpha,
                "interest_step": interest_step,
                "reward": reward,
                "observe": observe,
                "max_steps": max_steps,
            },
        )
        if n_candidates > n_items:
            raise InputError(
                f"InterestEvolutionEnv needs n_candidates <= n_items (distinct candidates from the corpus); "
                f"got n_candidates={n_candidates} and n_items={n_items}."
            )
        if slate_size > n_candidates:
            raise InputError(
                f"InterestEvolutionEnv needs slate_size <= n_candidates; got slate_size={slate_size} and "
                f"n_candidates={n_candidates}."
            )
        self.n_users = n_users
        self.n_candidates = n_candidates
        self.slate_size = slate_size
        self.n_topics = n_topics
        self.n_items = n_items
        self.time_budget = time_budget
        self.step_penalty = step_penalty
        self.video_length = video_length
        self.quality_range = quality_range
        self.quality_std = quality_std
        self.no_click_mass = no_click_mass
        self.choice = choice
        self.budget_alpha = budget_alpha
        self.interest_step = interest_step
        self.reward = reward
        self.observe = observe
        self.max_steps = max_steps
        self.seed = seed

        rng = as_generator(seed)
        self.quality_means_ = topic_quality_means(n_topics, quality_range)
        topic = rng.integers(0, n_topics, n_items).astype(np.int64)
        self.corpus = VideoCorpus(
            item_ids=np.arange(n_items, dtype=np.int64),
            topic=topic,
            quality=self.quality_means_[topic] + quality_std * rng.standard_normal(n_items),
            length=np.full(n_items, float(video_length)),
            topic_names=TOPIC_NAMES[:n_topics],
        )
        if seed is not None:
            self._np_random = rng
        self._pool = self.corpus.item_ids
        self._no_click_weight = no_click_mass + 1.0 if choice == "proportional" else math.exp(no_click_mass)

        n, m, k, t = n_users, n_candidates, slate_size, n_topics
        if observe == "interests":
            context: spaces.Box = spaces.Box(-1.0, 1.0, (n, t), np.float64)
        else:
            context = spaces.Box(0.0, float(max_steps * k), (n, 2 * t), np.float64)
        self.observation_space = spaces.Dict(
            {
                "candidates": spaces.Box(0, max(n_items - 1, 1), (n, m), np.int64),
                "context": context,
                "active": spaces.MultiBinary(n),
            }
        )
        self.action_space = spaces.MultiDiscrete(np.full((n, k), m, dtype=np.int64))
        self._started = False

    # ------------------------------------------------------------------ state (simulator-only)

    def item_texts(self) -> list[str]:
        """One text per corpus row (``corpus.texts()``)."""
        return self.corpus.texts()

    @property
    def interests(self) -> FloatArray:
        """The users' current interests (n_users, T) (simulator-only unless ``observe="interests"``)."""
        self._require_started()
        return self._interest.copy()

    @property
    def budgets(self) -> FloatArray:
        """The users' remaining time budgets in minutes (simulator-only: RecSim does not observe them)."""
        self._require_started()
        return self._budget.copy()

    @property
    def step_count(self) -> int:
        """Steps taken since the last reset."""
        return self._t

    def _require_started(self) -> None:
        if not self._started:
            raise gymnasium.error.ResetNeeded("Call reset() before using an InterestEvolutionEnv.")

    def _weights(self, items: IntArray) -> FloatArray:
        """The choice weights ``w`` of corpus rows ``items`` (n_users, j) for each user under the current interests."""
        u = np.take_along_axis(self._interest, self.corpus.topic[items], axis=1)
        out: FloatArray = u + 1.0 if self.choice == "proportional" else np.exp(u)
        return out

    def _draw_candidates(self, rng: np.random.Generator) -> IntArray:
        bits = kernels.random_bits(rng, (self.n_users, (self.n_candidates + 1) // 2))
        return kernels.sample_rows(self._pool, bits, self.n_candidates)

    def _observation(self) -> Observation:
        if self.observe == "interests":
            context = self._interest.copy()
        else:
            context = np.hstack([self._topic_clicks, self._topic_shown])
        return {"candidates": self._candidates.copy(), "context": context, "active": self._active.astype(np.int8)}

    # ------------------------------------------------------------------ exact expectations

    def _slate_probabilities(self, cols: IntArray) -> tuple[IntArray, BoolArray, FloatArray]:
        """(items, shown mask, click probability of each position) of the columns' slates, now."""
        items = np.take_along_axis(self._candidates, cols, axis=1)
        repeated = np.tril(cols[:, :, None] == cols[:, None, :], -1).any(axis=2)
        shown: BoolArray = self._active[:, None] & ~repeated
        weights = self._weights(items) * shown
        probs: FloatArray = weights / (self._no_click_weight + weights.sum(axis=1, keepdims=True))
        return items, shown, probs

    def _watch_if_clicked(self) -> FloatArray:
        out: FloatArray = np.minimum(np.maximum(self._budget, 0.0), self.video_length)
        return out

    def expected_rewards(self, columns: npt.ArrayLike) -> FloatArray:
        """Exact expected reward of showing each session the slate of candidate ``columns`` (n_users, j) now.

        ``j`` may be any slate length (1: the value of single candidates); sessions that ended get 0.
        With ``reward="watch_time"`` it is ``P(click) * min(B, L)``, with ``"clicks"`` ``P(click)``.
        """
        self._require_started()
        cols = self._check_columns(columns, "expected_rewards", None)
        _, _, probs = self._slate_probabilities(cols)
        p_click = probs.sum(axis=1)
        out: FloatArray = p_click * self._watch_if_clicked() if self.reward == "watch_time" else p_click
        return out

    def myopic_slates(self) -> IntArray:
        """The myopic oracle: each session's ``slate_size`` candidate columns of the largest choice weight.

        A slate's click probability ``S / (w_0 + S)`` grows with the sum ``S`` of its weights, and a
        click is worth ``min(B, L)`` whichever video it is (all have length ``L``), so these slates
        maximise the expected immediate reward (clicks and watch time). Reads the hidden interests.
        """
        self._require_started()
        weights = self._weights(self._candidates)
        out: IntArray = np.argsort(-weights, axis=1, kind="stable")[:, : self.slate_size].astype(np.int64)
        return out

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start ``n_users`` new sessions with fresh interests and full budgets."""
        super().reset(seed=seed)
        rng = self.np_random
        n, t = self.n_users, self.n_topics
        self._interest = rng.uniform(-1.0, 1.0, (n, t))
        self._budget = np.full(n, float(self.time_budget))
        self._active = np.ones(n, dtype=bool)
        self._topic_clicks = np.zeros((n, t))
        self._topic_shown = np.zeros((n, t))
        self._returns = np.zeros(n)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._t = 0
        self._candidates = self._draw_candidates(rng)
        self._started = True
        return self._observation(), {"returns": self._returns.copy(), "session_lengths": self._lengths.copy()}

    def step(self, action: npt.ArrayLike) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Show each active session its slate of candidate columns ``action`` (n_users, slate_size)."""
        self._require_started()
        if self._t >= self.max_steps or not self._active.any():
            raise gymnasium.error.ResetNeeded("The episode is over (every session ended, or max_steps); call reset().")
        cols = self._check_columns(action, "step", self.slate_size)
        rng = self.np_random
        n, k = self.n_users, self.slate_size
        active = self._active.copy()

        # Exact expectations under the state before the step.
        items, shown, probs = self._slate_probabilities(cols)
        watch_if_clicked = self._watch_if_clicked()
        p_click = probs.sum(axis=1)
        all_weights = self._weights(self._candidates)
        top = kernels.top_k_sum(all_weights, np.ones(k))
        oracle_clicks = np.where(active, top / (self._no_click_weight + top), 0.0)

        # The choice (at most one click per slate) and the interest flip.
        draws = rng.random((n, 2))
        position = (draws[:, :1] >= np.cumsum(probs, axis=1)).sum(axis=1)
        clicked = position < k
        rows = np.flatnonzero(clicked)
        clicks = np.zeros((n, k), dtype=bool)
        clicks[rows, position[rows]] = True
        watch = np.where(clicked, watch_if_clicked, 0.0)
        rewards = watch.copy() if self.reward == "watch_time" else clicked.astype(np.float64)

        # Interests and budgets.
        doc = items[rows, position[rows]]
        topic = self.corpus.topic[doc]
        x = self._interest[rows, topic]
        delta = self.interest_step * (1.0 - np.abs(x)) * (1.0 - x)
        towards = draws[rows, 1] < (x + 1.0) / 2.0
        self._interest[rows, topic] = np.clip(np.where(towards, x + delta, x - delta), -1.0, 1.0)
        spent = watch[rows]
        self._budget[rows] = self._budget[rows] - spent + self.budget_alpha * spent * self.corpus.quality[doc]
        missed = np.flatnonzero(active & ~clicked)
        self._budget[missed] -= self.step_penalty

        # The session history (the "history" observation).
        shown_topics = self.corpus.topic[items]
        flat = (np.arange(n)[:, None] * self.n_topics + shown_topics).ravel()
        size = n * self.n_topics
        self._topic_shown += np.bincount(flat, weights=shown.ravel().astype(np.float64), minlength=size).reshape(n, -1)
        self._topic_clicks += np.bincount(flat, weights=clicks.ravel().astype(np.float64), minlength=size).reshape(
            n, -1
        )

        left = active & (self._budget <= 0.0)
        self._active = active & ~left
        self._returns += rewards
        self._lengths += active
        self._t += 1

        # The next candidates; sessions that ended keep their last observation.
        fresh = self._draw_candidates(rng)
        still = self._active
        self._candidates[still] = fresh[still]

        terminated = not self._active.any()
        truncated = self._t >= self.max_steps and not terminated
        expected_watch = p_click * watch_if_clicked
        oracle_watch = oracle_clicks * watch_if_clicked
        by_reward = self.reward == "watch_time"
        info = {
            "clicks": clicks,
            "shown": np.where(shown, items, -1),
            "rewards": rewards,
            "watch_time": watch,
            "expected_clicks": p_click,
            "expected_watch_time": expected_watch,
            "expected_rewards": expected_watch if by_reward else p_click.copy(),
            "oracle_clicks": oracle_clicks,
            "oracle_rewards": oracle_watch if by_reward else oracle_clicks.copy(),
            "active": active,
            "left": left,
            "time_budget": self._budget.copy(),
            "returns": self._returns.copy(),
            "session_lengths": self._lengths.copy(),
        }
        return self._observation(), float(rewards.sum()), terminated, truncated, info

    def _check_columns(self, action: npt.ArrayLike, where: str, k: int | None) -> IntArray:
        cols = np.asarray(action)
        n, m = self.n_users, self.n_candidates
        shape_ok = cols.ndim == 2 and cols.shape[0] == n and (cols.shape[1] == k if k else cols.shape[1] >= 1)
        if not shape_ok or not np.issubdtype(cols.dtype, np.integer):
            expected = f"({n}, {k})" if k else f"({n}, j) with j >= 1"
            raise InputError(
                f"InterestEvolutionEnv.{where} expects an integer array of candidate columns of shape {expected}; "
                f"got dtype {cols.dtype} and shape {cols.shape}."
            )
        if cols.min() < 0 or cols.max() >= m:
            raise InputError(
                f"InterestEvolutionEnv.{where} expects candidate columns in [0, {m}) (0 to {m - 1}, never "
                f"negative); got values from {cols.min()} to {cols.max()}."
            )
        out: IntArray = cols.astype(np.int64, copy=False)
        return out
