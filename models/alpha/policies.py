"""System 2 policies: one base, ``position(history, prev_position) -> float`` for every policy.

* :class:`PositionPolicy`: the interface every System 2 policy has (what the Backtrader strategies
  and :meth:`AlphaPolicyBase.positions` call).
* :class:`AlphaPolicyBase`: policies that read standardised alphas and the market state;
  :meth:`AlphaPolicyBase.decide` maps one bar's state to a position.
* :class:`AlphaPolicy` (trained PPO), :class:`EqualWeightPolicy` (1/N of the alphas),
  :class:`MomentumPolicy`, :class:`RandomEntryExitPolicy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds.errors import DataError
from models.alpha.config import AlphaConfig
from models.alpha.data import prepare_stock, required_warmup, row_of
from models.alpha.env import (OBS_BOUND, action_to_weights, build_observation, market_state,
                              signal_to_position)
from models.alpha.language import Alpha, AlphaScaler, evaluate_alphas, validate_ohlcv
from models.common.execution import bar_returns, execute_step
import models.common.ppo as _ppo
from models.common.ppo import policy_action


try:  # the ufunc np.clip calls (np.clip adds only Python-level dispatch around it)
    from numpy._core.umath import clip as _uclip
except ImportError:  # pragma: no cover - another NumPy layout
    _uclip = np.clip


def observation_fast(logret_window, ret_scale, prev_position, trend, vol63, z) -> np.ndarray:
    """:func:`models.alpha.env.build_observation`, bit for bit, in fewer NumPy calls: the clip
    ufunc called directly and NaN -> 0 without ``np.nan_to_num`` (an infinite value is clipped to
    the bound either way). ``tests/models/test_perf_alpha_actor.py`` compares the two."""
    lr = np.asarray(logret_window, dtype=float)
    if lr.ndim != 1 or (z is not None and np.ndim(z) != 1):
        return build_observation(logret_window, ret_scale, prev_position, trend, vol63, z)
    lr = _uclip(lr / ret_scale, -OBS_BOUND, OBS_BOUND)
    lr[np.isnan(lr)] = 0.0
    v = float(vol63)
    if math.isnan(v):
        v = 0.0
    parts = [lr, [float(_uclip(prev_position, -OBS_BOUND, OBS_BOUND)), float(trend),
                  float(_uclip(v, 0.0, OBS_BOUND))]]
    if z is not None:
        parts.append(_uclip(np.asarray(z, dtype=float), -OBS_BOUND, OBS_BOUND))
    return np.concatenate(parts).astype(np.float32)


class PositionPolicy:
    """Base of every System 2 policy: a target position in [-lev_cap, lev_cap] from history.

    Subclasses implement :meth:`position`. ``required_history`` is the number of bars (the
    decision bar included) a history needs for a full-information decision.
    """

    required_history: int = 1

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        """Target position for the next open, decided at the close of the last row.

        Args:
            history: daily OHLCV up to and including the decision day t (earlier rows only).
            prev_position: the weight currently held (position value / portfolio value).
        """
        raise NotImplementedError


class AlphaPolicyBase(PositionPolicy):
    """Policies that read the standardised alphas and the market state of the decision bar.

    Subclasses implement :meth:`decide`; :meth:`position` (one history) and :meth:`positions`
    (a whole frame, alphas evaluated once) are built on it, and the Backtrader strategies call
    :meth:`state` / :meth:`decide` the same way.
    """

    alphas: list[Alpha]
    scaler: AlphaScaler
    config: AlphaConfig

    @property
    def required_history(self) -> int:  # type: ignore[override]
        """Bars a history must have (the decision bar included)."""
        return required_warmup(self.alphas, self.config) + 1

    def check_history(self, history: pd.DataFrame) -> None:
        """DataError unless ``history`` is valid OHLCV with at least ``required_history`` bars."""
        validate_ohlcv(history)
        if len(history) < self.required_history:
            raise DataError(f"need at least {self.required_history} daily bars of history for a "
                            f"decision, got {len(history)}")

    def state(self, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
        """Standardised alphas ``z`` (T, n_alphas), log returns, trend flag and 63-day volatility
        for every row of ``history`` (each row from data up to that row only)."""
        raw = evaluate_alphas(history, self.alphas).to_numpy(dtype=float)
        z = self.scaler.transform(raw)
        lr, trend, vol = market_state(history["close"].to_numpy(dtype=float))
        return z, lr, trend, vol

    def decide(self, z_t: np.ndarray, log_returns: np.ndarray, trend_t: float, vol_t: float,
               prev_position: float) -> float:
        """The position decided at bar t from its state; ``log_returns`` ends at bar t."""
        raise NotImplementedError

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        self.check_history(history)
        z, lr, trend, vol = self.state(history)
        return self.decide(z[-1], lr, trend[-1], vol[-1], prev_position)

    def positions(self, df: pd.DataFrame, start=None, end=None) -> pd.Series:
        """Positions decided at each close in ``[start, end]``, simulating the held weight with
        :func:`models.common.execution.execute_step` (the env's path). Equal to calling
        :meth:`position` day by day with that held weight, but evaluates the alphas once."""
        validate_ohlcv(df)
        z, lr, trend, vol = self.state(df)
        idx = df.index
        i0 = max(row_of(idx, start, "left") if start is not None else 0, self.required_history - 1)
        i1 = row_of(idx, end, "right") if end is not None else len(idx) - 1
        gap, intra = bar_returns(df["open"].to_numpy(dtype=float),
                                 df["close"].to_numpy(dtype=float))
        out = np.full(len(idx), np.nan)
        held = 0.0
        for t in range(i0, i1 + 1):
            pos = self.decide(z[t], lr[:t + 1], trend[t], vol[t], held)
            out[t] = pos
            if t + 1 < len(idx):
                res = execute_step(np.array([held]), np.array([pos]), gap[t:t + 1],
                                   intra[t:t + 1], self.config.tc)
                held = float(res.weights_close[0])
        return pd.Series(out[i0:i1 + 1], index=idx[i0:i1 + 1], name="position")


class AlphaPolicy(AlphaPolicyBase):
    """A trained PPO alpha-weighting policy for one stock (deterministic actions).

    Attributes: model (SB3 PPO, or a policy loaded from a bundle), alphas, scaler, ret_scale,
    config, meta (seed, ticker, training window, timesteps).
    """

    def __init__(self, model, alphas: Sequence[Alpha], scaler: AlphaScaler, ret_scale: float,
                 config: AlphaConfig, meta: dict | None = None):
        self.model = model
        self.alphas = list(alphas)
        self.scaler = scaler
        self.ret_scale = float(ret_scale)
        self.config = config
        self.meta = dict(meta or {})

    def observation(self, z_t, log_returns, trend_t, vol_t, prev_position) -> np.ndarray:
        """The env's observation at bar t (``log_returns`` ends at bar t)."""
        w = self.config.window
        t = len(log_returns) - 1
        return observation_fast(log_returns[t - w + 1:t + 1], self.ret_scale, prev_position,
                                trend_t, vol_t, z_t if self.config.include_alphas else None)

    def action(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic policy action (alpha weights before L1 normalisation).

        :func:`models.common.ppo.policy_action` (no observation normalisation): a direct actor
        forward, bit-identical to ``model.predict(obs, deterministic=True)``, here through the
        layers' torch functions (:class:`_ActorForward`) when the actor is a plain MLP."""
        act = _ActorForward.of(self).action(obs) if _fast_ok(obs) else None
        if act is None:
            act = policy_action(self.model, None, obs)
        return np.clip(act, -1.0, 1.0)

    def decide(self, z_t, log_returns, trend_t, vol_t, prev_position) -> float:
        act = self.action(self.observation(z_t, log_returns, trend_t, vol_t, prev_position))
        s = float(np.dot(action_to_weights(act), z_t))
        return signal_to_position(s, vol_t, **self.config.position_kwargs())


def _fast_ok(obs) -> bool:
    return _ppo.FAST_ACTION and type(obs) is np.ndarray and obs.ndim == 1


class _ActorForward:
    """:func:`models.common.ppo.policy_action`'s direct actor path with the layers' torch
    functions called directly (``F.linear``, ``torch.tanh``/``torch.relu``: the ops the modules'
    ``forward`` run, so bit-identical) instead of through ``nn.Module.__call__``, which costs
    more than the arithmetic of these tiny MLPs. Built once per policy, for SB3's plain
    ``Flatten -> (Linear, Tanh|ReLU)* -> Linear`` actor on a 1-D Box; :meth:`action` returns None
    (then ``policy_action`` runs) for anything else, a module with hooks, or a NaN mean."""

    _CACHE_ATTR = "_actor_forward"

    def __init__(self, model):
        self.model = model
        self.policy = None
        try:
            self._build(model)
        except Exception:  # noqa: BLE001 - any unexpected structure: the general path
            self.policy = None

    @classmethod
    def of(cls, owner) -> _ActorForward:
        fwd = getattr(owner, cls._CACHE_ATTR, None)
        if fwd is None or fwd.model is not owner.model:
            fwd = cls(owner.model)
            setattr(owner, cls._CACHE_ATTR, fwd)
        return fwd

    def _build(self, model) -> None:
        import torch
        from torch import nn
        space = getattr(getattr(model, "policy", model), "observation_space", None)
        if space is None or len(space.shape) != 1:
            return
        policy = _ppo._direct_actor(model, np.zeros(space.shape, dtype=np.float32))
        if policy is None:
            return
        fe = policy.pi_features_extractor
        flat = getattr(fe, "flatten", None)
        net = policy.mlp_extractor.policy_net
        if type(flat) is not nn.Flatten or (flat.start_dim, flat.end_dim) != (1, -1) or \
                type(net) is not nn.Sequential or type(policy.action_net) is not nn.Linear:
            return
        ops = []
        for m in net:
            if type(m) is nn.Linear:
                ops.append((m, None))
            elif type(m) is nn.Tanh:
                ops.append((None, torch.tanh))
            elif type(m) is nn.ReLU and not m.inplace:
                ops.append((None, torch.relu))
            else:
                return
        ops.append((policy.action_net, None))
        self.ops = ops
        self.modules = [policy, fe, flat, net, *net, policy.action_net]
        self.shape = space.shape
        self.low, self.high = policy.action_space.low, policy.action_space.high
        self.act_shape = policy.action_space.shape
        self.policy = policy

    def _hooked(self) -> bool:
        from torch.nn.modules import module as M
        if (M._global_forward_hooks or M._global_forward_pre_hooks or M._global_backward_hooks
                or M._global_backward_pre_hooks):
            return True
        return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                   or m._backward_pre_hooks for m in self.modules)

    def action(self, obs: np.ndarray) -> np.ndarray | None:
        """``policy_action(model, None, obs)`` (float64, 1-D) or None when not applicable."""
        policy = self.policy
        if policy is None or obs.shape != self.shape or self._hooked():
            return None
        import torch
        import torch.nn.functional as F
        if policy.training:  # as policy_action (and predict) leave it
            policy.set_training_mode(False)
        x = obs if obs.flags.writeable else np.array(obs)
        with torch.no_grad():
            h = torch.as_tensor(x).reshape((1, *self.shape)).float()
            for lin, fn in self.ops:
                h = F.linear(h, lin.weight, lin.bias) if fn is None else fn(h)
        act = h.numpy().reshape((-1, *self.act_shape))
        if np.isnan(act).any():
            return None
        act = np.clip(act, self.low, self.high).squeeze(axis=0)
        return np.asarray(act, dtype=np.float64).reshape(-1)


def equal_weight_position(z_t: np.ndarray, vol63_t: float, config: AlphaConfig | None = None
                          ) -> float:
    """Equal-weight baseline: all alphas weight 1/N, then the same signal -> position map."""
    config = config or AlphaConfig()
    z_t = np.asarray(z_t, dtype=float)
    s = float(np.dot(action_to_weights(np.ones_like(z_t)), z_t))
    return signal_to_position(s, vol63_t, **config.position_kwargs())


class EqualWeightPolicy(AlphaPolicyBase):
    """Equal-weighted alphas (scaler fitted on the training window), same position mapping."""

    def __init__(self, alphas: Sequence[Alpha], scaler: AlphaScaler, config: AlphaConfig):
        self.alphas, self.scaler, self.config = list(alphas), scaler, config

    @classmethod
    def fit(cls, df: pd.DataFrame, alphas: Sequence[Alpha], train_start, train_end,
            config: AlphaConfig | None = None) -> EqualWeightPolicy:
        config = config or AlphaConfig()
        arrays = prepare_stock(df, alphas, train_start, train_end, config=config)
        return cls(alphas, arrays.scaler, config)

    def decide(self, z_t, log_returns, trend_t, vol_t, prev_position) -> float:
        return equal_weight_position(z_t, vol_t, self.config)


def momentum_position(close: np.ndarray | pd.Series, lookback: int = 63,
                      long_only: bool = False) -> float:
    """Momentum baseline: ``sign(C_t / C_{t-lookback} - 1)`` (63 days = 3 months by default).

    Long (+1) after a rise, short (-1) after a fall (flat instead with ``long_only``), 0 if the
    history is shorter than ``lookback + 1`` bars. Uses closes up to t only.
    """
    c = np.asarray(close, dtype=float)
    if len(c) <= lookback or not (c[-1] > 0 and c[-1 - lookback] > 0):
        return 0.0
    s = float(np.sign(c[-1] / c[-1 - lookback] - 1.0))
    return max(s, 0.0) if long_only else s


@dataclass(frozen=True)
class MomentumPolicy(PositionPolicy):
    """:func:`momentum_position` with the ``position(history, prev_position)`` interface."""

    lookback: int = 63
    long_only: bool = False

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        return momentum_position(history["close"].to_numpy(dtype=float), self.lookback,
                                 self.long_only)


def random_entry_exit(n: int, seed: int, p_entry: float = 0.05, p_exit: float = 0.05,
                      long_only: bool = True) -> np.ndarray:
    """Seeded random entry/exit positions for ``n`` days (values in {0, 1} or {-1, 0, 1}).

    When flat, enter with probability ``p_entry`` (direction +1, or a fair coin for +-1 when not
    ``long_only``); when in a position, exit with probability ``p_exit``. Draws come from two
    sequential streams seeded by ``(seed, 0)`` and ``(seed, 1)``, so the first m values of
    ``random_entry_exit(n, seed)`` equal ``random_entry_exit(m, seed)`` (causal).
    """
    u = np.random.default_rng([seed, 0]).random(n)
    d = np.random.default_rng([seed, 1]).random(n)
    out = np.zeros(n)
    pos = 0.0
    for i in range(n):
        if pos == 0.0:
            if u[i] < p_entry:
                pos = 1.0 if long_only or d[i] < 0.5 else -1.0
        elif u[i] < p_exit:
            pos = 0.0
        out[i] = pos
    return out


@dataclass(frozen=True)
class RandomEntryExitPolicy(PositionPolicy):
    """:func:`random_entry_exit` with the ``position(history, prev_position)`` interface
    (the path is indexed by the number of bars in the history)."""

    seed: int = 0
    p_entry: float = 0.05
    p_exit: float = 0.05
    long_only: bool = True

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        return float(random_entry_exit(len(history), self.seed, self.p_entry, self.p_exit,
                                       self.long_only)[-1])
