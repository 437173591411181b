"""System 2 training: PPO on one stock's alpha-weighting env (the shared PPO builder)."""

from __future__ import annotations

import logging
import platform
import time
from typing import Sequence

import numpy as np
import pandas as pd

from feeds.errors import ConfigError
from models.alpha.config import AlphaConfig
from models.alpha.data import make_env, prepare_stock
from models.alpha.language import Alpha
from models.alpha.policies import AlphaPolicy

log = logging.getLogger(__name__)


def _versions() -> dict:
    import gymnasium
    import stable_baselines3
    import torch
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__}


def _train_window(train_slice) -> tuple[pd.Timestamp, pd.Timestamp]:
    if isinstance(train_slice, slice):
        a, b = train_slice.start, train_slice.stop
    else:
        a, b = train_slice
    if a is None or b is None:
        raise ConfigError("train_slice needs both a start and an end date")
    return pd.Timestamp(a), pd.Timestamp(b)


def train_alpha_policy(df: pd.DataFrame, alphas: Sequence[Alpha], config: AlphaConfig,
                       seed: int, train_slice, ticker: str = "", progress_bar: bool = False,
                       verbose: int = 0, torch_threads: int | None = 1) -> AlphaPolicy:
    """Train PPO on ``train_slice = (start, end)`` (dates, inclusive) of one stock.

    Only rows up to ``end`` are read. Seeds SB3/torch/numpy with ``seed``; the same seed and
    settings on the same machine give the same policy. ``torch_threads`` (default 1: the
    networks are tiny and extra threads only contend) is set for the call and restored after.
    """
    from models.common.ppo import make_vec_env, train

    start, end = _train_window(train_slice)
    arrays = prepare_stock(df, alphas, start, end, config=config)
    t0 = time.perf_counter()
    model = train(lambda: make_vec_env(lambda: make_env(arrays, config), config.n_envs, seed,
                                       norm_obs=False, norm_reward=config.norm_reward,
                                       gamma=config.gamma, monitor=False),
                  config, seed, threads=torch_threads, progress_bar=progress_bar,
                  verbose=verbose)
    secs = time.perf_counter() - t0
    log.info("trained %s seed %d: %d steps in %.1fs", ticker or "stock", seed,
             config.total_timesteps, secs)
    meta = {"seed": int(seed), "ticker": ticker,
            "train_start": str(arrays.index[arrays.train_start].date()),
            "train_end": str(arrays.index[arrays.train_end].date()),
            "train_days": int(arrays.train_end - arrays.train_start + 1),
            "total_timesteps": int(config.total_timesteps), "train_seconds": round(secs, 2)}
    return AlphaPolicy(model, alphas, arrays.scaler, arrays.ret_scale, config, meta)
