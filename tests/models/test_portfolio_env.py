import warnings

import gymnasium as gym
import numpy as np
import pytest

import models  # noqa: F401  (registers the env)
from feeds.errors import ConfigError, DataError
from models.common.execution import bar_returns, execute_step
from models.portfolio.config import EnvConfig
from models.portfolio.env import ENV_ID, PortfolioEnv, build_env_arrays, initial_weights
from models.portfolio.projection import topk_project
from tests.models._s1data import synthetic_arrays


def make_env(cfg=EnvConfig(), start=0, end=100, **kw):
    opn, close, lr, mask, fc = synthetic_arrays(**kw)
    return PortfolioEnv(opn, close, lr, mask, fc if cfg.use_forecasts else None, cfg, start, end)


@pytest.mark.parametrize("use_fc", [True, False])
def test_check_env(use_fc):
    env = make_env(EnvConfig(use_forecasts=use_fc, top_k=3))
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check(env, skip_render_check=True)
    sb3_check(env, warn=False)


def test_registered():
    opn, close, lr, mask, fc = synthetic_arrays()
    env = gym.make(ENV_ID, open=opn, close=close, log_returns=lr, mask=mask, forecasts=fc,
                   config=EnvConfig(top_k=2), start=0, end=60)
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    models._register()  # idempotent


def test_reward_matches_hand_computation():
    cfg = EnvConfig(top_k=2, tau=0.0, tc=0.001, sparsity=0.01)
    opn, close, lr, mask, fc = synthetic_arrays(late=0)
    env = PortfolioEnv(opn, close, lr, mask, fc, cfg, 5, 50)
    env.reset(seed=0)
    a = np.array([1.0, 0.5, -1, -1, -1, -1], dtype=np.float32)
    _, r, *_ , info = env.step(a)
    e = np.exp(5 * np.array([1.0, 0.5])); e /= e.sum()
    w = np.array([e[0], e[1], 0, 0, 0, 0])
    w0 = np.full(6, 1 / 6)
    t = 5
    g = opn[t + 1] / close[t] - 1
    w_open = w0 * (1 + g) / (1 + w0 @ g)
    cost = 0.001 * np.abs(w - w_open).sum()
    intra = close[t + 1] / opn[t + 1] - 1
    growth = (1 + w0 @ g) * (1 - cost) * (1 + w @ intra)
    net = growth - 1 - 0.01 * 2 / 6
    assert r == pytest.approx(np.log(1 + net), rel=1e-12)
    np.testing.assert_allclose(info["weights"], w)
    assert info["equity"] == pytest.approx(growth)


def test_unavailable_never_weighted():
    env = make_env(EnvConfig(top_k=6, tau=0.0), late=2, late_start=30)
    env.reset(seed=0)
    for _ in range(40):
        t = env._t
        obs, r, term, trunc, info = env.step(np.ones(6, dtype=np.float32))
        if t < 30:
            assert np.all(info["weights"][:2] == 0)
        assert info["weights"].sum() == pytest.approx(1.0)
        assert np.isfinite(r)


def test_equity_equals_execute_step_loop():
    cfg = EnvConfig(top_k=3, tau=0.05)
    opn, close, lr, mask, fc = synthetic_arrays(seed=3)
    env = PortfolioEnv(opn, close, lr, mask, fc, cfg, 10, 80)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (200, 6)).astype(np.float32)
    env.reset(seed=0)
    equities, n = [], 0
    while True:
        *_, term, trunc, info = env.step(actions[n])
        equities.append(info["equity"]); n += 1
        if term or trunc:
            break
    assert n == 80 - 1 - 10  # decisions at t = start .. end-2
    w, eq, ref = initial_weights(mask[10]), 1.0, []
    gaps, intras = bar_returns(opn, close)
    for i, t in enumerate(range(10, 79)):
        tgt = topk_project(actions[i].astype(np.float64) * cfg.logit_scale, cfg.top_k, cfg.tau, mask[t])
        res = execute_step(w, tgt, gaps[t], intras[t], cfg.tc)
        eq *= res.growth; w = res.weights_close; ref.append(eq)
    np.testing.assert_allclose(equities, ref, rtol=1e-12)


def test_random_start_uses_np_random():
    env = make_env(EnvConfig(random_start=20, top_k=2))
    starts = {env.reset(seed=s)[1]["t"] for s in range(10)}
    assert len(starts) > 1 and all(0 <= s <= 20 for s in starts)
    assert env.reset(seed=3)[1]["t"] == env.reset(seed=3)[1]["t"]
    assert make_env(EnvConfig(top_k=2)).reset(seed=1)[1]["t"] == 0


def test_constructor_errors():
    opn, close, lr, mask, fc = synthetic_arrays()
    with pytest.raises(ConfigError, match="use_forecasts"):
        PortfolioEnv(opn, close, lr, mask, None, EnvConfig())
    with pytest.raises(DataError, match="shape"):
        PortfolioEnv(opn[:-1], close, lr, mask, fc, EnvConfig())
    with pytest.raises(DataError, match="start"):
        PortfolioEnv(opn, close, lr, mask, fc, EnvConfig(), start=50, end=51)


def test_build_env_arrays_from_panel():
    import pandas as pd
    from feeds.panel import panel_from_close
    _, close, *_ = synthetic_arrays(T=40, N=3, late=1, late_start=10)
    idx = pd.date_range("2020-01-03", periods=40, freq="W-FRI")
    panel = panel_from_close(pd.DataFrame(close, index=idx, columns=list("ABC")))
    arr = build_env_arrays(panel)
    assert arr.tickers == ("A", "B", "C") and arr.forecasts is None
    assert not arr.mask[:10, 0].any() and arr.mask[10:, 0].all()
    env = PortfolioEnv(**arr.env_kwargs(), config=EnvConfig(use_forecasts=False, top_k=2))
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_env_observation_equals_feature_builder():
    cfg = EnvConfig(top_k=3)
    opn, close, lr, mask, fc = synthetic_arrays(seed=4)
    env = PortfolioEnv(opn, close, lr, mask, fc, cfg, 2, 90)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for t in range(2, 40):
        w = env._w
        np.testing.assert_array_equal(obs, env.builder.observation(lr[: t + 1], w, fc[t], mask[t]))
        obs, *_ = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
