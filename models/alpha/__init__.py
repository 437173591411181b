"""System 2: daily per-stock PPO weighting of formulaic alphas (Chen & Kawashima).

| module | what |
|---|---|
| ``language/`` | the alpha expression language, its operator table and the 50-alpha library |
| ``config`` | :class:`AlphaConfig` (env, position map, PPO settings) |
| ``env`` | :class:`AlphaWeightingEnv` (``rlportfolio/AlphaWeighting-v0``) |
| ``data`` | :func:`prepare_stock`: alphas, market state, training-window statistics |
| ``policies`` | :class:`PositionPolicy` base, :class:`AlphaPolicyBase`, the four policies |
| ``train`` | :func:`train_alpha_policy` (the shared PPO builder) |
| ``splits`` | :func:`walk_forward_splits` |
| ``bundle`` | :func:`save_alpha_bundle`, :func:`load_alpha_bundle` (safe: no pickle) |
| ``jobs`` | :func:`run_jobs`: stocks x seeds trainings in parallel |

Every name below is importable from here, loaded on first use (``from models.alpha import
AlphaConfig`` does not import torch).
"""

from __future__ import annotations

from feeds.lazy import lazy_exports

_EXPORTS = {
    "models.alpha.config": ("AlphaConfig",),
    "models.alpha.env": ("AlphaWeightingEnv",),
    "models.alpha.data": ("StockArrays", "prepare_stock", "make_env", "required_warmup"),
    "models.alpha.policies": ("PositionPolicy", "AlphaPolicyBase", "AlphaPolicy",
                              "EqualWeightPolicy", "MomentumPolicy", "RandomEntryExitPolicy",
                              "equal_weight_position", "momentum_position", "random_entry_exit"),
    "models.alpha.train": ("train_alpha_policy",),
    "models.alpha.splits": ("Split", "walk_forward_splits"),
    "models.alpha.bundle": ("save_alpha_bundle", "load_alpha_bundle"),
    "models.alpha.jobs": ("TrainJob", "JobResult", "run_jobs"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
