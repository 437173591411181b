import numpy as np
import pytest

from models.portfolio.config import EnvConfig, PPOConfig
from models.portfolio.env import EnvArrays, PortfolioEnv
from models.portfolio.train import (ObsNormalizer, policy_action, run_policy, train_portfolio_policy,
                        train_ppo)
from tests.models._s1data import synthetic_arrays

TINY = PPOConfig(n_steps=64, batch_size=32, n_epochs=2, net_arch=(16, 16), total_timesteps=64)


def _env_fn():
    opn, close, lr, mask, fc = synthetic_arrays(T=60, N=4, late=1, late_start=10)
    return PortfolioEnv(opn, close, lr, mask, fc, EnvConfig(top_k=2, window=4), 0, 50)


def _params(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def test_same_seed_same_weights():
    m1, v1 = train_ppo(_env_fn, TINY, seed=7, progress_bar=False)
    m2, v2 = train_ppo(_env_fn, TINY, seed=7, progress_bar=False)
    m3, _ = train_ppo(_env_fn, TINY, seed=8, progress_bar=False)
    for a, b in zip(_params(m1), _params(m2)):
        assert (a == b).all()
    assert any((a != b).any() for a, b in zip(_params(m1), _params(m3)))
    np.testing.assert_array_equal(v1.obs_rms.mean, v2.obs_rms.mean)
    assert not v1.training


def test_obs_normalizer_matches_vecnormalize_and_round_trips():
    model, vn = train_ppo(_env_fn, TINY, seed=0, progress_bar=False)
    norm = ObsNormalizer.from_vecnormalize(vn)
    obs = _env_fn().reset(seed=0)[0]
    np.testing.assert_allclose(norm.normalize(obs), vn.normalize_obs(obs), rtol=1e-6, atol=1e-6)
    again = ObsNormalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again.normalize(obs), norm.normalize(obs))
    a1 = policy_action(model, norm, obs)
    a2 = policy_action(model, vn, obs)
    np.testing.assert_allclose(a1, a2, atol=1e-6)
    assert a1.shape == (4,) and np.all(np.abs(a1) <= 1)


@pytest.mark.parametrize("use_fc", [True, False])
def test_train_portfolio_policy(use_fc):
    opn, close, lr, mask, fc = synthetic_arrays(T=60, N=4, late=1, late_start=10)
    arr = EnvArrays(opn, close, lr, mask, fc, np.arange(60), tuple("ABCD"))
    cfg = EnvConfig(top_k=2, window=4, use_forecasts=use_fc)
    tp = train_portfolio_policy(arr, 40, cfg, TINY, seed=1, timesteps=64, progress_bar=False)
    assert tp.train_end == 40 and tp.builder.layout.use_forecasts == use_fc
    test_env = PortfolioEnv(**{**arr.env_kwargs(), "forecasts": fc if use_fc else None},
                            config=cfg, start=39, end=60, builder=tp.builder)
    out = run_policy(test_env, tp.model, tp.obs_norm)
    assert len(out["rewards"]) == 60 - 1 - 39 and out["equity"] > 0


def test_train_from_panel():
    import pandas as pd
    from feeds.panel import panel_from_close
    _, close, *_ = synthetic_arrays(T=50, N=3, late=1, late_start=10)
    idx = pd.date_range("2020-01-03", periods=50, freq="W-FRI")
    panel = panel_from_close(pd.DataFrame(close, index=idx, columns=list("ABC")))
    tp = train_portfolio_policy(panel, 35, EnvConfig(top_k=2, window=4, use_forecasts=False),
                                TINY, seed=0, timesteps=64, progress_bar=False)
    assert tp.builder.layout.n_assets == 3
