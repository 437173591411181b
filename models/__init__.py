"""System 1 and System 2 learning code (no Backtrader imports).

Importing this package registers the gymnasium environment ``rlportfolio/TopKPortfolio-v0``.
"""

from __future__ import annotations

import gymnasium as _gym


def _register() -> None:
    if "rlportfolio/TopKPortfolio-v0" not in _gym.registry:
        _gym.register(id="rlportfolio/TopKPortfolio-v0",
                      entry_point="models.portfolio.env:PortfolioEnv")


_register()
