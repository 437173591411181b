"""AlphaPPO / AlphaEqualWeight evaluating the alphas once per feed equals per-day evaluation.

Every alpha operator is causal, so row t of the alphas evaluated on the whole feed is the row
the visible history up to t gives. pandas' rolling sums are online (add/subtract), so a series
that starts earlier can differ in the last bits: the raw rows are compared within 1e-9
relative (plus 1e-12 absolute) and the decisions within 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.alpha.language import evaluate_alphas, load_alphas
from strategies.alpha import AlphaEqualWeight, AlphaPPO

from tests.strategies.test_alpha_strategies import (TRADE_START, alphas, df,  # noqa: F401
                                                    eq_policy, policy, run)


class PerDayPPO(AlphaPPO):
    evaluate_once = False


class PerDayEqual(AlphaEqualWeight):
    evaluate_once = False


def test_whole_feed_rows_equal_visible_history_rows(df):
    lib = load_alphas()
    full = evaluate_alphas(df, lib).to_numpy(dtype=float)
    for t in range(40, len(df), 23):
        row = evaluate_alphas(df.iloc[: t + 1], lib).to_numpy(dtype=float)[-1]
        np.testing.assert_allclose(full[t], row, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.slow
@pytest.mark.parametrize("once, perday, pol", [(AlphaPPO, PerDayPPO, "policy"),
                                               (AlphaEqualWeight, PerDayEqual, "eq_policy")])
def test_evaluate_once_decisions_equal_per_day(once, perday, pol, df, request):
    p = request.getfixturevalue(pol)
    a, ra = run(once, df, policy=p, trade_start=TRADE_START)
    b, rb = run(perday, df, policy=p, trade_start=TRADE_START)
    assert a._alpha_once and all(v is not None for v in a._alpha_once.values())  # the fast path ran
    assert [d for d, _ in a.decisions] == [d for d, _ in b.decisions]
    np.testing.assert_allclose([x for _, x in a.decisions], [x for _, x in b.decisions],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ra.to_numpy(), rb.to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_history_bars_keeps_per_day_evaluation(df, policy):
    s, _ = run(AlphaPPO, df, policy=policy, trade_start=TRADE_START, history_bars=400)
    assert not s._alpha_once  # a trimmed history is evaluated per day, as before
