"""System 1: weekly multi-asset allocation (LSTM forecasts, PPO, Top-K projection).

Everything public is importable from here (loaded on first use: torch and stable-baselines3 are
imported only when a name that needs them is used)::

    from models.portfolio import EnvConfig, PortfolioEnv, LSTMForecaster, load_bundle
"""

from __future__ import annotations

from feeds.lazy import lazy_exports

_EXPORTS = {
    "models.portfolio.config": ("LSTMConfig", "EnvConfig", "PPOConfig"),
    "models.portfolio.features": ("FeatureLayout", "FeatureBuilder", "fit_stats"),
    "models.portfolio.projection": ("topk_project",),
    "models.portfolio.forecaster": ("LSTMForecaster",),
    "models.portfolio.env": ("PortfolioEnv", "EnvArrays", "build_env_arrays", "initial_weights"),
    "models.portfolio.train": ("TrainedPolicy", "train_portfolio_policy", "train_ppo",
                               "run_policy"),
    "models.portfolio.allocators": ("Allocator", "EqualWeightAllocator", "LSTMTopKAllocator",
                                    "PolicyAllocator", "HybridAllocator", "PPOAllocator",
                                    "allocator_from_bundle"),
    "models.portfolio.bundle": ("Bundle", "save_bundle", "load_bundle"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
