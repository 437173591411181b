"""compute_metrics against hand-computed values, QuantStats' figures and invariants."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.metrics import METRIC_NAMES, compute_metrics, turnover_from_weights


def _series(values, freq="W-FRI"):
    return pd.Series(values, index=pd.date_range("2021-01-01", periods=len(values), freq=freq))


def test_two_period_example_by_hand():
    m = compute_metrics(_series([0.10, -0.05]), periods_per_year=52)
    assert m["n_periods"] == 2
    assert m["annual_return"] == pytest.approx(52 * 0.025)
    # sample std of two values = |a - b| / sqrt(2)
    assert m["volatility"] == pytest.approx(math.sqrt(52) * 0.15 / math.sqrt(2))
    assert m["sharpe"] == pytest.approx(m["annual_return"] / m["volatility"])
    assert m["final_equity"] == pytest.approx(1.1 * 0.95)
    assert m["cumulative_return"] == pytest.approx(1.1 * 0.95 - 1)
    assert m["cagr"] == pytest.approx((1.1 * 0.95) ** 26 - 1)
    assert m["max_drawdown"] == pytest.approx(-0.05)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.05)
    # downside deviation: sqrt(mean([0, -0.05]^2)) = 0.05 / sqrt(2)
    assert m["sortino"] == pytest.approx(math.sqrt(52) * 0.025 / (0.05 / math.sqrt(2)))
    l1, l2 = math.log(1.1), math.log(0.95)
    assert m["log_return"] == pytest.approx(52 * (l1 + l2) / 2)
    assert m["log_volatility"] == pytest.approx(math.sqrt(52) * abs(l1 - l2) / math.sqrt(2))


def test_first_period_loss_counts_in_drawdown_and_daily_periods():
    m = compute_metrics(_series([-0.2, 0.1, 0.05]), periods_per_year=252)
    assert m["max_drawdown"] == pytest.approx(-0.2)
    x = np.array([-0.2, 0.1, 0.05])
    assert m["annual_return"] == pytest.approx(252 * x.mean())
    assert m["volatility"] == pytest.approx(math.sqrt(252) * x.std(ddof=1))
    assert m["log_return"] == pytest.approx(252 * np.log1p(x).mean())


@pytest.mark.parametrize("ppy, freq", [(52, "W-FRI"), (252, "B")])
def test_the_same_figures_as_quantstats(ppy, freq):
    """The tearsheets (QuantStats) and every other page show the same Sharpe, Sortino,
    volatility, CAGR and max drawdown: one definition."""
    import quantstats as qs
    rng = np.random.default_rng(3)
    r = _series(rng.normal(0.004, 0.03, 150), freq)
    m = compute_metrics(r, ppy)
    assert m["sharpe"] == pytest.approx(qs.stats.sharpe(r, 0.0, ppy), rel=1e-12)
    assert m["sortino"] == pytest.approx(qs.stats.sortino(r, 0.0, ppy), rel=1e-12)
    assert m["volatility"] == pytest.approx(qs.stats.volatility(r, ppy), rel=1e-12)
    assert m["cagr"] == pytest.approx(qs.stats.cagr(r, 0.0, True, ppy), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(r), rel=1e-12)
    assert m["calmar"] == pytest.approx(qs.stats.calmar(r, periods=ppy), rel=1e-9)


def test_turnover_and_costs():
    w = pd.DataFrame({"A": [0.5, 0.5, 0.0], "B": [0.5, 0.3, 1.0]}, index=_series([0] * 3).index)
    t = turnover_from_weights(w)
    assert list(t) == pytest.approx([1.0, 0.2, 1.2])
    m = compute_metrics(_series([0.01, 0.0, 0.02]), weights=w, costs=_series([1000.0, 0.0, 1200.0]),
                        capital=1_000_000.0)
    assert m["mean_turnover"] == pytest.approx(0.8)
    assert m["total_turnover"] == pytest.approx(2.4)
    assert m["costs_paid"] == pytest.approx(2200.0)
    assert m["costs_pct"] == pytest.approx(0.0022)
    no_capital = compute_metrics(_series([0.01, 0.0]), costs=_series([5.0, 5.0]))
    assert no_capital["costs_paid"] == 10.0 and math.isnan(no_capital["costs_pct"])
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
    assert m["cumulative_return"] == pytest.approx(m["final_equity"] - 1.0)
    assert m["volatility"] >= 0.0
    if m["volatility"] > 1e-12 and abs(m["annual_return"]) > 1e-12:
        assert np.sign(m["sharpe"]) == np.sign(m["annual_return"])
    # log_return is a log rate: exp(log_return * n / 52) = final equity
    assert math.exp(m["log_return"] * len(values) / 52) == pytest.approx(m["final_equity"],
                                                                         rel=1e-9)
