"""``policy_action``'s direct actor forward is bit-identical to SB3's ``predict``.

Both systems' policies (System 1: a tiny PPO on synthetic weeks, trained and loaded from a bundle;
System 2: a tiny AlphaPolicy, trained and loaded from a bundle) are compared on a few hundred
random observations, in and far out of range, against ``model.predict(x, deterministic=True)``
after the same normalisation; then a whole AlphaPPO backtest is run on the direct path and on the
forced ``predict`` fallback (``models.common.ppo.FAST_ACTION = False``) and must decide the same
positions bit for bit. Inference must run on one torch thread and without autograd.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import models.common.ppo as P
from models.alpha import AlphaConfig, load_alpha_bundle, save_alpha_bundle, train_alpha_policy
from models.alpha.language import load_alphas
from models.common.ppo import policy_action
from models.portfolio.allocators import HybridAllocator
from models.portfolio.bundle import load_bundle
from strategies.alpha import AlphaPPO
from tests.models._s1fixtures import save_tiny_bundle, trained
from tests.models.test_alpha_train import synthetic
from tests.strategies.test_alpha_strategies import run

TINY = AlphaConfig(total_timesteps=256, n_steps=64, n_envs=2, batch_size=64, n_epochs=1,
                   episode_length=60, net_arch=(16,))


@pytest.fixture(scope="module")
def sys2():
    df = synthetic(T=420, seed=3)
    pol = train_alpha_policy(df, load_alphas(), TINY, seed=5,
                             train_slice=(df.index[140], df.index[330]), ticker="SYN")
    return df, pol


def _observations(n_obs: int, dim: int, seed: int) -> np.ndarray:
    """Random float32 observations: typical, large, huge and +-inf entries."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.1, 1.0, 5.0, 50.0, 1e4], size=(n_obs, 1))
    x = rng.normal(size=(n_obs, dim)) * scale
    x[rng.random((n_obs, dim)) < 0.01] = np.inf
    x[rng.random((n_obs, dim)) < 0.01] = -np.inf
    return x.astype(np.float32)


def _amplified(policy):
    """A copy of ``policy`` whose action means leave the action box (exercises the clipping)."""
    big = copy.deepcopy(policy)
    with torch.no_grad():
        big.action_net.weight.mul_(500.0)
    return big


def _outcome(f):
    """The action as float64, or the ValueError's message (predict refuses a NaN mean)."""
    try:
        return np.asarray(f(), dtype=np.float64).reshape(-1)
    except ValueError as exc:
        return str(exc)


def _assert_same_as_predict(model, obs_norm, X) -> int:
    """Every observation gives the same action, or the same error; returns the error count."""
    assert P._direct_actor(model, obs_norm.normalize(X[0]) if obs_norm else X[0]) is not None
    errors = 0
    for x in X:
        xn = obs_norm.normalize(x) if obs_norm is not None else x
        want = _outcome(lambda xn=xn: model.predict(xn, deterministic=True)[0])
        got = _outcome(lambda x=x: policy_action(model, obs_norm, x))
        if isinstance(want, str):
            errors += 1
            assert got == want
        else:
            assert isinstance(got, np.ndarray) and np.array_equal(got, want)
    return errors


def test_system1_actions_identical_to_predict(tmp_path):
    _, _, tp = trained("hybrid")
    loaded = load_bundle(save_tiny_bundle(tmp_path / "b", "hybrid"))
    X = _observations(300, tp.builder.layout.size, seed=0)
    for model, norm in ((tp.model, tp.obs_norm), (loaded.model, loaded.obs_norm)):
        assert _assert_same_as_predict(model, norm, X) == 0  # normalised: clipped to +-10
    big = _amplified(loaded.model)
    finite = X[np.isfinite(X).all(axis=1)][:100]
    acts = np.array([policy_action(big, None, x) for x in finite])
    assert np.any(np.abs(acts) == 1.0) and np.any(np.abs(acts) < 1.0)  # the box clip ran
    assert _assert_same_as_predict(big, None, X) > 0  # an inf entry gives predict's error


def test_system2_actions_identical_to_predict(sys2, tmp_path):
    _, pol = sys2
    loaded = load_alpha_bundle(save_alpha_bundle(pol, tmp_path / "b"), ticker="SYN")
    assert type(loaded.model).__name__ == "ActorCriticPolicy"  # a bare policy, no PPO around it
    X = _observations(300, pol.model.observation_space.shape[0], seed=1)
    for model in (pol.model, loaded.model, _amplified(loaded.model)):
        assert _assert_same_as_predict(model, None, X) > 0  # inf entries: predict's error
    for x in X[np.isfinite(X).all(axis=1)][:50]:  # AlphaPolicy.action: what the backtest uses
        want = np.clip(np.asarray(pol.model.predict(x, deterministic=True)[0], float), -1, 1)
        assert np.array_equal(pol.action(x), want)


def test_other_inputs_take_predict_and_behave_the_same(sys2):
    _, pol = sys2
    policy = pol.model.policy
    x = _observations(4, policy.observation_space.shape[0], seed=2)
    batch, _ = policy.predict(x, deterministic=True)  # a batch: predict's own path
    assert P._direct_actor(policy, x) is None
    assert np.array_equal(policy_action(policy, None, x), batch.astype(np.float64).reshape(-1))
    x64 = x[0].astype(np.float64)  # float64 is converted by the same torch op
    assert np.array_equal(policy_action(policy, None, x64), policy_action(policy, None, x[0]))
    frozen = x[1].copy()
    frozen.flags.writeable = False  # read-only input: copied like predict does, no torch warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(policy_action(policy, None, frozen),
                              policy.predict(frozen, deterministic=True)[0].astype(np.float64))
    with pytest.raises(ValueError, match="Unexpected observation shape"):
        policy_action(policy, None, x[0][:-1])
    policy.set_training_mode(True)  # predict leaves the policy in eval mode; so does the path
    policy_action(policy, None, x[0])
    assert not policy.training


def _backtest(df, pol, monkeypatch, fast: bool):
    monkeypatch.setattr(P, "FAST_ACTION", fast)
    calls = {"direct": 0, "predict": 0}
    direct, predict = P._actor_action, type(pol.model).predict

    def count_direct(*a, **k):
        calls["direct"] += 1
        return direct(*a, **k)

    def count_predict(self, *a, **k):
        calls["predict"] += 1
        return predict(self, *a, **k)
    monkeypatch.setattr(P, "_actor_action", count_direct)
    monkeypatch.setattr(type(pol.model), "predict", count_predict)
    seen = []  # (torch threads, autograd on) at each actor forward
    hook = pol.model.policy.action_net.register_forward_hook(
        lambda *_: seen.append((torch.get_num_threads(), torch.is_grad_enabled())))
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        s, r = run(AlphaPPO, df, policy=pol, trade_start=df.index[340])
    finally:
        torch.set_num_threads(old)
        hook.remove()
    monkeypatch.undo()
    return s.decisions, r, calls, seen


def test_alpha_ppo_backtest_identical_with_predict_fallback(sys2, monkeypatch):
    df, pol = sys2
    dec_fast, r_fast, c_fast, seen_fast = _backtest(df, pol, monkeypatch, True)
    dec_slow, r_slow, c_slow, seen_slow = _backtest(df, pol, monkeypatch, False)
    n = len(dec_fast)
    assert n >= 70 and len({p for _, p in dec_fast}) > 10  # real, varied decisions
    assert c_fast == {"direct": n, "predict": 0} and c_slow == {"direct": 0, "predict": n}
    assert dec_fast == dec_slow  # dates and positions, exactly
    assert np.array_equal(r_fast.to_numpy(), r_slow.to_numpy())
    assert seen_fast == seen_slow == [(1, False)] * n  # one torch thread, no autograd


def test_allocator_inference_one_thread_no_grad():
    arr, fcm, tp = trained("hybrid")
    alloc = HybridAllocator(forecaster=fcm, model=tp.model, obs_norm=tp.obs_norm,
                            builder=tp.builder, env_config=tp.env_config)
    seen = []
    hook = tp.model.policy.action_net.register_forward_hook(
        lambda *_: seen.append((torch.get_num_threads(), torch.is_grad_enabled())))
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for t in (30, 50, 70):
            alloc.target_weights(arr.log_returns[:t + 1], None, arr.mask[t], arr.mask[:t + 1])
        assert torch.get_num_threads() == 2  # restored after each call
    finally:
        torch.set_num_threads(old)
        hook.remove()
    assert seen == [(1, False)] * 3
