"""Daily bars -> one aligned weekly panel (weeks ending Friday) with an availability mask.

Rules (all causal: the row for week t depends only on daily bars dated up to that Friday):

* **Weeks** end on Friday (``W-FRI``, closed and labelled on the Friday): a Saturday/Sunday crypto
  bar belongs to the week ending the next Friday. Open = first open, high = max, low = min,
  close = last close, volume = sum.
* **Calendar** = the union of the weeks in which any asset traded.
* **Before an asset's first bar**: NaN, mask False. Never back-filled.
* **A week without a bar** after the first bar (a holiday week, a data hole, or after the last
  bar): the close is carried forward and open = high = low = that close, volume 0. The asset
  stays investable (mask True) for the first ``ffill_limit`` consecutive missing weeks; from the
  next missing week on the mask is False until it trades again (the price is still carried so a
  position can be valued and closed). The end of a series is treated the same way: at week t
  nothing says the asset will not trade again next week, so weeks after the last bar are masked
  from the ``ffill_limit + 1``-th missing week on (this is what keeps the rule causal).
* **returns** = simple close-to-close returns on the carried close (first bar 0, NaN before);
  ``log_returns = log1p(returns)``.
* **Yields** (``kind == "yield"``, e.g. ``^TNX``): the price columns hold a synthetic
  constant-maturity Treasury total-return index built from the daily yield (see
  :func:`yield_total_return_index`), starting at 100; the weekly last yield level (percent) goes
  to ``panel.yields``. A yield is never logged.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from feeds.errors import DataError
from feeds.panel import WeeklyPanel
from feeds.universe import MATURITY_YEARS, Universe, get_universe

log = logging.getLogger("feeds.resample")

WEEK_RULE = "W-FRI"


def _bond_price(coupon: np.ndarray, y: np.ndarray, maturity: float) -> np.ndarray:
    """Price per 1 face of a bond paying ``coupon`` (annual, semiannual payments) at yield ``y``.

    ``n = 2 * maturity`` periods (fractional for bills). ``y == 0`` is handled exactly
    (price = 1 + coupon * maturity).
    """
    n = 2.0 * maturity
    h = y / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = np.power(1.0 + h, -n)
        annuity = np.where(np.abs(h) < 1e-12, n, (1.0 - disc) / np.where(h == 0, 1.0, h))
    return coupon / 2.0 * annuity + np.where(np.abs(h) < 1e-12, 1.0, disc)


def yield_total_return_index(yields: pd.Series, maturity: float = 10.0,
                             base: float = 100.0) -> pd.Series:
    """Synthetic constant-maturity total-return index from a daily yield series (percent).

    A rolling par bond: on each day t the position is a ``maturity``-year bond bought at par the
    previous observation (coupon ``y_{t-1}``), repriced at ``y_t``; the day's return is
    ``price(y_{t-1} coupon, y_t) - 1 + y_{t-1} * days / 365`` (price change plus carry for the
    calendar days elapsed), after which the bond is rolled into a new par bond. Starts at
    ``base`` on the first observation. Yields of 0 are exact (no division by, or log of, a yield).
    Ageing of the bond between observations is ignored (a standard approximation).
    """
    y = yields.astype(float).to_numpy() / 100.0
    if len(y) == 0:
        return pd.Series(dtype=float, index=yields.index)
    prev, cur = y[:-1], y[1:]
    days = np.diff(yields.index.values).astype("timedelta64[D]").astype(float)
    r = _bond_price(prev, cur, maturity) - 1.0 + prev * days / 365.0
    idx = base * np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return pd.Series(idx, index=yields.index, name=yields.name)


def week_labels(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The W-FRI week of each timestamp: its own date if a Friday, else the next Friday (what
    ``resample("W-FRI", closed="right", label="right")`` assigns, at midnight)."""
    days = (4 - index.dayofweek.to_numpy()) % 7
    return index.normalize() + pd.to_timedelta(days, unit="D").as_unit(index.unit)


def weekly_bars(daily: pd.DataFrame) -> pd.DataFrame:
    """W-FRI OHLCV of one daily frame; only weeks that contain at least one bar (a close).

    The same values as ``daily.resample("W-FRI", closed="right", label="right")`` aggregated
    (first open, max high, min low, last close, summed volume, NaNs skipped) and filtered to
    weeks with a close, computed from one grouping by :func:`week_labels` (pandas' W-FRI
    resampler builds its bins in a Python loop, and the old code resampled twice);
    ``tests/feeds/test_perf_panel.py`` pins the equality. Sorted bars without missing prices
    (what :func:`feeds.clean.clean_daily` returns) take a NumPy path over contiguous weeks.
    """
    if daily.empty:
        return daily.copy()
    idx = pd.DatetimeIndex(daily.index)
    labels = week_labels(idx)
    prices = daily[["open", "high", "low", "close"]].to_numpy(dtype=float)
    if idx.is_monotonic_increasing and not np.isnan(prices).any():
        v = labels.asi8
        starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
        ends = np.r_[starts[1:], len(v)] - 1
        w = pd.DataFrame({"open": prices[starts, 0],
                          "high": np.maximum.reduceat(prices[:, 1], starts),
                          "low": np.minimum.reduceat(prices[:, 2], starts),
                          "close": prices[ends, 3],
                          "volume": daily["volume"].groupby(labels, sort=True).sum().to_numpy()},
                         index=pd.DatetimeIndex(labels[starts], name="date"))
        return w
    g = daily.groupby(labels, sort=True)
    w = g.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    w = w[g["close"].count().to_numpy() > 0]
    w.index.name = "date"
    return w


def _align_all(weekly: dict, tickers: list, index: pd.DatetimeIndex, ffill_limit: int):
    """Every asset's weekly bars on the common calendar, as (T, N) arrays: filled OHLCV and the
    mask (see the module doc).

    Per column: the close is carried forward from the last traded week; weeks without a bar
    after the first one get open = high = low = that close and volume 0; the mask is True from
    the first bar on while the run of missing weeks is at most ``ffill_limit``.
    """
    T, N = len(index), len(tickers)
    raw = {c: np.full((T, N), np.nan) for c in ("open", "high", "low", "close", "volume")}
    for j, t in enumerate(tickers):
        w = weekly[t]
        pos = index.get_indexer(w.index)
        for c, a in raw.items():
            a[pos, j] = w[c].to_numpy(dtype=float)
    traded = ~np.isnan(raw["close"])
    rows = np.arange(T)[:, None]
    last = np.maximum.accumulate(np.where(traded, rows, -1), axis=0)  # last traded row, or -1
    started = last >= 0
    close = np.where(started, raw["close"][np.maximum(last, 0), np.arange(N)], np.nan)
    filled = started & ~traded
    mask = started & (traded | (rows - last <= ffill_limit))
    out = {c: np.where(filled, close, raw[c]) for c in ("open", "high", "low")}
    out["close"] = close
    out["volume"] = np.where(filled, 0.0, raw["volume"])
    return out, mask


def weekly_panel(daily: dict, universe=None, ffill_limit: int = 2) -> WeeklyPanel:
    """Aligned weekly panel from cleaned daily bars (see the module doc for every rule).

    Args:
        daily: ``{ticker: daily frame}`` as returned by :func:`feeds.load_daily`.
        universe: a :class:`~feeds.universe.Universe`, a preset name, or a ``{ticker: asset
            class}`` dict; it fixes the column order, asset classes and which tickers are yields.
            None: the keys of ``daily`` with guessed classes.
        ffill_limit: consecutive missing weeks that stay investable (mask True).

    Returns:
        WeeklyPanel with index = union of traded weeks (Fridays, named ``date``).
    """
    if ffill_limit < 0:
        raise DataError(f"ffill_limit must be >= 0, got {ffill_limit}")
    if universe is None:
        uni = get_universe(list(daily))
    elif isinstance(universe, dict):
        uni = Universe("custom", tuple(universe), asset_class=dict(universe))
    else:
        uni = get_universe(universe)
    tickers = [t for t in uni.tickers if t in daily]
    missing = [t for t in uni.tickers if t not in daily]
    if missing:
        raise DataError(f"universe {uni.name}: no daily data for {missing}; load them first")
    weekly, ylev = {}, {}
    for t in tickers:
        d = daily[t]
        if uni.kind[t] == "yield":
            tri = yield_total_return_index(d["close"], MATURITY_YEARS.get(t.upper(), 10.0))
            dd = pd.DataFrame({"open": tri, "high": tri, "low": tri, "close": tri, "volume": 0.0})
            weekly[t] = weekly_bars(dd)
            # open = first index value of the week; high/low over the week's daily index values
            ylev[t] = weekly_bars(d)["close"]
        else:
            weekly[t] = weekly_bars(d)
    if not tickers:
        raise DataError("weekly_panel: no tickers")
    index = pd.DatetimeIndex(sorted(set().union(*[set(w.index) for w in weekly.values()])),
                             name="date")
    cols, m = _align_all(weekly, tickers, index, ffill_limit)
    frames = {c: pd.DataFrame(a, index=index, columns=tickers) for c, a in cols.items()}
    close = frames["close"]
    prev = close.shift(1)
    rets = close / prev - 1.0
    rets = rets.where(prev.notna(), np.where(close.notna(), 0.0, np.nan))
    mask = pd.DataFrame(m, index=index, columns=tickers)
    if ylev:
        yl = pd.DataFrame({t: s.reindex(index).ffill() for t, s in ylev.items()}, index=index)
    else:
        yl = pd.DataFrame(index=index)
    return WeeklyPanel(open=frames["open"], high=frames["high"], low=frames["low"], close=close,
                       volume=frames["volume"], returns=rets, log_returns=np.log1p(rets),
                       mask=mask, asset_class={t: uni.asset_class[t] for t in tickers},
                       yields=yl, ffill_limit=ffill_limit)


def load_panel(universe="paper", source: str = "packaged", path=None, start=None, end=None,
               ffill_limit: int = 2, cache_dir=None, *, asset_classes: dict | None = None,
               today=None) -> WeeklyPanel:
    """Load a universe's daily bars from ``source`` and resample them to a weekly panel.

    ``start``/``end`` bound the daily bars used (so the first week may be partial); yields'
    total-return index starts at 100 on the first daily observation used. The calendar ends at
    the last real bar: a trailing week whose Friday falls after ``min(end, last daily bar)`` is
    dropped (its Friday is not known yet), so ``end="2031-12-31"`` on data ending in 2024 gives
    the same panel as ``end=None``.

    Classes: ``asset_classes`` (ticker -> class) overrides everything; with ``source="files"``
    and a long file, its ``asset_class`` column fills tickers whose class is otherwise unknown.
    """
    from feeds.files import file_asset_classes
    from feeds.sources import load_daily

    uni = get_universe(universe, asset_classes)
    if source == "files":
        uni = uni.with_classes(file_asset_classes(path), only_unknown=True)
    daily = load_daily(list(uni.tickers), source=source, path=path, start=start, end=end,
                       cache_dir=cache_dir, kinds=uni.kind, today=today)
    panel = weekly_panel(daily, uni, ffill_limit=ffill_limit)
    return panel.slice(None, calendar_end(daily, end))


def calendar_end(daily: dict, end=None) -> pd.Timestamp:
    """The last date a weekly label may have: ``min(end, last daily bar of any ticker)``."""
    last = max(d.index[-1] for d in daily.values())
    return min(last, pd.Timestamp(end)) if end is not None else last
