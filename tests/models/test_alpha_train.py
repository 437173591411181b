"""System 2 training: data prep, policy causality, reproducibility, baselines, splits, bundles."""

import json

import numpy as np
import pandas as pd
import pytest

from feeds.errors import BundleError, ConfigError, DataError
from models.alpha import (AlphaConfig, EqualWeightPolicy, MomentumPolicy,
                                RandomEntryExitPolicy, TrainJob, equal_weight_position,
                                load_alpha_bundle, momentum_position, prepare_stock,
                                random_entry_exit, required_warmup, run_jobs, save_alpha_bundle,
                                train_alpha_policy, walk_forward_splits)
from models.alpha.language import load_alphas

TINY = AlphaConfig(total_timesteps=256, n_steps=64, n_envs=2, batch_size=64, n_epochs=1,
                   episode_length=60, net_arch=(16,))


def synthetic(T=420, seed=0):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, T)))
    o = c * np.exp(rng.normal(0, 0.004, T))
    idx = pd.DatetimeIndex(pd.bdate_range("2016-01-01", periods=T), name="date")
    return pd.DataFrame({"open": o, "high": np.maximum(o, c) * 1.005,
                         "low": np.minimum(o, c) * 0.995, "close": c,
                         "volume": rng.lognormal(10, 0.3, T)}, index=idx)


@pytest.fixture(scope="module")
def df():
    return synthetic()


@pytest.fixture(scope="module")
def alphas():
    return load_alphas()


@pytest.fixture(scope="module")
def policy(df, alphas):
    return train_alpha_policy(df, alphas, TINY, seed=7, train_slice=(df.index[140], df.index[330]),
                              ticker="SYN")


def test_prepare_stock_uses_training_statistics_only(df, alphas):
    ix = df.index
    a = prepare_stock(df, alphas, ix[140], ix[330], ix[400])
    assert a.z.shape == (401, 50) and a.train_start == 140 and a.train_end == 330
    changed = df.copy()
    changed.iloc[331:, :4] *= 3.0
    b = prepare_stock(changed, alphas, ix[140], ix[330], ix[400])
    np.testing.assert_array_equal(a.scaler.mean_, b.scaler.mean_)
    assert a.ret_scale == b.ret_scale
    np.testing.assert_array_equal(a.z[:331], b.z[:331])
    c = prepare_stock(df, alphas, ix[140], ix[330])  # rows after test_end are never read
    np.testing.assert_array_equal(c.z, a.z[:331])


def test_too_little_history_says_how_many_days(df, alphas):
    need = required_warmup(alphas, AlphaConfig())
    assert need == 126
    with pytest.raises(DataError, match=f"need {need} daily bars before train_start"):
        prepare_stock(df, alphas, df.index[50], df.index[300])
    with pytest.raises(DataError, match="186 days"):
        prepare_stock(df, alphas, df.index[130], df.index[150])


def test_policy_position_uses_data_up_to_t_only(policy, df):
    for t in (200, 331, 419):
        hist = df.iloc[:t + 1]
        p = policy.position(hist, prev_position=0.25)
        # same decision from the full data at row t (future rows present but unused)
        z, lr, trend, vol = policy.state(df)
        assert p == policy.decide(z[t], lr[:t + 1], trend[t], vol[t], 0.25)
        # and with the future altered
        alt = df.copy()
        alt.iloc[t + 1:] *= 1.7
        z2, lr2, trend2, vol2 = policy.state(alt)
        assert p == policy.decide(z2[t], lr2[:t + 1], trend2[t], vol2[t], 0.25)
        assert -1.0 <= p <= 1.0


def test_batch_positions_match_truncated_runs(policy, df):
    full = policy.positions(df, start=df.index[331])
    part = policy.positions(df.iloc[:381], start=df.index[331])
    pd.testing.assert_series_equal(full.iloc[:50], part)
    assert full.abs().max() <= 1.0


def test_too_short_history_for_a_decision(policy, df):
    with pytest.raises(DataError, match="need at least 127 daily bars"):
        policy.position(df.iloc[:100])


def test_same_seed_same_policy(df, alphas, policy):
    again = train_alpha_policy(df, alphas, TINY, seed=7, train_slice=(df.index[140],
                                                                      df.index[330]))
    other = train_alpha_policy(df, alphas, TINY, seed=8, train_slice=(df.index[140],
                                                                      df.index[330]))
    days = df.index[331:360]
    a = policy.positions(df, start=days[0], end=days[-1])
    b = again.positions(df, start=days[0], end=days[-1])
    c = other.positions(df, start=days[0], end=days[-1])
    pd.testing.assert_series_equal(a, b)
    assert not a.equals(c)


def test_bundle_round_trip_and_verification(policy, df, alphas, tmp_path):
    folder = save_alpha_bundle(policy, tmp_path / "b")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["ticker"] == "SYN"
    assert manifest["training_window"]["train_start"] == str(df.index[140].date())
    loaded = load_alpha_bundle(folder, alphas=alphas, ticker="SYN")
    days = df.index[331:345]
    pd.testing.assert_series_equal(policy.positions(df, days[0], days[-1]),
                                   loaded.positions(df, days[0], days[-1]))
    with pytest.raises(BundleError, match="trained on 'SYN', data is 'PEP'"):
        load_alpha_bundle(folder, ticker="PEP")
    other = alphas[:49] + [alphas[49].__class__("a50_bb_macd_combo", "C/O", "", alphas[0].ast)]
    with pytest.raises(BundleError, match=r"different formulas a50_bb_macd_combo"):
        load_alpha_bundle(folder, alphas=other)
    with pytest.raises(BundleError, match=r"missing a50_bb_macd_combo"):
        load_alpha_bundle(folder, alphas=alphas[:49])
    norm = folder / "normalisation.json"
    original = norm.read_text()
    norm.write_text(original.replace('"ret_scale": ', '"ret_scale": 1'))
    with pytest.raises(BundleError, match="normalisation.json is corrupt or was changed"):
        load_alpha_bundle(folder)
    norm.write_text(original)
    (folder / "policy.pt").unlink()
    with pytest.raises(BundleError, match="policy.pt is missing"):
        load_alpha_bundle(folder)
    with pytest.raises(BundleError, match="manifest.json not found"):
        load_alpha_bundle(tmp_path)


def test_equal_weight_and_momentum_baselines(df, alphas):
    cfg = AlphaConfig()
    z = np.array([1.0, -1.0, 2.0, 0.0])
    assert equal_weight_position(z, 0.2, cfg) == pytest.approx(np.tanh(2.0 * 0.5))
    assert equal_weight_position(z, 0.4, cfg) == pytest.approx(0.5 * np.tanh(1.0))
    ew = EqualWeightPolicy.fit(df, alphas, df.index[140], df.index[330], cfg)
    p = ew.position(df.iloc[:350])
    assert -1 <= p <= 1
    c = np.array([100.0] * 63 + [110.0])
    assert momentum_position(c, 63) == 1.0
    assert momentum_position(c[::-1], 63) == -1.0
    assert momentum_position(c[::-1], 63, long_only=True) == 0.0
    assert momentum_position(c[:10], 63) == 0.0
    assert MomentumPolicy(20).position(df.iloc[:100]) in (-1.0, 0.0, 1.0)


def test_random_entry_exit_is_seeded_and_causal():
    a = random_entry_exit(500, seed=3)
    assert np.array_equal(a, random_entry_exit(500, seed=3))
    assert not np.array_equal(a, random_entry_exit(500, seed=4))
    assert np.array_equal(a[:200], random_entry_exit(200, seed=3))
    assert set(np.unique(a)) <= {0.0, 1.0} and 0 < a.mean() < 1
    b = random_entry_exit(500, seed=3, long_only=False)
    assert set(np.unique(b)) <= {-1.0, 0.0, 1.0}
    pol = RandomEntryExitPolicy(seed=3)
    hist = synthetic(150)
    assert pol.position(hist) == a[149]


def test_walk_forward_splits_shape():
    dates = pd.bdate_range("2016-02-01", "2024-05-31")
    splits = walk_forward_splits(dates, train_years=2, test_years=1, step_months=6)
    assert len(splits) == 11
    for s, nxt in zip(splits, splits[1:]):
        assert s.train_start < s.train_end < s.test_start <= s.test_end
        assert (nxt.train_start - s.train_start).days in range(178, 190)
    for s in splits:
        assert dates.get_loc(s.test_start) == dates.get_loc(s.train_end) + 1
        n_train = ((dates >= s.train_start) & (dates <= s.train_end)).sum()
        n_test = ((dates >= s.test_start) & (dates <= s.test_end)).sum()
        assert 515 <= n_train <= 525 and 258 <= n_test <= 263
    assert splits[-1].test_end <= dates[-1]
    later = walk_forward_splits(dates, min_history=126)
    assert later[0].train_start == dates[126] and len(later) == 10


def test_config_is_frozen_and_validated():
    cfg = AlphaConfig()
    with pytest.raises(Exception):
        cfg.tc = 0.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="multiple of batch_size"):
        AlphaConfig(n_steps=100, n_envs=1, batch_size=64)
    assert AlphaConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="AlphaConfig: unknown fields"):
        AlphaConfig.from_dict({"bogus": 1})


def test_run_jobs_in_process(df, tmp_path):
    jobs = [TrainJob("SYN", df, 1, df.index[140], df.index[330], tmp_path, TINY)]
    res = run_jobs(jobs, n_jobs=1)
    assert res[0].ticker == "SYN" and res[0].seed == 1
    assert load_alpha_bundle(res[0].bundle_dir).meta["seed"] == 1


@pytest.mark.slow
def test_run_jobs_parallel_matches_in_process(df, tmp_path):
    jobs = [TrainJob("SYN", df, s, df.index[140], df.index[330], tmp_path / "par", TINY)
            for s in (1, 2)]
    res = run_jobs(jobs, n_jobs=2)
    assert [r.seed for r in res] == [1, 2]
    serial = run_jobs(jobs[:1], n_jobs=1)
    a = load_alpha_bundle(res[0].bundle_dir).positions(df, df.index[331], df.index[350])
    b = load_alpha_bundle(serial[0].bundle_dir).positions(df, df.index[331], df.index[350])
    pd.testing.assert_series_equal(a, b)
