"""The System 1 forecast cache (``forecast_cache``, on by default): on preloaded feeds
HybridLSTMPPO and LSTMOnly forecast every week in one batched call at start and decide bit for bit
as with one forecast call per week (the forecaster computes a lone week with the kernels of a
batch); the forecast of a week is the same computed alone or with every other week."""

from __future__ import annotations

import dataclasses

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from feeds import get_universe, load_panel, to_backtrader
from strategies.allocation import HybridLSTMPPO, LSTMOnly
from strategies.pipeline.system1 import run_system1
from tests.strategies.test_portfolio import TICKERS, run_cfg  # noqa: F401  (fixture)

CASES = [(HybridLSTMPPO, "hybrid_top5"), (LSTMOnly, "lstm_top5")]
CRYPTO = ("BTC-USD", "ETH-USD", "SOL-USD")


@pytest.fixture(scope="module")
def bundles(run_cfg):  # noqa: F811
    results, _ = run_system1([p for _, p in CASES], run_cfg)
    panel = load_panel(get_universe(TICKERS), start=run_cfg.start, end=run_cfg.end)
    return {p: results[p].bundle for _, p in CASES}, panel


class PerWeek:
    """An allocator without ``walk_forward_forecasts``: every call forecasts from the history."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.history_needed, self.uses_dates = inner.history_needed, inner.uses_dates

    def target_weights(self, *args, **kw):
        assert "forecast" not in kw
        self.calls += 1
        return self.inner.target_weights(*args, **kw)


def _per_week(cls):
    """``cls`` with its bundle's allocator forecasting every week (the cache switched off)."""

    class PerWeekStrategy(cls):
        def start(self):
            self.allocator = PerWeek(self.allocator)
            super().start()

    return PerWeekStrategy


def _plain(panel, t, drop_first=0, drop_last=0, shift_days=0):
    df = pd.DataFrame({"open": panel.open[t], "high": panel.high[t], "low": panel.low[t],
                       "close": panel.close[t], "volume": panel.volume[t]})
    df = df.loc[df.close.notna()].iloc[drop_first:len(df) - drop_last]
    df.index = df.index + pd.Timedelta(days=shift_days)
    return bt.feeds.PandasData(dataname=df, name=t, openinterest=None,
                               timeframe=bt.TimeFrame.Weeks, compression=1)


def _feeds(panel, kind):
    if kind == "panel":  # feeds.to_backtrader: one calendar, NaN before a listing
        return to_backtrader(panel)
    # own feeds with rows only where the asset trades; NVDA starts 40 weeks late, ETH ends 30
    # weeks early; "calendars": crypto weeks dated Sunday, stocks Friday (FeedClock's pending)
    shift = 2 if kind == "calendars" else 0
    return [_plain(panel, t, drop_first=40 if t == "NVDA" else 0,
                   drop_last=30 if t == "ETH-USD" else 0,
                   shift_days=shift if t in CRYPTO else 0) for t in reversed(panel.tickers)]


def _run(cls, bundle, feeds, wrap=False, preload=True):
    c = bt.Cerebro(stdstats=False)
    for d in feeds:
        c.adddata(d, name=d._name)
    c.broker.setcash(1_000_000)
    c.addstrategy(_per_week(cls) if wrap else cls, bundle=bundle, top_k=5,
                  forecast_cache=not wrap)
    return c.run(preload=preload)[0]


def _same(a, b):
    """Same weeks and bit-identical weights."""
    assert [d for d, _ in a.decisions] == [d for d, _ in b.decisions]
    wa, wb = np.array([w for _, w in a.decisions]), np.array([w for _, w in b.decisions])
    np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_week_forecast_alone_equals_it_forecast_with_all_weeks(bundles, threads):
    """The live path (the last ``lookback`` rows, one window) and the batched path (every week:
    training arrays, the cache) give the same bits, forecasts and Monte-Carlo dropout samples."""
    from models.portfolio.bundle import load_bundle
    paths, panel = bundles
    fc = load_bundle(paths["hybrid_top5"]).forecaster
    fc.num_threads = threads
    lr, mask = panel.log_returns.to_numpy(), panel.mask.to_numpy()
    L = fc.config.lookback
    full = fc.forecast(lr, mask)
    mean, std = fc.forecast_samples(lr, mask, 4)
    weeks = range(L - 1, len(lr))
    assert np.isfinite(full[L - 1:]).any() and len(weeks) > 100
    for t in weeks:
        rows, m = lr[t - L + 1:t + 1], mask[t - L + 1:t + 1]
        np.testing.assert_array_equal(fc.forecast(rows, m)[-1], full[t])
        m1, s1 = fc.forecast_samples(rows, m, 4)
        np.testing.assert_array_equal(m1[-1], mean[t])
        np.testing.assert_array_equal(s1[-1], std[t])
    # a short last chunk (fewer windows than the smallest inference batch) as well
    np.testing.assert_array_equal(fc.forecast(lr[-L - 2:], mask[-L - 2:])[-3:], full[-3:])


@pytest.mark.parametrize("kind", ["panel", "late_and_ended", "calendars"])
@pytest.mark.parametrize("cls,preset", CASES)
def test_cached_forecasts_decide_as_the_per_week_forecasts(bundles, cls, preset, kind):
    paths, panel = bundles
    cached = _run(cls, paths[preset], _feeds(panel, kind))
    per_week = _run(cls, paths[preset], _feeds(panel, kind), wrap=True)
    assert cached._replay is not None  # the cache held to the end: every row replayed exactly
    assert per_week.allocator.calls == len(per_week.decisions) > 100
    assert len(cached.decisions) == len(cached._lr)
    _same(cached, per_week)
    # the rows the strategy recorded are the replayed ones the forecasts were computed on
    lrs, masks, fc = cached._replay
    np.testing.assert_array_equal(np.vstack(cached._lr), lrs)
    np.testing.assert_array_equal(np.vstack(cached._avail), masks)
    if kind != "panel":
        nvda = cached.tickers.index("NVDA")
        assert not masks[:40, nvda].any() and masks[40:, nvda].any()
        assert np.isfinite(fc[45:, nvda]).any()


@pytest.mark.parametrize("cls,preset", CASES)
def test_feeds_not_preloaded_forecast_every_week_with_the_same_decisions(bundles, cls, preset):
    paths, panel = bundles
    cached = _run(cls, paths[preset], _feeds(panel, "late_and_ended"))
    live = _run(cls, paths[preset], _feeds(panel, "late_and_ended"), preload=False)
    assert cached._replay is not None and live._replay is None
    _same(cached, live)


def test_the_cache_is_on_by_default_and_can_be_switched_off(bundles):
    paths, panel = bundles
    runs = {}
    for kw in ({}, {"forecast_cache": False}):
        c = bt.Cerebro(stdstats=False)
        for d in _feeds(panel, "panel"):
            c.adddata(d, name=d._name)
        c.addstrategy(HybridLSTMPPO, bundle=paths["hybrid_top5"], top_k=5, **kw)
        runs[bool(kw)] = c.run()[0]
    assert runs[False]._replay is not None and runs[True]._replay is None
    assert len(runs[True].decisions) > 100
    _same(runs[False], runs[True])


def test_a_row_that_differs_from_the_replay_drops_the_cache(bundles):
    """If a recorded week is not the replayed one, that week and every later week forecast
    from the recorded history."""
    paths, panel = bundles

    class Tampered(HybridLSTMPPO):
        def _record_bar(self):
            if len(self._lr) == 60 and self._replay is not None:
                self._replay[0][60, 0] += 1e-9  # the replay now disagrees with week 60
            super()._record_bar()

    s = _run(Tampered, paths["hybrid_top5"], _feeds(panel, "panel"))
    ref = _run(HybridLSTMPPO, paths["hybrid_top5"], _feeds(panel, "panel"), wrap=True)
    assert s._replay is None
    _same(s, ref)
    w, w_ref = ([x for _, x in st.decisions[60:]] for st in (s, ref))
    np.testing.assert_array_equal(w, w_ref)  # from week 60 on: the per-week forecasts


@pytest.mark.parametrize("cls,preset", CASES)
def test_cached_weights_unchanged_when_the_future_is_altered(bundles, cls, preset):
    """The batched forecasts of week t use weeks <= t only (as the per-week ones)."""
    paths, panel = bundles
    cut = 150
    rng = np.random.default_rng(0)
    shock = pd.DataFrame(np.exp(rng.normal(0, 0.2, panel.close.shape)), index=panel.index,
                         columns=panel.close.columns)
    shock.iloc[:cut + 1] = 1.0
    scaled = shock.cumprod()
    altered = dataclasses.replace(panel, open=panel.open * scaled, high=panel.high * scaled,
                                  low=panel.low * scaled, close=panel.close * scaled)
    base, other = (_run(cls, paths[preset], _feeds(p, "panel")) for p in (panel, altered))
    assert base._replay is not None and other._replay is not None
    assert [d for d, _ in base.decisions] == [d for d, _ in other.decisions]
    w, w_alt = (np.array([x for _, x in s.decisions]) for s in (base, other))
    np.testing.assert_array_equal(w[:cut + 1], w_alt[:cut + 1])
    assert not np.allclose(w[cut + 2:], w_alt[cut + 2:])  # the test can fail


@pytest.mark.parametrize("cls,preset", CASES)
def test_weeks_before_trade_start_are_not_forecast_and_decisions_stay_the_same(
        bundles, cls, preset):
    paths, panel = bundles
    start = panel.index[150]

    def run(wrap):
        c = bt.Cerebro(stdstats=False)
        for d in _feeds(panel, "late_and_ended"):
            c.adddata(d, name=d._name)
        c.broker.setcash(1_000_000)
        c.addstrategy(_per_week(cls) if wrap else cls, bundle=paths[preset], top_k=5,
                      trade_start=start, forecast_cache=not wrap)
        return c.run()[0]

    cached, per_week = run(False), run(True)
    assert cached._replay is not None and 140 <= cached._replay_from <= 151
    fc = cached._replay[2]
    assert np.isnan(fc[:cached._replay_from]).all()
    assert np.isfinite(fc[cached._replay_from:]).any()
    assert cached.decisions and cached.decisions[0][0] >= start.date()
    _same(cached, per_week)


def test_forecasts_from_a_start_row_equal_the_full_ones(bundles):
    from models.portfolio.allocators import _forecast_all
    from models.portfolio.bundle import load_bundle
    paths, panel = bundles
    fc = load_bundle(paths["hybrid_top5"]).forecaster
    lr, mask = panel.log_returns.to_numpy(), panel.mask.to_numpy()
    full = _forecast_all(fc, lr, mask)
    for start in (0, 3, 100, len(lr) - 1):
        part = _forecast_all(fc, lr, mask, start=start)
        assert np.isnan(part[:start]).all()
        np.testing.assert_array_equal(part[start:], full[start:])


@pytest.mark.parametrize("kind", ["late_and_ended", "calendars"])
def test_weekly_record_applies_is_tradable_inline_with_the_same_result(bundles, kind):
    """The weekly record applies the library's is_tradable rule inline; a subclass that
    overrides is_tradable is called instead. Both record the same availability."""
    paths, panel = bundles

    class Overridden(LSTMOnly):
        def is_tradable(self, i):
            return super().is_tradable(i)

    runs = []
    for cls in (LSTMOnly, Overridden):
        c = bt.Cerebro(stdstats=False)
        for d in _feeds(panel, kind):
            c.adddata(d, name=d._name)
        c.addstrategy(cls, bundle=paths["lstm_top5"], top_k=5, forecast_cache=False)
        runs.append(c.run()[0])
    plain, over = runs
    assert plain._plain_tradable and not over._plain_tradable
    avail = np.vstack(plain._avail)
    np.testing.assert_array_equal(avail, np.vstack(over._avail))
    assert avail.any() and not avail.all()  # late and ended feeds: both values occur
    _same(plain, over)
