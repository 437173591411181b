"""WeeklyPanel: the aligned, causal multi-asset panel every model and strategy consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from feeds.errors import DataError


@dataclass(frozen=True)
class WeeklyPanel:
    """Weekly bars of several assets on one calendar (weeks ending Friday).

    All frames share ``index`` (a tz-naive DatetimeIndex of Fridays, named ``date``) and
    ``columns`` (the ordered tickers).

    Attributes:
        open, high, low, close, volume: weekly OHLCV. Before an asset's first bar they are NaN;
            inside its life a missing week is forward-filled (volume 0) within ``ffill_limit``
            weeks; after its last bar the close is carried forward so an open position can be
            valued and closed at its last traded price (``mask`` is False there).
        returns: simple close-to-close returns (NaN before the first bar, the first bar is 0).
        log_returns: ``log1p(returns)``.
        mask: True where the asset is investable at that week's close (it has traded that week
            or within ``ffill_limit`` weeks, and it has not ended).
        asset_class: ticker -> class name (``nasdaq100``, ``idx``, ``crypto``, ``treasury``, ...).
        yields: raw yield levels in percent for yield assets (``^TNX``), else empty.
        ffill_limit: the forward-fill limit used, in weeks.
    """

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    returns: pd.DataFrame
    log_returns: pd.DataFrame
    mask: pd.DataFrame
    asset_class: dict[str, str]
    yields: pd.DataFrame = field(default_factory=pd.DataFrame)
    ffill_limit: int = 2

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.close.index  # type: ignore[return-value]

    @property
    def tickers(self) -> list[str]:
        return list(self.close.columns)

    def __len__(self) -> int:
        return len(self.close.index)

    def slice(self, start=None, end=None) -> "WeeklyPanel":
        """Rows with ``start <= date <= end`` (either may be None)."""
        sel = slice(start, end)
        return WeeklyPanel(
            open=self.open.loc[sel], high=self.high.loc[sel], low=self.low.loc[sel],
            close=self.close.loc[sel], volume=self.volume.loc[sel],
            returns=self.returns.loc[sel], log_returns=self.log_returns.loc[sel],
            mask=self.mask.loc[sel], asset_class=dict(self.asset_class),
            yields=self.yields.loc[sel] if not self.yields.empty else self.yields,
            ffill_limit=self.ffill_limit,
        )

    def select(self, tickers: list[str]) -> "WeeklyPanel":
        """The same panel restricted to ``tickers`` (in that order)."""
        missing = [t for t in tickers if t not in self.close.columns]
        if missing:
            raise DataError(f"tickers {missing} are not in the panel; available: {self.tickers}")
        cols = list(tickers)
        ys = [t for t in cols if t in self.yields.columns]
        return WeeklyPanel(
            open=self.open[cols], high=self.high[cols], low=self.low[cols], close=self.close[cols],
            volume=self.volume[cols], returns=self.returns[cols],
            log_returns=self.log_returns[cols], mask=self.mask[cols],
            asset_class={t: self.asset_class[t] for t in cols},
            yields=self.yields[ys] if ys else pd.DataFrame(index=self.close.index),
            ffill_limit=self.ffill_limit,
        )

    def split_index(self, train_frac: float) -> int:
        """Number of weeks in the chronological training part (first ``train_frac``)."""
        if not 0.0 < train_frac < 1.0:
            raise DataError(f"train fraction must be in (0, 1), got {train_frac}")
        return int(round(len(self) * train_frac))


def panel_from_close(close: pd.DataFrame, asset_class: dict[str, str] | None = None,
                     mask: pd.DataFrame | None = None) -> WeeklyPanel:
    """Build a WeeklyPanel from weekly closes only (open = previous close); for tests and examples.

    NaN closes before an asset's first value mark it unavailable.
    """
    close = close.astype(float)
    first_valid = close.notna()
    carried = close.ffill()
    prev = carried.shift(1)
    opn = prev.where(prev.notna(), carried)
    rets = (carried / prev - 1.0).where(first_valid.cumsum() > 0)
    rets = rets.where(~(first_valid & prev.isna()), 0.0)
    m = mask if mask is not None else (carried.notna())
    vol = pd.DataFrame(np.where(carried.notna(), 1.0e6, np.nan), index=close.index,
                       columns=close.columns)
    ac = asset_class or {t: "synthetic" for t in close.columns}
    return WeeklyPanel(open=opn, high=pd.concat([opn, carried]).groupby(level=0).max().reindex(close.index),
                       low=pd.concat([opn, carried]).groupby(level=0).min().reindex(close.index),
                       close=carried, volume=vol, returns=rets, log_returns=np.log1p(rets),
                       mask=m.astype(bool), asset_class=ac)
