"""System 2 data preparation: alphas, market state and training-window statistics per stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from feeds.errors import ConfigError, DataError
from models.alpha.config import AlphaConfig
from models.alpha.env import STATE_WARMUP, AlphaWeightingEnv, market_state
from models.alpha.language import Alpha, AlphaScaler, evaluate_alphas, max_lookback, validate_ohlcv

MIN_TRAIN_DAYS = 60


@dataclass
class StockArrays:
    """Arrays for one stock (rows = trading days up to ``test_end``).

    Attributes: index, z (T, n_alphas) standardised alphas, raw (T, n_alphas) alpha values,
    open, close, logret, trend, vol63 (T,), train_start/train_end/test_end (row indices,
    inclusive), scaler (fitted on the training rows), ret_scale (std of training log returns),
    alpha_names.
    """

    index: pd.DatetimeIndex
    z: np.ndarray
    raw: np.ndarray
    open: np.ndarray
    close: np.ndarray
    logret: np.ndarray
    trend: np.ndarray
    vol63: np.ndarray
    train_start: int
    train_end: int
    test_end: int
    scaler: AlphaScaler
    ret_scale: float
    alpha_names: list[str]


def required_warmup(alphas: Sequence[Alpha], config: AlphaConfig) -> int:
    """Bars needed before the first decision: longest alpha look-back, state warm-up, window."""
    return max(max_lookback(alphas), STATE_WARMUP, config.window)


def row_of(index: pd.DatetimeIndex, when, side: str) -> int:
    ts = pd.Timestamp(when)
    return int(index.searchsorted(ts, side=side)) - (1 if side == "right" else 0)


def prepare_stock(df: pd.DataFrame, alphas: Sequence[Alpha], train_start, train_end,
                  test_end=None, config: AlphaConfig | None = None) -> StockArrays:
    """Evaluate alphas and market state; fit the scaler on ``[train_start, train_end]`` only.

    Rows after ``test_end`` (default ``train_end``) are dropped before anything is computed.
    Raises DataError when there is too little history before ``train_start`` for the longest
    alpha look-back / state warm-up, or fewer than 60 training days.
    """
    config = config or AlphaConfig()
    validate_ohlcv(df)
    test_end = train_end if test_end is None else test_end
    if pd.Timestamp(test_end) < pd.Timestamp(train_end) or \
            pd.Timestamp(train_end) <= pd.Timestamp(train_start):
        raise ConfigError(f"need train_start < train_end <= test_end, got {train_start}, "
                          f"{train_end}, {test_end}")
    df = df.loc[:pd.Timestamp(test_end)]
    idx = df.index
    i0 = row_of(idx, train_start, "left")
    i1 = row_of(idx, train_end, "right")
    warm = required_warmup(alphas, config)
    n_train = i1 - i0 + 1
    if i0 < warm or n_train < MIN_TRAIN_DAYS or i0 >= len(idx):
        first = idx[0].date() if len(idx) else "none"
        raise DataError(
            f"too little history: need {warm} daily bars before train_start "
            f"{pd.Timestamp(train_start).date()} (longest alpha look-back {max_lookback(alphas)}, "
            f"state warm-up {STATE_WARMUP}) plus at least {MIN_TRAIN_DAYS} training days, i.e. "
            f"{warm + MIN_TRAIN_DAYS} days; have {max(i0, 0)} bars before (data starts {first}) "
            f"and {max(n_train, 0)} training days. Start training later or supply earlier data.")
    raw = evaluate_alphas(df, alphas)
    scaler = AlphaScaler(clip=config.scaler_clip).fit(raw.iloc[i0:i1 + 1])
    z = scaler.transform(raw.to_numpy(dtype=float))
    close = df["close"].to_numpy(dtype=float)
    lr, trend, vol = market_state(close)
    ret_scale = float(np.nanstd(lr[i0:i1 + 1]))
    if not np.isfinite(ret_scale) or ret_scale <= 0:
        raise DataError("training window has constant prices; cannot scale returns")
    return StockArrays(index=idx, z=z, raw=raw.to_numpy(dtype=float),
                       open=df["open"].to_numpy(dtype=float), close=close, logret=lr,
                       trend=trend, vol63=vol, train_start=i0, train_end=i1,
                       test_end=len(idx) - 1, scaler=scaler, ret_scale=ret_scale,
                       alpha_names=[a.name for a in alphas])


def make_env(arrays: StockArrays, config: AlphaConfig, start: int | None = None,
             end: int | None = None, episode_length: int | None | str = "config"
             ) -> AlphaWeightingEnv:
    """An :class:`AlphaWeightingEnv` over rows ``[start, end]`` (default: the training rows)."""
    start = arrays.train_start if start is None else start
    end = arrays.train_end if end is None else end
    ep = config.episode_length if episode_length == "config" else episode_length
    if ep is not None:
        ep = min(ep, end - start)
    return AlphaWeightingEnv(arrays.z, arrays.open, arrays.close, arrays.trend, arrays.vol63,
                             start, end, tc=config.tc, window=config.window,
                             ret_scale=arrays.ret_scale, include_alphas=config.include_alphas,
                             episode_length=ep, **config.position_kwargs())
