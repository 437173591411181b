"""Proportional (turnover) commission schemes for Backtrader.

The papers charge ``tc`` per unit of traded value (``tc = 0.001``, 10 bp): a trade of ``size``
units at ``price`` costs ``tc * |size| * price``. :class:`ProportionalCommission` is that rule as
a Backtrader ``CommInfoBase``; :func:`install_commissions` sets one per data feed from its asset
class (e.g. crypto at 20 bp, everything else at 10 bp).

Two details matter for this project's feeds:

* Sizes are fractional (a $1 000 portfolio can hold 0.0166 BTC); nothing here rounds them.
* Feeds carry NaN prices before an asset lists. Backtrader values *every* known position at
  every bar (``size * close``), so a zero position in a not-yet-listed asset would turn the
  portfolio value into NaN. Here a zero position is worth exactly 0.0 and costs 0.0, whatever
  the price.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import backtrader as bt

from feeds.errors import ConfigError

DEFAULT_TC = 0.001
"""The papers' proportional cost: 10 bp of traded value."""

__all__ = ["DEFAULT_TC", "ProportionalCommission", "commission_for", "install_commissions"]


def _check_tc(tc: float, what: str) -> float:
    try:
        value = float(tc)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number (e.g. 0.001 for 10 bp), got {tc!r}") from None
    if not math.isfinite(value) or value < 0.0 or value >= 1.0:
        raise ConfigError(f"{what} must be a fraction of traded value in [0, 1) "
                          f"(e.g. 0.001 for 10 bp), got {tc!r}")
    return value


class ProportionalCommission(bt.CommInfoBase):
    """Stock-like commission of ``commission`` x traded value, fractional sizes, NaN-safe.

    Use it like any Backtrader commission scheme::

        cerebro.broker.addcommissioninfo(ProportionalCommission(commission=0.002), name="BTC-USD")
    """

    params = (
        ('commission', DEFAULT_TC),  # cost per unit of traded value (0.001 = 10 bp), not percent
        ('stocklike', True),  # cash account: buying costs size * price, no margin
        ('commtype', bt.CommInfoBase.COMM_PERC),  # proportional to traded value
        ('percabs', True),  # `commission` is already a fraction (0.001), not a percentage (0.1)
    )

    def __init__(self):
        super().__init__()
        _check_tc(self.p.commission, "commission")

    # --- costs ---------------------------------------------------------------------------
    def _getcommission(self, size, price, pseudoexec):
        if not size:
            return 0.0
        return abs(size) * price * self.p.commission

    # --- sizes and values ----------------------------------------------------------------
    def getsize(self, price, cash):
        """Fractional size that ``cash`` buys at ``price`` (Backtrader's default truncates)."""
        if not price or not math.isfinite(price):
            return 0.0
        return self.p.leverage * (cash / price)

    def getoperationcost(self, size, price):
        if not size:
            return 0.0
        return super().getoperationcost(size, price)

    def getvaluesize(self, size, price):
        if not size:
            return 0.0
        return super().getvaluesize(size, price)

    def getvalue(self, position, price):
        if not position.size:
            return 0.0
        return super().getvalue(position, price)

    def profitandloss(self, size, price, newprice):
        if not size:
            return 0.0
        return super().profitandloss(size, price, newprice)


def commission_for(asset_class: str | None, overrides: Mapping[str, float] | None = None,
                   default_tc: float = DEFAULT_TC) -> ProportionalCommission:
    """The commission scheme for one asset class.

    Args:
        asset_class: class name (``crypto``, ``nasdaq100``, ...); None means "use the default".
        overrides: class name -> cost per unit of traded value, e.g. ``{"crypto": 0.002}``.
        default_tc: cost for classes not in ``overrides``.
    """
    tc = _check_tc(default_tc, "default_tc")
    if overrides and asset_class is not None and asset_class in overrides:
        tc = _check_tc(overrides[asset_class], f"cost for asset class {asset_class!r}")
    return ProportionalCommission(commission=tc)


def _data_name(data) -> str:
    name = data if isinstance(data, str) else getattr(data, "_name", "")
    if not name:
        raise ConfigError("every data feed needs a name to get a per-asset commission: "
                          "pass name=<ticker> to the feed (feeds.to_backtrader does)")
    return name


def install_commissions(cerebro_or_broker, datas: Iterable, asset_class_map: Mapping[str, str],
                        default_tc: float = DEFAULT_TC,
                        per_class: Mapping[str, float] | None = None) -> dict[str, float]:
    """Install a :class:`ProportionalCommission` for every feed, chosen by its asset class.

    Also installs ``default_tc`` as the broker-wide default (``name=None``), so feeds added later
    are charged too.

    Args:
        cerebro_or_broker: a ``bt.Cerebro`` or a broker.
        datas: the data feeds (or their names).
        asset_class_map: ticker -> asset class; a ticker missing from it gets ``default_tc``.
        default_tc: cost per unit of traded value for classes not in ``per_class``.
        per_class: asset class -> cost, e.g. ``{"crypto": 0.002}``.

    Returns:
        ticker -> the cost installed for it.
    """
    broker = getattr(cerebro_or_broker, "broker", cerebro_or_broker)
    if not hasattr(broker, "addcommissioninfo"):
        raise ConfigError("install_commissions needs a bt.Cerebro or a Backtrader broker, "
                          f"got {type(cerebro_or_broker).__name__}")
    per_class = dict(per_class or {})
    for cls, tc in per_class.items():
        _check_tc(tc, f"cost for asset class {cls!r}")
    broker.addcommissioninfo(commission_for(None, None, default_tc), name=None)
    installed: dict[str, float] = {}
    for data in datas:
        name = _data_name(data)
        comm = commission_for(asset_class_map.get(name), per_class, default_tc)
        broker.addcommissioninfo(comm, name=name)
        installed[name] = float(comm.p.commission)
    return installed
