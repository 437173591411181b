"""TargetWeightStrategy: rebalance a Backtrader portfolio to target weights.

Execution follows ``models/common/execution.py`` (the rule the RL environments are trained on):

* decide at the close of bar t in ``next()``, from data up to bar t only;
* submit plain market orders, which Backtrader's default broker fills at the open of bar t+1
  (cheat-on-close / cheat-on-open are refused: they would trade at prices the decision could
  not have known, or on a bar the decision has not seen);
* costs are whatever commission scheme the broker has for the data (see
  ``strategies/commission.py``: ``tc`` x traded value).

How a target becomes orders (:meth:`TargetWeightStrategy.rebalance`):

1. ``V`` = broker value at the close of t. The invested target of data i is
   ``w_i * V * (1 - cash_buffer)``, as a fractional number of units ``size = value / close``
   (never Backtrader's integer sizers: $1 000 cannot buy one $60 000 bitcoin but can hold 1.6%).
2. A data that cannot be traded at t (close is NaN, or its ``available`` line is 0) gets weight
   0. If it is still held (the asset left the universe) the position is closed at the next open
   (feeds carry the last price after an asset ends; a feed that stops delivering bars fills the
   close only if it delivers again, see :meth:`TargetWeightStrategy.can_fill`, so its value is
   not counted as cash for the buys). Its target weight is **not** re-allocated
   to the other assets: it stays in cash, so what the model asked for is what is held. The
   unspent weight of the last decision is in ``self.unallocated``.
3. Sells (orders that lower a position) are submitted before buys. Backtrader's broker checks
   and fills orders in submission order, so at the next open the sells' cash is there for the
   buys.
4. Buys are scaled down, all by one factor, if they (plus their commission) would need more
   than ``(1 - cash_buffer)`` x the cash expected after the sells and their costs, all estimated
   at the close of t. Together with the invested target this keeps roughly ``cash_buffer`` x V
   in cash, which absorbs the move between the decision close and the fill open: no buy is
   refused while (gap up of the bought assets + gap down of the sold ones) x traded value
   stays below about ``cash_buffer`` x V (e.g. with the default 0.02, a 1.5% gap up on a full
   switch of 80% of the portfolio is absorbed, 1.5% up plus 1.5% down is not).
   A larger adverse gap would make Backtrader refuse the whole buy (``Margin``). By default
   (``cap_buys_to_cash``) the strategy installs :class:`CashCappedFiller` on the broker, so such
   a buy is filled for what the cash at the open allows and the rest is cancelled
   (``self.partial_fills``); refused orders (``self.rejected``) stay at 0.
5. Trades worth less than ``min_trade_value`` (currency) are skipped.

Subclasses implement :meth:`target_weights`. A subclass that overrides ``notify_order`` must call
``super().notify_order(order)`` to keep the counts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import backtrader as bt
import numpy as np
import pandas as pd

from feeds.errors import ConfigError

__all__ = ["TargetWeightStrategy", "FixedWeightStrategy", "CashCappedFiller"]

logger = logging.getLogger(__name__)

_EPS_WEIGHT_SUM = 1e-6


def data_name(data, i: int) -> str:
    """A feed's name (``name=`` given to the feed), or ``data<i>`` when it has none."""
    return getattr(data, "_name", "") or f"data{i}"


class CashCappedFiller:
    """A Backtrader broker ``filler``: a buy fills at most what the cash at the fill allows.

    Backtrader's default broker refuses a whole market buy (``Margin``) when the open it fills
    at has moved so far from the decision close that the cash no longer covers it. With this
    filler the buy is filled for the units the cash (after the sells already filled at that open
    and the commission) can pay for; the strategy cancels the unfilled rest. Sells always fill
    in full. Install with ``cerebro.broker.set_filler(CashCappedFiller(cerebro.broker))``;
    :class:`TargetWeightStrategy` does it for you (param ``cap_buys_to_cash``).
    """

    def __init__(self, broker):
        self.broker = broker

    def __call__(self, order, price, ago) -> float:
        rem = abs(float(order.executed.remsize))
        if not order.isbuy() or not price or not math.isfinite(price) or price <= 0.0:
            return rem
        comm = self.broker.getcommissioninfo(order.data)
        unit = price + abs(float(comm.getcommission(1.0, price)))
        afford = max(0.0, float(self.broker.getcash())) * (1.0 - 1e-9) / unit
        return min(rem, afford)


class TargetWeightStrategy(bt.Strategy):
    """Base strategy: every ``rebalance_every`` bars, trade to :meth:`target_weights`.

    Attributes (read them after ``cerebro.run()``):
        rejected: number of orders the broker refused (``Margin`` or ``Rejected``); 0 normally.
        partial_fills: buys cut to the cash available at the fill (see CashCappedFiller).
        order_counts: dict of order notifications by final status.
        unallocated: target weight left in cash at the last decision because its asset could
            not be traded.
        rebalances: number of decisions taken.
    """

    params = (
        # Fraction of portfolio value kept in cash at each decision. It absorbs the price move
        # between the decision close and the next-open fill (and the costs), so buys are not
        # refused for lack of cash: it covers (buy gap up + sell gap down) x traded value up to
        # about cash_buffer x portfolio value.
        ('cash_buffer', 0.02),
        # Skip trades whose value (|size| x close) is below this amount of currency (dust).
        ('min_trade_value', 0.0),
        # Decide every this many bars (1 = every bar); the first decision is at the first bar.
        ('rebalance_every', 1),
        # Log every submitted and filled order at INFO level (logger "strategies.engine").
        ('log_orders', False),
        # Allow negative target weights (short positions). Long-only by default.
        ('allow_short', False),
        # Install CashCappedFiller on the broker (if it has no filler yet) so that a buy whose
        # fill price gapped beyond the cash buffer is filled for what the cash allows instead of
        # being refused; the unfilled rest is cancelled and counted in ``self.partial_fills``.
        ('cap_buys_to_cash', True),
    )

    # ------------------------------------------------------------------ setup
    def __init__(self):
        super().__init__()
        p = self.p
        if not (0.0 <= float(p.cash_buffer) < 1.0):
            raise ConfigError(f"cash_buffer must be in [0, 1), got {p.cash_buffer!r}")
        if float(p.min_trade_value) < 0.0:
            raise ConfigError(f"min_trade_value must be >= 0, got {p.min_trade_value!r}")
        if int(p.rebalance_every) != p.rebalance_every or int(p.rebalance_every) < 1:
            raise ConfigError(f"rebalance_every must be a whole number >= 1, "
                              f"got {p.rebalance_every!r}")
        self.rejected = 0
        self.partial_fills = 0
        self.rebalances = 0
        self.unallocated = 0.0
        self.order_counts: dict[str, int] = {}
        self._bars = 0
        self._open_orders: list[bt.Order] = []
        self._has_available = [
            "available" in d.lines.getlinealiases() for d in self.datas
        ]
        self._names = [data_name(d, i) for i, d in enumerate(self.datas)]

    def start(self):
        broker = self.broker
        if self.p.cap_buys_to_cash and hasattr(broker, "set_filler") and \
                getattr(broker.p, "filler", None) is None:
            broker.set_filler(CashCappedFiller(broker))
        if getattr(broker.p, "coc", False) or getattr(broker.p, "coo", False):
            raise ConfigError(
                f"{type(self).__name__} decides at the close and fills at the next open; "
                "turn off cheat-on-close/cheat-on-open (Cerebro(cheat_on_close=False, "
                "cheat_on_open=False), broker.set_coc(False), broker.set_coo(False))")

    # ------------------------------------------------------------------ to override
    def target_weights(self):
        """Target weights decided at the current bar close, from data up to this bar only.

        Return one of:
          * a sequence / ``np.ndarray`` aligned with ``self.datas``;
          * a mapping from data feed (or feed name) to weight (missing feeds get 0);
          * a ``pd.Series`` indexed by feed name;
          * ``None`` to keep the current holdings (no orders).

        Weights are fractions of portfolio value, non-negative unless ``allow_short``, and sum to
        at most 1 (the rest is cash).
        """
        raise NotImplementedError("subclasses of TargetWeightStrategy implement target_weights()")

    # ------------------------------------------------------------------ helpers
    def is_tradable(self, i: int) -> bool:
        """True if ``self.datas[i]`` has a finite close and (if it has one) ``available`` != 0."""
        d = self.datas[i]
        if len(d) == 0:  # no bar yet (a feed that starts later than the others)
            return False
        close = d.close[0]
        if close is None or not math.isfinite(close) or close <= 0.0:
            return False
        if self._has_available[i]:
            a = d.available[0]
            if a is None or not math.isfinite(a) or a == 0.0:
                return False
        return True

    def can_fill(self, i: int) -> bool:
        """True if an order on ``self.datas[i]`` can fill at the next bar (its feed still delivers
        bars); closing orders of feeds that cannot are sent but not counted as cash to spend."""
        return True

    def current_weights(self) -> dict[str, float]:
        """Position value / portfolio value per feed name, at the current close."""
        value = self.broker.getvalue()
        out: dict[str, float] = {}
        for i, d in enumerate(self.datas):
            size = self.getposition(d).size
            if not size or not value:
                out[self._names[i]] = 0.0
                continue
            out[self._names[i]] = float(size * d.close[0] / value)
        return out

    def _as_array(self, raw) -> np.ndarray:
        n = len(self.datas)
        if isinstance(raw, pd.Series):
            unknown = [k for k in raw.index if k not in self._names]
            if unknown:
                raise ValueError(f"target weights name unknown feeds {unknown}; "
                                 f"feeds are {self._names}")
            w = np.array([float(raw.get(nm, 0.0)) for nm in self._names], dtype=float)
        elif isinstance(raw, Mapping):
            w = np.zeros(n, dtype=float)
            for k, v in raw.items():
                if isinstance(k, str):
                    if k not in self._names:
                        raise ValueError(f"target weights name unknown feed {k!r}; "
                                         f"feeds are {self._names}")
                    idx = self._names.index(k)
                else:
                    idx = next((j for j, d in enumerate(self.datas) if d is k), None)
                    if idx is None:
                        raise ValueError(f"target weights key {k!r} is not one of self.datas")
                w[idx] = float(v)
        elif isinstance(raw, (np.ndarray, Sequence)) and not isinstance(raw, (str, bytes)):
            w = np.asarray(raw, dtype=float).reshape(-1)
            if w.shape[0] != n:
                raise ValueError(f"target weights have {w.shape[0]} entries, "
                                 f"expected {n} (one per data feed)")
        else:
            raise TypeError(f"target_weights() returned {type(raw).__name__}; return an array, "
                            "a mapping or a pd.Series of weights (or None)")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"target weights must be finite, got {w}")
        if not self.p.allow_short and np.any(w < 0.0):
            raise ValueError(f"negative target weights {w} need allow_short=True")
        if w.sum() > 1.0 + _EPS_WEIGHT_SUM:
            raise ValueError(f"target weights sum to {w.sum():.6f} > 1; leverage is not "
                             "supported (the remainder of 1 - sum is held as cash)")
        return w

    # ------------------------------------------------------------------ decision
    def next(self):
        self._bars += 1
        if (self._bars - 1) % int(self.p.rebalance_every) == 0:
            self.rebalance()

    def rebalance(self, weights=None) -> None:
        """Decide now (bar close) and submit the orders (``weights`` default: target_weights())."""
        raw = self.target_weights() if weights is None else weights
        if raw is None:
            return
        w = self._as_array(raw)
        self.rebalances += 1

        for o in self._open_orders:  # an order not filled by now is stale
            if o.alive():
                self.cancel(o)
        self._open_orders = []

        broker = self.broker
        value = float(broker.getvalue())
        if not math.isfinite(value) or value <= 0.0:
            logger.warning("portfolio value is %r at %s; no rebalance", value,
                           self.datetime.datetime(0))
            return
        invest = value * (1.0 - float(self.p.cash_buffer))
        floor = max(float(self.p.min_trade_value), 1e-9 * value)

        sells, buys, stuck = self._orders_for(w, invest, floor)

        cash = float(broker.getcash())
        proceeds = 0.0
        for i, size, close in sells:
            comm = broker.getcommissioninfo(self.datas[i])
            proceeds += size * close - comm.getcommission(size, close)
        need = 0.0
        for i, size, close in buys:
            comm = broker.getcommissioninfo(self.datas[i])
            need += size * close + comm.getcommission(size, close)
        budget = max(0.0, (cash + proceeds) * (1.0 - float(self.p.cash_buffer)))
        scale = 1.0 if need <= budget or need <= 0.0 else budget / need

        for i, size, close in sells:
            self._submit(i, -size)
        for i, size, close in buys:
            size *= scale
            if size * close < floor:
                continue
            self._submit(i, size)
        for i, size in stuck:  # fills if the feed delivers a bar again
            self._submit(i, size)

    def _orders_for(self, w: np.ndarray, invest: float, floor: float) -> tuple[list, list, list]:
        """Trades toward ``w``: sells and buys ``(data index, size > 0, close)``, and closes of
        untradable feeds that cannot fill soon ``(data index, signed size)``; sets unallocated."""
        sells: list[tuple[int, float, float]] = []
        buys: list[tuple[int, float, float]] = []
        stuck: list[tuple[int, float]] = []  # closes of feeds without new bars: not budgeted
        unallocated = 0.0
        for i, d in enumerate(self.datas):
            pos = float(self.getposition(d).size)
            if not self.is_tradable(i):
                unallocated += abs(w[i])
                close = d.close[0] if pos else None
                if pos and close is not None and math.isfinite(close) and close > 0.0:
                    # the asset left the universe: close at the carried price
                    if self.can_fill(i):
                        (sells if pos > 0 else buys).append((i, abs(pos), close))
                    else:
                        stuck.append((i, -pos))
                elif pos:
                    logger.warning("%s: holding %g units but the close is %r; cannot close yet",
                                   self._names[i], pos, close)
                continue
            close = float(d.close[0])
            delta = w[i] * invest / close - pos
            if abs(delta) * close < floor:
                continue
            (buys if delta > 0 else sells).append((i, abs(delta), close))
        self.unallocated = float(unallocated)
        return sells, buys, stuck

    def _submit(self, i: int, size: float) -> None:
        d = self.datas[i]
        if size > 0:
            order = self.buy(data=d, size=size, exectype=bt.Order.Market)
        else:
            order = self.sell(data=d, size=-size, exectype=bt.Order.Market)
        if order is not None:
            self._open_orders.append(order)
            if self.p.log_orders:
                logger.info("%s submit %s %s %.8g @~%.8g", self.datetime.date(0),
                            "BUY" if size > 0 else "SELL", self._names[i], abs(size), d.close[0])

    # ------------------------------------------------------------------ bookkeeping
    def notify_order(self, order):
        status = order.getstatusname()
        if order.status == order.Partial:
            # a buy capped by CashCappedFiller: keep what filled, drop the rest now
            self.partial_fills += 1
            logger.info("%s: %s buy filled %.8g of %.8g units (cash at the open); rest cancelled",
                        self.datetime.date(0), data_name(order.data, -1), order.executed.size,
                        order.created.size)
            # cancel the live order, not this notification's copy (analyzers read the copy)
            live = next((o for o in self._open_orders if o.ref == order.ref), None)
            if live is not None and live.alive():
                self.cancel(live)
            return
        if order.status in (order.Submitted, order.Accepted):
            return
        self.order_counts[status] = self.order_counts.get(status, 0) + 1
        name = data_name(order.data, -1)
        if order.status in (order.Margin, order.Rejected):
            self.rejected += 1
            logger.warning("%s order for %s refused (%s): size %.8g; raise cash_buffer if gaps "
                           "between close and next open are large", "BUY" if order.isbuy()
                           else "SELL", name, status, order.created.size)
        elif order.status == order.Completed and self.p.log_orders:
            logger.info("%s filled %s %s %.8g @ %.8g comm %.6g", self.datetime.date(0),
                        "BUY" if order.isbuy() else "SELL", name, order.executed.size,
                        order.executed.price, order.executed.comm)


class FixedWeightStrategy(TargetWeightStrategy):
    """Rebalance to fixed weights (default: 1/N of the feeds), e.g. for baselines and tests.

    With a large ``rebalance_every`` it is a buy-and-hold of the initial weights.
    """

    params = (
        # Target weights: a sequence aligned with the feeds or a mapping feed name -> weight;
        # None = equal weight 1/N over all feeds (untradable feeds' share stays in cash).
        ('weights', None),
    )

    def target_weights(self):
        if self.p.weights is None:
            n = len(self.datas)
            return np.full(n, 1.0 / n)
        return self.p.weights
