"""One PPO builder for both systems (stable-baselines3), with observation statistics and seeds.

cleanrl's PPO checklist, as applied by both systems (their configs choose the values):

* observation normalisation: System 1 ``VecNormalize(norm_obs=True, clip_obs=10)`` with the
  statistics frozen and stored as JSON (:class:`ObsNormalizer`); System 2 observations are
  already scaled (training-window statistics) and are not normalised;
* reward normalisation: a config flag (System 1 off: weekly log returns are O(0.01-0.1);
  System 2 on);
* advantage normalisation on, orthogonal initialisation on (SB3 defaults);
* gradient clipping, value loss weight, entropy bonus, clipped surrogate: config fields under
  SB3's own names (:data:`models.common.config.SB3_PPO_FIELDS`).

Seeding: :func:`train` calls ``set_random_seed(seed)`` (python, numpy, torch), seeds env copy
``i`` with ``seed + i`` and passes ``seed`` to ``PPO``; same seed, config and data give identical
weights. Torch threads are set for the whole build-and-learn (``threads``, default 1).

Per-step overhead: the vectorised env is :mod:`models.common.vecenv`'s lean ``DummyVecEnv`` /
``VecNormalize`` (no per-step deep copies; reward statistics updated only when rewards are
normalised) and torch's distribution argument checks are off during ``learn``
(:func:`no_distribution_validation`). Both leave every number as stock SB3 computes it:
``tests/models/test_perf_ppo.py`` trains both ways and compares the weights bit for bit.

A config passed here needs the SB3 fields, ``net_arch``, ``n_envs``, ``policy_kwargs()`` and
``total_timesteps`` (both :class:`models.portfolio.config.PPOConfig` and
:class:`models.alpha.config.AlphaConfig` have them).
"""

from __future__ import annotations

import contextlib
import logging
import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from feeds.errors import ConfigError
from models.common.fast_rollout import fast_rollout_forward
from models.common.threads import torch_threads

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
    def from_vecnormalize(cls, vn) -> ObsNormalizer:
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
    def from_dict(cls, d: dict[str, Any]) -> ObsNormalizer:
        return cls(mean=np.asarray(d["mean"], dtype=np.float64),
                   var=np.asarray(d["var"], dtype=np.float64), count=float(d["count"]),
                   clip_obs=float(d["clip_obs"]), epsilon=float(d["epsilon"]))


def make_vec_env(env_fn: Callable[[], gym.Env], n_envs: int, seed: int, *,
                 norm_obs: bool, norm_reward: bool, gamma: float, clip_obs: float = 10.0,
                 monitor: bool = True):
    """``n_envs`` copies of ``env_fn()`` (``Monitor``-wrapped if ``monitor``) in a
    ``DummyVecEnv``, seeded ``seed + i``, wrapped in a training ``VecNormalize`` when it
    normalises anything.

    The classes are the lean subclasses of :mod:`models.common.vecenv` (same numbers as SB3's,
    bit for bit, with less per-step copying; the reward statistics are left alone when rewards
    are not normalised).
    """
    from stable_baselines3.common.monitor import Monitor

    from models.common.vecenv import LeanDummyVecEnv, LeanVecNormalize
    make = (lambda: Monitor(env_fn())) if monitor else env_fn
    venv = LeanDummyVecEnv([make for _ in range(int(n_envs))])
    venv.seed(seed)
    if norm_obs or norm_reward:
        venv = LeanVecNormalize(venv, norm_obs=norm_obs, norm_reward=norm_reward,
                                clip_obs=clip_obs, gamma=gamma)
    return venv


@contextlib.contextmanager
def no_distribution_validation() -> Iterator[None]:
    """Switch off torch's argument checks of distributions (``Normal(loc, scale)`` and its
    ``log_prob``) for the duration, and restore the previous setting after.

    The checks only raise on invalid arguments, never change a value: PPO's numbers are the
    same with them off (tested), and each rollout step builds one distribution per action.
    """
    from torch.distributions import Distribution
    old = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(old)


def build_ppo(config, venv, seed: int, verbose: int = 0):
    """``PPO("MlpPolicy", venv, ...)`` from a config's SB3 fields and ``policy_kwargs()``."""
    from stable_baselines3 import PPO
    if config.n_steps * venv.num_envs < 2:
        raise ConfigError("n_steps * n_envs must be >= 2 (PPO needs a rollout to learn from)")
    return PPO("MlpPolicy", venv, **config.sb3_kwargs(), policy_kwargs=config.policy_kwargs(),
               seed=seed, device="cpu", verbose=verbose)


def rollout_steps(total_timesteps: int, n_steps: int, n_envs: int) -> int:
    """The steps PPO really takes: SB3 collects whole rollouts of ``n_steps * n_envs`` until it
    has at least ``total_timesteps`` (10,000 asked with 512-step rollouts -> 10,240)."""
    per = max(1, int(n_steps) * int(n_envs))
    return int(math.ceil(int(total_timesteps) / per) * per)


def _progress_callback(total: int, asked: int, per_rollout: int, desc: str = "PPO training"):
    """An SB3 callback reporting the real step count (whole rollouts) with an ETA, as a bar on a
    terminal and plain lines in a log (:class:`models.common.progress.Progress`)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from models.common.progress import Progress

    class PPOProgress(BaseCallback):
        def _on_training_start(self) -> None:
            if total != asked:
                log.info("%s: %s steps = %d rollouts of %s (%s asked; PPO trains whole "
                         "rollouts)", desc, f"{total:,}", total // per_rollout,
                         f"{per_rollout:,}", f"{asked:,}")
            self._bar = Progress(total, desc, "steps")
            self._seen = self.num_timesteps

        def _on_rollout_end(self) -> None:
            self._bar.update(self.num_timesteps - self._seen)
            self._seen = self.num_timesteps

        def _on_step(self) -> bool:
            return True

        def _on_training_end(self) -> None:
            self._bar.close()

    return PPOProgress()


def train(venv_fn: Callable[[], Any], config, seed: int = 0, total_timesteps: int | None = None,
          *, threads: int | None = 1, progress_bar: bool = False, callback=None,
          verbose: int = 0):
    """Seed, build the vectorised env (``venv_fn()``) and PPO, and learn; returns the model.

    Args:
        venv_fn: builds the vectorised env (e.g. ``lambda: make_vec_env(...)``), called after
            ``set_random_seed(seed)``.
        config: PPO settings (see the module docstring).
        seed: seeds python, numpy, torch, the env copies and PPO.
        total_timesteps: overrides ``config.total_timesteps``.
        threads: torch intra-op threads while building and learning (None = unchanged).
        progress_bar: progress with the real step count (whole rollouts) and an ETA: a bar on a
            terminal, plain lines in a log. callback: an SB3 callback.
    """
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.utils import set_random_seed
    steps = int(total_timesteps if total_timesteps is not None else config.total_timesteps)
    if steps < 1:
        raise ConfigError(f"total_timesteps must be >= 1, got {steps}")
    with torch_threads(threads), no_distribution_validation():
        set_random_seed(seed)
        model = build_ppo(config, venv_fn(), seed, verbose=verbose)
        if progress_bar:
            per = int(model.n_steps) * int(model.n_envs)
            bar = _progress_callback(rollout_steps(steps, model.n_steps, model.n_envs), steps,
                                     per)
            callback = CallbackList([bar, callback]) if callback is not None else bar
        with fast_rollout_forward(model.policy):
            model.learn(total_timesteps=steps, progress_bar=False, callback=callback)
    return model


#: Take deterministic actions by a direct forward through the policy's actor (see
#: :func:`policy_action`); False sends every call through SB3's ``predict`` instead.
FAST_ACTION = True


#: policy -> whether its structure allows the direct actor path (checked once per policy)
_DIRECT: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _direct_ok(policy) -> bool:
    from gymnasium import spaces
    from stable_baselines3.common.distributions import DiagGaussianDistribution
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.torch_layers import FlattenExtractor
    obs_space, act_space = policy.observation_space, policy.action_space
    return (type(policy.action_dist) is DiagGaussianDistribution and not policy.squash_output
            and type(policy.pi_features_extractor) is FlattenExtractor
            and type(obs_space) is spaces.Box and type(act_space) is spaces.Box
            and not is_image_space(obs_space) and policy.device.type == "cpu")


def _direct_actor(model, x) -> Any:
    """The SB3 ``ActorCriticPolicy`` of ``model`` when its deterministic action can be computed
    by :func:`_actor_action` exactly as ``predict`` computes it, else None.

    That is: the plain class (what :mod:`models.common.safe_policy` rebuilds, or ``PPO.policy``)
    with a flattening features extractor, a diagonal Gaussian (no gSDE), no output squashing,
    Box spaces (observations not images), on the CPU, and one observation (a numpy array of
    exactly the observation shape; batches and wrong shapes go to ``predict``, which also says
    what is wrong). The structure is checked once per policy object.
    """
    from stable_baselines3.common.policies import ActorCriticPolicy
    policy = model if type(model) is ActorCriticPolicy else getattr(model, "policy", None)
    if type(policy) is not ActorCriticPolicy or not isinstance(x, np.ndarray):
        return None
    ok = _DIRECT.get(policy)
    if ok is None:
        ok = _DIRECT[policy] = _direct_ok(policy)
    return policy if ok and x.shape == policy.observation_space.shape else None


def _actor_action(policy, x: np.ndarray) -> np.ndarray:
    """``policy.predict(x, deterministic=True)[0]`` for one observation, through the same torch
    ops without SB3's wrapping (tensor conversion checks, a distribution object, the std):
    ``mean = action_net(mlp_extractor.policy_net(flatten(obs.float())))`` under ``no_grad``,
    clipped to the action box as SB3 clips Box actions. Bit-identical (tested). None when the
    mean has a NaN: then ``predict`` runs and does what it does (raises, or returns NaN when
    torch's distribution checks are off)."""
    import torch
    if policy.training:  # predict switches to eval mode on every call; once is the same
        policy.set_training_mode(False)
    with torch.no_grad():
        obs = torch.as_tensor(np.array(x)).reshape((1, *x.shape)).float()  # a copy, as SB3
        feats = policy.pi_features_extractor(obs)
        mean = policy.action_net(policy.mlp_extractor.policy_net(feats))
    space = policy.action_space
    act = mean.numpy().reshape((-1, *space.shape))
    if np.isnan(act).any():  # predict's Normal(mean, std) refuses NaN (e.g. an inf input)
        return None
    return np.clip(act, space.low, space.high).squeeze(axis=0)


def policy_action(model, obs_norm: ObsNormalizer | None, obs: np.ndarray) -> np.ndarray:
    """Deterministic policy action (the mean, clipped to the action box) for one raw observation.

    ``model`` is an SB3 PPO or a policy loaded by :mod:`models.common.safe_policy`;
    ``obs_norm`` an :class:`ObsNormalizer`, a ``VecNormalize`` (its statistics are read, never
    updated) or None (observations used as they are).

    For SB3's plain MLP actor-critic (both systems' policies) the action is computed by a direct
    forward through the actor, bit-identical to ``model.predict(x, deterministic=True)`` and
    about 3x cheaper per call (``tests/models/test_perf_policy_action.py``); anything else, or
    :data:`FAST_ACTION` False, goes through ``predict``. Torch threads are the caller's: the
    allocators and the System 2 strategies run inference on one thread.
    """
    if obs_norm is not None and not isinstance(obs_norm, ObsNormalizer):
        obs_norm = ObsNormalizer.from_vecnormalize(obs_norm)
    x = obs_norm.normalize(obs) if obs_norm is not None else obs
    policy = _direct_actor(model, x) if FAST_ACTION else None
    act = _actor_action(policy, x) if policy is not None else None
    if act is None:
        act, _ = model.predict(x, deterministic=True)
    return np.asarray(act, dtype=np.float64).reshape(-1)
