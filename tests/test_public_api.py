"""Every public class is importable from its package; both envs are registered by import models."""

import importlib

import gymnasium as gym
import pytest


@pytest.mark.parametrize("package", ["strategies", "analyzers", "models.alpha", "models.portfolio",
                                     "models.common", "feeds"])
def test_every_name_in_all_resolves(package):
    mod = importlib.import_module(package)
    assert mod.__all__, f"{package} exports nothing"
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_import_models_registers_both_envs():
    import models  # noqa: F401
    for env_id in ("rlportfolio/TopKPortfolio-v0", "rlportfolio/AlphaWeighting-v0"):
        assert env_id in gym.registry
    assert gym.spec("rlportfolio/AlphaWeighting-v0").entry_point == \
        "models.alpha.env:AlphaWeightingEnv"


def test_strategies_exports_both_systems():
    import backtrader as bt

    import strategies
    for name in ("HybridLSTMPPO", "PPOOnly", "LSTMOnly", "EqualWeight", "AlphaPPO",
                 "AlphaEqualWeight", "MomentumStrategy", "TargetWeightStrategy"):
        assert issubclass(getattr(strategies, name), bt.Strategy), name
