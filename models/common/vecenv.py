"""Lean stable-baselines3 vectorised envs for training: the same numbers with less per-step glue.

:func:`models.common.ppo.make_vec_env` builds these instead of SB3's classes. Each subclass keeps
SB3's arithmetic and call order exactly (``tests/models/test_perf_ppo_equivalence.py`` trains
with both and checks the weights are bit-identical); it only drops work whose result is never
read:

* :class:`LeanDummyVecEnv`: ``step_wait`` returns a shallow copy of the infos list instead of a
  ``deepcopy`` (every env returns a fresh info dict per step), and ``_obs_from_buf`` copies the
  one observation array instead of deep-copying its dict;
* :class:`LeanVecNormalize`: the discounted-return statistics (``ret_rms``) are updated only when
  rewards are normalised (SB3 updates them every step and never reads them otherwise),
  observations are normalised without a defensive ``deepcopy`` (the result is a new array
  anyway), and the observation statistics take a fast path for a batch of one env that computes
  the same ``mean`` / ``var`` without NumPy's generic reductions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

__all__ = ["LeanDummyVecEnv", "LeanVecNormalize", "LeanRunningMeanStd"]


class LeanDummyVecEnv(DummyVecEnv):
    """``DummyVecEnv`` without the per-step ``deepcopy`` of infos and observations."""

    def step_wait(self):
        envs, actions = self.envs, self.actions
        buf = self.buf_obs[None] if None in self.buf_obs else None
        infos: list[dict[str, Any]] = self.buf_infos
        for i in range(self.num_envs):
            obs, self.buf_rews[i], terminated, truncated, info = envs[i].step(actions[i])
            done = terminated or truncated
            self.buf_dones[i] = done
            info["TimeLimit.truncated"] = truncated and not terminated
            if done:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = envs[i].reset()
            infos[i] = info
            if buf is not None:
                buf[i] = obs
            else:
                self._save_obs(i, obs)
        return (self._obs_from_buf(), self.buf_rews.copy(), self.buf_dones.copy(), list(infos))

    def _obs_from_buf(self):
        if None in self.buf_obs and len(self.buf_obs) == 1:
            return self.buf_obs[None].copy()
        return super()._obs_from_buf()


class LeanRunningMeanStd(RunningMeanStd):
    """``RunningMeanStd`` whose ``update`` skips NumPy's generic reductions for one row.

    For a batch of one row ``x``, ``np.mean(x, axis=0)`` is ``x[0]`` (a sum of one term divided
    by 1) and ``np.var(x, axis=0)`` is ``(x[0] - x[0]) ** 2`` in ``x``'s dtype (0, or NaN where
    ``x`` is not finite): the same values, bit for bit.
    """

    def update(self, arr: np.ndarray) -> None:
        if arr.ndim >= 1 and arr.shape[0] == 1:
            row = arr[0]
            d = row - row
            self.update_from_moments(row.copy(), d * d, 1)
        else:
            super().update(arr)


class LeanVecNormalize(VecNormalize):
    """``VecNormalize`` that leaves the reward statistics alone when rewards are not normalised."""

    def __init__(self, venv, *args, **kwargs) -> None:
        super().__init__(venv, *args, **kwargs)
        obs_rms = self.__dict__.get("obs_rms")  # absent when observations are not normalised
        if isinstance(obs_rms, RunningMeanStd):
            self.obs_rms = _lean_rms(obs_rms)
        self.ret_rms = _lean_rms(self.ret_rms)

    def _update_reward(self, reward: np.ndarray) -> None:
        if self.norm_reward:
            super()._update_reward(reward)

    def normalize_obs(self, obs):
        if isinstance(obs, np.ndarray):
            if not self.norm_obs:
                return obs.copy()
            if isinstance(self.obs_rms, RunningMeanStd):
                return self._normalize_obs(obs, self.obs_rms).astype(np.float32)
        return super().normalize_obs(obs)


def _lean_rms(rms: RunningMeanStd) -> LeanRunningMeanStd:
    out = LeanRunningMeanStd(shape=rms.mean.shape)
    out.mean, out.var, out.count = rms.mean, rms.var, rms.count
    return out
