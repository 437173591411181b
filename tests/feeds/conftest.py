"""Seeded synthetic daily bars for the feeds tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_daily(dates, seed: int = 0, start_price: float = 100.0) -> pd.DataFrame:
    """Random-walk OHLCV on the given dates (a DatetimeIndex or a pd.bdate_range-like)."""
    rng = np.random.default_rng(seed)
    idx = pd.DatetimeIndex(dates, name="date")
    close = start_price * np.exp(np.cumsum(rng.normal(0, 0.01, len(idx))))
    opn = close * np.exp(rng.normal(0, 0.003, len(idx)))
    high = np.maximum(opn, close) * 1.005
    low = np.minimum(opn, close) * 0.995
    vol = rng.integers(1_000, 10_000, len(idx)).astype(float)
    return pd.DataFrame({"open": opn, "high": high, "low": low, "close": close, "volume": vol},
                        index=idx)


@pytest.fixture
def daily_factory():
    return make_daily
