"""System 1 PPO training: the Top-K portfolio env under the shared PPO builder.

The builder, observation statistics and seeding are :mod:`models.common.ppo` (one for both
systems); this module adds what is System 1's: VecNormalize on observations (frozen and stored as
JSON), feature statistics from the training rows only, and :class:`TrainedPolicy`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from feeds.errors import ConfigError
from models.common.ppo import ObsNormalizer, make_vec_env, policy_action
from models.common.ppo import train as _train
from models.portfolio.config import EnvConfig, PPOConfig
from models.portfolio.env import EnvArrays, PortfolioEnv, build_env_arrays
from models.portfolio.features import FeatureBuilder

log = logging.getLogger(__name__)

__all__ = ["ObsNormalizer", "TrainedPolicy", "policy_action", "rollout_config", "run_policy",
           "train_portfolio_policy", "train_ppo"]


def rollout_config(ppo_config: PPOConfig) -> PPOConfig:
    """The config SB3 gets: ``n_steps`` per env so that one rollout of all ``n_envs`` copies is
    ``ppo_config.n_steps`` steps (the paper's 512), whatever ``n_envs`` is.

    ``n_steps`` must be a multiple of ``n_envs``; with ``n_envs=1`` the config is returned as it
    is. More copies batch the policy's forward pass over the envs (fewer, larger torch calls);
    each copy then collects ``n_steps / n_envs`` steps per rollout.
    """
    cfg = ppo_config
    if cfg.n_envs == 1:
        return cfg
    if cfg.n_steps % cfg.n_envs:
        raise ConfigError(f"PPOConfig: n_steps ({cfg.n_steps}) must be a multiple of n_envs "
                          f"({cfg.n_envs}): each of the n_envs copies collects n_steps / n_envs "
                          "steps per rollout")
    return replace(cfg, n_steps=cfg.n_steps // cfg.n_envs)


def train_ppo(env_fn: Callable[[], gym.Env], ppo_config: PPOConfig, seed: int = 0,
              total_timesteps: int | None = None, progress_bar: bool = True,
              callback=None, obs_noise: float = 0.0):
    """Train ``PPO("MlpPolicy")`` on ``n_envs`` monitored copies of ``env_fn()`` with
    observation normalisation; returns ``(model, vecnormalize)`` with the VecNormalize switched
    to ``training=False``. A rollout is ``ppo_config.n_steps`` steps over all copies together
    (:func:`rollout_config`). ``obs_noise > 0``: Gaussian noise of that std on the normalised
    observations while training (:mod:`models.portfolio.noise`; never at inference)."""
    from models.portfolio.noise import unwrap_vec_normalize, with_obs_noise
    cfg = ppo_config
    model = _train(lambda: with_obs_noise(
                       make_vec_env(env_fn, cfg.n_envs, seed, norm_obs=True,
                                    norm_reward=cfg.normalize_reward, gamma=cfg.gamma,
                                    clip_obs=cfg.clip_obs), obs_noise, seed),
                   rollout_config(cfg), seed, total_timesteps, threads=cfg.torch_threads,
                   progress_bar=progress_bar, callback=callback)
    vn = unwrap_vec_normalize(model.get_env())
    vn.training = False
    vn.norm_reward = False
    return model, vn


@dataclass
class TrainedPolicy:
    """Everything a System 1 PPO run produced (the inputs of :func:`models.portfolio.bundle.save_bundle`)."""

    model: Any  #: the SB3 PPO model (or a policy loaded from a bundle)
    obs_norm: ObsNormalizer
    builder: FeatureBuilder
    env_config: EnvConfig
    ppo_config: PPOConfig
    seed: int
    train_start: int
    train_end: int


def train_portfolio_policy(arrays: Any, train_end_index: int, env_config: EnvConfig,
                           ppo_config: PPOConfig, lstm_forecasts: np.ndarray | None = None,
                           seed: int = 0, timesteps: int | None = None,
                           progress_bar: bool = True, train_start_index: int = 0,
                           callback=None) -> TrainedPolicy:
    """Train the System 1 allocator on rows ``[train_start_index, train_end_index)``.

    ``arrays`` is an :class:`EnvArrays` or a :class:`feeds.panel.WeeklyPanel` (converted with
    :func:`models.portfolio.env.build_env_arrays`). Feature statistics come from the training
    rows only. ``lstm_forecasts`` (T, N) override
    ``arrays.forecasts``; they are required iff ``env_config.use_forecasts``.
    """
    if not isinstance(arrays, EnvArrays):
        arrays = build_env_arrays(arrays)
    fc = lstm_forecasts if lstm_forecasts is not None else arrays.forecasts
    if env_config.use_forecasts and fc is None:
        raise ConfigError("the hybrid variant needs LSTM forecasts; pass lstm_forecasts or use "
                          "use_forecasts=False (PPO-only)")
    s, e = int(train_start_index), int(train_end_index)
    n = arrays.close.shape[1]
    builder = arrays.feature_builder(env_config, s, e)  # training-row stats (+ macro block)
    kw = arrays.env_kwargs()
    kw["forecasts"] = fc if env_config.use_forecasts else None

    def env_fn() -> PortfolioEnv:
        return PortfolioEnv(**kw, config=env_config, start=s, end=e, builder=builder)

    log.info("training PPO on rows [%d, %d) of %d assets for %s steps (seed %d)", s, e, n,
             timesteps or ppo_config.total_timesteps, seed)
    model, vn = train_ppo(env_fn, ppo_config, seed=seed, total_timesteps=timesteps,
                          progress_bar=progress_bar, callback=callback,
                          obs_noise=env_config.obs_noise)
    return TrainedPolicy(model=model, obs_norm=ObsNormalizer.from_vecnormalize(vn),
                         builder=builder, env_config=env_config, ppo_config=ppo_config,
                         seed=seed, train_start=s, train_end=e)


def run_policy(env: PortfolioEnv, model: Any, obs_norm: ObsNormalizer) -> dict[str, Any]:
    """Roll a deterministic policy through one episode of ``env``.

    Returns ``rewards`` (list), ``total_reward``, ``equity`` (final), ``weights`` (list of arrays).
    """
    obs, _ = env.reset(seed=0)
    rewards, weights, eq = [], [], 1.0
    while True:
        obs, r, term, trunc, info = env.step(policy_action(model, obs_norm, obs).astype(np.float32))
        rewards.append(r); weights.append(info["weights"]); eq = info["equity"]
        if term or trunc:
            break
    return {"rewards": rewards, "total_reward": float(np.sum(rewards)), "equity": eq,
            "weights": weights}
