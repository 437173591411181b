"""System 1 gymnasium environment: weekly Top-K portfolio allocation (paper, arXiv 2511.17963).

Registered as ``rlportfolio/TopKPortfolio-v0`` when :mod:`models` is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from feeds.errors import ConfigError, DataError
from models.common.execution import bar_returns, drifted_weights, smooth_target, within_band
from models.portfolio.config import EnvConfig
from models.portfolio.env_kernel import ObsRows, execute_rows, step_rows
from models.portfolio.features import FeatureBuilder, FeatureLayout, fit_stats
from models.portfolio.projection import project_neg, topk_project

ENV_ID = "rlportfolio/TopKPortfolio-v0"


def initial_weights(mask_t: np.ndarray) -> np.ndarray:
    """1/N over the assets available at t (the paper's initial portfolio); zeros if none."""
    m = np.asarray(mask_t, dtype=bool)
    w = m.astype(np.float64)
    return w / w.sum() if w.any() else w


class PortfolioEnv(gym.Env[np.ndarray, np.ndarray]):
    """Weekly long-only Top-K portfolio allocation with next-open execution.

    At each step the agent sees the state at the close of week t, outputs one logit per asset,
    and the Top-K projection turns the logits into target weights. The trade is executed at the
    open of week t+1 (from the weights drifted over the gap) and the portfolio is marked at the
    close of t+1, using :func:`models.common.execution.execute_step` (the same accounting as the
    Backtrader strategies).

    ## Action Space
    ``Box(-1, 1, (N,), float32)``: one logit per asset. Logits are multiplied by
    ``config.logit_scale`` (default 5) before the projection so the policy's bounded output can
    express a concentrated softmax. Weights are ``topk_project(scale * action, top_k, tau,
    mask_t)``: long-only, sum to 1, at most K assets, never an unavailable asset.

    ## Observation Space
    ``Box(-clip, clip, (layout.size,), float32)`` from :class:`models.portfolio.features.FeatureBuilder`:
    the last L weekly log returns (z-scored with training-window statistics), the weights held
    at the close of t, the LSTM forecasts for t+1 (hybrid only; gated by ``forecast_gate`` in
    the arrays of :func:`build_env_arrays`), the availability mask, and the macro features of
    t (only with ``macro_features``; :mod:`models.portfolio.macro`).

    ## Rewards
    ``log(1 + net)`` with ``net = growth - 1 - sparsity * #{i: w_i > 0} / N`` where ``growth`` is
    V(close t+1) / V(close t) net of the proportional cost ``tc * sum |w - w_drifted|``. With
    ``turnover_penalty > 0`` the reward is then lowered by ``turnover_penalty * 0.5 *
    sum |w - w_drifted|`` (the one-way turnover: half of ``info["turnover"]``), a training
    signal only: ``growth`` and ``equity`` are not affected. With ``reward_clip > 0`` the reward
    is finally clipped to ``[-reward_clip, reward_clip]``.

    ## Turnover control (opt-in; the same rules as the Backtrader strategies)
    The traded target ``w`` is built from the projection ``p`` in two steps, both off by
    default (the paper). ``smoothing = s > 0``: ``w = s * h + (1 - s) * p`` with ``h`` the
    weights held at the close of t on the assets available at t
    (:func:`models.common.execution.smooth_target`, also applied by
    :class:`models.portfolio.allocators.PolicyAllocator`); ``w`` may hold more than K assets.
    ``rebalance_band = b > 0``: if every ``|h_i - w_i| <= b``
    (:func:`models.common.execution.within_band`, the rule of
    :class:`strategies.mixins.RebalanceBandMixin`) nothing is traded that week: the weights
    drifted over the gap are kept, no cost is paid, and ``info["weights"]`` are those drifted
    weights. The sparsity penalty counts the assets of ``w``. Observation noise
    (``obs_noise``) is added after the observation normalisation, by
    :class:`models.portfolio.noise.ObsNoise` during training only, never here.

    ## Starting State
    Decision bar ``t = start`` (plus a random offset in ``[0, random_start]`` drawn from
    ``self.np_random`` if ``config.random_start > 0``). The initial portfolio is 1/N over the
    assets available at that bar and is assumed already held: no cost is charged at reset.

    ## Episode End
    The episode is truncated after the decision at ``t = end - 2`` (the last bar whose next bar
    is still inside ``[start, end)``); it terminates early if the portfolio value reaches zero.

    ## Block bootstrap (opt-in, training only)
    With ``config.bootstrap_block = b > 0`` each episode replays the real weeks in a resampled
    ORDER (a stationary block bootstrap, Politis & Romano 1994), so the policy cannot memorise
    one path. At reset a sequence of decision rows ``r_0 .. r_n`` is drawn from
    ``self.np_random``: ``r_0`` is uniform on ``[lo, hi]`` with ``lo = min(start + window, hi)``
    (so the return window is inside the episode rows) and ``hi = end - 2``; then each week
    a new block starts with probability ``1 / b`` at a uniform row of ``[lo, hi]``, otherwise
    the block continues with ``r + 1`` (wrapping from ``hi`` to ``lo``, which keeps every row
    equally likely). Block lengths are therefore geometric with mean ``b``; ``b = 1`` draws
    independent weeks. Step ``i`` is the REAL transition ``r_i -> r_i + 1`` (decision at the
    close of ``r_i``, gap and intra-week returns of ``r_i + 1``, mask and forecasts of ``r_i``),
    and the observation uses the real history ending at ``r_i``; only the weights held carry
    across a block join. Every row used is in ``[start, end)``. The episode has
    ``config.episode_weeks`` steps (0 = ``end - 1 - start``, as many as the real path), is then
    truncated, and ``random_start`` is ignored. Use it for training only: evaluate on an env
    with ``bootstrap_block = 0``. :attr:`episode_rows` holds ``r_0 .. r_n``.

    ## Arguments
    open, close: (T, N) weekly prices (NaN where unknown). log_returns: (T, N) weekly log returns.
    mask: (T, N) bool availability. forecasts: (T, N) row t = forecast of the log return at t+1
    (required iff ``config.use_forecasts``). config: :class:`EnvConfig`. start, end: the
    episode's rows ``[start, end)``. builder: a :class:`FeatureBuilder` (default: statistics from
    rows ``[0, end)`` -- pass one fitted on the training window when ``end`` is not its end).
    macro: (T, M) raw macro features, row t known at the close of t
    (:func:`models.portfolio.macro.macro_features`; required iff ``config.macro_features``);
    the observation's macro block is their z-score with the builder's statistics.

    ## Info
    ``weights`` (target), ``weights_close``, ``turnover``, ``cost``, ``growth``, ``equity``, ``t``.
    """

    metadata = {"render_modes": []}

    def __init__(self, open: np.ndarray, close: np.ndarray, log_returns: np.ndarray,
                 mask: np.ndarray, forecasts: np.ndarray | None = None,
                 config: EnvConfig | None = None, start: int = 0, end: int | None = None,
                 builder: FeatureBuilder | None = None,
                 macro: np.ndarray | None = None) -> None:
        super().__init__()
        self.config = cfg = config or EnvConfig()
        close = np.asarray(close, dtype=np.float64)
        if close.ndim != 2:
            raise DataError(f"close must be a (T, N) array, got shape {close.shape}")
        T, N = close.shape
        arrays = {"open": open, "log_returns": log_returns, "mask": mask}
        if forecasts is not None:
            arrays["forecasts"] = forecasts
        for name, a in arrays.items():
            if np.shape(a) != (T, N):
                raise DataError(f"{name} has shape {np.shape(a)}, expected {(T, N)} like close")
        if cfg.use_forecasts and forecasts is None:
            raise ConfigError("EnvConfig.use_forecasts=True needs a forecasts array (or set "
                              "use_forecasts=False for the PPO-only variant)")
        end = T if end is None else int(end)
        start = int(start)
        if not (0 <= start and start + 2 <= end <= T):
            raise DataError(f"episode rows [start={start}, end={end}) need 0 <= start and "
                            f"start + 2 <= end <= {T}")
        self.n_assets, self.start, self.end = N, start, end
        self.log_returns = np.asarray(log_returns, dtype=np.float64)
        self.mask = np.asarray(mask, dtype=bool)
        self.forecasts = (np.asarray(forecasts, dtype=np.float64)
                          if (forecasts is not None and cfg.use_forecasts) else None)
        self.gap, self.intra = bar_returns(open, close)  # finite: execute_clean's inputs
        if int(cfg.top_k) < 1:
            raise ConfigError(f"top-K projection needs k >= 1, got {cfg.top_k}")
        self._k, self._tau = int(cfg.top_k), float(cfg.tau)
        macro = _check_macro(macro, cfg, T)
        layout = FeatureLayout(N, cfg.window, cfg.use_forecasts,
                               0 if macro is None else macro.shape[1])
        if builder is None:
            mstats = {} if macro is None else dict(zip(("macro_mean", "macro_std"),
                                                       fit_stats(macro[:end])))
            builder = FeatureBuilder(layout, *fit_stats(self.log_returns[:end], self.mask[:end]),
                                     **mstats)
        if builder.layout != layout:
            raise ConfigError(f"feature builder layout {builder.layout} does not match {layout}")
        self.builder = builder
        # z-scoring is row-wise with fixed training statistics, so it can be done once up front
        self._z = builder.zscore(self.log_returns)
        self._zf = builder.zscore(self.forecasts) if self.forecasts is not None else None
        self._zm = builder.zscore_macro(macro) if macro is not None else None
        # per-step inputs prepared once (models.portfolio.env_kernel; bit-identical, tested)
        self._obs_rows = ObsRows(layout, self._z, self._zf, self.mask, self._zm, start)
        self._step_rows = step_rows(self.mask, self.gap, self.intra)
        self._buf = np.empty(N, dtype=np.float64)
        self._neg_scale = -float(cfg.logit_scale)  # -(x * s) == x * -s exactly
        self.action_space = spaces.Box(-1.0, 1.0, shape=(N,), dtype=np.float32)
        self.observation_space = spaces.Box(-builder.clip, builder.clip, shape=(layout.size,),
                                            dtype=np.float32)
        self._t = start
        self._w = initial_weights(self.mask[start])
        self._equity = 1.0
        self._rows: np.ndarray | None = None  # bootstrapped decision rows r_0 .. r_n
        self._i = 0

    @property
    def episode_rows(self) -> np.ndarray:
        """Decision rows of the current episode, ``r_0 .. r_n`` (``r_n`` only gives the last
        observation); on the real path ``arange(t0, end)``."""
        if self._rows is not None:
            return self._rows.copy()
        return np.arange(self._t - self._i, self.end)

    def _bootstrap_rows(self) -> np.ndarray:
        cfg = self.config
        hi = self.end - 2
        lo = min(self.start + cfg.window, hi)
        n = cfg.episode_weeks or (self.end - 1 - self.start)
        rng = self.np_random
        new_block = rng.random(n + 1) < 1.0 / cfg.bootstrap_block
        starts = rng.integers(lo, hi + 1, size=n + 1)
        rows = np.empty(n + 1, dtype=np.int64)
        r = int(starts[0])
        rows[0] = r
        for i in range(1, n + 1):
            r = int(starts[i]) if new_block[i] else (r + 1 if r < hi else lo)
            rows[i] = r
        return rows

    # -- helpers -------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        return self._obs_rows(self._t, self._w, clean=False)

    def weights_for(self, action: np.ndarray) -> np.ndarray:
        """Target weights for an action at the current decision bar."""
        cfg = self.config
        return topk_project(np.asarray(action, dtype=np.float64) * cfg.logit_scale, cfg.top_k,
                            cfg.tau, self.mask[self._t])

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._i = 0
        if self.config.bootstrap_block > 0:
            self._rows = self._bootstrap_rows()
            t0 = int(self._rows[0])
        else:
            self._rows = None
            t0 = self.start
            max_off = min(self.config.random_start, self.end - 2 - self.start)
            if max_off > 0:
                t0 += int(self.np_random.integers(0, max_off + 1))
        self._t = t0
        self._w = initial_weights(self.mask[t0])
        self._equity = 1.0
        return self._obs_rows(t0, self._w), {"t": t0, "equity": 1.0, "weights": self._w.copy()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        cfg, t, w = self.config, self._t, self._w
        mask_t, idx, g, g1, r, r1 = self._step_rows[t]
        # the lean per-step path (models.portfolio.env_kernel): the arithmetic of weights_for
        # and execute_step on inputs prepared in __init__, bit-identical (tested)
        neg = np.multiply(action, self._neg_scale, dtype=np.float64)
        if neg.ndim != 1:
            neg = neg.reshape(-1)
        target = project_neg(neg, self._k, self._tau, mask_t, idx)
        if cfg.smoothing > 0:  # turnover control (off by default: the paper)
            target = smooth_target(w, target, cfg.smoothing, mask_t)
        if cfg.rebalance_band > 0 and within_band(w, target, cfg.rebalance_band):
            target = drifted_weights(w, g)  # no trade: hold what drifted
        growth, cost, turnover, w_close, clean = execute_rows(w, target, g, g1, r, r1, cfg.tc,
                                                              self._buf)
        net = growth - 1.0 - cfg.sparsity * int(np.count_nonzero(target)) / self.n_assets
        reward = float(np.log(max(1.0 + net, 1e-12)))
        if cfg.turnover_penalty > 0:  # training signal only; equity and growth are unaffected
            reward -= cfg.turnover_penalty * 0.5 * turnover
        if cfg.reward_clip > 0:
            c = cfg.reward_clip
            reward = float(min(max(reward, -c), c))
        self._equity *= growth
        self._w = w_close
        self._i += 1
        terminated = self._equity <= 0.0
        if self._rows is None:
            self._t = t = t + 1
            truncated = (not terminated) and t >= self.end - 1
        else:  # block bootstrap: the next decision row may start a new block
            self._t = t = int(self._rows[min(self._i, len(self._rows) - 1)])
            truncated = (not terminated) and self._i >= len(self._rows) - 1
        info = {"weights": target, "weights_close": w_close, "turnover": turnover,
                "cost": cost, "growth": growth, "equity": self._equity, "t": t}
        return self._obs_rows(t, w_close, clean), reward, terminated, truncated, info


def _check_macro(macro: np.ndarray | None, cfg: EnvConfig, T: int) -> np.ndarray | None:
    """The (T, M) macro array the config uses (None without macro features)."""
    if not cfg.macro_features:
        return None
    if macro is None:
        raise ConfigError(f"EnvConfig.macro_features={list(cfg.macro_features)} needs a macro "
                          "array: build the arrays with build_env_arrays(panel, env_config=...)")
    macro = np.asarray(macro, dtype=np.float64)
    if macro.ndim != 2 or macro.shape[0] != T or macro.shape[1] < 1:
        raise DataError(f"macro has shape {macro.shape}, expected ({T}, M) with M >= 1")
    return macro


@dataclass(frozen=True)
class EnvArrays:
    """NumPy arrays of a panel, as :class:`PortfolioEnv` needs them (rows = weeks).

    ``forecasts`` are the forecasts of the state (gated when the config asks for it);
    ``macro`` (T, M) the raw macro features and ``macro_spec`` their
    :class:`models.portfolio.macro.MacroSpec` (None without macro features).
    """

    open: np.ndarray
    close: np.ndarray
    log_returns: np.ndarray
    mask: np.ndarray
    forecasts: np.ndarray | None
    dates: np.ndarray
    tickers: tuple[str, ...]
    macro: np.ndarray | None = None
    macro_spec: Any = None

    def env_kwargs(self) -> dict[str, Any]:
        return {"open": self.open, "close": self.close, "log_returns": self.log_returns,
                "mask": self.mask, "forecasts": self.forecasts, "macro": self.macro}

    def feature_builder(self, env_config: EnvConfig, start: int, end: int) -> FeatureBuilder:
        """The FeatureBuilder of ``env_config`` with statistics from rows ``[start, end)``
        only (the training window): returns per asset, and the macro columns when the config
        has macro features (these arrays must then hold them)."""
        s, e = int(start), int(end)
        n = self.close.shape[1]
        macro = _check_macro(self.macro, env_config, self.close.shape[0])
        layout = FeatureLayout(n, env_config.window, env_config.use_forecasts,
                               0 if macro is None else macro.shape[1])
        kw: dict[str, Any] = {}
        if macro is not None:
            spec = self.macro_spec
            if spec is not None and set(spec.features) != set(env_config.macro_features):
                raise ConfigError(f"these arrays hold the macro features {list(spec.features)}, "
                                  f"the config asks for {list(env_config.macro_features)}: "
                                  "rebuild them with build_env_arrays(panel, env_config=...)")
            kw["macro"] = spec
            kw["macro_mean"], kw["macro_std"] = fit_stats(macro[s:e])
        return FeatureBuilder(layout, *fit_stats(self.log_returns[s:e], self.mask[s:e]), **kw)


def build_env_arrays(panel, forecaster=None, forecasts: np.ndarray | None = None, *,
                     env_config: EnvConfig | None = None, yields=None) -> EnvArrays:
    """Turn a :class:`feeds.panel.WeeklyPanel` into :class:`EnvArrays`.

    Args:
        panel: the WeeklyPanel.
        forecaster: optional fitted forecaster with ``forecast(log_returns, mask) -> (T, N)``
            (row t forecasts t+1 from rows <= t; walk-forward causal).
        forecasts: precomputed (T, N) forecasts instead of ``forecaster``.
        env_config: the env config the arrays are for (None = the paper's state). With
            ``forecast_gate="mc_dropout"`` (and ``use_forecasts``) the forecasts are the gated
            ones of :func:`models.portfolio.forecaster.state_forecasts` (``forecaster`` is then
            required); with ``macro_features`` the raw macro features are computed
            (:mod:`models.portfolio.macro`), using the panel's asset classes.
        yields: daily DGS10/DGS2 (:func:`models.portfolio.macro.load_yields`); required iff the
            config has a yield feature.
    """
    lr = panel.log_returns.to_numpy(dtype=np.float64)
    mask = panel.mask.to_numpy(dtype=bool)
    cfg = env_config or EnvConfig()
    if cfg.use_forecasts and cfg.forecast_gate != "none":
        if forecaster is None:
            raise ConfigError(f"forecast_gate={cfg.forecast_gate!r} needs the LSTM forecaster: "
                              "build_env_arrays(panel, forecaster=..., env_config=...)")
        from models.portfolio.forecaster import state_forecasts
        forecasts = state_forecasts(forecaster, lr, mask, cfg)
    if forecasts is None and forecaster is not None:
        forecasts = np.asarray(forecaster.forecast(lr, mask), dtype=np.float64)
    if forecasts is not None and forecasts.shape != lr.shape:
        raise DataError(f"forecasts have shape {forecasts.shape}, expected {lr.shape}")
    macro, spec = None, None
    if cfg.macro_features:
        from models.portfolio import macro as M
        spec = M.MacroSpec.from_config(cfg, panel.tickers, panel.asset_class)
        rows = None
        if spec.needs_yields:
            if yields is None:
                raise ConfigError(f"macro_features {list(cfg.macro_features)} need the Treasury "
                                  "yields: build_env_arrays(..., yields=models.portfolio.macro."
                                  "load_yields())")
            rows = M.yields_asof(yields, panel.index)
        macro = M.macro_features(spec, lr, mask & np.isfinite(lr), rows)
    return EnvArrays(open=panel.open.to_numpy(dtype=np.float64),
                     close=panel.close.to_numpy(dtype=np.float64), log_returns=lr, mask=mask,
                     forecasts=forecasts, dates=panel.index.to_numpy(),
                     tickers=tuple(panel.tickers), macro=macro, macro_spec=spec)
