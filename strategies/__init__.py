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

from feeds.lazy import lazy_exports

_EXPORTS = {
    "strategies.engine": ("TargetWeightStrategy", "FixedWeightStrategy", "CashCappedFiller"),
    "strategies.mixins": ("TradeWindowMixin", "RebalanceBandMixin"),
    "strategies.commission": ("ProportionalCommission", "commission_for", "install_commissions"),
    "strategies.allocation": ("AllocatorStrategy", "HybridLSTMPPO", "PPOOnly", "LSTMOnly",
                              "EqualWeight", "BuyAndHold", "ClassComposite"),
    "strategies.composite": ("SeedEnsemble", "WalkForward"),
    "strategies.alpha": ("SingleStockStrategy", "AlphaPPO", "AlphaEqualWeight",
                         "BuyAndHoldStock", "RandomEntryExit", "MomentumStrategy"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
