"""Leaner PPO training gives the same weights as stock stable-baselines3, bit for bit.

The reference below is what ``models.common.ppo`` did before: SB3's own ``DummyVecEnv`` (with
``Monitor``) and ``VecNormalize``, distribution argument checks on. The lean path
(:mod:`models.common.vecenv`, checks off during ``learn``) must produce identical policy
parameters and observation statistics for System 1 (observations normalised, rewards not) and
System 2 (rewards normalised, no Monitor), with one env and with several, across episode resets.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from feeds.errors import ConfigError
from models.common.ppo import make_vec_env, no_distribution_validation, train
from models.common.threads import torch_threads
from models.common.vecenv import LeanRunningMeanStd
from models.portfolio.config import EnvConfig, PPOConfig
from models.portfolio.env import PortfolioEnv
from models.portfolio.train import rollout_config, train_ppo
from tests.models._s1data import synthetic_arrays

TINY = PPOConfig(n_steps=64, batch_size=32, n_epochs=2, net_arch=(16, 16), total_timesteps=192)


def _env_fn():
    # 30 rows -> 28-step episodes (random start up to 3): several resets per rollout
    opn, close, lr, mask, fc = synthetic_arrays(T=40, N=5, late=1, late_start=8)
    return PortfolioEnv(opn, close, lr, mask, fc, EnvConfig(top_k=2, window=4, random_start=3),
                        0, 30)


def _reference(env_fn, cfg, seed, steps, *, n_envs, norm_obs, norm_reward, monitor,
               clip_obs=10.0):
    """Stock SB3: DummyVecEnv(+Monitor) + VecNormalize, distribution checks on."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    assert torch.distributions.Distribution._validate_args  # the checks really are on here
    with torch_threads(1):
        set_random_seed(seed)
        make = (lambda: Monitor(env_fn())) if monitor else env_fn
        venv = DummyVecEnv([make for _ in range(n_envs)])
        venv.seed(seed)
        venv = VecNormalize(venv, norm_obs=norm_obs, norm_reward=norm_reward,
                            clip_obs=clip_obs, gamma=cfg.gamma)
        model = PPO("MlpPolicy", venv, **cfg.sb3_kwargs(), policy_kwargs=cfg.policy_kwargs(),
                    seed=seed, device="cpu")
        model.learn(total_timesteps=steps)
    return model


def _assert_same(a, b, obs_stats=True):
    pa, pb = a.policy.state_dict(), b.policy.state_dict()
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    va, vb = a.get_env(), b.get_env()
    if obs_stats:
        np.testing.assert_array_equal(va.obs_rms.mean, vb.obs_rms.mean)
        np.testing.assert_array_equal(va.obs_rms.var, vb.obs_rms.var)
        assert va.obs_rms.count == vb.obs_rms.count
    assert a.num_timesteps == b.num_timesteps
    # the episodes SB3 logged are the same episodes
    assert [e["l"] for e in a.ep_info_buffer] == [e["l"] for e in b.ep_info_buffer]
    assert [e["r"] for e in a.ep_info_buffer] == [e["r"] for e in b.ep_info_buffer]


def test_system1_default_path_is_bit_identical_to_stock_sb3():
    model, vn = train_ppo(_env_fn, TINY, seed=3, progress_bar=False)
    ref = _reference(_env_fn, TINY, 3, TINY.total_timesteps, n_envs=1, norm_obs=True,
                     norm_reward=False, monitor=True)
    _assert_same(model, ref)
    assert len(ref.ep_info_buffer) >= 4  # episodes really ended and were reset


def test_system1_several_envs_keep_the_rollout_and_match_stock_sb3():
    cfg = replace(TINY, n_envs=4)
    model, _ = train_ppo(_env_fn, cfg, seed=5, progress_bar=False)
    assert model.n_envs == 4 and model.n_steps * model.n_envs == cfg.n_steps  # rollout stays 64
    ref = _reference(_env_fn, replace(cfg, n_steps=16), 5, cfg.total_timesteps, n_envs=4,
                     norm_obs=True, norm_reward=False, monitor=True)
    _assert_same(model, ref)


@pytest.mark.parametrize("norm_obs", [False, True])
def test_reward_normalisation_path_is_bit_identical_to_stock_sb3(norm_obs):
    """System 2's setting (norm_obs=False): rewards normalised (their statistics ARE updated),
    observations left alone, no Monitor; and the same with observations normalised too."""
    cfg = replace(TINY, normalize_reward=True)

    def venv():
        return make_vec_env(_env_fn, 2, 11, norm_obs=norm_obs, norm_reward=True,
                            gamma=cfg.gamma, monitor=False)
    model = train(venv, cfg, seed=11)
    ref = _reference(_env_fn, cfg, 11, cfg.total_timesteps, n_envs=2, norm_obs=norm_obs,
                     norm_reward=True, monitor=False)
    _assert_same(model, ref, obs_stats=norm_obs)
    np.testing.assert_array_equal(model.get_env().ret_rms.var, ref.get_env().ret_rms.var)
    assert model.get_env().ret_rms.count == ref.get_env().ret_rms.count > 1


def test_system2_training_is_bit_identical_to_stock_sb3():
    """What ``train_alpha_policy`` builds: the alpha env, 2 copies, rewards normalised."""
    from models.alpha import AlphaConfig, make_env, prepare_stock
    from models.alpha.language import load_alphas
    from tests.models.test_alpha_train import synthetic
    df = synthetic()
    cfg = AlphaConfig(total_timesteps=256, n_steps=64, n_envs=2, batch_size=64, n_epochs=1,
                      episode_length=60, net_arch=(16,))
    arrays = prepare_stock(df, load_alphas(), df.index[140], df.index[330], config=cfg)

    def env_fn():
        return make_env(arrays, cfg)
    model = train(lambda: make_vec_env(env_fn, cfg.n_envs, 4, norm_obs=False,
                                       norm_reward=cfg.norm_reward, gamma=cfg.gamma,
                                       monitor=False), cfg, seed=4)
    ref = _reference(env_fn, cfg, 4, cfg.total_timesteps, n_envs=2, norm_obs=False,
                     norm_reward=True, monitor=False)
    _assert_same(model, ref, obs_stats=False)


def test_rollout_config_splits_the_rollout_over_the_envs():
    assert rollout_config(PPOConfig()) == PPOConfig()
    assert rollout_config(PPOConfig(n_envs=8)).n_steps == 64
    assert rollout_config(PPOConfig(n_envs=16)).n_steps == 32
    with pytest.raises(ConfigError, match="multiple of n_envs"):
        rollout_config(PPOConfig(n_envs=3))


def test_distribution_checks_are_restored_after_training():
    before = torch.distributions.Distribution._validate_args
    with no_distribution_validation():
        assert torch.distributions.Distribution._validate_args is False
        with pytest.raises(RuntimeError):
            raise RuntimeError("an error inside still restores the setting")
    assert torch.distributions.Distribution._validate_args is before
    try:
        with no_distribution_validation():
            raise KeyError("x")
    except KeyError:
        pass
    assert torch.distributions.Distribution._validate_args is before


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 6)),
                  elements=st.floats(-1e6, 1e6, width=32)
                  | st.sampled_from([np.inf, -np.inf, np.nan, 0.0, -0.0])),
       st.integers(0, 2))
def test_running_stats_fast_path_equals_numpy(batch, warm):
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    shape = batch.shape[1:]
    ref, lean = RunningMeanStd(shape=shape), LeanRunningMeanStd(shape=shape)
    rng = np.random.default_rng(warm)
    for _ in range(warm):  # some history first
        x = rng.normal(size=(1, *shape)).astype(np.float32)
        ref.update(x)
        lean.update(x)
    with np.errstate(all="ignore"):
        ref.update(batch)
        lean.update(batch)
    np.testing.assert_array_equal(lean.mean, ref.mean)
    np.testing.assert_array_equal(lean.var, ref.var)
    assert lean.mean.dtype == ref.mean.dtype and lean.var.dtype == ref.var.dtype
    assert lean.count == ref.count


def test_fast_rollout_forward_is_used_and_equals_sb3_forward_bit_for_bit():
    """The lean rollout forward (models.common.fast_rollout) is installed for the plain MLP
    policies of both systems and gives SB3's actions, values, log-probabilities and random
    stream exactly; the tests above then show whole trainings stay bit-identical."""
    from models.common.fast_rollout import fast_rollout_forward
    model, _ = train_ppo(_env_fn, replace(TINY, total_timesteps=64), seed=1,
                         progress_bar=False)
    policy = model.policy
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(6, *policy.observation_space
                                                                 .shape)) * 3)
    for deterministic in (False, True):
        torch.manual_seed(7)
        with torch.no_grad():
            ref = policy(obs, deterministic=deterministic)
        rng_ref = torch.get_rng_state()
        with fast_rollout_forward(policy) as used, torch.no_grad():
            assert used and "forward" in vars(policy)
            torch.manual_seed(7)
            got = policy(obs, deterministic=deterministic)
            rng_got = torch.get_rng_state()
        assert "forward" not in vars(policy)  # SB3's own forward again after the block
        for a, b in zip(got, ref):
            assert torch.equal(a, b)
        assert torch.equal(rng_got, rng_ref)
