"""Seeded synthetic System 1 data shared by the models tests (not a test module)."""

from __future__ import annotations

import numpy as np


def synthetic_arrays(T: int = 120, N: int = 6, seed: int = 0, late: int = 2, late_start: int = 30,
                     forecasts: bool = True):
    """open, close, log_returns, mask, forecasts with ``late`` assets listing at ``late_start``."""
    rng = np.random.default_rng(seed)
    lr = rng.normal(0.002, 0.04, (T, N))
    close = 100.0 * np.exp(np.cumsum(lr, axis=0))
    gap = rng.normal(0.0, 0.01, (T, N))
    opn = np.vstack([close[:1], close[:-1]]) * np.exp(gap)
    lr[0] = 0.0
    mask = np.ones((T, N), dtype=bool)
    if late:
        mask[:late_start, :late] = False
        lr[:late_start, :late] = np.nan
        lr[late_start, :late] = 0.0
        close[:late_start, :late] = np.nan
        opn[:late_start, :late] = np.nan
    fc = rng.normal(0.0, 0.01, (T, N)) if forecasts else None
    return opn, close, lr, mask, fc


class ZeroForecaster:
    """Stand-in following the LSTMForecaster interface (forecast = 0 after the lookback)."""

    def __init__(self, lookback: int = 4, n_assets: int = 6) -> None:
        from models.portfolio.config import LSTMConfig
        self.config = LSTMConfig(lookback=lookback)
        self.lookback = lookback
        self.n_assets_ = n_assets

    def forecast(self, log_returns, mask):
        x = np.asarray(log_returns, dtype=float)
        out = np.zeros_like(x)
        out[: self.lookback - 1] = np.nan
        return out


class MeanForecaster(ZeroForecaster):
    """Causal stand-in: forecast at t = mean of the last ``lookback`` returns (rows <= t)."""

    def forecast(self, log_returns, mask):
        x = np.nan_to_num(np.asarray(log_returns, dtype=float))
        T, _ = x.shape
        out = np.full_like(x, np.nan)
        for t in range(self.lookback - 1, T):
            out[t] = x[t - self.lookback + 1: t + 1].mean(axis=0)
        return out
