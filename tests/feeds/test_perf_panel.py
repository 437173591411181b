"""Faster panel loading gives the same panels, frame for frame.

The references below are verbatim copies of the code before the change: ``load_packaged``
scanning the whole file once per ticker, ``weekly_bars`` resampling twice per ticker, and the
per-ticker ``_align`` of ``weekly_panel``. The new path (one read and one grouping per file,
:func:`feeds.resample.week_labels`, the array alignment) must give identical frames for the
packaged universes and for edge cases (weekend bars, holes, NaNs, late and ended assets).
"""

from __future__ import annotations

import functools
import gzip
import io
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.clean import clean_daily
from feeds.errors import DataError
from feeds.packaged import load_packaged, packaged_tickers, resolve
from feeds.panel import WeeklyPanel
from feeds.resample import (
    MATURITY_YEARS,
    WEEK_RULE,
    calendar_end,
    load_panel,
    weekly_bars,
    weekly_panel,
    yield_total_return_index,
)
from feeds.universe import Universe, get_universe, ticker_kind

FIELDS = ("open", "high", "low", "close", "volume", "returns", "log_returns", "mask", "yields")


# ------------------------------------------------------------------ references (old code)
@functools.lru_cache(maxsize=8)
def ref_read_file(fname):
    blob = (resources.files("feeds") / "data" / fname).read_bytes()
    df = pd.read_csv(io.BytesIO(gzip.decompress(blob)), dtype={"ticker": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    return df


def ref_load_packaged(tickers):
    where = packaged_tickers()
    out = {}
    for t in tickers:
        src = resolve(t)
        df = ref_read_file(where[src])
        sub = df[df["ticker"] == src].drop(columns=["ticker"])
        out[t] = clean_daily(sub, t, f"packaged:{where[src]}", kind=ticker_kind(t))
    return out


def ref_weekly_bars(daily):
    if daily.empty:
        return daily.copy()
    w = daily.resample(WEEK_RULE, closed="right", label="right").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    w = w[daily["close"].resample(WEEK_RULE, closed="right", label="right").count() > 0]
    w.index.name = "date"
    return w


def ref_align(w, index, ffill_limit):
    w = w.reindex(index)
    traded = w["close"].notna()
    close = w["close"].ffill()
    started = close.notna()
    miss = (~traded & started).astype(int)
    run = miss.groupby(traded.cumsum()).cumsum()
    mask = started & (traded | (run <= ffill_limit))
    filled = ~traded & started
    out = {}
    for c in ("open", "high", "low"):
        out[c] = w[c].where(~filled, close)
    out["close"] = close
    out["volume"] = w["volume"].where(~filled, 0.0)
    return out, mask


def ref_weekly_panel(daily, uni, ffill_limit=2):
    tickers = [t for t in uni.tickers if t in daily]
    weekly, ylev = {}, {}
    for t in tickers:
        d = daily[t]
        if uni.kind[t] == "yield":
            tri = yield_total_return_index(d["close"], MATURITY_YEARS.get(t.upper(), 10.0))
            dd = pd.DataFrame({"open": tri, "high": tri, "low": tri, "close": tri, "volume": 0.0})
            weekly[t] = ref_weekly_bars(dd)
            ylev[t] = ref_weekly_bars(d)["close"]
        else:
            weekly[t] = ref_weekly_bars(d)
    index = pd.DatetimeIndex(sorted(set().union(*[set(w.index) for w in weekly.values()])),
                             name="date")
    fields = {c: {} for c in ("open", "high", "low", "close", "volume")}
    masks = {}
    for t in tickers:
        cols, m = ref_align(weekly[t], index, ffill_limit)
        for c in fields:
            fields[c][t] = cols[c]
        masks[t] = m
    frames = {c: pd.DataFrame(fields[c], index=index, columns=tickers).astype(float)
              for c in fields}
    close = frames["close"]
    prev = close.shift(1)
    rets = close / prev - 1.0
    rets = rets.where(prev.notna(), np.where(close.notna(), 0.0, np.nan))
    mask = pd.DataFrame(masks, index=index, columns=tickers).astype(bool)
    if ylev:
        yl = pd.DataFrame({t: s.reindex(index).ffill() for t, s in ylev.items()}, index=index)
    else:
        yl = pd.DataFrame(index=index)
    return WeeklyPanel(open=frames["open"], high=frames["high"], low=frames["low"], close=close,
                       volume=frames["volume"], returns=rets, log_returns=np.log1p(rets),
                       mask=mask, asset_class={t: uni.asset_class[t] for t in tickers},
                       yields=yl, ffill_limit=ffill_limit)


@functools.lru_cache(maxsize=1)
def ref_daily_wide():
    """The old daily bars of every ticker of ``paper_wide`` (a superset of ``paper``)."""
    return ref_load_packaged(list(get_universe("paper_wide").tickers))


def ref_load_panel(universe, start=None, end=None):
    uni = get_universe(universe)
    s = pd.Timestamp(start) if start is not None else None
    e = pd.Timestamp(end) if end is not None else None
    daily = {t: ref_daily_wide()[t].loc[s:e] for t in uni.tickers}
    return ref_weekly_panel(daily, uni).slice(None, calendar_end(daily, end))


def assert_same_panel(a, b):
    for f in FIELDS:
        pd.testing.assert_frame_equal(getattr(a, f), getattr(b, f), check_exact=True, obj=f)
    assert a.asset_class == b.asset_class and a.ffill_limit == b.ffill_limit
    assert a.tickers == b.tickers


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("universe, start, end", [
    ("paper", "2018-01-01", "2024-12-06"),  # what the CLI loads
    ("paper", None, None),
    ("paper_wide", None, None),
])
def test_packaged_panels_are_identical(universe, start, end):
    assert_same_panel(load_panel(universe, start=start, end=end),
                      ref_load_panel(universe, start, end))


def test_packaged_daily_bars_are_identical():
    tickers = list(get_universe("paper_wide").tickers)
    new, old = load_packaged(tickers), ref_daily_wide()
    assert list(new) == list(old)
    for t in tickers:
        pd.testing.assert_frame_equal(new[t], old[t], check_exact=True, obj=t)


def test_cached_groups_are_not_changed_by_a_caller():
    a = load_packaged(["AAPL"])["AAPL"]
    a.iloc[:, :] = -1.0
    b = load_packaged(["AAPL"])["AAPL"]
    assert (b["close"] > 0).all()


def test_a_manifest_ticker_missing_from_its_file_is_a_data_error(monkeypatch):
    import feeds.packaged as P
    body, _ = P._file_rows(P.packaged_tickers()["AAPL"])
    monkeypatch.setattr(P, "_file_rows", lambda fname: (body, {}))
    with pytest.raises(DataError, match="reinstall"):
        P.load_packaged(["AAPL"])


def _daily(draw_days, seed, holes, nan_rows, time_of_day):
    rng = np.random.default_rng(seed)
    idx = pd.DatetimeIndex(pd.Timestamp("2020-01-01") + pd.to_timedelta(np.sort(
        rng.choice(draw_days * 2, size=draw_days, replace=False)), unit="D"), name="date")
    if time_of_day:
        idx = idx + pd.Timedelta(hours=15)
    n = len(idx)
    df = pd.DataFrame({"open": rng.uniform(1, 2, n), "high": rng.uniform(2, 3, n),
                       "low": rng.uniform(0.5, 1, n), "close": rng.uniform(1, 2, n),
                       "volume": rng.uniform(0, 1e6, n)}, index=idx)
    if holes:
        df = df[(df.index < idx[n // 3]) | (df.index > idx[n // 3] + pd.Timedelta(days=30))]
    for r in rng.choice(len(df), size=min(nan_rows, len(df)), replace=False):
        df.iloc[r, rng.integers(0, 5)] = np.nan
    return df


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 120), st.integers(0, 10_000), st.booleans(), st.integers(0, 6),
       st.booleans())
def test_weekly_bars_equal_pandas_resample(days, seed, holes, nan_rows, time_of_day):
    d = _daily(days, seed, holes, nan_rows, time_of_day)
    pd.testing.assert_frame_equal(weekly_bars(d), ref_weekly_bars(d), check_exact=True,
                                  check_freq=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(5, 200), st.integers(0, 10_000), st.booleans(),
                          st.integers(0, 4)), min_size=1, max_size=5),
       st.integers(0, 4), st.booleans())
def test_weekly_panel_equals_per_ticker_alignment(specs, ffill_limit, with_yield):
    daily = {f"T{i}": _daily(n, sd, holes, nans, False).dropna()
             for i, (n, sd, holes, nans) in enumerate(specs)}
    classes = {t: "x" for t in daily}
    if with_yield:
        y = _daily(150, 1, True, 0, False).dropna()
        daily["^TNX"] = y.assign(open=y["close"], high=y["close"], low=y["close"], volume=0.0)
        classes["^TNX"] = "treasury"
    uni = Universe("custom", tuple(classes), asset_class=classes)
    assert_same_panel(weekly_panel(daily, uni, ffill_limit=ffill_limit),
                      ref_weekly_panel(daily, uni, ffill_limit=ffill_limit))
