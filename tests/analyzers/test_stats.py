"""Statistics of comparisons: bootstrap Sharpe differences, deflated Sharpe, seed summaries."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from analyzers.stats import (
    MIN_OBS,
    block_indices,
    compare,
    default_block_length,
    deflated_sharpe,
    deflated_sharpe_from_stats,
    seed_summary,
    sharpe,
    sharpe_difference,
)
from feeds.errors import ConfigError, DataError

WEEKLY = 52


def paired_returns(rng, n, sr_a, sr_b, rho=0.6, phi=0.0, vol=0.03):
    """Weekly returns of a and b: Gaussian AR(1) with unit stationary variance scaled to ``vol``,
    correlation ``rho`` between a and b, true annualised Sharpe ratios ``sr_a`` and ``sr_b``."""
    e = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n + 50)
    x = np.zeros_like(e)
    for t in range(1, len(e)):
        x[t] = phi * x[t - 1] + e[t]
    x = x[50:] * math.sqrt(1.0 - phi ** 2)
    mu = np.array([sr_a, sr_b]) / math.sqrt(WEEKLY)
    return vol * (x + mu)


def binomial_band(p, n, z=3.0):
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


# --- Sharpe -------------------------------------------------------------------------------------

def test_sharpe_is_the_metrics_definition_nan_safe():
    rng = np.random.default_rng(0)
    r = pd.Series(rng.normal(0.002, 0.02, 120))
    assert sharpe(r, WEEKLY) == pytest.approx(compute_metrics(r, WEEKLY)["sharpe"], rel=1e-12)
    assert sharpe(r.to_numpy(), 252) == pytest.approx(compute_metrics(r, 252)["sharpe"])
    with_gaps = r.copy()
    with_gaps.iloc[[3, 50]] = np.nan
    assert sharpe(with_gaps, WEEKLY) == pytest.approx(sharpe(with_gaps.dropna(), WEEKLY))
    assert math.isnan(sharpe([0.01] * 60, WEEKLY))  # zero variance, even with rounding noise
    assert math.isnan(sharpe([0.01], WEEKLY))


def test_default_block_length_is_the_cube_root_rule_and_is_reported():
    assert [default_block_length(n) for n in (1, 8, 9, 27, 28, 110, 1250)] == \
        [1, 2, 3, 3, 4, 5, 11]
    rng = np.random.default_rng(1)
    r = paired_returns(rng, 110, 1.0, 0.5)
    assert sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=200).block == 5
    assert sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=200, block=3).block == 3


# --- bootstrap: calibration ---------------------------------------------------------------------

def test_interval_covers_a_known_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    reps, sr_a, sr_b = 200, 1.2, 0.4
    hits = 0
    for i in range(reps):
        r = paired_returns(rng, 110, sr_a, sr_b, rho=0.6, phi=0.1)
        d = sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=500, seed=i)
        hits += d.ci_low <= sr_a - sr_b <= d.ci_high
    lo, hi = binomial_band(0.90, reps)
    assert lo <= hits / reps <= hi


def test_p_le_0_is_calibrated_when_a_and_b_are_alike_and_small_when_a_dominates():
    rng = np.random.default_rng(7)
    ps = []
    for i in range(200):
        r = paired_returns(rng, 110, 0.8, 0.8, rho=0.5)
        ps.append(sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=500, seed=i).p_le_0)
    ps = np.array(ps)
    assert abs(ps.mean() - 0.5) < 0.07  # uniform on (0, 1) under the null: mean 1/2
    lo, hi = binomial_band(0.10, len(ps))
    assert lo <= np.mean(ps < 0.10) <= hi
    r = paired_returns(rng, 156, 3.0, -1.0, rho=0.3)
    strong = sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=2000)
    assert strong.p_le_0 < 0.01 and strong.ci_low > 0
    reverse = sharpe_difference(r[:, 1], r[:, 0], WEEKLY, n_boot=2000)
    assert reverse.p_le_0 > 0.99 and reverse.ci_high < 0


def test_seeded_and_paired():
    rng = np.random.default_rng(3)
    r = paired_returns(rng, 120, 1.0, 0.5)
    first = sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=1000, seed=11)
    assert sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=1000, seed=11) == first
    assert sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=1000, seed=12) != first
    same = sharpe_difference(r[:, 0], r[:, 0], WEEKLY, n_boot=1000)
    assert (same.diff, same.ci_low, same.ci_high, same.p_le_0) == (0.0, 0.0, 0.0, 1.0)
    assert first.diff == pytest.approx(sharpe(r[:, 0], WEEKLY) - sharpe(r[:, 1], WEEKLY))
    assert first.to_dict()["n_obs"] == 120 and first.to_dict()["method"] == "stationary"


# --- bootstrap: cross-check against arch --------------------------------------------------------

@pytest.mark.parametrize("method", ["stationary", "circular"])
def test_percentile_interval_and_p_agree_with_arch(method):
    from arch.bootstrap import CircularBlockBootstrap, StationaryBootstrap
    rng = np.random.default_rng(5)
    r = paired_returns(rng, 120, 1.0, 0.3, rho=0.4, phi=0.2)
    a, b = r[:, 0], r[:, 1]
    ours = sharpe_difference(a, b, WEEKLY, block=6, n_boot=5000, seed=0, method=method,
                             alpha=0.10)

    def stat(x, y):
        return np.array([sharpe(x, WEEKLY) - sharpe(y, WEEKLY)])

    cls = StationaryBootstrap if method == "stationary" else CircularBlockBootstrap
    ci = cls(6, a, b, seed=99).conf_int(stat, reps=5000, method="percentile", size=0.90)
    draws = cls(6, a, b, seed=98).apply(stat, 5000)[:, 0]
    tol = 0.06 * (ours.ci_high - ours.ci_low)  # about 5 Monte-Carlo standard errors
    assert ours.ci_low == pytest.approx(ci[0, 0], abs=tol)
    assert ours.ci_high == pytest.approx(ci[1, 0], abs=tol)
    assert ours.p_le_0 == pytest.approx(np.mean(draws <= 0), abs=0.025)


def run_lengths(idx, n):
    """Lengths of the runs of consecutive (wrapping) indices, the censored last run dropped."""
    out = []
    for row in idx:
        breaks = np.flatnonzero(row[1:] != (row[:-1] + 1) % n) + 1
        edges = np.concatenate([[0], breaks])
        out.append(np.diff(edges))
    return np.concatenate(out)


def test_stationary_block_lengths_are_geometric_like_arch():
    from arch.bootstrap import StationaryBootstrap
    n, block = 2000, 8
    ours = run_lengths(block_indices(n, block, 40, np.random.default_rng(0), "stationary"), n)
    bs = StationaryBootstrap(block, np.arange(n), seed=0)
    theirs_idx = []
    for _ in bs.bootstrap(40):
        theirs_idx.append(bs.index.copy())
    theirs = run_lengths(np.array(theirs_idx), n)
    for lengths in (ours, theirs):
        assert lengths.mean() == pytest.approx(block, abs=0.35)  # SE ~0.07
        assert np.mean(lengths == 1) == pytest.approx(1 / block, abs=0.015)
        # geometric: P(L > k) = (1 - 1/b)^k
        assert np.mean(lengths > 16) == pytest.approx((1 - 1 / block) ** 16, abs=0.02)
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.5)
    idx = block_indices(n, block, 40, np.random.default_rng(1), "stationary")
    counts = np.bincount(idx.ravel() // 200, minlength=10)  # indices uniform over time
    assert counts.min() > 0.9 * counts.mean()


def test_circular_blocks_have_the_fixed_length_like_arch():
    from arch.bootstrap import CircularBlockBootstrap
    n, block = 103, 7
    idx = block_indices(n, block, 500, np.random.default_rng(0), "circular")
    bs = CircularBlockBootstrap(block, np.arange(n), seed=0)
    theirs = np.array([bs.index.copy() for _ in bs.bootstrap(500)])
    for draws in (idx, theirs):
        assert draws.shape == (500, n)
        step = (draws[:, 1:] - draws[:, :-1]) % n
        inside = np.ones(n - 1, dtype=bool)
        inside[block - 1::block] = False  # positions where a new block starts next
        assert (step[:, inside] == 1).all()
        assert (step[:, ~inside] != 1).mean() == pytest.approx(1 - 1 / n, abs=0.01)


# --- seeds --------------------------------------------------------------------------------------

def test_identical_seed_columns_equal_the_one_dimensional_statistic():
    rng = np.random.default_rng(9)
    r = paired_returns(rng, 110, 1.0, 0.2)
    one = sharpe_difference(r[:, 0], r[:, 1], WEEKLY, n_boot=1000, seed=4)
    three = sharpe_difference(np.column_stack([r[:, 0]] * 3), r[:, 1], WEEKLY, n_boot=1000,
                              seed=4)
    for field in ("diff", "ci_low", "ci_high", "p_le_0"):
        assert getattr(three, field) == pytest.approx(getattr(one, field), rel=1e-12, abs=1e-12)
    assert three.n_seeds == 3 and one.n_seeds == 1


def test_seed_frame_statistic_is_the_mean_of_per_seed_sharpes():
    rng = np.random.default_rng(10)
    idx = pd.date_range("2020-01-03", periods=130, freq="W-FRI")
    seeds = pd.DataFrame(rng.normal(0.003, 0.03, (130, 4)), index=idx)
    ref = pd.Series(rng.normal(0.001, 0.02, 130), index=idx)
    d = sharpe_difference(seeds, ref, WEEKLY, n_boot=500)
    expected = np.mean([sharpe(seeds[c], WEEKLY) for c in seeds]) - sharpe(ref, WEEKLY)
    assert d.diff == pytest.approx(expected, rel=1e-12)


def test_series_are_aligned_on_dates_and_nan_rows_dropped():
    rng = np.random.default_rng(12)
    dates = pd.date_range("2019-01-04", periods=140, freq="W-FRI")
    a = pd.Series(rng.normal(0.002, 0.03, 120), index=dates[:120])
    b = pd.Series(rng.normal(0.001, 0.03, 130), index=dates[10:])
    b.iloc[5] = np.nan  # dates[15]
    d = sharpe_difference(a, b, WEEKLY, n_boot=500, seed=1)
    common = dates[10:120].delete(5)
    manual = sharpe_difference(a[common].to_numpy(), b[common].to_numpy(), WEEKLY, n_boot=500,
                               seed=1)
    assert d.n_obs == 109 and d == manual


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, words", [
    (lambda a, b: sharpe_difference(a, b[:-5], WEEKLY), DataError, "equal length"),
    (lambda a, b: sharpe_difference(a[:MIN_OBS - 1], b[:MIN_OBS - 1], WEEKLY), DataError,
     "at least 20"),
    (lambda a, b: sharpe_difference(a, b, WEEKLY, method="moving"), ConfigError,
     "unknown bootstrap method"),
    (lambda a, b: sharpe_difference(a, b, WEEKLY, block=0), ConfigError, "block"),
    (lambda a, b: sharpe_difference(a, b, WEEKLY, n_boot=10), ConfigError, "n_boot"),
    (lambda a, b: sharpe_difference(a, b, WEEKLY, alpha=1.5), ConfigError, "alpha"),
    (lambda a, b: sharpe_difference(a, np.full(len(b), 0.001), WEEKLY), DataError,
     "zero variance"),
    (lambda a, b: sharpe_difference(a, b, 0), ConfigError, "periods_per_year"),
    (lambda a, b: deflated_sharpe(a, WEEKLY, n_trials=5), ConfigError, "trial_sharpes"),
    (lambda a, b: deflated_sharpe(a, WEEKLY, 5, [1.0, 2.0], 0.3), ConfigError, "not both"),
    (lambda a, b: deflated_sharpe(a[:10], WEEKLY, 1), DataError, "at least 20"),
])
def test_bad_input_gives_one_clear_error(call, error, words):
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.002, 0.02, 60), rng.normal(0.001, 0.02, 60)
    with pytest.raises(error) as info:
        call(a, b)
    assert words in str(info.value) and "\n" not in str(info.value)


# --- deflated Sharpe ----------------------------------------------------------------------------

def test_deflated_sharpe_reproduces_the_published_example():
    # Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio", numerical example: 100 trials
    # with annualised Sharpe variance 1/2, the best has annualised Sharpe 2.5 over 5 years of
    # daily returns (T = 1250, 250 a year), skewness -3, kurtosis 10: SR0 = 0.1132 (per day),
    # DSR = 0.9004.
    res = deflated_sharpe_from_stats(2.5, 1250, -3.0, 10.0, n_trials=100, sharpe_var=0.5,
                                     periods_per_year=250)
    assert round(res.sr0 / math.sqrt(250), 4) == 0.1132
    assert round(res.dsr, 3) == 0.900
    assert res.dsr == pytest.approx(0.9004, abs=5e-5)
    assert res.psr > res.dsr


def test_deflated_sharpe_properties():
    one = deflated_sharpe_from_stats(1.0, 200, 0.0, 3.0, n_trials=1, periods_per_year=52)
    assert one.sr0 == 0.0 and one.dsr == one.psr
    dsrs = [deflated_sharpe_from_stats(1.5, 200, 0.0, 3.0, n, 0.4, 52).dsr
            for n in (1, 2, 10, 100, 1000)]
    assert all(x > y for x, y in itertools.pairwise(dsrs))
    # normal returns: PSR = Phi(SR sqrt(T-1) / sqrt(1 + SR^2 / 2)) per period
    sr = 1.0 / math.sqrt(52)
    from scipy.stats import norm
    assert one.psr == pytest.approx(norm.cdf(sr * math.sqrt(199) / math.sqrt(1 + sr * sr / 2)))
    psr = {(s, k): deflated_sharpe_from_stats(1.0, 200, s, k, 1, 0.0, 52).psr
           for s, k in ((-2.0, 9.0), (0.0, 9.0), (2.0, 9.0), (0.0, 3.0))}
    assert psr[(-2.0, 9.0)] < psr[(0.0, 9.0)] < psr[(2.0, 9.0)]  # negative skew penalised
    assert psr[(0.0, 9.0)] < psr[(0.0, 3.0)]  # fat tails penalised (positive Sharpe)


def test_deflated_sharpe_from_returns_uses_sample_moments_and_trial_spread():
    from scipy import stats as sps
    rng = np.random.default_rng(21)
    r = pd.Series(rng.standard_t(4, 300) * 0.01 + 0.002)
    trials = [0.2, 0.9, -0.3, 1.1, 0.5]
    res = deflated_sharpe(r, WEEKLY, n_trials=5, trial_sharpes=trials)
    assert res.sharpe == pytest.approx(sharpe(r, WEEKLY))
    assert res.skew == pytest.approx(sps.skew(r))
    assert res.kurtosis == pytest.approx(sps.kurtosis(r, fisher=False))
    assert res.sharpe_var == pytest.approx(np.var(trials, ddof=1))
    assert deflated_sharpe(r, WEEKLY, 5, sharpe_var=np.var(trials, ddof=1)) == res
    solo = deflated_sharpe(r, WEEKLY, n_trials=1)
    assert solo.dsr == solo.psr and res.dsr < solo.dsr
    assert set(res.to_dict()) >= {"sharpe", "sr0", "psr", "dsr", "n_trials", "n_obs", "skew",
                                  "kurtosis"}


# --- summaries and compare ----------------------------------------------------------------------

def test_seed_summary_is_nan_safe():
    s = seed_summary([1.0, np.nan, 3.0, 2.0])
    assert s == {"n": 3, "mean": 2.0, "std": 1.0, "median": 2.0, "min": 1.0, "max": 3.0}
    one = seed_summary(pd.Series([0.5]))
    assert one["n"] == 1 and one["mean"] == 0.5 and math.isnan(one["std"])
    assert seed_summary([np.nan])["n"] == 0 and math.isnan(seed_summary([])["mean"])


def test_compare_reports_each_candidate_against_the_reference():
    rng = np.random.default_rng(31)
    dates = pd.date_range("2021-01-01", periods=110, freq="W-FRI")
    ref = pd.Series(rng.normal(0.002, 0.025, 110), index=dates)
    seeds = pd.DataFrame(0.5 * ref.to_numpy()[:, None] + rng.normal(0.003, 0.02, (110, 3)),
                         index=dates, columns=["s0", "s1", "s2"])
    single = pd.Series(rng.normal(0.001, 0.03, 110), index=dates)
    out = compare({"ppo": seeds, "momentum": single}, ref, WEEKLY, n_trials=2, n_boot=500)
    assert set(out) == {"ppo", "momentum"}
    per_seed = [sharpe(seeds[c], WEEKLY) for c in seeds]
    ref_sh = sharpe(ref, WEEKLY)
    ppo = out["ppo"]
    assert ppo["sharpe"] == pytest.approx(seed_summary(per_seed), rel=1e-12)
    assert ppo["seed_sharpes"] == pytest.approx(per_seed, rel=1e-12)
    assert ppo["reference_sharpe"] == pytest.approx(ref_sh)
    assert ppo["beats_reference"] == sum(s > ref_sh for s in per_seed) and ppo["n_seeds"] == 3
    assert ppo["vs"] == sharpe_difference(seeds, ref, WEEKLY, n_boot=500).to_dict()
    pooled = per_seed + [sharpe(single, WEEKLY)]
    expected = deflated_sharpe(seeds.mean(axis=1), WEEKLY, 2, trial_sharpes=pooled)
    for key, value in expected.to_dict().items():
        assert ppo["dsr"][key] == pytest.approx(value, rel=1e-9), key
    assert out["momentum"]["sharpe"]["n"] == 1
    assert out["momentum"]["vs"]["n_seeds"] == 1


def test_compare_survives_a_zero_variance_candidate():
    rng = np.random.default_rng(33)
    dates = pd.date_range("2021-01-01", periods=60, freq="W-FRI")
    ref = pd.Series(rng.normal(0.002, 0.025, 60), index=dates)
    out = compare({"cash": pd.Series(0.0, index=dates), "ref": ref}, ref, WEEKLY, n_trials=1,
                  n_boot=200)
    assert math.isnan(out["cash"]["vs"]["diff"]) and out["cash"]["vs"]["n_valid"] == 0
    assert math.isnan(out["cash"]["dsr"]["dsr"]) and out["cash"]["sharpe"]["n"] == 0
    same = out["ref"]["vs"]
    assert (same["diff"], same["p_le_0"], out["ref"]["beats_reference"]) == (0.0, 1.0, 0)
    with pytest.raises(DataError, match="zero variance"):
        sharpe_difference(pd.Series(0.0, index=dates), ref, WEEKLY)
