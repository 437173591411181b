"""Tiny trained System 1 artifacts shared by bundle/allocator tests (not a test module)."""

from __future__ import annotations

import functools

import numpy as np

from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
from models.portfolio.env import EnvArrays
from models.portfolio.train import train_portfolio_policy
from tests.models._s1data import synthetic_arrays

TINY_PPO = PPOConfig(n_steps=64, batch_size=32, n_epochs=1, net_arch=(16, 16), total_timesteps=64)
TINY_LSTM = LSTMConfig(lookback=6, hidden=8, max_epochs=2, batch_size=32, patience=1)
TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE")


@functools.lru_cache(maxsize=None)
def trained(variant: str = "hybrid"):
    """(arrays, forecaster or None, TrainedPolicy or None) on 80 synthetic weeks of 5 assets."""
    from models.portfolio.forecaster import LSTMForecaster
    opn, close, lr, mask, _ = synthetic_arrays(T=80, N=5, late=1, late_start=20, seed=5)
    fc_model, fc = None, None
    if variant in ("hybrid", "lstm"):
        fc_model = LSTMForecaster(TINY_LSTM, seed=0).fit(lr[:56], mask[:56])
        fc = fc_model.forecast(lr, mask)
    arr = EnvArrays(opn, close, lr, mask, fc, np.arange(80), TICKERS)
    tp = None
    if variant in ("hybrid", "ppo"):
        cfg = EnvConfig(top_k=2, window=4, use_forecasts=variant == "hybrid")
        tp = train_portfolio_policy(arr, 56, cfg, TINY_PPO, seed=3, progress_bar=False)
    return arr, fc_model, tp


def save_tiny_bundle(path, variant: str = "hybrid"):
    """Save the tiny trained artifacts of ``variant`` as a bundle folder at ``path``."""
    from models.portfolio.bundle import save_bundle
    arr, fcm, tp = trained(variant)
    kw = {}
    if tp is not None:
        kw.update(ppo_config=TINY_PPO, builder=tp.builder, obs_norm=tp.obs_norm, model=tp.model)
    if fcm is not None:
        kw.update(lstm_config=TINY_LSTM, forecaster=fcm)
    env_cfg = tp.env_config if tp is not None else EnvConfig(top_k=2, window=4, use_forecasts=False)
    return save_bundle(path, variant=variant, tickers=TICKERS, env_config=env_cfg, seed=3,
                       asset_class={t: "synthetic" for t in TICKERS}, train_first="2020-01-03",
                       train_last="2021-01-29", **kw)
