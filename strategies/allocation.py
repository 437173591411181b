"""System 1 strategies: hybrid LSTM + PPO, PPO-only, LSTM Top-K, equal weight and benchmarks.

Every strategy here is a :class:`strategies.engine.TargetWeightStrategy`: it decides at the close
of each weekly bar from data up to that bar and trades at the next open. The learned ones ask an
allocator from :mod:`models.portfolio.allocators` for target weights; the allocator sees the same inputs
the training environment saw (log returns built from the feeds' closes, the weights actually
held at the close, the availability mask) through the one feature builder.

Drop-in use in any Cerebro: one weekly feed per bundle ticker, named after it, in any order
(:func:`feeds.to_backtrader` feeds, or your daily feeds resampled by Cerebro)::

    for ticker, df in my_daily_frames.items():
        cerebro.resampledata(bt.feeds.PandasData(dataname=df), name=ticker,
                             timeframe=bt.TimeFrame.Weeks, compression=1)
    cerebro.addstrategy(HybridLSTMPPO, bundle="path/to/bundle", top_k=5)

Feeds may start late, end early and follow different calendars (see :mod:`strategies.dropin`:
an asset enters when its feed starts; one decision per week). Bars that are not weekly are
refused with a :class:`~feeds.errors.ConfigError` naming ``cerebro.resampledata``.

Forecast cache (``forecast_cache``, on by default): on preloaded feeds (Backtrader's default
``preload=True``) an :class:`AllocatorStrategy` whose allocator forecasts
(``walk_forward_forecasts``: HybridLSTMPPO, LSTMOnly) replays the
weekly rows it will record from the feeds' arrays, forecasts all of them in one batched call at
``start`` (row t from rows <= t only) and hands the allocator row t each week. Each week's
recorded row is checked against the replayed one; from the first difference on (and on feeds
that are not preloaded: live, replay, ``preload=False``) the allocator forecasts every week.
The forecaster computes every week with the same float32 kernels however many weeks it computes
at once (:func:`models.portfolio.forecaster._gemm_batch`), so the cached forecasts, and the
decisions, are bit-identical to the per-week ones (tested); ``forecast_cache=False`` forecasts
every week.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from feeds.errors import BundleError, ConfigError
from strategies.dropin import WEEKLY, FeedClock, WeeklyBarsMixin, bundle_frequency, match_feeds
from strategies.engine import TargetWeightStrategy
from strategies.mixins import RebalanceBandMixin, TradeWindowMixin

__all__ = ["WeeklyStrategy", "AllocatorStrategy", "HybridLSTMPPO", "PPOOnly", "LSTMOnly",
           "EqualWeight", "BuyAndHold", "ClassComposite"]


class WeeklyStrategy(WeeklyBarsMixin, TradeWindowMixin, TargetWeightStrategy):
    """Base of the System 1 strategies: one decision per week, from ``trade_start`` on.

    Weekly feeds only (others are refused); feeds may start late, end early and follow other
    calendars (:class:`strategies.dropin.WeeklyBarsMixin`).
    """

    def on_week(self):
        if self.in_trade_window():
            TargetWeightStrategy.next(self)  # every rebalance_every weeks: rebalance()


class AllocatorStrategy(RebalanceBandMixin, WeeklyStrategy):
    """Rebalance each week to the weights of an :class:`models.portfolio.allocators.Allocator`.

    The strategy keeps its own history of closes and availability (one row per week, in the
    allocator's asset order: the bundle's tickers, whatever the order of the feeds) and hands the
    allocator the log returns up to the current week, the weights held at this close and the
    availability mask. A feed without a bar yet has no close and mask 0, as
    :func:`feeds.to_backtrader` feeds before an asset's first week.

    Attributes: ``tickers`` (the allocator's order: the bundle's tickers, or the feed names
    without a bundle) and ``decisions`` (``(date, weights)`` per decision, weights in
    ``tickers`` order).
    """

    params = (
        # The allocator object (models.portfolio.allocators.*); subclasses build it from a bundle.
        # Its arrays follow the feeds' order.
        ('allocator', None),
        # Daily DGS10/DGS2 yields indexed by date (models.portfolio.macro.load_yields()): needed
        # by a bundle trained with yield features (EnvConfig.macro_features), else unused.
        ('macro', None),
        # True: on preloaded feeds forecast every week in one batched call at start (module
        # doc; same decisions, bit for bit); False: one forecast call per week.
        ('forecast_cache', True),
    )

    def __init__(self):
        super().__init__()
        self._prev_close: np.ndarray | None = None
        self._lr: list[np.ndarray] = []
        self._avail: list[np.ndarray] = []
        self._order = np.arange(len(self.datas))  # feed index of each allocator asset
        self.allocator = self._make_allocator()  # bundle strategies set self._order
        # a policy trained with a no-trade band trades with it unless rebalance_band is given
        self.rebalance_band_default = getattr(getattr(self.allocator, "env_config", None),
                                              "rebalance_band", 0.0) or None
        self.tickers = [self._names[j] for j in self._order]
        self.decisions: list[tuple] = []  # (date, target weights in self.tickers order)
        # forecast cache (module doc): replayed rows and their forecasts, None = per-week path
        self._replay: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._replay_from = 0  # first replayed row with a cached forecast
        # is_tradable is the library's own (WeeklyBarsMixin over TargetWeightStrategy): the
        # weekly record may apply its rule inline instead of calling it once per feed
        self._plain_tradable = [k for k in type(self).__mro__ if "is_tradable" in vars(k)] == \
            [WeeklyBarsMixin, TargetWeightStrategy]

    def _make_allocator(self):
        if self.p.allocator is None:
            raise ConfigError(f"{type(self).__name__} needs allocator=...")
        return self.p.allocator

    def start(self):
        super().start()
        if (self.p.forecast_cache
                and getattr(self.allocator, "walk_forward_forecasts", None) is not None):
            rows = self._replay_rows()
            if rows is not None and len(rows[0]):
                lrs, masks, days = rows
                # weeks before trade_start decide nothing: their forecasts are not computed
                first = 0 if self.p.trade_start is None else int(np.searchsorted(
                    days, np.datetime64(pd.Timestamp(self.p.trade_start).date(), "D")))
                wff = self.allocator.walk_forward_forecasts
                if "start" not in inspect.signature(wff).parameters:  # a user's allocator
                    first = 0
                fc = wff(lrs, masks, start=first) if first else wff(lrs, masks)
                if fc is not None and np.shape(fc) == lrs.shape:
                    self._replay = (lrs, masks, np.asarray(fc, dtype=np.float64))
                    self._replay_from = first

    def _replay_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The (log return, mask) rows :meth:`_record_bar` will record, replayed from the
        preloaded feeds with the same clock, and the date of each (the strategy clock's, as
        ``in_trade_window`` reads it); None if the feeds are not preloaded."""
        if not getattr(self.env, "_dopreload", False):
            return None
        dts, ok, closes = [], [], []
        for i, d in enumerate(self.datas):
            n = d.lines.datetime.buflen()
            if n <= 0 or len(d.lines.datetime.array) != n or len(d.close.array) != n:
                return None
            dt = np.asarray(d.lines.datetime.array, dtype=np.float64)
            c = np.asarray(d.close.array, dtype=np.float64)
            if len(d) or not np.all(np.diff(dt) > 0):  # already moved, or not one bar per date
                return None
            good = np.isfinite(c) & (c > 0.0)
            if self._has_available[i]:
                a = np.asarray(d.available.array, dtype=np.float64)
                if len(a) != n:
                    return None
                good &= np.isfinite(a) & (a != 0.0)
            dts.append(dt), ok.append(good), closes.append(c)
        ticks = np.unique(np.concatenate(dts))
        seen = [np.searchsorted(dt, ticks, side="right") for dt in dts]  # bars at each tick
        bars = [_Bars() for _ in self.datas]
        clock = FeedClock(bars, self.p.stale_limit)
        prev, lrs, masks, days = None, [], [], []
        for k, now in enumerate(ticks):
            for i, b in enumerate(bars):
                b.n = int(seen[i][k])
                b.datetime[0] = dts[i][b.n - 1] if b.n else 0.0
            clock.tick(float(now))
            if not clock.ready():
                continue
            c = np.array([closes[j][bars[j].n - 1] if bars[j].n else np.nan
                          for j in self._order], dtype=np.float64)
            lrs.append(_log_returns(c, prev))
            days.append(np.datetime64(
                bt.num2date(float(now), tz=getattr(self.datetime, "_tz", None)).date(), "D"))
            prev = c
            masks.append(np.array([clock.is_current(j) and bars[j].n > 0
                                   and bool(ok[j][bars[j].n - 1]) for j in self._order]))
        if not lrs:
            return None
        return np.vstack(lrs), np.vstack(masks), np.array(days)

    def _record_bar(self) -> None:
        datas, order = self.datas, self._order
        closes = [float(datas[j].close[0]) if len(datas[j]) else math.nan for j in order]
        c = np.array(closes, dtype=np.float64)
        lr = _log_returns(c, self._prev_close)
        self._prev_close = c
        self._lr.append(lr)
        if self._plain_tradable:  # is_tradable's rule on the closes just read (same booleans)
            cur, has_av = self._weeks.is_current, self._has_available
            ok = [cj > 0.0 and math.isfinite(cj) and cur(j)
                  and (not has_av[j] or _positive_line(datas[j].available[0]))
                  for j, cj in zip(order, closes)]
        else:  # a subclass decides what is tradable
            ok = [self.is_tradable(j) for j in order]
        self._avail.append(np.array(ok, dtype=bool))
        if self._replay is not None:  # the cache holds while the rows are the replayed ones
            k, (lrs, masks, _) = len(self._lr) - 1, self._replay
            if (k >= len(lrs) or not np.array_equal(lrs[k], lr, equal_nan=True)
                    or not np.array_equal(masks[k], self._avail[-1])):
                self._replay = None

    def history(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Log returns and availability of the last ``rows`` weeks (last row = current week).

        An asset's first bar has return 0 and bars before its listing NaN, exactly as
        :attr:`feeds.panel.WeeklyPanel.log_returns`.
        """
        return np.vstack(self._lr[-rows:]), np.vstack(self._avail[-rows:])

    def on_week(self):
        self._record_bar()
        super().on_week()

    def target_weights(self):
        need = max(int(getattr(self.allocator, "history_needed", 1)), 1)
        lr, mh = self.history(need)
        held = self.current_weights()
        prev = np.array([held[n] for n in self.tickers], dtype=np.float64)
        mask_t = mh[-1]
        kw = {"date": self.datetime.date(0)} if getattr(self.allocator, "uses_dates", False) else {}
        if self._replay is not None and len(self._lr) - 1 >= self._replay_from:
            kw["forecast"] = self._replay[2][len(self._lr) - 1]
        w = self.allocator.target_weights(lr, prev, mask_t, mh, **kw)
        w = np.where(mask_t, np.asarray(w, dtype=np.float64), 0.0)
        self.decisions.append((self.datetime.date(0), w.copy()))
        out = np.zeros(len(self.datas), dtype=np.float64)
        out[self._order] = w  # back to the feeds' order
        if self.within_band(out):  # rebalance_band None (default): always trade
            return None
        return out


class _Bars:
    """A feed as :class:`strategies.dropin.FeedClock` sees it: a bar count and the last date."""

    def __init__(self):
        self.n, self.datetime = 0, [0.0]

    def __len__(self):
        return self.n


def _positive_line(a) -> bool:
    """An ``available`` line value that marks the bar tradable (TargetWeightStrategy's rule)."""
    return a is not None and math.isfinite(a) and a != 0.0


def _log_returns(c: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """One week's log returns from the closes (NaN before a listing, 0 at its first bar)."""
    if prev is None:
        return np.where(np.isfinite(c), 0.0, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.log(c / prev)
    lr[np.isfinite(c) & ~np.isfinite(prev)] = 0.0  # first bar of a listing
    return lr


def _load(bundle):
    from models.portfolio.bundle import Bundle, load_bundle
    if isinstance(bundle, Bundle):
        return bundle
    if bundle is None:
        raise ConfigError("a trained bundle is required: bundle=<folder> (train one with "
                          "python -m strategies.run --strategy hybrid_top5)")
    return load_bundle(Path(bundle))


class _BundleStrategy(AllocatorStrategy):
    """Build the allocator from a bundle and check it matches the feeds."""

    params = (
        # Trained bundle: a folder written by models.portfolio.bundle.save_bundle, or a loaded Bundle.
        ('bundle', None),
        # K of the Top-K projection. None = the bundle's K; any other value must equal it
        # (a policy is trained for one K).
        ('top_k', None),
    )
    variant = ""

    def _make_allocator(self):
        if self.p.allocator is not None:
            return self.p.allocator
        from models.portfolio.allocators import allocator_from_bundle
        b = self._bundle_for_feeds(self.variant)
        k = b.env_config.top_k
        if self.p.top_k is not None and int(self.p.top_k) != k:
            raise BundleError(f"bundle {b.path} was trained for top_k={k}, not "
                              f"top_k={self.p.top_k}; use that bundle's K or retrain")
        self.bundle = b
        return allocator_from_bundle(b, macro=self.p.macro)

    def _bundle_for_feeds(self, variant: str | None = None):
        """Load the bundle, check its bar size and match the feeds to its tickers by name."""
        b = _load(self.p.bundle)
        freq = bundle_frequency(b.manifest)
        if freq != WEEKLY:
            raise BundleError(f"bundle {b.path} was trained on {freq} bars; the System 1 "
                              "strategies trade weekly bars: use a System 1 bundle")
        self._order = match_feeds(self._names, b.tickers, f"bundle {b.path}")
        b.verify_against([self._names[j] for j in self._order], variant=variant)
        return b


class HybridLSTMPPO(_BundleStrategy):
    """The paper's hybrid: LSTM forecasts in the PPO state, Top-K projection of the actions."""

    variant = "hybrid"


class PPOOnly(_BundleStrategy):
    """PPO allocation without forecasts (the paper's PPO-only ablation)."""

    variant = "ppo"


class LSTMOnly(_BundleStrategy):
    """Equal weight over the K available assets with the highest LSTM forecasts."""

    params = (
        # Trained bundle holding the LSTM forecaster (variant 'lstm' or 'hybrid').
        ('bundle', None),
        # K: how many of the highest forecasts to hold.
        ('top_k', 5),
    )

    def _make_allocator(self):
        if self.p.allocator is not None:
            return self.p.allocator
        from models.portfolio.allocators import LSTMTopKAllocator
        b = self._bundle_for_feeds()
        if b.forecaster is None:
            raise BundleError(f"bundle {b.path} ({b.variant}) holds no LSTM forecaster; use a "
                              "'lstm' or 'hybrid' bundle")
        self.bundle = b
        return LSTMTopKAllocator(b.forecaster, int(self.p.top_k))


class EqualWeight(AllocatorStrategy):
    """1/n over the assets available each week, rebalanced every week."""

    def _make_allocator(self):
        from models.portfolio.allocators import EqualWeightAllocator
        return self.p.allocator or EqualWeightAllocator()


class BuyAndHold(WeeklyStrategy):
    """Buy the feeds once at ``trade_start`` (equal weight, or ``weights``) and hold."""

    params = (
        # Weights by feed order or feed name; None = equal weight over the feeds.
        ('weights', None),
    )

    def __init__(self):
        super().__init__()
        self._done = False

    def on_week(self):
        if not self._done and self.in_trade_window():
            if all(self.is_tradable(i) for i in range(len(self.datas))) or self.p.weights:
                self.rebalance()
                self._done = True

    def target_weights(self):
        if self.p.weights is not None:
            return self.p.weights
        n = len(self.datas)
        return np.full(n, 1.0 / n)


class ClassComposite(WeeklyStrategy):
    """Fixed weights per asset class, equal weight inside a class over its available members.

    The paper's 25/25/25/25 composite of Nasdaq-100, IDX30, the 10-year Treasury and crypto.
    A class with no available member that week is left out and the others are scaled up.
    Rebalanced every week.
    """

    params = (
        # asset class -> weight (normalised over classes present at each bar).
        ('class_weights', None),
        # ticker -> asset class for every feed.
        ('asset_class', None),
    )

    def __init__(self):
        super().__init__()
        if not self.p.class_weights or not self.p.asset_class:
            raise ConfigError("ClassComposite needs class_weights and asset_class")
        missing = [n for n in self._names if n not in self.p.asset_class]
        if missing:
            raise ConfigError(f"ClassComposite: no asset class for feeds {missing}")

    def target_weights(self):
        n = len(self.datas)
        avail = [self.is_tradable(i) for i in range(n)]
        members: dict[str, list[int]] = {}
        for i, name in enumerate(self._names):
            cls = self.p.asset_class[name]
            if cls in self.p.class_weights and avail[i]:
                members.setdefault(cls, []).append(i)
        total = sum(self.p.class_weights[c] for c in members)
        w = np.zeros(n)
        if total <= 0 or math.isclose(total, 0.0):
            return w
        for cls, idx in members.items():
            for i in idx:
                w[i] = self.p.class_weights[cls] / total / len(idx)
        return w
