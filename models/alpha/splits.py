"""Walk-forward splits (rolling train / test windows) for System 2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from feeds.errors import DataError


@dataclass(frozen=True)
class Split:
    """One walk-forward split; all dates are trading days in the index, inclusive."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def walk_forward_splits(dates: Sequence, train_years: int = 2, test_years: int = 1,
                        step_months: int = 6, min_history: int = 0) -> list[Split]:
    """Rolling splits: train ``train_years``, test the following ``test_years``, step forward
    ``step_months``. The first training window starts at ``dates[min_history]`` (leave room for
    the alpha warm-up, e.g. ``required_warmup(alphas, config)``). Only splits whose test window
    is fully covered by ``dates`` (up to 7 calendar days short, for holidays) are returned.
    """
    idx = pd.DatetimeIndex(dates)
    if len(idx) <= min_history:
        raise DataError(f"walk-forward needs more than {min_history} dates, got {len(idx)}")
    first = idx[min_history]
    out: list[Split] = []
    k = 0
    while True:
        ts = first + pd.DateOffset(months=step_months * k)
        te = ts + pd.DateOffset(years=train_years)
        xe = te + pd.DateOffset(years=test_years)
        if idx[-1] < xe - pd.Timedelta(days=8):
            break
        tr = idx[(idx >= ts) & (idx < te)]
        te_ = idx[(idx >= te) & (idx < xe)]
        if len(tr) and len(te_):
            out.append(Split(tr[0], tr[-1], te_[0], te_[-1]))
        k += 1
    return out
