"""Forecast skill (issue 12): pairing, each score against a hand computation, verdicts, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from feeds.errors import DataError
from models.portfolio.skill import forecast_skill, momentum_forecast, skill_lines

TICKERS = ["A", "B", "C", "D", "E"]


def _data(T=160, N=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.001, 0.03, (T, N))
    mask = np.ones((T, N), dtype=bool)
    mask[:40, 0] = False  # a late listing
    x[:40, 0] = np.nan
    x[40, 0] = 0.0
    return rng, x, mask


def _oracle(rng, x, noise=0.01, scale=0.5):
    """Row t = a noisy, shrunk copy of the return at t+1 (a skilled forecast)."""
    f = np.full_like(x, np.nan)
    f[:-1] = scale * x[1:] + rng.normal(0, noise, x[1:].shape)
    return f


def test_scores_match_a_hand_computation_on_the_pairs():
    rng, x, mask = _data()
    f = _oracle(rng, x)
    mask[100, 2] = False  # unavailable at t=100: pairs (99, C) and (100, C) are dropped
    rows = np.arange(90, 160)  # the last row has no outcome
    res = forecast_skill(f, x, mask, rows, TICKERS)
    mom = momentum_forecast(x, mask)
    F, Y, M = [], [], []
    for t in range(90, 159):
        for j in range(5):
            if mask[t, j] and mask[t + 1, j]:
                F.append(f[t, j]); Y.append(x[t + 1, j]); M.append(mom[t, j])
    F, Y, M = map(np.asarray, (F, Y, M))
    p = res["pooled"]
    assert p["n"] == len(F) == 69 * 5 - 2
    assert p["ic"] == pytest.approx(np.corrcoef(F, Y)[0, 1], rel=1e-12)
    assert p["rank_ic"] == pytest.approx(spearmanr(F, Y)[0], rel=1e-12)
    assert p["momentum_ic"] == pytest.approx(np.corrcoef(M, Y)[0, 1], rel=1e-12)
    assert p["hit_rate"] == pytest.approx(np.mean(np.sign(F) == np.sign(Y)))
    assert p["mse"] == pytest.approx(np.mean((F - Y) ** 2))
    assert p["mse_zero"] == pytest.approx(np.mean(Y ** 2))
    assert p["mse_momentum"] == pytest.approx(np.mean((M - Y) ** 2))
    assert p["skill_vs_zero"] == pytest.approx(1 - p["mse"] / p["mse_zero"])
    assert p["skill_vs_momentum"] == pytest.approx(1 - p["mse"] / p["mse_momentum"])
    z, h = math.atanh(p["ic"]), 1.6448536269514722 / math.sqrt(p["n"] - 3)
    assert (p["ic_lo"], p["ic_hi"]) == pytest.approx((math.tanh(z - h), math.tanh(z + h)))
    a = res["per_asset"]["B"]
    assert a["n"] == 69 and a["ic"] == pytest.approx(
        np.corrcoef(f[90:159, 1], x[91:160, 1])[0, 1], rel=1e-12)
    weekly = [spearmanr(f[t], x[t + 1])[0] for t in range(90, 159) if t not in (99, 100)]
    weekly += [spearmanr(f[t, [0, 1, 3, 4]], x[t + 1, [0, 1, 3, 4]])[0] for t in (99, 100)]
    c = res["cross_sectional"]
    assert c["weeks"] == 69
    assert c["mean_rank_ic"] == pytest.approx(np.mean(weekly), rel=1e-12)
    assert c["t_stat"] == pytest.approx(np.mean(weekly) / (np.std(weekly, ddof=1) / math.sqrt(69)))
    assert res["rows"] == [90, 158]


def test_momentum_is_the_mean_of_the_last_four_known_returns():
    _, x, mask = _data()
    mom = momentum_forecast(x, mask)
    assert mom[100, 3] == pytest.approx(x[97:101, 3].mean())
    assert mom[41, 0] == pytest.approx(x[40:42, 0].mean())  # two weeks since listing
    assert np.isnan(mom[39, 0])  # not listed yet
    future = x.copy()
    future[101:] = 5.0  # altering the future leaves the forecast known at t unchanged
    np.testing.assert_array_equal(momentum_forecast(future, mask)[:101], mom[:101])


def test_only_the_rows_given_and_their_next_week_matter():
    rng, x, mask = _data()
    f = _oracle(rng, x)
    rows = range(100, 130)
    base = forecast_skill(f, x, mask, rows, TICKERS)
    f2, x2 = f.copy(), x.copy()
    f2[:100] = f2[130:] = 9.0  # forecasts outside the rows
    x2[131:] = -9.0  # outcomes after the last scored week
    assert forecast_skill(f2, x2, mask, rows, TICKERS) == base
    x2[115] = -9.0  # an outcome the rows do score
    assert forecast_skill(f2, x2, mask, rows, TICKERS) != base


def test_verdicts():
    rng, x, mask = _data()
    rows = range(60, 160)
    assert forecast_skill(_oracle(rng, x), x, mask, rows, TICKERS)["verdict"] == "some skill"
    noise = rng.normal(0, 0.01, x.shape)
    res = forecast_skill(noise, x, mask, rows, TICKERS)
    assert res["verdict"] == "no skill" and "contains 0" in res["reason"]
    # the right direction but 20x too large: correlated, yet worse than forecasting zero
    loud = forecast_skill(_oracle(rng, x, scale=20.0), x, mask, rows, TICKERS)
    assert loud["pooled"]["ic_lo"] > 0
    assert loud["verdict"] == "no skill" and "zero forecast" in loud["reason"]
    wrong = forecast_skill(-_oracle(rng, x), x, mask, rows, TICKERS)
    assert wrong["pooled"]["ic_hi"] < 0
    assert wrong["verdict"] == "no skill" and "wrong way" in wrong["reason"]


def test_output_is_json_and_printable_even_when_scores_are_undefined():
    _, x, mask = _data()
    const = np.full_like(x, 0.002)  # a constant forecast has no correlation
    res = forecast_skill(const, x, mask, range(60, 160), TICKERS)
    json.dumps(res, allow_nan=False)
    assert res["pooled"]["ic"] is None and res["verdict"] == "no skill"
    assert res["pooled"]["mse"] is not None
    lines = skill_lines(res)
    assert lines[0].startswith("LSTM forecast skill (test weeks") and "NO SKILL" in lines[0]
    assert any("n/a" in ln for ln in lines) and any("momentum" in ln for ln in lines)
    empty = forecast_skill(const, x, mask, [], TICKERS)
    json.dumps(empty, allow_nan=False)
    assert empty["pooled"]["n"] == 0 and empty["verdict"] == "no skill"


def test_bad_input_is_a_data_error():
    _, x, mask = _data()
    with pytest.raises(DataError, match="one shape"):
        forecast_skill(x[:-1], x, mask, range(10), TICKERS)
    with pytest.raises(DataError, match="rows must lie"):
        forecast_skill(x, x, mask, [5, 400], TICKERS)
    with pytest.raises(DataError, match="tickers"):
        forecast_skill(x, x, mask, range(10), TICKERS[:3])
