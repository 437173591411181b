"""Learning code of both systems (no Backtrader imports).

* :mod:`models.common`: configuration base, execution accounting, the PPO builder, torch
  threads, the safe bundle format;
* :mod:`models.portfolio`: System 1 (weekly Top-K allocation: LSTM forecaster, env, PPO);
* :mod:`models.alpha`: System 2 (daily PPO weighting of formulaic alphas).

Importing this package registers both gymnasium environments:
``rlportfolio/TopKPortfolio-v0`` (System 1) and ``rlportfolio/AlphaWeighting-v0`` (System 2).
Their modules (and torch / stable-baselines3) are imported only when an env is made.
"""

from __future__ import annotations

import gymnasium as _gym

ENV_IDS = {"rlportfolio/TopKPortfolio-v0": "models.portfolio.env:PortfolioEnv",
           "rlportfolio/AlphaWeighting-v0": "models.alpha.env:AlphaWeightingEnv"}


def _register() -> None:
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in _gym.registry:
            _gym.register(id=env_id, entry_point=entry_point)


_register()
