"""compute_metrics against hand-computed values and invariants."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.metrics import METRIC_NAMES, compute_metrics, turnover_from_weights


def _series(values):
    return pd.Series(values, index=pd.date_range("2021-01-01", periods=len(values), freq="W-FRI"))


def test_two_period_example_by_hand():
    m = compute_metrics(_series([0.10, -0.10]), periods_per_year=52)
    l1, l2 = math.log(1.1), math.log(0.9)
    assert m["n_periods"] == 2
    assert m["annual_return"] == pytest.approx(52 * (l1 + l2) / 2)
    # sample std of two values = |a - b| / sqrt(2)
    assert m["volatility"] == pytest.approx(math.sqrt(52) * abs(l1 - l2) / math.sqrt(2))
    assert m["sharpe"] == pytest.approx(m["annual_return"] / m["volatility"])
    assert m["final_equity"] == pytest.approx(0.99)
    assert m["cagr"] == pytest.approx(0.99 ** 26 - 1)
    assert m["max_drawdown"] == pytest.approx(0.99 / 1.1 - 1)  # -10%
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)
    # downside deviation: sqrt(mean([0, l2]^2)) = |l2| / sqrt(2)
    downside = math.sqrt(52) * abs(l2) / math.sqrt(2)
    assert m["sortino"] == pytest.approx(m["annual_return"] / downside)


def test_first_period_loss_counts_in_drawdown_and_daily_periods():
    m = compute_metrics(_series([-0.2, 0.1, 0.05]), periods_per_year=252)
    assert m["max_drawdown"] == pytest.approx(-0.2)
    logs = np.log1p([-0.2, 0.1, 0.05])
    assert m["annual_return"] == pytest.approx(252 * logs.mean())
    assert m["volatility"] == pytest.approx(math.sqrt(252) * logs.std(ddof=1))


def test_turnover_and_costs():
    w = pd.DataFrame({"A": [0.5, 0.5, 0.0], "B": [0.5, 0.3, 1.0]}, index=_series([0] * 3).index)
    t = turnover_from_weights(w)
    assert list(t) == pytest.approx([1.0, 0.2, 1.2])
    m = compute_metrics(_series([0.01, 0.0, 0.02]), weights=w, costs=_series([0.001, 0.0, 0.0012]))
    assert m["mean_turnover"] == pytest.approx(0.8)
    assert m["total_turnover"] == pytest.approx(2.4)
    assert m["total_costs"] == pytest.approx(0.0022)
    m2 = compute_metrics(_series([0.01, 0.0, 0.02]), weights=w, turnover=_series([0.1, 0.1, 0.1]))
    assert m2["total_turnover"] == pytest.approx(0.3)


def test_degenerate_inputs_give_nan_not_inf():
    flat = compute_metrics(_series([0.0] * 10))
    assert flat["volatility"] == 0.0
    assert math.isnan(flat["sharpe"]) and math.isnan(flat["sortino"]) and math.isnan(flat["calmar"])
    assert flat["max_drawdown"] == 0.0 and flat["final_equity"] == 1.0
    empty = compute_metrics(pd.Series([], dtype=float))
    assert empty["n_periods"] == 0
    assert set(empty) == set(METRIC_NAMES)
    assert math.isnan(empty["annual_return"])
    nan_dropped = compute_metrics(_series([np.nan, 0.1, -0.05]))
    assert nan_dropped["n_periods"] == 2
    with pytest.raises(ValueError):
        compute_metrics(_series([0.1]), periods_per_year=0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False), min_size=2, max_size=60))
def test_invariants(values):
    m = compute_metrics(_series(values))
    assert -1.0 <= m["max_drawdown"] <= 0.0
    assert m["final_equity"] == pytest.approx(float(np.prod(1.0 + np.array(values))))
    assert m["volatility"] >= 0.0
    if m["volatility"] > 1e-12 and abs(m["annual_return"]) > 1e-12:
        assert np.sign(m["sharpe"]) == np.sign(m["annual_return"])
    # annual_return is a log rate: exp(annual_return * n / 52) = final equity
    assert math.exp(m["annual_return"] * len(values) / 52) == pytest.approx(m["final_equity"],
                                                                            rel=1e-9)
