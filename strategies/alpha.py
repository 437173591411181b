"""System 2 Backtrader strategies: one daily stock feed, a position p in [-1, 1] = its weight.

    cerebro.adddata(daily_to_backtrader(df, "AAPL"), name="AAPL")
    cerebro.addstrategy(AlphaPPO, policy="~/.cache/.../AAPL_seed0", trade_start="2022-01-03")

Strategies (all subclass :class:`strategies.engine.TargetWeightStrategy`: decide at the close of
bar t, fill at the open of t+1, fractional sizes, ``cash_buffer`` of the value kept in cash):

* :class:`AlphaPPO`: a trained :class:`models.alpha.AlphaPolicy` (or a bundle folder) weights
  the 50 standardised alphas; the composite signal becomes the position (long/short).
* :class:`AlphaEqualWeight`: all alphas weighted 1/N, same signal -> position map.
* :class:`BuyAndHoldStock`: weight 1 from ``trade_start`` on.
* :class:`RandomEntryExit`: seeded random entries/exits (long only by default).
* :class:`MomentumStrategy`: sign of the trailing ``lookback``-day return (long/short).

How the alpha strategies stay causal: the strategy keeps its own copy of the bars it has been
shown (appended in ``next``/``prenext``) and decides from that visible history (all of it, or the
last ``history_bars`` bars): the alphas' row t (evaluated once on the preloaded feed while its bars
match the ones seen, see ``evaluate_once``: every operator is causal) and
:func:`models.alpha.env.market_state_last` of the closes. This is the training environment's
computation (``prepare_stock``) on data up to t, up to the last bits of pandas' rolling sums, so
the position at t cannot depend on later bars (``tests/strategies/test_alpha_strategies.py``
alters the bars after t and checks the decisions up to t do not move). A ``signal_cache`` (a
plain dict) may be shared between strategies run on the same stock (e.g. the seeds of a study and
the equal-weight baseline): it is keyed by a digest of the exact visible history, so a cached
row of alphas is only reused for an identical past.

Decisions are only taken from ``trade_start`` (a date; None = from the first bar with enough
history): before it the strategies hold cash and only record bars. The held weight passed to the
policy as ``prev_position`` is position value / portfolio value at the close (as in the env).
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feeds.errors import ConfigError
from strategies.dropin import DAILY, BarCheck
from strategies.engine import TargetWeightStrategy
from strategies.mixins import RebalanceBandMixin, TradeWindowMixin

__all__ = ["AlphaPPO", "AlphaEqualWeight", "BuyAndHoldStock", "RandomEntryExit",
           "MomentumStrategy", "SingleStockStrategy", "resolve_policy"]

log = logging.getLogger(__name__)

_EPOCH, _US = datetime(1970, 1, 1), timedelta(microseconds=1)
_BAR_RECORD = np.dtype([("ns", "=i8"), ("ohlcv", "=f8", (5,))])  # packed: 8 + 40 bytes a bar


def resolve_policy(policy, alphas=None, ticker: str | None = None):
    """An AlphaPolicy / EqualWeightPolicy as given, or loaded from a bundle folder path."""
    if isinstance(policy, (str, Path)):
        from models.alpha import load_alpha_bundle
        return load_alpha_bundle(policy, alphas=alphas, ticker=ticker)
    if policy is None or not hasattr(policy, "alphas"):
        raise ConfigError("policy must be an AlphaPolicy, an EqualWeightPolicy or an alpha "
                          f"bundle folder, got {type(policy).__name__}")
    return policy


def _schedule(policy, ticker: str | None) -> list[tuple[pd.Timestamp | None, Any]]:
    """``policy`` or ``[(from_date, policy), ...]`` -> sorted [(from_date or None, policy)]."""
    if isinstance(policy, (list, tuple)) and policy and isinstance(policy[0], (list, tuple)):
        out = [(pd.Timestamp(d) if d is not None else None, resolve_policy(p, ticker=ticker))
               for d, p in policy]
        out.sort(key=lambda x: pd.Timestamp.min if x[0] is None else x[0])
        return out
    return [(None, resolve_policy(policy, ticker=ticker))]


class SingleStockStrategy(TradeWindowMixin, TargetWeightStrategy):
    """Base of the System 2 strategies: one feed, target position in [-1, 1], history kept.

    Subclasses implement :meth:`position` (return a float, or None to keep the holdings). The
    decisions are recorded in ``self.decisions`` (list of ``(date, position)``). Daily bars only:
    a weekly (or intraday) feed is refused with a ConfigError that says how to feed daily bars.
    """

    params = (
        # Short positions allowed (negative weights); the alpha strategies and momentum short.
        ('allow_short', True),
    )

    def __init__(self):
        super().__init__()
        if len(self.datas) != 1:
            raise ConfigError(f"{type(self).__name__} trades exactly one daily feed, "
                              f"got {len(self.datas)}")
        self._barcheck = BarCheck(self.datas, self._names, DAILY, type(self).__name__)
        self._cap = 512
        self._ohlcv = np.empty((self._cap, 5), dtype=float)
        self._dates: list = []
        self.decisions: list[tuple[pd.Timestamp, float]] = []
        self._last_target: float | None = None

    # ---------------------------------------------------------------- visible history
    def _record_bar(self) -> None:
        n = len(self._dates)
        if n == self._cap:
            self._cap *= 2
            grown = np.empty((self._cap, 5), dtype=float)
            grown[:n] = self._ohlcv[:n]
            self._ohlcv = grown
        d = self.datas[0]
        self._ohlcv[n] = (d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0])
        self._dates.append(d.datetime.datetime(0))
        self._barcheck.saw(0, d.datetime[0])

    def history(self, bars: int | None = None) -> pd.DataFrame:
        """The bars seen so far (up to and including the current one), as an OHLCV frame."""
        n = len(self._dates)
        a = 0 if bars is None else max(0, n - int(bars))
        return pd.DataFrame(self._ohlcv[a:n].copy(),
                            index=pd.DatetimeIndex(self._dates[a:n], name="date"),
                            columns=["open", "high", "low", "close", "volume"])

    @property
    def n_bars(self) -> int:
        return len(self._dates)

    def start(self):
        super().start()
        self._barcheck.start()

    def prenext(self):
        self._record_bar()

    def next(self):
        self._record_bar()
        super().next()

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self._dates[-1])

    def held_weight(self) -> float:
        return float(next(iter(self.current_weights().values())))

    def _submit(self, i: int, size: float) -> None:
        # A long <-> short flip is sent as two market orders, close first then open: if the
        # broker refuses the opening part (cash after a gap), the old position is still closed.
        pos = float(self.getposition(self.datas[i]).size)
        if pos and (pos + size) * pos < 0.0:
            super()._submit(i, -pos)
            super()._submit(i, pos + size)
            return
        super()._submit(i, size)

    # ---------------------------------------------------------------- decision
    def position(self) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def target_weights(self):
        if not self.in_trade_window():
            return None
        p = self.position()
        if p is None:
            return None
        p = float(p)
        if not math.isfinite(p):
            raise ValueError(f"{type(self).__name__}: position {p} is not finite")
        p = float(np.clip(p, -1.0, 1.0))
        self.decisions.append((self.now(), p))
        self._last_target = p
        return [p]


class _AlphaStrategy(SingleStockStrategy):
    """Shared alpha state: evaluate alphas and market state on the visible history."""

    params = (
        # Bars of visible history the alphas are evaluated on; None = all bars seen so far
        # (identical to the training env's evaluation); an int >= required_history trims it.
        ('history_bars', None),
        # Optional dict shared by strategies on the same stock: raw alpha rows keyed by a digest
        # of the exact visible history (saves re-evaluating alphas; cannot leak the future).
        ('signal_cache', None),
    )

    needs = "policy=..."  #: what the policy param must be (said when it is missing)

    def decide(self, pol, z, lr, trend, vol) -> float:  # pragma: no cover - abstract
        """The position from the decision bar's state under policy ``pol``."""
        raise NotImplementedError

    def position(self):
        pol = self._sched[0][1] if len(self._sched) == 1 else self._policy_at(self.now())
        st = self.alpha_state(pol)
        if st is None:
            return None
        return self.decide(pol, *st)

    def _policy_at(self, when: pd.Timestamp):
        cur = self._sched[0][1]
        for d, p in self._sched:
            if d is None or d <= when:
                cur = p
        return cur

    #: Evaluate the alphas once on the whole preloaded feed and read row t at bar t (instead of
    #: re-evaluating them on the visible history every day). Every alpha operator is causal
    #: (row t depends on rows <= t; see models/alpha/language/operators.py), so row t is the
    #: value the visible history gives (tests/strategies/test_perf_equivalence_alpha.py; equal
    #: up to the last bits of pandas' rolling sums, which depend on where a series starts).
    #: Used only with ``history_bars=None`` on a preloaded feed whose bars match the ones seen;
    #: otherwise (live or non-preloaded feeds, a trimmed history) the per-day evaluation runs.
    evaluate_once = True

    def __init__(self):
        super().__init__()
        # running digest of every bar seen (append-only history): O(1) cache keys
        self._hasher = hashlib.blake2b(digest_size=16)
        self._hasher.update(repr(self.p.history_bars).encode())
        self._hashed = 0  # bars in the digest (it is brought up to date when a cache key is made)
        if self.p.policy is None:
            raise ConfigError(f"{type(self).__name__} needs {self.needs}")
        self._sched = _schedule(self.p.policy, None)
        # per-strategy constants, computed once per policy (not every day)
        from models.alpha.language import alphas_hash
        self._need = {id(p): int(p.required_history) for _, p in self._sched}
        self._ahash = {id(p): alphas_hash(p.alphas) for _, p in self._sched}
        self._alpha_once: dict[str, tuple | None] = {}  # alphas hash -> the whole feed's rows
        self._z_once: dict[tuple, np.ndarray] = {}  # (alphas hash, id(scaler)) -> standardised
        self._date_ns: list[int] = []  # the bars' dates as ns since the epoch

    def _record_bar(self) -> None:
        super()._record_bar()
        n = self.n_bars - 1
        dt = self._dates[n]
        self._date_ns.append((dt - _EPOCH) // _US * 1000 if type(dt) is datetime and
                             dt.tzinfo is None else pd.Timestamp(dt).value)  # the same integer

    def _digest(self):
        """The running digest of every bar seen: per bar its date (int64 ns) then its OHLCV."""
        k, n = self._hashed, self.n_bars
        if k < n:
            buf = np.empty(n - k, dtype=_BAR_RECORD)
            buf["ns"], buf["ohlcv"] = self._date_ns[k:n], self._ohlcv[k:n]
            self._hasher.update(buf.tobytes())
            self._hashed = n
        return self._hasher

    def _feed_frame(self) -> pd.DataFrame | None:
        """The whole preloaded feed as an OHLCV frame (None if the feed is not preloaded)."""
        import backtrader as bt
        d = self.datas[0]
        n = d.buflen()
        arrs = [d.open.array, d.high.array, d.low.array, d.close.array, d.volume.array]
        if n <= 0 or any(len(a) != n for a in arrs) or len(d.datetime.array) != n:
            return None
        dates = [bt.num2date(x) for x in d.datetime.array]
        return pd.DataFrame(np.column_stack([np.asarray(a, dtype=float) for a in arrs]),
                            index=pd.DatetimeIndex(dates, name="date"),
                            columns=["open", "high", "low", "close", "volume"])

    def _once_at(self, alphas, ahash: str) -> tuple | None:
        """(whole-feed rows, n) when row n = the current bar of the alphas evaluated once on the
        whole feed is usable, else None (then the alphas are evaluated per day)."""
        if not self.evaluate_once or self.p.history_bars is not None:
            return None
        if ahash not in self._alpha_once:
            from models.alpha.language import evaluate_alphas
            full = None
            try:
                df = self._feed_frame()
                if df is not None:
                    full = (df.index.as_unit("ns").asi8.copy(), df.to_numpy(),
                            evaluate_alphas(df, alphas).to_numpy(dtype=float))
            except Exception:  # noqa: BLE001 - e.g. a bad bar later on: evaluate per day
                full = None
            self._alpha_once[ahash] = full
        full = self._alpha_once[ahash]
        if full is None:
            return None
        dates, ohlcv, rows = full
        n = self.n_bars - 1
        # the feed's bar n must be the bar the strategy saw (same date, same values)
        if n >= len(rows) or dates[n] != self._date_ns[n] or (
                ohlcv[n].tolist() != self._ohlcv[n].tolist()
                and not np.array_equal(ohlcv[n], self._ohlcv[n], equal_nan=True)):
            self._alpha_once[ahash] = None
            return None
        return rows, n

    def _z_row(self, policy, bars) -> np.ndarray:
        """Standardised alphas z_t of the current bar: a ``signal_cache`` row if there is one,
        else row t of the once-per-feed alphas (standardised once, element-wise: the same
        values as standardising the row alone), else the alphas of the visible history."""
        from models.alpha.language import alphas_hash, evaluate_alphas
        ahash = self._ahash.get(id(policy)) or alphas_hash(policy.alphas)
        cache = self.p.signal_cache
        key = None
        if cache is not None:
            h = self._digest().copy()
            h.update(ahash.encode())
            key = h.hexdigest()
            row = cache.get(key)
            if row is not None:
                return np.asarray(policy.scaler.transform(row[None, :]), dtype=float)[-1]
        once = self._once_at(policy.alphas, ahash)
        if once is not None:
            rows, n = once
            if cache is not None:
                cache[key] = rows[n].copy()
            zkey = (ahash, id(policy.scaler))
            zs = self._z_once.get(zkey)
            if zs is None:
                zs = self._z_once[zkey] = np.asarray(policy.scaler.transform(rows), dtype=float)
            return zs[n].copy()
        row = evaluate_alphas(self.history(bars), policy.alphas).to_numpy(dtype=float)[-1]
        if cache is not None:
            cache[key] = row
        return np.asarray(policy.scaler.transform(row[None, :]), dtype=float)[-1]

    def alpha_state(self, policy):
        """(z_t, log returns, trend_t, vol63_t) at the current bar, or None if too little history.

        Alphas are evaluated on the visible history (``history_bars``); the market state is
        :func:`models.alpha.env.market_state_last` of the closes (it reads only the last ~100)."""
        from models.alpha.env import market_state_last
        need = self._need.get(id(policy))
        if need is None:
            need = policy.required_history
        n = self.n_bars
        if n < need:
            return None
        bars = self.p.history_bars
        if bars is not None and int(bars) < need:
            raise ConfigError(f"history_bars={bars} is below the {need} bars the alphas need")
        if not np.isfinite(self._ohlcv[n - need:n]).all():
            return None
        z = self._z_row(policy, bars)
        lr, trend, vol = market_state_last(self._ohlcv[:n, 3], policy.config.window)
        return z, lr, trend, vol


class AlphaPPO(_AlphaStrategy):
    """PPO weighting of formulaic alphas for one stock (the paper's System 2), daily.

    Each close: standardised alphas z_t and market state from the visible history, the policy's
    deterministic action -> L1-normalised alpha weights -> composite signal -> position
    (tanh, volatility-targeted, capped at 1) -> target weight of the feed (negative = short).
    """

    params = (
        # An AlphaPolicy, a bundle folder (str/Path), or a list of (from_date, policy) pairs for
        # walk-forward use (the policy whose from_date is the latest <= the decision date decides).
        ('policy', None),
    )
    needs = "policy= (an AlphaPolicy or a bundle folder)"

    def decide(self, pol, z, lr, trend, vol) -> float:
        from models.common.threads import torch_threads
        with torch_threads(1):  # inference on a tiny MLP: one thread (see models.common.threads)
            return pol.decide(z, lr, trend, vol, self.held_weight())


class AlphaEqualWeight(_AlphaStrategy):
    """Equal-weighted alphas (1/N), the same signal -> position map as AlphaPPO."""

    params = (
        # An EqualWeightPolicy (EqualWeightPolicy.fit on the training window), an AlphaPolicy or
        # bundle folder (its alphas, scaler and config are used), or (from_date, policy) pairs.
        ('policy', None),
    )
    needs = ("policy= (an EqualWeightPolicy fitted on the training window, or a trained "
             "AlphaPolicy / bundle folder)")

    def decide(self, pol, z, lr, trend, vol) -> float:
        from models.alpha import equal_weight_position
        return equal_weight_position(z, vol, pol.config)  # 1/N of the policy's alphas


class _DiscreteStrategy(RebalanceBandMixin, SingleStockStrategy):
    """Trades when the target changes (entries/exits), and otherwise only when the held weight
    has drifted more than ``rebalance_band`` from the target (a losing short grows in weight:
    without this an unrebalanced short turns into leverage)."""

    params = (
        # Re-trade to the unchanged target when |held weight - invested target| exceeds this;
        # None = never (pure entry/exit).
        ('rebalance_band', 0.05),
    )

    def target_weights(self):
        before = self._last_target
        w = super().target_weights()
        if w is None:
            return None
        if before is not None and w[0] == before and (self.p.rebalance_band is None
                                                      or self.within_band(w)):
            return None  # unchanged target and holdings within the band (None: never re-trade)
        return w


class BuyAndHoldStock(_DiscreteStrategy):
    """Buy the stock at the first decision (weight 1 minus the cash buffer) and hold it."""

    params = (
        ('allow_short', False),  # long only
        ('rebalance_band', None),  # never re-trade: the weight drifts with the price
    )

    def position(self):
        return 1.0


class RandomEntryExit(_DiscreteStrategy):
    """Seeded random entry/exit: flat -> enter with ``p_entry``, in -> exit with ``p_exit``.

    The path is :func:`models.alpha.random_entry_exit` indexed by the number of decisions
    since ``trade_start`` (the same seed gives the same path whatever the warm-up history).
    """

    params = (
        ('seed', 0),  # seed of the entry/exit draws
        ('p_entry', 0.05),  # daily probability of entering when flat
        ('p_exit', 0.05),  # daily probability of exiting when in a position
        ('long_only', True),  # entries are long; False = a fair coin for long or short
    )

    def __init__(self):
        super().__init__()
        self._k = 0
        self._path = np.zeros(0)

    def position(self):
        from models.alpha import random_entry_exit
        if self._k >= len(self._path):  # prefix-stable: a longer draw extends the same path
            n = max(256, 2 * len(self._path))
            self._path = random_entry_exit(n, int(self.p.seed), float(self.p.p_entry),
                                           float(self.p.p_exit), bool(self.p.long_only))
        p = float(self._path[self._k])
        self._k += 1
        return p


class MomentumStrategy(_DiscreteStrategy):
    """Long after a rise, short after a fall: sign of C_t / C_{t-lookback} - 1 (flat if unknown)."""

    params = (
        ('lookback', 63),  # trailing window in bars (63 days = 3 months)
        ('long_only', False),  # True = flat instead of short after a fall
    )

    def position(self):
        from models.alpha import momentum_position
        n = int(self.p.lookback) + 1
        close = self._ohlcv[max(0, self.n_bars - n):self.n_bars, 3]
        return momentum_position(close, int(self.p.lookback), bool(self.p.long_only))


STRATEGY_FOR_FAMILY: dict[str, type] = {
    "alpha_ppo": AlphaPPO, "alpha_equal": AlphaEqualWeight, "buy_hold": BuyAndHoldStock,
    "random_entry_exit": RandomEntryExit, "momentum": MomentumStrategy,
}
