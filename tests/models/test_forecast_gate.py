"""The MC-dropout uncertainty gate of the LSTM forecasts (issue 12, the paper's future work).

Seeded and deterministic samples, unbiased dropout passes, the gate rule, the paper's forecasts
left bit-identical by default, no lookahead, env/allocator parity and the bundle round trip.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from feeds.errors import ConfigError
from feeds.panel import panel_from_close
from models.portfolio.allocators import HybridAllocator, allocator_from_bundle
from models.portfolio.config import EnvConfig
from models.portfolio.env import PortfolioEnv, build_env_arrays
from models.portfolio.forecaster import LSTMForecaster, gate_forecasts, state_forecasts
from models.portfolio.train import policy_action, train_portfolio_policy
from tests.models._s1data import MeanForecaster
from tests.models._s1fixtures import TINY_LSTM, TINY_PPO

T, N, N_TRAIN = 90, 5, 60
GATED = EnvConfig(top_k=2, window=4, forecast_gate="mc_dropout", gate_samples=16,
                  gate_threshold=0.5)


def _panel(shock_after: int | None = None):
    rng = np.random.default_rng(4)
    lr = rng.normal(0.002, 0.04, (T, N))
    lr[1:, 0] += 0.5 * lr[:-1, 0]  # some predictability for the LSTM to find
    if shock_after is not None:
        lr[shock_after + 1:] = rng.normal(0.0, 0.3, lr[shock_after + 1:].shape)
    close = 100.0 * np.exp(np.cumsum(lr, axis=0))
    close[:20, 4] = np.nan  # EEE lists at week 20
    idx = pd.date_range("2019-01-04", periods=T, freq="W-FRI", name="date")
    return panel_from_close(pd.DataFrame(close, index=idx, columns=list("ABCDE")))


def _lr_mask(panel):
    return panel.log_returns.to_numpy(), panel.mask.to_numpy()


@functools.cache
def _fitted() -> LSTMForecaster:
    lr, mask = _lr_mask(_panel())
    return LSTMForecaster(replace(TINY_LSTM, max_epochs=4), seed=0).fit(lr[:N_TRAIN],
                                                                      mask[:N_TRAIN])


@functools.cache
def _trained():
    """A tiny hybrid policy trained on the gated forecasts."""
    fc = _fitted()
    arr = build_env_arrays(_panel(), fc, env_config=GATED)
    return arr, train_portfolio_policy(arr, N_TRAIN, GATED, TINY_PPO, seed=3, progress_bar=False)


def test_samples_are_seeded_and_deterministic():
    fc = _fitted()
    lr, mask = _lr_mask(_panel())
    m1, s1 = fc.forecast_samples(lr, mask, 8)
    m2, s2 = fc.forecast_samples(lr, mask, 8)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(s1, s2)
    m3, _ = fc.forecast_samples(lr, mask, 8, seed=99)
    assert not np.allclose(m1, m3, equal_nan=True)
    ok = np.isfinite(fc.forecast(lr, mask))
    np.testing.assert_array_equal(np.isfinite(m1), ok)  # NaN exactly where forecast is
    assert (s1[ok] > 0).all()
    with pytest.raises(ConfigError, match="n >= 2"):
        fc.forecast_samples(lr, mask, 1)


def test_dropout_passes_are_unbiased_and_vanish_without_dropout():
    """The mean of many passes is the deterministic forecast (inverted dropout keeps the
    expectation), within the Monte-Carlo error; with dropout 0 every pass is the forecast."""
    fc = _fitted()
    lr, mask = _lr_mask(_panel())
    det = fc.forecast(lr, mask)
    n = 400
    mean, std = fc.forecast_samples(lr, mask, n)
    ok = np.isfinite(det)
    err = np.abs(mean - det)[ok] / (std[ok] / np.sqrt(n))
    assert np.median(err) < 1.5 and err.max() < 5.0
    off = LSTMForecaster(replace(TINY_LSTM, dropout=0.0), seed=0).load_state_dict(
        fc.state_dict())
    m0, s0 = off.forecast_samples(lr, mask, 4)
    np.testing.assert_allclose(m0[ok], det[ok], rtol=1e-6, atol=1e-9)
    assert (s0[ok] == 0).all()


@pytest.mark.parametrize("t", [40, 59, 80])
def test_gated_forecasts_ignore_the_future_and_other_weeks(t):
    fc = _fitted()
    lr, mask = _lr_mask(_panel())
    full = state_forecasts(fc, lr, mask, GATED)
    lr2, mask2 = _lr_mask(_panel(shock_after=t))
    altered = state_forecasts(fc, lr2, mask2, GATED)
    np.testing.assert_array_equal(full[: t + 1], altered[: t + 1])
    assert not np.allclose(full[t + 1:], altered[t + 1:], equal_nan=True)  # can fail
    L = TINY_LSTM.lookback
    last = state_forecasts(fc, lr[t - L + 1: t + 1], mask[t - L + 1: t + 1], GATED)[-1]
    np.testing.assert_allclose(last, full[t], rtol=1e-6, atol=1e-9)  # the allocator's view


def test_gate_rule():
    mean = np.array([[0.03, 0.01, np.nan, 0.02]])
    std = np.array([[0.01, 0.04, 0.01, 0.0]])
    center = np.array([0.01, 0.0, 0.0, 0.02])
    # |0.03-0.01|/0.01 = 2 passes; 0.01/0.04 = 0.25 fails; NaN stays NaN; zero deviation fails
    got = gate_forecasts(mean, std, center, 0.5)
    np.testing.assert_array_equal(got, [[0.03, np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(gate_forecasts(mean, std, center, 0.2),
                                  [[0.03, 0.01, np.nan, np.nan]])
    # std 0 (no dropout): any departure from the centre passes
    np.testing.assert_array_equal(gate_forecasts(np.array([0.05]), np.array([0.0]),
                                                 np.array([0.02]), 3.0), [0.05])
    assert np.isnan(gate_forecasts(mean, std, center, 2.5)).all()


def test_default_is_the_plain_forecast_and_the_gate_only_removes():
    fc = _fitted()
    lr, mask = _lr_mask(_panel())
    plain = fc.forecast(lr, mask)
    np.testing.assert_array_equal(state_forecasts(fc, lr, mask, EnvConfig()), plain)
    arr = build_env_arrays(_panel(), fc)
    np.testing.assert_array_equal(arr.forecasts, plain)
    mean, _ = fc.forecast_samples(lr, mask, GATED.gate_samples)
    rates = []
    for thr in (0.0, 0.5, 1.0, 2.0):
        g = state_forecasts(fc, lr, mask, replace(GATED, gate_threshold=thr))
        kept = np.isfinite(g)
        np.testing.assert_array_equal(g[kept], mean[kept])  # a kept forecast is the MC mean
        rates.append(kept.sum() / np.isfinite(plain).sum())
    assert rates[0] == 1.0 and rates == sorted(rates, reverse=True) and rates[-1] < 1.0
    # a gated-out forecast enters the state as 0 (the training mean: no information)
    b = arr.feature_builder(GATED, 0, N_TRAIN)
    assert b.zscore(np.array([np.nan] * N)).tolist() == [0.0] * N


def test_env_and_allocator_decide_alike_with_the_gate():
    arr, tp = _trained()
    fc = _fitted()
    alloc = HybridAllocator(forecaster=fc, model=tp.model, obs_norm=tp.obs_norm,
                            builder=tp.builder, env_config=tp.env_config)
    env = PortfolioEnv(**arr.env_kwargs(), config=GATED, start=N_TRAIN - 1, end=T,
                       builder=tp.builder)
    obs, _ = env.reset(seed=0)
    lr, mask = arr.log_returns, arr.mask
    for t in range(N_TRAIN - 1, T - 2):
        w = alloc.target_weights(lr[: t + 1], env._w, mask[t], mask[: t + 1])
        again = alloc.target_weights(lr[: t + 1], env._w, mask[t], mask[: t + 1])
        np.testing.assert_array_equal(w, again)  # seeded: same inputs, same output
        obs, _, _, _, info = env.step(policy_action(tp.model, tp.obs_norm, obs)
                                      .astype(np.float32))
        np.testing.assert_allclose(w, info["weights"], atol=1e-6, err_msg=f"t={t}")


def test_gate_needs_a_forecaster_with_samples():
    with pytest.raises(ConfigError, match="forecaster"):
        build_env_arrays(_panel(), forecasts=np.zeros((T, N)), env_config=GATED)
    lr, mask = _lr_mask(_panel())
    with pytest.raises(ConfigError, match="forecast_samples"):
        state_forecasts(MeanForecaster(lookback=4, n_assets=N), lr, mask, GATED)
    with pytest.raises(ConfigError, match="gate_samples"):
        EnvConfig(forecast_gate="mc_dropout", gate_samples=1)


def test_bundle_round_trip_keeps_the_gate(tmp_path):
    from models.portfolio.bundle import load_bundle, save_bundle
    arr, tp = _trained()
    fc = _fitted()
    path = save_bundle(tmp_path / "b", variant="hybrid", tickers=list("ABCDE"),
                       env_config=GATED, seed=0, ppo_config=TINY_PPO,
                       lstm_config=replace(TINY_LSTM, max_epochs=4), builder=tp.builder,
                       obs_norm=tp.obs_norm, model=tp.model, forecaster=fc)
    b = load_bundle(path)
    assert b.env_config.forecast_gate == "mc_dropout" and not b.needs_yields
    loaded = allocator_from_bundle(b)
    direct = HybridAllocator(forecaster=fc, model=tp.model, obs_norm=tp.obs_norm,
                             builder=tp.builder, env_config=GATED)
    ungated = HybridAllocator(forecaster=fc, model=tp.model, obs_norm=tp.obs_norm,
                              builder=tp.builder, env_config=replace(GATED, forecast_gate="none"))
    held = np.full(N, 0.2)
    differs = False
    for t in range(N_TRAIN, T - 1, 3):
        args = (arr.log_returns[: t + 1], held, arr.mask[t], arr.mask[: t + 1])
        np.testing.assert_array_equal(loaded.target_weights(*args), direct.target_weights(*args))
        differs |= not np.array_equal(direct.target_weights(*args),
                                      ungated.target_weights(*args))
    assert differs  # the gate changes some decision
