"""Observation noise for System 1 training (``EnvConfig.obs_noise``), a variance-reduction knob.

Gaussian noise of standard deviation ``obs_noise`` is added to the NORMALISED observation the
policy sees while it trains, so the policy cannot key on the exact values of one training path.
It is added after ``VecNormalize`` (whose running statistics are updated from the clean
observations), on every component of the observation, and the result is clipped back to
``[-clip_obs, clip_obs]`` like the normalised observation itself. In normalised units the noise
means the same thing for every feature, whatever its raw scale (weekly returns, weights, the
0/1 availability mask).

Training only: evaluation and inference (:func:`models.common.ppo.policy_action`, the allocators
and Backtrader strategies) never see this wrapper, so a trained policy decides deterministically.

Hook, in :func:`models.portfolio.train.train_ppo`::

    venv = with_obs_noise(make_vec_env(...), obs_noise, seed)   # identity when obs_noise == 0

and read the frozen statistics with ``unwrap_vec_normalize(model.get_env())``.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecNormalize
from stable_baselines3.common.vec_env import unwrap_vec_normalize as _unwrap

from feeds.errors import ConfigError

__all__ = ["ObsNoise", "unwrap_vec_normalize", "with_obs_noise"]


class ObsNoise(VecEnvWrapper):
    """Add seeded Gaussian noise to the observations of a (normalised) vectorised env.

    Args:
        venv: the training VecEnv, normally a ``VecNormalize``.
        std: noise standard deviation in the units of ``venv``'s observations (> 0).
        seed: seeds the noise generator; :meth:`seed` (called by SB3's ``PPO(seed=...)``)
            reseeds it, so the same training seed gives the same noise.
        clip: the result is clipped to ``[-clip, clip]`` (default: ``venv.clip_obs`` of a
            VecNormalize, else no clipping).
    """

    def __init__(self, venv: VecEnv, std: float, seed: int | None = 0,
                 clip: float | None = None) -> None:
        if not float(std) > 0.0:
            raise ConfigError(f"ObsNoise needs std > 0, got {std} (use with_obs_noise for 0)")
        super().__init__(venv)
        self.std = float(std)
        if clip is None and isinstance(venv, VecNormalize):
            clip = float(venv.clip_obs)
        self.clip = None if clip is None else float(clip)
        self.rng = np.random.default_rng(seed)

    def _noisy(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        out = obs + self.rng.normal(0.0, self.std, size=obs.shape)
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        return out.astype(obs.dtype, copy=False)

    def seed(self, seed: int | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        return self.venv.seed(seed)

    def reset(self) -> np.ndarray:
        return self._noisy(self.venv.reset())

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        return self._noisy(obs), rewards, dones, infos


def with_obs_noise(venv: VecEnv, std: float, seed: int | None = 0) -> VecEnv:
    """``venv`` wrapped in :class:`ObsNoise` when ``std > 0``; ``venv`` itself when ``std == 0``
    (the paper's training, unchanged bit for bit)."""
    if float(std) < 0.0:
        raise ConfigError(f"obs_noise must be >= 0, got {std}")
    return ObsNoise(venv, std, seed) if float(std) > 0.0 else venv


def unwrap_vec_normalize(venv: VecEnv) -> VecNormalize | None:
    """The ``VecNormalize`` inside ``venv`` (through :class:`ObsNoise`), or None."""
    return _unwrap(venv)
