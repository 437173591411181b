"""Backtrader strategies, commission schemes, presets and the CLI (``python -m strategies.run``).

The System 1 (weekly, multi-asset) strategies and the execution base are importable from here::

    from strategies import HybridLSTMPPO, EqualWeight, install_commissions
"""

from strategies.engine import FixedWeightStrategy, TargetWeightStrategy
from strategies.commission import ProportionalCommission, commission_for, install_commissions
from strategies.allocation import (BuyAndHold, ClassComposite, EqualWeight, HybridLSTMPPO,
                                  LSTMOnly, PPOOnly)

__all__ = ["TargetWeightStrategy", "FixedWeightStrategy", "ProportionalCommission",
           "commission_for", "install_commissions", "HybridLSTMPPO", "PPOOnly", "LSTMOnly",
           "EqualWeight", "BuyAndHold", "ClassComposite"]
