"""DM: an edge that mutation testing (``make mutate``) found untested.

``_terms`` on rows built without a reward model (``Estimator.rows`` of an estimator that needs none,
or ``Rows`` built by hand, as ``abrec.testing`` and custom estimators do) raises the InputError that
names the estimator.
"""

from __future__ import annotations

import pytest

from abrec.errors import InputError
from abrec.ope import IPW, DirectMethod, LoggedFeedback


def test_terms_without_a_reward_model_name_the_estimator() -> None:
    # Mutant: `rows.model(self.name)` -> `rows.model(None)` ("None needs a reward model").
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1], reward=[1.0, 0.0, 1.0], propensity=0.5)
    rows = IPW().rows(fb, [[0.5], [0.5]])
    assert rows.q_logged is None and rows.dm is None
    with pytest.raises(InputError, match=r"^dm needs a reward model"):
        DirectMethod()._terms(rows)
