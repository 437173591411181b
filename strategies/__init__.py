"""Backtrader strategies of both systems, commission schemes, presets and the CLI.

Everything public is importable from here (loaded on first use, so ``python -m strategies.run
--list`` does not pay for Backtrader or torch)::

    from strategies import HybridLSTMPPO, EqualWeight, AlphaPPO, install_commissions

| module | what |
|---|---|
| ``engine`` | :class:`TargetWeightStrategy` (rebalancing engine), :class:`CashCappedFiller` |
| ``mixins`` | :class:`TradeWindowMixin`, :class:`RebalanceBandMixin` (shared by both systems) |
| ``allocation`` | System 1 (weekly, multi-asset): hybrid, PPO-only, LSTM-only, baselines |
| ``alpha`` | System 2 (daily, one stock): AlphaPPO, AlphaEqualWeight, baselines |
| ``commission`` | :class:`ProportionalCommission`, :func:`install_commissions` |
| ``presets`` | the named presets of the CLI |
| ``pipeline/`` | train-or-reuse, backtest and write outputs (what the CLI runs) |
| ``run`` | the CLI ``python -m strategies.run`` |
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "strategies.engine": ("TargetWeightStrategy", "FixedWeightStrategy", "CashCappedFiller"),
    "strategies.mixins": ("TradeWindowMixin", "RebalanceBandMixin"),
    "strategies.commission": ("ProportionalCommission", "commission_for", "install_commissions"),
    "strategies.allocation": ("AllocatorStrategy", "HybridLSTMPPO", "PPOOnly", "LSTMOnly",
                              "EqualWeight", "BuyAndHold", "ClassComposite"),
    "strategies.alpha": ("SingleStockStrategy", "AlphaPPO", "AlphaEqualWeight",
                         "BuyAndHoldStock", "RandomEntryExit", "MomentumStrategy"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'strategies' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
