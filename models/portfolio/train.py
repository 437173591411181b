"""PPO training for System 1 (stable-baselines3), with observation normalisation and seeds.

cleanrl's PPO checklist, as applied here:

* observation normalisation: ``VecNormalize(norm_obs=True, clip_obs=10)``; the running
  statistics are frozen and stored (as JSON, see :class:`ObsNormalizer`) with the policy;
* reward normalisation: off by default (``PPOConfig.normalize_reward``); rewards are weekly log
  returns, already O(0.01-0.1);
* advantage normalisation: on (SB3 default, ``normalize_advantage=True``);
* orthogonal initialisation: SB3 default (``ortho_init=True``), gain sqrt(2) for hidden layers,
  0.01 for the policy head, 1 for the value head;
* gradient clipping 0.5, value loss weight 0.5, entropy bonus 0.01, clipped surrogate 0.2 (paper);
* learning rate constant 1e-4 (paper), no value-function clipping (SB3 default).

Seeding: ``PPO(seed=...)`` calls ``set_random_seed`` (python, numpy, torch) and seeds each env
copy with ``seed + i``; with the same seed, config and data the trained weights are identical.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from feeds.errors import ConfigError
from models.portfolio.config import EnvConfig, PPOConfig
from models.portfolio.features import FeatureBuilder, FeatureLayout, fit_stats
from models.portfolio.env import EnvArrays, PortfolioEnv, build_env_arrays

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObsNormalizer:
    """Frozen VecNormalize observation statistics (what inference needs, stored as JSON).

    ``normalize(obs) = clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``, exactly
    as ``VecNormalize.normalize_obs`` with ``training=False``.
    """

    mean: np.ndarray
    var: np.ndarray
    count: float
    clip_obs: float
    epsilon: float

    @classmethod
    def from_vecnormalize(cls, vn: VecNormalize) -> "ObsNormalizer":
        rms = vn.obs_rms
        return cls(mean=np.array(rms.mean, dtype=np.float64),
                   var=np.array(rms.var, dtype=np.float64),
                   count=float(rms.count), clip_obs=float(vn.clip_obs), epsilon=float(vn.epsilon))

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        z = (np.asarray(obs, dtype=np.float64) - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count,
                "clip_obs": self.clip_obs, "epsilon": self.epsilon}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ObsNormalizer":
        return cls(mean=np.asarray(d["mean"], dtype=np.float64),
                   var=np.asarray(d["var"], dtype=np.float64), count=float(d["count"]),
                   clip_obs=float(d["clip_obs"]), epsilon=float(d["epsilon"]))


def make_vec_env(env_fn: Callable[[], gym.Env], ppo_config: PPOConfig, seed: int) -> VecNormalize:
    """``DummyVecEnv`` of ``n_envs`` monitored copies wrapped in a training ``VecNormalize``."""
    venv = DummyVecEnv([(lambda: Monitor(env_fn())) for _ in range(ppo_config.n_envs)])
    venv.seed(seed)
    return VecNormalize(venv, norm_obs=True, norm_reward=ppo_config.normalize_reward,
                        clip_obs=ppo_config.clip_obs, gamma=ppo_config.gamma)


def train_ppo(env_fn: Callable[[], gym.Env], ppo_config: PPOConfig, seed: int = 0,
              total_timesteps: int | None = None, progress_bar: bool = True,
              callback=None) -> tuple[PPO, VecNormalize]:
    """Train an SB3 ``PPO("MlpPolicy")`` on ``n_envs`` copies of ``env_fn()``.

    Args:
        env_fn: builds one environment (called ``n_envs`` times).
        ppo_config: PPO settings (SB3 names).
        seed: seeds python, numpy, torch and the envs.
        total_timesteps: overrides ``ppo_config.total_timesteps``.
        progress_bar: SB3's tqdm/rich progress bar.
        callback: optional SB3 callback.

    Returns:
        ``(model, vecnormalize)``; the VecNormalize is switched to ``training=False``.
    """
    cfg = ppo_config
    steps = int(total_timesteps if total_timesteps is not None else cfg.total_timesteps)
    if steps < 1:
        raise ConfigError(f"total_timesteps must be >= 1, got {steps}")
    if cfg.n_steps * cfg.n_envs < 2:
        raise ConfigError("n_steps * n_envs must be >= 2 (PPO needs a rollout to learn from)")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cfg.torch_threads)))
    try:
        set_random_seed(seed)
        vn = make_vec_env(env_fn, cfg, seed)
        model = PPO("MlpPolicy", vn, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps,
                    batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, gamma=cfg.gamma,
                    gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range, ent_coef=cfg.ent_coef,
                    vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm,
                    policy_kwargs={"net_arch": {"pi": list(cfg.net_arch),
                                                "vf": list(cfg.net_arch)}},
                    seed=seed, device="cpu", verbose=0)
        model.learn(total_timesteps=steps, progress_bar=progress_bar, callback=callback)
    finally:
        torch.set_num_threads(old_threads)
    vn.training = False
    vn.norm_reward = False
    return model, vn


def policy_action(model: PPO, obs_norm: "ObsNormalizer | VecNormalize",
                  obs: np.ndarray) -> np.ndarray:
    """Deterministic policy action (the mean, clipped to the action box) for one raw observation.

    ``obs_norm`` is an :class:`ObsNormalizer` or a ``VecNormalize`` (used as in
    ``training=False`` mode: its statistics are read, never updated).
    """
    if isinstance(obs_norm, VecNormalize):
        obs_norm = ObsNormalizer.from_vecnormalize(obs_norm)
    act, _ = model.predict(obs_norm.normalize(obs), deterministic=True)
    return np.asarray(act, dtype=np.float64).reshape(-1)


@dataclass
class TrainedPolicy:
    """Everything a System 1 PPO run produced (the inputs of :func:`models.portfolio.bundle.save_bundle`)."""

    model: PPO
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
    builder = FeatureBuilder(FeatureLayout(n, env_config.window, env_config.use_forecasts),
                             *fit_stats(arrays.log_returns[s:e], arrays.mask[s:e]))
    kw = arrays.env_kwargs()
    kw["forecasts"] = fc if env_config.use_forecasts else None

    def env_fn() -> PortfolioEnv:
        return PortfolioEnv(**kw, config=env_config, start=s, end=e, builder=builder)

    log.info("training PPO on rows [%d, %d) of %d assets for %s steps (seed %d)", s, e, n,
             timesteps or ppo_config.total_timesteps, seed)
    model, vn = train_ppo(env_fn, ppo_config, seed=seed, total_timesteps=timesteps,
                          progress_bar=progress_bar, callback=callback)
    return TrainedPolicy(model=model, obs_norm=ObsNormalizer.from_vecnormalize(vn),
                         builder=builder, env_config=env_config, ppo_config=ppo_config,
                         seed=seed, train_start=s, train_end=e)


def run_policy(env: PortfolioEnv, model: PPO, obs_norm: ObsNormalizer) -> dict[str, Any]:
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
