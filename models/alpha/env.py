"""System 2 environment: PPO learns, day by day, how to weight formulaic alphas for one stock.

Registered as ``rlportfolio/AlphaWeighting-v0`` by ``import models`` (see models/__init__.py).

Mapping from action to position (the one documented mapping, shared with
``models.alpha.train.AlphaPolicy`` and the baselines):

1. weights ``w = a / max(sum |a|, eps)`` (L1-normalised; an all-zero action means flat);
2. composite signal ``s_t = w . z_t`` where ``z_t`` are the standardised alphas at close t;
3. raw position ``p = tanh(signal_gain * s_t)`` in (-1, 1);
4. volatility targeting (when ``target_vol`` is set):
   ``p *= min(lev_cap, target_vol / vol63_t)``; finally ``p`` is clipped to ``[-lev_cap, lev_cap]``
   (``lev_cap=1`` keeps the position in [-1, 1]: no leverage).

Execution and reward use :func:`models.common.execution.execute_step` with the single signed weight
``[position]``: decide at the close of t, fill at the open of t+1 (paying ``tc * |position -
drifted held weight|``), mark at the close of t+1. The reward is the net return of that step:
the paper's "position x next return - 0.001 x |position change|", where under next-open
execution the "next return" is the held (drifted) position's overnight gap close t -> open t+1
plus the new position's open -> close return of t+1 (compounded, as the accounting does).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from feeds.errors import ConfigError
from models.common.execution import bar_returns, execute_step

__all__ = [
    "ENV_ID", "AlphaWeightingEnv", "action_to_weights", "signal_to_position", "market_state",
    "market_state_last", "build_observation", "observation_size", "OBS_BOUND",
]

ENV_ID = "rlportfolio/AlphaWeighting-v0"
OBS_BOUND = 10.0
TRADING_DAYS = 252
VOL_WINDOW = 63
TREND_FAST, TREND_SLOW = 20, 100
#: bars needed before the first valid market state (MA100 needs 99 earlier bars).
STATE_WARMUP = max(TREND_SLOW - 1, VOL_WINDOW)


def action_to_weights(action: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """L1-normalise an action: ``a / max(sum |a|, eps)``."""
    a = np.asarray(action, dtype=float)
    return a / max(float(np.abs(a).sum()), eps)


def signal_to_position(signal: float, vol63: float, signal_gain: float = 2.0,
                       target_vol: float | None = 0.20, lev_cap: float = 1.0) -> float:
    """Composite signal -> position in ``[-lev_cap, lev_cap]`` (see module docstring)."""
    p = float(np.tanh(signal_gain * signal))
    if target_vol is not None:
        v = float(vol63) if np.isfinite(vol63) and vol63 > 1e-6 else np.inf
        p *= min(lev_cap, target_vol / v) if np.isfinite(v) else lev_cap
    return float(np.clip(p, -lev_cap, lev_cap))


def market_state(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Causal market features from closes: (log returns, trend flag, 63-day vol).

    * log return ``log(C_t / C_{t-1})`` (NaN at t=0);
    * trend flag 1.0 when ``MA20 > MA100`` of closes, else 0.0 (0.0 during warm-up);
    * ``vol63``: sample std (ddof=1) of the last 63 daily log returns times sqrt(252) (NaN in
      warm-up).
    """
    import pandas as pd

    c = pd.Series(np.asarray(close, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.log(c / c.shift(1))
    lr = lr.where(np.isfinite(lr))
    fast = c.rolling(TREND_FAST, min_periods=TREND_FAST).mean()
    slow = c.rolling(TREND_SLOW, min_periods=TREND_SLOW).mean()
    trend = (fast > slow).astype(float).to_numpy()
    vol = (lr.rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std(ddof=1) *
           np.sqrt(TRADING_DAYS)).to_numpy()
    return lr.to_numpy(), trend, vol


def _last_mean(x: np.ndarray, w: int) -> float:
    """Mean of the last ``w`` values (NaN if fewer or any NaN): a correctly rounded sum / w; a
    constant window gives its value exactly (as pandas' rolling mean does)."""
    if len(x) < w:
        return math.nan
    v = x[len(x) - w:]
    lo, hi = v.min(), v.max()
    if math.isnan(lo) or math.isnan(hi):  # a NaN in the window
        return math.nan
    if lo == hi:
        return float(lo)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return float(v.sum()) / w
    return math.fsum(v.tolist()) / w


def market_state_last(close: np.ndarray, window: int) -> tuple[np.ndarray, float, float]:
    """The last row of :func:`market_state` from closes, in NumPy (no pandas, O(window)).

    Returns ``(log returns of the last window bars, trend_t, vol63_t)`` equal to
    ``lr[-window:], trend[-1], vol[-1]`` of ``market_state(close)``: the log returns and the NaN
    rules (warm-up, a NaN or non-positive close) are the same; the means and the ddof=1 standard
    deviation use correctly rounded sums (``math.fsum``, two passes), so they may differ from
    pandas' online rolling sums in the last bits (pandas' own values depend on where the series
    starts and drift with its length). Pinned on every day of real packaged series
    (``tests/strategies/test_perf_equivalence_alpha.py``): volatility within 1e-13 relative of
    pandas on the last ~100 closes and 1e-10 of pandas on the whole series; log returns and
    trend flags exactly equal. A constant window gives its value (mean) or 0.0 (std) exactly, as
    pandas does. Only the last ``max(TREND_SLOW, VOL_WINDOW + 1, window + 1)`` closes are read.
    Used by the Backtrader strategies' daily decisions; training keeps :func:`market_state`.
    """
    c = np.asarray(close, dtype=float)
    n = len(c)
    k = max(int(window), VOL_WINDOW)  # log returns needed
    tail = c[max(0, n - k - 1):]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log(tail[1:] / tail[:-1])
    r[~np.isfinite(r)] = np.nan
    if n <= k:  # the first bar's log return (NaN) is inside the window
        r = np.concatenate([[np.nan], r]) if n else r
    fast, slow = _last_mean(c, TREND_FAST), _last_mean(c, TREND_SLOW)
    trend = 1.0 if fast > slow else 0.0
    vol = math.nan
    if len(r) >= VOL_WINDOW:
        v = r[len(r) - VOL_WINDOW:]
        lo, hi = v.min(), v.max()
        if lo == hi:
            vol = 0.0
        elif not (math.isnan(lo) or math.isnan(hi)):  # no NaN in the window (r has no inf)
            m = math.fsum(v.tolist()) / VOL_WINDOW
            d = v - m
            var = math.fsum((d * d).tolist()) / (VOL_WINDOW - 1)
            vol = math.sqrt(var) * math.sqrt(TRADING_DAYS)
    return r[len(r) - min(len(r), int(window)):].copy(), trend, vol


def observation_size(n_alphas: int, window: int, include_alphas: bool = True) -> int:
    return window + 3 + (n_alphas if include_alphas else 0)


def build_observation(logret_window: np.ndarray, ret_scale: float, prev_position: float,
                      trend: float, vol63: float, z: np.ndarray | None) -> np.ndarray:
    """State vector (float32), layout::

        [ window log returns / ret_scale (oldest first, clipped to +-10),
          previous position (held weight at close t),
          trend flag (1 if MA20 > MA100 else 0),
          63-day annualised volatility (clipped to [0, 10]),
          standardised alphas z_t (already clipped to +-5; omitted if ``z`` is None) ]
    """
    lr = np.nan_to_num(np.asarray(logret_window, dtype=float) / ret_scale, nan=0.0)
    parts = [np.clip(lr, -OBS_BOUND, OBS_BOUND),
             [float(np.clip(prev_position, -OBS_BOUND, OBS_BOUND)), float(trend),
              float(np.clip(np.nan_to_num(vol63, nan=0.0), 0.0, OBS_BOUND))]]
    if z is not None:
        parts.append(np.clip(np.asarray(z, dtype=float), -OBS_BOUND, OBS_BOUND))
    return np.concatenate(parts).astype(np.float32)


class AlphaWeightingEnv(gym.Env):
    """Daily weighting of standardised formulaic alphas into one stock position.

    ## Action Space
    ``Box(-1, 1, (n_alphas,), float32)``: raw alpha weights, L1-normalised by the env. The
    composite signal ``s_t = w . z_t`` is mapped to a position by :func:`signal_to_position`
    (``tanh(signal_gain * s)``, volatility-targeted to ``target_vol`` with cap ``lev_cap``).

    ## Observation Space
    ``Box(-10, 10, (window + 3 [+ n_alphas],), float32)``; see :func:`build_observation`: the
    last ``window`` daily log returns (scaled by ``ret_scale``, a training-window statistic),
    the previous (held) position, the trend flag (MA20 > MA100), the annualised 63-day
    volatility and, if ``include_alphas``, the current standardised alphas. (The paper's state
    has "recent OHLCV"; recent returns are its scale-free form.)

    ## Rewards
    Net return of one step of :func:`models.common.execution.execute_step` with weights
    ``[position]``: decide at close t, fill at open t+1 paying ``tc * |traded weight|``, mark at
    close t+1. Equals ``position * next return - tc * |position change|`` up to compounding.

    ## Starting State
    Flat (position 0) at ``start`` or, with ``episode_length``, at a start drawn uniformly from
    ``[start, end - episode_length]`` with ``self.np_random``. ``options={"start": i}`` forces
    the start index.

    ## Episode End
    Terminated after the decision at ``end - 1`` has been marked at the close of ``end`` (or
    after ``episode_length`` steps). Never truncated by the env itself.

    ## Arguments
    z: (T, n_alphas) standardised alphas. open_, close: (T,) prices. trend, vol63: (T,) from
    :func:`market_state`. start, end: first decision index and last mark index (inclusive),
    ``window <= start < end < T``. tc: proportional cost. signal_gain, target_vol, lev_cap:
    position mapping. window: log returns in the state. ret_scale: divisor of log returns in
    the state. include_alphas: put ``z_t`` in the state. episode_length: random sub-episodes.
    """

    metadata = {"render_modes": []}

    def __init__(self, z: np.ndarray, open_: np.ndarray, close: np.ndarray, trend: np.ndarray,
                 vol63: np.ndarray, start: int, end: int, *, tc: float = 0.001,
                 signal_gain: float = 2.0, target_vol: float | None = 0.20,
                 lev_cap: float = 1.0, window: int = 10, ret_scale: float = 0.01,
                 include_alphas: bool = True, episode_length: int | None = None,
                 eps: float = 1e-8):
        super().__init__()
        self.z = np.asarray(z, dtype=float)
        if self.z.ndim != 2:
            raise ConfigError(f"z must be a (T, n_alphas) array, got shape {self.z.shape}")
        T, n = self.z.shape
        self.open_ = np.asarray(open_, dtype=float)
        self.close = np.asarray(close, dtype=float)
        self.trend = np.asarray(trend, dtype=float)
        self.vol63 = np.asarray(vol63, dtype=float)
        for name, arr in (("open_", self.open_), ("close", self.close), ("trend", self.trend),
                          ("vol63", self.vol63)):
            if arr.shape != (T,):
                raise ConfigError(f"{name} must have shape ({T},), got {arr.shape}")
        if not (window <= start < end < T):
            raise ConfigError(f"need window ({window}) <= start ({start}) < end ({end}) < T ({T})")
        if episode_length is not None and not 1 <= episode_length <= end - start:
            raise ConfigError(f"episode_length must be in [1, {end - start}], got {episode_length}")
        if lev_cap <= 0 or tc < 0 or ret_scale <= 0:
            raise ConfigError("lev_cap and ret_scale must be positive and tc non-negative")
        self.start, self.end = int(start), int(end)
        self.tc, self.signal_gain, self.target_vol = float(tc), float(signal_gain), target_vol
        self.lev_cap, self.window, self.ret_scale = float(lev_cap), int(window), float(ret_scale)
        self.include_alphas, self.episode_length, self.eps = include_alphas, episode_length, eps
        with np.errstate(invalid="ignore", divide="ignore"):
            lr = np.log(self.close[1:] / self.close[:-1])
        self.logret = np.concatenate([[np.nan], lr])
        self.logret[~np.isfinite(self.logret)] = np.nan
        self.gap, self.intra = bar_returns(self.open_, self.close)
        self.action_space = spaces.Box(-1.0, 1.0, (n,), dtype=np.float32)
        dim = observation_size(n, self.window, include_alphas)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (dim,), dtype=np.float32)
        self.t = self.start
        self.t_end = self.end
        self.w = 0.0

    def _obs(self) -> np.ndarray:
        t = self.t
        return build_observation(self.logret[t - self.window + 1:t + 1], self.ret_scale, self.w,
                                 self.trend[t], self.vol63[t],
                                 self.z[t] if self.include_alphas else None)

    def position_from_action(self, action: np.ndarray, t: int | None = None) -> float:
        """The position the env would take at index ``t`` (default: now) for ``action``."""
        t = self.t if t is None else t
        s = float(np.dot(action_to_weights(action, self.eps), self.z[t]))
        return signal_to_position(s, self.vol63[t], self.signal_gain, self.target_vol,
                                  self.lev_cap)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = options or {}
        if "start" in options:
            t0 = int(options["start"])
            if not self.start <= t0 < self.end:
                raise ConfigError(f"options['start'] must be in [{self.start}, {self.end})")
        elif self.episode_length is not None:
            t0 = int(self.np_random.integers(self.start, self.end - self.episode_length + 1))
        else:
            t0 = self.start
        self.t = t0
        self.t_end = (self.end if self.episode_length is None
                      else min(self.end, t0 + self.episode_length))
        self.w = 0.0
        return self._obs(), {"t": self.t, "position": 0.0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        t = self.t
        if t >= self.t_end:
            raise RuntimeError("step() called after the episode ended; call reset()")
        pos = self.position_from_action(np.asarray(action, dtype=float), t)
        res = execute_step(np.array([self.w]), np.array([pos]), self.gap[t:t + 1],
                           self.intra[t:t + 1], self.tc)
        self.w = float(res.weights_close[0])
        self.t = t + 1
        reward = float(res.net_return)
        terminated = self.t >= self.t_end
        info = {"t": t, "position": pos, "turnover": res.turnover, "cost": res.cost,
                "held_weight": self.w}
        return self._obs(), reward, terminated, False, info
