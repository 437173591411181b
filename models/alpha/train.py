"""System 2 training: per-stock PPO over the alpha-weighting env, policies, baselines, splits.

Public API::

    AlphaConfig(...)                                             # frozen settings
    prepare_stock(df, alphas, train_start, train_end, test_end=None, config=None) -> StockArrays
    train_alpha_policy(df, alphas, config, seed, train_slice, ticker="") -> AlphaPolicy
    AlphaPolicy.position(history_df, prev_position) -> float     # what the AlphaPPO strategy calls
    AlphaPolicy.positions(df, start=None, end=None) -> Series    # batch, same accounting path
    EqualWeightPolicy.fit(df, alphas, train_start, train_end, config)
    equal_weight_position(z_t, vol63_t, config) -> float
    momentum_position(close, lookback=63, long_only=False) -> float
    random_entry_exit(n, seed, ...) -> ndarray;  RandomEntryExitPolicy(seed, ...)
    walk_forward_splits(dates, train_years=2, test_years=1, step_months=6, min_history=0)
    run_jobs(jobs, n_jobs=1) -> list[JobResult]
    save_alpha_bundle(policy, folder);  load_alpha_bundle(folder, alphas=None, ticker=None)

Every statistic (alpha means/stds, the return scale of the state) comes from the training
window; rows after ``test_end`` are never read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from feeds.errors import BundleError, ConfigError, DataError
from models.alpha.env import (STATE_WARMUP, AlphaWeightingEnv, action_to_weights,
                              build_observation, market_state, signal_to_position)
from models.common.execution import bar_returns, execute_step
from models.alpha.language import (Alpha, AlphaScaler, alphas_hash, evaluate_alphas, max_lookback,
                           parse_alpha_lines, validate_ohlcv)

log = logging.getLogger(__name__)

__all__ = [
    "AlphaConfig", "StockArrays", "AlphaPolicy", "EqualWeightPolicy", "RandomEntryExitPolicy",
    "MomentumPolicy", "Split", "TrainJob", "JobResult", "prepare_stock", "train_alpha_policy",
    "equal_weight_position", "momentum_position", "random_entry_exit", "walk_forward_splits",
    "run_jobs", "save_alpha_bundle", "load_alpha_bundle", "make_env",
]

BUNDLE_FORMAT = "alpha-ppo-bundle/1"
MIN_TRAIN_DAYS = 60


@dataclass(frozen=True)
class AlphaConfig:
    """Settings of System 2 (environment, position mapping, PPO). PPO fields keep SB3 names."""

    tc: float = 0.001  #: proportional cost per unit of traded weight (0.001 = 10 bp, the paper's)
    signal_gain: float = 2.0  #: position = tanh(signal_gain * composite signal) before vol targeting
    target_vol: float | None = 0.20  #: annualised volatility target; None disables vol targeting
    lev_cap: float = 1.0  #: absolute position cap (1.0 = no leverage, position in [-1, 1])
    window: int = 10  #: number of recent daily log returns in the state
    include_alphas: bool = True  #: put the current standardised alphas in the state
    episode_length: int | None = 252  #: random training sub-episodes (days); None = whole window
    scaler_clip: float = 5.0  #: clip of standardised alphas (|z| <= scaler_clip)
    n_envs: int = 4  #: parallel copies of the env in the DummyVecEnv (different random starts)
    norm_reward: bool = True  #: VecNormalize reward scaling during training (obs are not normalised)
    learning_rate: float = 3e-4  #: SB3 PPO learning_rate
    n_steps: int = 256  #: SB3 PPO rollout length per env
    batch_size: int = 256  #: SB3 PPO minibatch size
    n_epochs: int = 10  #: SB3 PPO epochs per rollout
    gamma: float = 0.99  #: SB3 PPO discount
    gae_lambda: float = 0.95  #: SB3 PPO GAE lambda
    clip_range: float = 0.2  #: SB3 PPO clip range
    ent_coef: float = 0.0  #: SB3 PPO entropy coefficient
    vf_coef: float = 0.5  #: SB3 PPO value-loss coefficient
    max_grad_norm: float = 0.5  #: SB3 PPO gradient clipping
    net_arch: tuple[int, ...] = (64, 64)  #: hidden layers of policy and value MLPs
    log_std_init: float = -0.5  #: initial log std of the Gaussian policy
    total_timesteps: int = 200_000  #: PPO env steps per run (full run; ~50_000 for a quick run)

    def __post_init__(self):
        if self.tc < 0 or self.lev_cap <= 0 or self.window < 1 or self.n_envs < 1:
            raise ConfigError("AlphaConfig: need tc >= 0, lev_cap > 0, window >= 1, n_envs >= 1")
        if self.target_vol is not None and self.target_vol <= 0:
            raise ConfigError("AlphaConfig.target_vol must be positive or None")
        if (self.n_steps * self.n_envs) % self.batch_size:
            raise ConfigError(f"AlphaConfig: n_steps * n_envs ({self.n_steps * self.n_envs}) "
                              f"must be a multiple of batch_size ({self.batch_size})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["net_arch"] = list(self.net_arch)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AlphaConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown AlphaConfig fields {unknown}")
        d = dict(d)
        if "net_arch" in d:
            d["net_arch"] = tuple(d["net_arch"])
        return cls(**d)

    def position_kwargs(self) -> dict:
        return {"signal_gain": self.signal_gain, "target_vol": self.target_vol,
                "lev_cap": self.lev_cap}


# ------------------------------------------------------------------------------ data prep
@dataclass
class StockArrays:
    """Arrays for one stock (rows = trading days up to ``test_end``).

    Attributes: index, z (T, n_alphas) standardised alphas, raw (T, n_alphas) alpha values,
    open, close, logret, trend, vol63 (T,), train_start/train_end/test_end (row indices,
    inclusive), scaler (fitted on the training rows), ret_scale (std of training log returns),
    alpha_names.
    """

    index: pd.DatetimeIndex
    z: np.ndarray
    raw: np.ndarray
    open: np.ndarray
    close: np.ndarray
    logret: np.ndarray
    trend: np.ndarray
    vol63: np.ndarray
    train_start: int
    train_end: int
    test_end: int
    scaler: AlphaScaler
    ret_scale: float
    alpha_names: list[str]


def required_warmup(alphas: Sequence[Alpha], config: AlphaConfig) -> int:
    """Bars needed before the first decision: longest alpha look-back, state warm-up, window."""
    return max(max_lookback(alphas), STATE_WARMUP, config.window)


def _row(index: pd.DatetimeIndex, when, side: str) -> int:
    ts = pd.Timestamp(when)
    return int(index.searchsorted(ts, side=side)) - (1 if side == "right" else 0)


def prepare_stock(df: pd.DataFrame, alphas: Sequence[Alpha], train_start, train_end,
                  test_end=None, config: AlphaConfig | None = None) -> StockArrays:
    """Evaluate alphas and market state; fit the scaler on ``[train_start, train_end]`` only.

    Rows after ``test_end`` (default ``train_end``) are dropped before anything is computed.
    Raises DataError when there is too little history before ``train_start`` for the longest
    alpha look-back / state warm-up, or fewer than 60 training days.
    """
    config = config or AlphaConfig()
    validate_ohlcv(df)
    test_end = train_end if test_end is None else test_end
    if pd.Timestamp(test_end) < pd.Timestamp(train_end) or \
            pd.Timestamp(train_end) <= pd.Timestamp(train_start):
        raise ConfigError(f"need train_start < train_end <= test_end, got {train_start}, "
                          f"{train_end}, {test_end}")
    df = df.loc[:pd.Timestamp(test_end)]
    idx = df.index
    i0 = _row(idx, train_start, "left")
    i1 = _row(idx, train_end, "right")
    warm = required_warmup(alphas, config)
    n_train = i1 - i0 + 1
    if i0 < warm or n_train < MIN_TRAIN_DAYS or i0 >= len(idx):
        first = idx[0].date() if len(idx) else "none"
        raise DataError(
            f"too little history: need {warm} daily bars before train_start "
            f"{pd.Timestamp(train_start).date()} (longest alpha look-back {max_lookback(alphas)}, "
            f"state warm-up {STATE_WARMUP}) plus at least {MIN_TRAIN_DAYS} training days, i.e. "
            f"{warm + MIN_TRAIN_DAYS} days; have {max(i0, 0)} bars before (data starts {first}) "
            f"and {max(n_train, 0)} training days. Start training later or supply earlier data.")
    raw = evaluate_alphas(df, alphas)
    scaler = AlphaScaler(clip=config.scaler_clip).fit(raw.iloc[i0:i1 + 1])
    z = scaler.transform(raw.to_numpy(dtype=float))
    close = df["close"].to_numpy(dtype=float)
    lr, trend, vol = market_state(close)
    ret_scale = float(np.nanstd(lr[i0:i1 + 1]))
    if not np.isfinite(ret_scale) or ret_scale <= 0:
        raise DataError("training window has constant prices; cannot scale returns")
    return StockArrays(index=idx, z=z, raw=raw.to_numpy(dtype=float),
                       open=df["open"].to_numpy(dtype=float), close=close, logret=lr,
                       trend=trend, vol63=vol, train_start=i0, train_end=i1,
                       test_end=len(idx) - 1, scaler=scaler, ret_scale=ret_scale,
                       alpha_names=[a.name for a in alphas])


def make_env(arrays: StockArrays, config: AlphaConfig, start: int | None = None,
             end: int | None = None, episode_length: int | None | str = "config"
             ) -> AlphaWeightingEnv:
    """An :class:`AlphaWeightingEnv` over rows ``[start, end]`` (default: the training rows)."""
    start = arrays.train_start if start is None else start
    end = arrays.train_end if end is None else end
    ep = config.episode_length if episode_length == "config" else episode_length
    if ep is not None:
        ep = min(ep, end - start)
    return AlphaWeightingEnv(arrays.z, arrays.open, arrays.close, arrays.trend, arrays.vol63,
                             start, end, tc=config.tc, window=config.window,
                             ret_scale=arrays.ret_scale, include_alphas=config.include_alphas,
                             episode_length=ep, **config.position_kwargs())


# ------------------------------------------------------------------------------ policies
class _HistoryPolicy:
    """Shared history handling: evaluate alphas on a history frame and standardise row t."""

    alphas: list[Alpha]
    scaler: AlphaScaler
    config: AlphaConfig

    @property
    def required_history(self) -> int:
        """Bars a history must have (the decision bar included)."""
        return required_warmup(self.alphas, self.config) + 1

    def _check_history(self, history: pd.DataFrame) -> None:
        validate_ohlcv(history)
        if len(history) < self.required_history:
            raise DataError(f"need at least {self.required_history} daily bars of history for a "
                            f"decision, got {len(history)}")

    def _state(self, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float, float]:
        raw = evaluate_alphas(history, self.alphas).to_numpy(dtype=float)
        z = self.scaler.transform(raw)
        lr, trend, vol = market_state(history["close"].to_numpy(dtype=float))
        return z, lr, trend, vol


class AlphaPolicy(_HistoryPolicy):
    """A trained PPO alpha-weighting policy for one stock (deterministic actions).

    Attributes: model (SB3 PPO), alphas, scaler, ret_scale, config, meta (seed, ticker,
    training window, timesteps).
    """

    def __init__(self, model, alphas: Sequence[Alpha], scaler: AlphaScaler, ret_scale: float,
                 config: AlphaConfig, meta: dict | None = None):
        self.model = model
        self.alphas = list(alphas)
        self.scaler = scaler
        self.ret_scale = float(ret_scale)
        self.config = config
        self.meta = dict(meta or {})

    def _obs(self, z_t, lr, trend_t, vol_t, t, prev_position) -> np.ndarray:
        w = self.config.window
        return build_observation(lr[t - w + 1:t + 1], self.ret_scale, prev_position, trend_t,
                                 vol_t, z_t if self.config.include_alphas else None)

    def action(self, obs: np.ndarray) -> np.ndarray:
        act, _ = self.model.predict(obs, deterministic=True)
        return np.clip(np.asarray(act, dtype=float), -1.0, 1.0)

    def _position(self, act, z_t, vol_t) -> float:
        s = float(np.dot(action_to_weights(act), z_t))
        return signal_to_position(s, vol_t, **self.config.position_kwargs())

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        """Target position for the next open, decided at the close of the last row.

        Args:
            history: daily OHLCV up to and including the decision day t (earlier rows only).
            prev_position: the weight currently held (position value / portfolio value).
        """
        self._check_history(history)
        z, lr, trend, vol = self._state(history)
        t = len(history) - 1
        obs = self._obs(z[t], lr, trend[t], vol[t], t, prev_position)
        return self._position(self.action(obs), z[t], vol[t])

    def positions(self, df: pd.DataFrame, start=None, end=None) -> pd.Series:
        """Positions decided at each close in ``[start, end]``, simulating the held weight with
        :func:`models.common.execution.execute_step` (the env's path). Equal to calling
        :meth:`position` day by day with that held weight, but evaluates the alphas once."""
        validate_ohlcv(df)
        z, lr, trend, vol = self._state(df)
        idx = df.index
        i0 = max(_row(idx, start, "left") if start is not None else 0, self.required_history - 1)
        i1 = _row(idx, end, "right") if end is not None else len(idx) - 1
        gap, intra = bar_returns(df["open"].to_numpy(dtype=float),
                                 df["close"].to_numpy(dtype=float))
        out = np.full(len(idx), np.nan)
        held = 0.0
        for t in range(i0, i1 + 1):
            obs = self._obs(z[t], lr, trend[t], vol[t], t, held)
            pos = self._position(self.action(obs), z[t], vol[t])
            out[t] = pos
            if t + 1 < len(idx):
                res = execute_step(np.array([held]), np.array([pos]), gap[t:t + 1],
                                   intra[t:t + 1], self.config.tc)
                held = float(res.weights_close[0])
        return pd.Series(out[i0:i1 + 1], index=idx[i0:i1 + 1], name="position")


def equal_weight_position(z_t: np.ndarray, vol63_t: float, config: AlphaConfig | None = None
                          ) -> float:
    """Equal-weight baseline: all alphas weight 1/N, then the same signal -> position map."""
    config = config or AlphaConfig()
    z_t = np.asarray(z_t, dtype=float)
    s = float(np.dot(action_to_weights(np.ones_like(z_t)), z_t))
    return signal_to_position(s, vol63_t, **config.position_kwargs())


class EqualWeightPolicy(_HistoryPolicy):
    """Equal-weighted alphas (scaler fitted on the training window), same position mapping."""

    def __init__(self, alphas: Sequence[Alpha], scaler: AlphaScaler, config: AlphaConfig):
        self.alphas, self.scaler, self.config = list(alphas), scaler, config

    @classmethod
    def fit(cls, df: pd.DataFrame, alphas: Sequence[Alpha], train_start, train_end,
            config: AlphaConfig | None = None) -> "EqualWeightPolicy":
        config = config or AlphaConfig()
        arrays = prepare_stock(df, alphas, train_start, train_end, config=config)
        return cls(alphas, arrays.scaler, config)

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        self._check_history(history)
        z, _, _, vol = self._state(history)
        return equal_weight_position(z[-1], vol[-1], self.config)


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
class MomentumPolicy:
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
class RandomEntryExitPolicy:
    """:func:`random_entry_exit` with the ``position(history, prev_position)`` interface
    (the path is indexed by the number of bars in the history)."""

    seed: int = 0
    p_entry: float = 0.05
    p_exit: float = 0.05
    long_only: bool = True

    def position(self, history: pd.DataFrame, prev_position: float = 0.0) -> float:
        return float(random_entry_exit(len(history), self.seed, self.p_entry, self.p_exit,
                                       self.long_only)[-1])


# ------------------------------------------------------------------------------ training
def _versions() -> dict:
    import gymnasium
    import stable_baselines3
    import torch
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__}


def _train_window(train_slice) -> tuple[pd.Timestamp, pd.Timestamp]:
    if isinstance(train_slice, slice):
        a, b = train_slice.start, train_slice.stop
    else:
        a, b = train_slice
    if a is None or b is None:
        raise ConfigError("train_slice needs both a start and an end date")
    return pd.Timestamp(a), pd.Timestamp(b)


def train_alpha_policy(df: pd.DataFrame, alphas: Sequence[Alpha], config: AlphaConfig,
                       seed: int, train_slice, ticker: str = "", progress_bar: bool = False,
                       verbose: int = 0, torch_threads: int | None = 1) -> AlphaPolicy:
    """Train PPO on ``train_slice = (start, end)`` (dates, inclusive) of one stock.

    Only rows up to ``end`` are read. Seeds SB3/torch/numpy with ``seed``; the same seed and
    settings on the same machine give the same policy. ``torch_threads`` (default 1: the
    networks are tiny and extra threads only contend) is set for the call and restored after.
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    start, end = _train_window(train_slice)
    arrays = prepare_stock(df, alphas, start, end, config=config)
    set_random_seed(seed)
    venv = DummyVecEnv([lambda: make_env(arrays, config) for _ in range(config.n_envs)])
    venv.seed(seed)
    if config.norm_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=config.gamma)
    policy_kwargs = {"net_arch": dict(pi=list(config.net_arch), vf=list(config.net_arch)),
                     "log_std_init": config.log_std_init, "activation_fn": torch.nn.Tanh}
    model = PPO("MlpPolicy", venv, learning_rate=config.learning_rate, n_steps=config.n_steps,
                batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
                gae_lambda=config.gae_lambda, clip_range=config.clip_range,
                ent_coef=config.ent_coef, vf_coef=config.vf_coef,
                max_grad_norm=config.max_grad_norm, policy_kwargs=policy_kwargs,
                seed=seed, device="cpu", verbose=verbose)
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if torch_threads:
        torch.set_num_threads(torch_threads)
    try:
        model.learn(total_timesteps=config.total_timesteps, progress_bar=progress_bar)
    finally:
        torch.set_num_threads(old_threads)
    secs = time.perf_counter() - t0
    log.info("trained %s seed %d: %d steps in %.1fs", ticker or "stock", seed,
             config.total_timesteps, secs)
    meta = {"seed": int(seed), "ticker": ticker,
            "train_start": str(arrays.index[arrays.train_start].date()),
            "train_end": str(arrays.index[arrays.train_end].date()),
            "train_days": int(arrays.train_end - arrays.train_start + 1),
            "total_timesteps": int(config.total_timesteps), "train_seconds": round(secs, 2)}
    return AlphaPolicy(model, alphas, arrays.scaler, arrays.ret_scale, config, meta)


# ------------------------------------------------------------------------------ walk-forward
@dataclass(frozen=True)
class Split:
    """One walk-forward split; all dates are trading days in the index, inclusive."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def walk_forward_splits(dates: Sequence, train_years: int = 2, test_years: int = 1,
                        step_months: int = 6, min_history: int = 0) -> list[Split]:
    """Rolling splits: train ``train_years``, test the following ``test_years``, step forward
    ``step_months``. The first training window starts at ``dates[min_history]`` (leave room for
    the alpha warm-up, e.g. ``required_warmup(alphas, config)``). Only splits whose test window
    is fully covered by ``dates`` (up to 7 calendar days short, for holidays) are returned.
    """
    idx = pd.DatetimeIndex(dates)
    if len(idx) <= min_history:
        raise DataError(f"walk-forward needs more than {min_history} dates, got {len(idx)}")
    first = idx[min_history]
    out: list[Split] = []
    k = 0
    while True:
        ts = first + pd.DateOffset(months=step_months * k)
        te = ts + pd.DateOffset(years=train_years)
        xe = te + pd.DateOffset(years=test_years)
        if idx[-1] < xe - pd.Timedelta(days=8):
            break
        tr = idx[(idx >= ts) & (idx < te)]
        te_ = idx[(idx >= te) & (idx < xe)]
        if len(tr) and len(te_):
            out.append(Split(tr[0], tr[-1], te_[0], te_[-1]))
        k += 1
    return out


# ------------------------------------------------------------------------------ bundles
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_alpha_bundle(policy: AlphaPolicy, folder: str | Path) -> Path:
    """Write ``folder/{manifest.json, ppo.zip, normalisation.json, alphas.txt}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save(folder / "ppo.zip")
    (folder / "normalisation.json").write_text(json.dumps(
        {"scaler": policy.scaler.to_dict(), "ret_scale": policy.ret_scale}, indent=1))
    (folder / "alphas.txt").write_text(
        "".join(f"{a.name} | {a.formula} | {a.description}\n" for a in policy.alphas))
    manifest = {
        "format": BUNDLE_FORMAT, "versions": _versions(), "seed": policy.meta.get("seed"),
        "ticker": policy.meta.get("ticker", ""), "config": policy.config.to_dict(),
        "training_window": {k: policy.meta.get(k) for k in ("train_start", "train_end",
                                                            "train_days")},
        "total_timesteps": policy.meta.get("total_timesteps"),
        "alphas": {"names": [a.name for a in policy.alphas], "hash": alphas_hash(policy.alphas)},
        "observation_size": int(policy.model.observation_space.shape[0]),
        "files": {n: _sha256(folder / n) for n in ("ppo.zip", "normalisation.json",
                                                   "alphas.txt")},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def load_alpha_bundle(folder: str | Path, alphas: Sequence[Alpha] | None = None,
                      ticker: str | None = None) -> AlphaPolicy:
    """Load and verify a bundle; BundleError says exactly what differs.

    Args:
        folder: bundle folder written by :func:`save_alpha_bundle`.
        alphas: if given, must be the library the bundle was trained with (names and formulas).
        ticker: if given, must equal the ticker the bundle was trained on.
    """
    from stable_baselines3 import PPO

    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise BundleError(f"{folder} is not an alpha bundle: manifest.json is missing")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{mpath} is not valid JSON ({exc}); re-train or restore the bundle")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{folder}: bundle format {manifest.get('format')!r}, "
                          f"expected {BUNDLE_FORMAT!r}")
    for name, digest in manifest.get("files", {}).items():
        p = folder / name
        if not p.is_file():
            raise BundleError(f"{folder}: file {name} listed in manifest.json is missing")
        actual = _sha256(p)
        if actual != digest:
            raise BundleError(f"{folder}: {name} sha256 {actual[:12]}... differs from manifest "
                              f"{digest[:12]}...; the file was changed or corrupted")
    if ticker is not None and manifest.get("ticker") != ticker:
        raise BundleError(f"bundle was trained on {manifest.get('ticker')!r}, "
                          f"data is {ticker!r}")
    stored = parse_alpha_lines((folder / "alphas.txt").read_text().splitlines(),
                               source=str(folder / "alphas.txt"))
    if alphas_hash(stored) != manifest["alphas"]["hash"]:
        raise BundleError(f"{folder}: alphas.txt does not match the manifest's alpha hash")
    if alphas is not None:
        alphas = list(alphas)
        if alphas_hash(alphas) != manifest["alphas"]["hash"]:
            names_b = manifest["alphas"]["names"]
            names_u = [a.name for a in alphas]
            by_b = {a.name: a for a in stored}
            diff = [a.name for a in alphas if a.name in by_b and by_b[a.name].ast != a.ast]
            missing = [n for n in names_b if n not in names_u]
            extra = [n for n in names_u if n not in names_b]
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"not in bundle {extra}")
            if diff:
                parts.append(f"different formulas {diff}")
            if not parts:
                parts.append("same alphas in a different order")
            raise BundleError(f"alphas differ from the bundle's: {'; '.join(parts)}")
    config = AlphaConfig.from_dict(manifest["config"])
    norm = json.loads((folder / "normalisation.json").read_text())
    scaler = AlphaScaler.from_dict(norm["scaler"])
    if scaler.names_ != [a.name for a in stored]:
        raise BundleError(f"{folder}: normalisation.json alpha names differ from alphas.txt")
    model = PPO.load(folder / "ppo.zip", device="cpu")
    n_obs = model.observation_space.shape[0]
    if n_obs != manifest["observation_size"]:
        raise BundleError(f"{folder}: ppo.zip observation size {n_obs} != manifest "
                          f"{manifest['observation_size']}")
    if model.action_space.shape[0] != len(stored):
        raise BundleError(f"{folder}: ppo.zip has {model.action_space.shape[0]} actions for "
                          f"{len(stored)} alphas")
    meta = dict(manifest.get("training_window", {}))
    meta.update(seed=manifest.get("seed"), ticker=manifest.get("ticker", ""),
                total_timesteps=manifest.get("total_timesteps"))
    return AlphaPolicy(model, stored, scaler, norm["ret_scale"], config, meta)


# ------------------------------------------------------------------------------ parallel jobs
@dataclass(frozen=True)
class TrainJob:
    """One (stock, seed) training job; the bundle goes to ``out_dir / f"{ticker}_seed{seed}"``."""

    ticker: str
    df: pd.DataFrame = field(repr=False)
    seed: int
    train_start: Any
    train_end: Any
    out_dir: str | Path
    config: AlphaConfig = AlphaConfig()
    alphas_path: str | None = None  #: None = the packaged library


@dataclass(frozen=True)
class JobResult:
    ticker: str
    seed: int
    bundle_dir: str
    train_seconds: float


def _run_job(job: TrainJob, single_thread: bool = False) -> JobResult:
    from models.alpha.language import load_alphas

    if single_thread:
        import torch
        torch.set_num_threads(1)
    alphas = load_alphas(job.alphas_path)
    t0 = time.perf_counter()
    policy = train_alpha_policy(job.df, alphas, job.config, job.seed,
                                (job.train_start, job.train_end), ticker=job.ticker)
    folder = save_alpha_bundle(policy, Path(job.out_dir) / f"{job.ticker}_seed{job.seed}")
    return JobResult(job.ticker, job.seed, str(folder), round(time.perf_counter() - t0, 2))


def run_jobs(jobs: Sequence[TrainJob], n_jobs: int = 1, verbose: int = 0) -> list[JobResult]:
    """Train stocks x seeds, ``n_jobs`` processes at once (joblib/loky; 1 torch thread each).

    Results come back in the order of ``jobs``. ``n_jobs=1`` runs in this process.
    """
    if n_jobs == 1:
        return [_run_job(j) for j in jobs]
    from joblib import Parallel, delayed
    return list(Parallel(n_jobs=n_jobs, verbose=verbose)(delayed(_run_job)(j, True) for j in jobs))
