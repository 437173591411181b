import numpy as np
import pytest

from models.portfolio.allocators import (EqualWeightAllocator, HybridAllocator, LSTMTopKAllocator,
                               PPOAllocator, allocator_from_bundle)
from models.portfolio.env import PortfolioEnv
from models.portfolio.train import policy_action
from tests.models._s1data import MeanForecaster
from tests.models._s1fixtures import trained


def _check_weights(w, mask, k=None):
    assert np.all(w >= 0) and np.all(w[~mask] == 0)
    assert w.sum() == pytest.approx(1.0 if mask.any() else 0.0)
    if k is not None:
        assert np.count_nonzero(w) <= k


def _allocators():
    arr, fcm, tp = trained("hybrid")
    _, _, tpp = trained("ppo")
    return arr, [
        HybridAllocator(forecaster=fcm, model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                        env_config=tp.env_config),
        PPOAllocator(model=tpp.model, obs_norm=tpp.obs_norm, builder=tpp.builder,
                     env_config=tpp.env_config),
        LSTMTopKAllocator(fcm, 2),
        LSTMTopKAllocator(MeanForecaster(lookback=5, n_assets=5), 3),
        EqualWeightAllocator(),
    ]


def test_weights_valid_and_no_lookahead():
    arr, allocs = _allocators()
    lr, mask = arr.log_returns, arr.mask
    rng = np.random.default_rng(1)
    for alloc in allocs:
        prev = np.full(5, 0.2)
        k = getattr(alloc, "k", None) or getattr(getattr(alloc, "env_config", None), "top_k", None)
        for t in [3, 10, 19, 25, 40, 70, 79]:
            w_full = alloc.target_weights(lr[: t + 1], prev, mask[t], mask[: t + 1])
            # before a full history the LSTM Top-K falls back to 1/n (the paper's initial weights)
            _check_weights(w_full, mask[t], k if t + 1 >= alloc.history_needed else None)
            s = max(0, t + 1 - alloc.history_needed)
            w_trunc = alloc.target_weights(lr[s: t + 1], prev, mask[t], mask[s: t + 1])
            np.testing.assert_array_equal(w_full, w_trunc, err_msg=f"{alloc.name} t={t}")
            lr2 = lr.copy()
            lr2[t + 1:] = rng.normal(0, 0.5, lr2[t + 1:].shape)
            np.testing.assert_array_equal(
                alloc.target_weights(lr2[: t + 1], prev, mask[t], mask[: t + 1]), w_full)
            prev = w_full


def test_policy_allocator_matches_env_decisions():
    arr, fcm, tp = trained("hybrid")
    alloc = HybridAllocator(forecaster=fcm, model=tp.model, obs_norm=tp.obs_norm,
                            builder=tp.builder, env_config=tp.env_config)
    env = PortfolioEnv(**arr.env_kwargs(), config=tp.env_config, start=55, end=80,
                       builder=tp.builder)
    obs, _ = env.reset(seed=0)
    w_held = env._w
    for t in range(55, 78):
        w_alloc = alloc.target_weights(arr.log_returns[: t + 1], w_held, arr.mask[t],
                                       arr.mask[: t + 1])
        act = policy_action(tp.model, tp.obs_norm, obs).astype(np.float32)
        obs, _, _, _, info = env.step(act)
        np.testing.assert_allclose(w_alloc, info["weights"], atol=1e-6)
        w_held = info["weights_close"]


def test_lstm_topk_equal_weights_top_forecasts():
    f = MeanForecaster(lookback=2, n_assets=4)
    a = LSTMTopKAllocator(f, 2)
    h = np.array([[0.0, 0.1, 0.2, 0.3], [0.0, 0.1, 0.2, 0.3]])
    np.testing.assert_allclose(a.target_weights(h, None, np.array([1, 1, 1, 0], bool)),
                               [0, 0.5, 0.5, 0])
    # too little history: equal weight over available
    np.testing.assert_allclose(a.target_weights(h[:1], None, np.ones(4, bool)), [0.25] * 4)


def test_equal_weight_cash_when_nothing_available():
    w = EqualWeightAllocator().target_weights(np.zeros((1, 3)), None, np.zeros(3, bool))
    assert np.all(w == 0)


def test_allocator_from_bundle_decides_like_the_trained_artifacts(tmp_path):
    """A saved and reloaded bundle gives the allocator of its variant with identical weights."""
    from models.portfolio.bundle import load_bundle
    from tests.models._s1fixtures import save_tiny_bundle
    for v, cls in [("hybrid", HybridAllocator), ("ppo", PPOAllocator),
                   ("lstm", LSTMTopKAllocator)]:
        arr, fcm, tp = trained(v)
        loaded = allocator_from_bundle(load_bundle(save_tiny_bundle(tmp_path / v, v)))
        if v == "hybrid":
            direct = HybridAllocator(forecaster=fcm, model=tp.model, obs_norm=tp.obs_norm,
                                     builder=tp.builder, env_config=tp.env_config)
        elif v == "ppo":
            direct = PPOAllocator(model=tp.model, obs_norm=tp.obs_norm, builder=tp.builder,
                                  env_config=tp.env_config)
        else:
            direct = LSTMTopKAllocator(fcm, 2)
        assert type(loaded) is cls
        held = np.full(arr.mask.shape[1], 1.0 / arr.mask.shape[1])
        for t in range(56, 79, 4):
            a = loaded.target_weights(arr.log_returns[: t + 1], held, arr.mask[t],
                                      arr.mask[: t + 1])
            b = direct.target_weights(arr.log_returns[: t + 1], held, arr.mask[t],
                                      arr.mask[: t + 1])
            np.testing.assert_array_equal(a, b)
            assert a.sum() == pytest.approx(1.0) and np.all(a >= 0)
