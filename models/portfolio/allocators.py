"""Allocators: target weights at bar t from history up to t (what the Backtrader strategies call).

Every allocator has

* ``history_needed``: rows of history (ending at t) it needs to give a full-information answer;
  shorter histories are accepted (missing rows count as unknown);
* ``target_weights(log_return_history, prev_weights, mask_t, mask_history=None) -> (N,)``:
  long-only weights summing to one over available assets (all zeros if nothing is available).

``log_return_history`` is a (T_h, N) array whose last row is bar t; ``mask_history`` (same
shape, optional) is the availability mask of those rows (default: finite returns). Only the last
``history_needed`` rows are used, so passing the full history up to t or a truncated one gives
the same weights (tested).

A policy trained with yield features (``EnvConfig.macro_features``; :mod:`models.portfolio.macro`)
also needs the bar's date: such an allocator has ``uses_dates = True`` and is called as
``target_weights(..., date=<date of bar t>)``; it reads the last yields dated on or before it
from the ``macro`` DataFrame it was built with. Every other allocator has ``uses_dates = False``
and takes no date.

Inference runs on one torch thread (:data:`INFERENCE_THREADS`): the networks are tiny, and with
torch's default thread count a tiny ``bmm`` on a busy machine takes 15 ms instead of 0.2 ms.
The count is set for each call and restored after (training keeps its own setting).

The allocators that forecast (:class:`LSTMTopKAllocator`, :class:`HybridAllocator`) can skip the
per-bar forecast: :meth:`~LSTMTopKAllocator.walk_forward_forecasts` computes the forecasts of
every row of a whole history in one batched call (row t from rows <= t), and
``target_weights(..., forecast=row_t)`` uses such a row instead of forecasting from the last
``lookback`` rows (what a backtest on preloaded feeds does, :mod:`strategies.allocation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from feeds.errors import BundleError, ConfigError, DataError
from models.portfolio.config import EnvConfig
from models.portfolio.features import FeatureBuilder
from models.common.execution import smooth_target
from models.common.ppo import ObsNormalizer, policy_action
from models.common.threads import torch_threads
from models.portfolio.projection import topk_project

#: torch intra-op threads while an allocator forecasts and runs its policy (tiny tensors).
INFERENCE_THREADS = 1


def _check(h: np.ndarray, prev: np.ndarray, mask_t: np.ndarray, n: int | None) -> tuple:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2:
        raise DataError(f"log return history must be (T, N), got shape {h.shape}")
    if n is not None and h.shape[1] != n:
        raise DataError(f"allocator was built for {n} assets, history has {h.shape[1]}")
    m = np.asarray(mask_t, dtype=bool).reshape(-1)
    p = prev_weights_default(prev, h.shape[1])
    if m.shape[0] != h.shape[1] or p.shape[0] != h.shape[1]:
        raise DataError("prev_weights and mask_t must have one entry per asset")
    return h, p, m


def prev_weights_default(prev: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n) if prev is None else np.asarray(prev, dtype=np.float64).reshape(-1)


class Allocator:
    """Base class; see the module docstring for the contract."""

    history_needed: int = 1
    name: str = "allocator"
    uses_dates: bool = False  #: target_weights needs ``date=`` (the bar's date)

    def target_weights(self, log_return_history: np.ndarray, prev_weights: np.ndarray,
                       mask_t: np.ndarray, mask_history: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


class EqualWeightAllocator(Allocator):
    """1/n over the assets available at t (cash if none)."""

    name = "equal_weight"
    history_needed = 1

    def target_weights(self, log_return_history, prev_weights, mask_t, mask_history=None):
        m = np.asarray(mask_t, dtype=bool).reshape(-1)
        w = m.astype(np.float64)
        return w / w.sum() if w.any() else w


def _forecast_last(forecaster: Any, h: np.ndarray, mask_history: np.ndarray | None,
                   env_config: EnvConfig | None = None) -> np.ndarray:
    """Forecast of the log return at t+1 from the last ``lookback`` rows (NaN if too short);
    with an ``env_config`` the forecast of the state (gated by ``forecast_gate``)."""
    L = int(forecaster.config.lookback)
    rows = h[-L:]
    mh = np.isfinite(rows) if mask_history is None else np.asarray(mask_history, bool)[-L:]
    if mh.shape != rows.shape:
        raise DataError(f"mask_history shape {np.shape(mask_history)} does not match history")
    if rows.shape[0] < L:
        return np.full(h.shape[1], np.nan)
    with torch_threads(INFERENCE_THREADS):
        if env_config is not None and env_config.forecast_gate != "none":
            from models.portfolio.forecaster import state_forecasts
            return state_forecasts(forecaster, rows, mh, env_config)[-1]
        return np.asarray(forecaster.forecast(rows, mh), dtype=np.float64)[-1]


def _forecast_all(forecaster: Any, lr: np.ndarray, mask: np.ndarray,
                  env_config: EnvConfig | None = None, start: int = 0) -> np.ndarray:
    """Walk-forward forecasts of every row, (T, N): row t is what :func:`_forecast_last` gives
    on the rows up to t (NaN for the first ``lookback - 1`` rows). ``start``: only rows from
    ``start`` on are wanted (the earlier ones are NaN, and only the ``lookback - 1`` rows before
    ``start`` are read); the rows computed are the same, bit for bit."""
    lr = np.asarray(lr, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if lr.ndim != 2 or mask.shape != lr.shape:
        raise DataError(f"log returns {lr.shape} and mask {mask.shape} must be one (T, N) shape")
    s0 = max(0, int(start) - int(forecaster.config.lookback) + 1)
    out = np.full(lr.shape, np.nan)
    with torch_threads(INFERENCE_THREADS):
        if env_config is not None and env_config.forecast_gate != "none":
            from models.portfolio.forecaster import state_forecasts
            out[s0:] = state_forecasts(forecaster, lr[s0:], mask[s0:], env_config)
        else:
            out[s0:] = np.asarray(forecaster.forecast(lr[s0:], mask[s0:]), dtype=np.float64)
    out[:int(start)] = np.nan
    return out


def _given_forecast(forecast: Any, n: int) -> np.ndarray:
    fc = np.asarray(forecast, dtype=np.float64).reshape(-1)
    if fc.shape[0] != n:
        raise DataError(f"forecast has {fc.shape[0]} entries, the history {n} assets")
    return fc


class LSTMTopKAllocator(Allocator):
    """LSTM-only baseline: equal weight over the K available assets with the highest forecasts.

    Our reading of the paper's "allocate to the Top-K forecasts": the K largest forecasts among
    available assets with a finite forecast, equally weighted, whatever their sign (fully
    invested and long-only, like the other variants). If no forecast is available yet the
    allocator holds 1/n of the available assets. Ties are broken by ticker order.
    """

    name = "lstm_topk"

    def __init__(self, forecaster: Any, k: int) -> None:
        if int(k) < 1:
            raise ConfigError(f"LSTMTopKAllocator needs k >= 1, got {k}")
        self.forecaster, self.k = forecaster, int(k)
        self.history_needed = int(forecaster.config.lookback)

    @classmethod
    def from_bundle(cls, bundle: Any) -> "LSTMTopKAllocator":
        if bundle.forecaster is None:
            raise BundleError(f"bundle {bundle.path} has no LSTM forecaster (variant "
                              f"'{bundle.variant}'); retrain with --retrain")
        return cls(bundle.forecaster, bundle.env_config.top_k)

    def walk_forward_forecasts(self, log_returns: np.ndarray, mask: np.ndarray,
                               start: int = 0) -> np.ndarray:
        """Forecasts of every row of a (T, N) history in one call (rows before ``start``:
        NaN, not computed); row t may be passed as ``forecast=`` to :meth:`target_weights` at
        bar t (same weights as without it)."""
        return _forecast_all(self.forecaster, log_returns, mask, start=start)

    def target_weights(self, log_return_history, prev_weights, mask_t, mask_history=None,
                       forecast=None):
        """``forecast``: optional row t of :meth:`walk_forward_forecasts` (else forecast here)."""
        h, _, m = _check(log_return_history, prev_weights, mask_t, self.forecaster.n_assets_)
        fc = (_forecast_last(self.forecaster, h, mask_history) if forecast is None
              else _given_forecast(forecast, h.shape[1]))
        ok = m & np.isfinite(fc)
        if not ok.any():
            return EqualWeightAllocator().target_weights(h, None, m)
        idx = np.flatnonzero(ok)
        top = idx[np.argsort(-fc[idx], kind="stable")[: self.k]]
        w = np.zeros(h.shape[1])
        w[top] = 1.0 / top.size
        return w


class PolicyAllocator(Allocator):
    """A trained PPO policy + Top-K projection; with a forecaster it is the hybrid variant.

    The action is the policy's deterministic one (its mean; no observation noise, whatever
    ``env_config.obs_noise`` the policy was trained with), so repeated calls give the same
    weights. With ``env_config.smoothing = s > 0`` the projected weights are smoothed toward
    ``prev_weights`` (the weights held at the close) exactly as in the training env:
    ``s * held + (1 - s) * projected`` (:func:`models.common.execution.smooth_target`). The
    no-trade band (``env_config.rebalance_band``) is the strategy's to apply
    (:class:`strategies.mixins.RebalanceBandMixin`): an allocator always returns a target.

    Args:
        model: SB3 PPO model.
        obs_norm: frozen observation statistics (:class:`models.portfolio.train.ObsNormalizer`).
        builder: the feature builder the policy was trained with.
        env_config: the env config it was trained with (window, top_k, tau, logit_scale; the
            forecast gate: ``forecast_gate="mc_dropout"`` gates the forecasts as in training).
        forecaster: LSTM forecaster (hybrid) or None (PPO-only).
        macro: daily DGS10/DGS2 yields indexed by date
            (:func:`models.portfolio.macro.load_yields`); required iff the policy was trained
            with a yield feature (then pass ``date=`` to :meth:`target_weights`).
    """

    name = "policy"

    def __init__(self, model: Any, obs_norm: ObsNormalizer, builder: FeatureBuilder,
                 env_config: EnvConfig, forecaster: Any = None, macro: Any = None) -> None:
        if builder.layout.use_forecasts != (forecaster is not None):
            raise ConfigError("the feature layout uses forecasts iff a forecaster is given "
                              f"(layout use_forecasts={builder.layout.use_forecasts})")
        self.model, self.obs_norm, self.builder = model, obs_norm, builder
        self.env_config, self.forecaster = env_config, forecaster
        need = env_config.window
        if forecaster is not None:
            need = max(need, int(forecaster.config.lookback))
        self.macro = self._check_macro(builder, macro)
        if builder.macro is not None:
            need = max(need, builder.macro.history_needed)
            self.uses_dates = builder.macro.needs_yields
        self.history_needed = need

    @staticmethod
    def _check_macro(builder: FeatureBuilder, macro: Any) -> Any:
        """The yields (checked) when the state has yield features; ConfigError if missing."""
        spec = builder.macro
        if builder.layout.n_macro and spec is None:
            raise ConfigError("the feature layout has a macro block but the builder has no "
                              "MacroSpec; load the policy from its bundle")
        if spec is None or not spec.needs_yields:
            return None
        from models.portfolio.macro import YIELD_FEATURES, check_yields
        if macro is None:
            used = ", ".join(f for f in spec.features if f in YIELD_FEATURES)
            raise ConfigError(f"this policy was trained with yield features ({used}); give it "
                              "the yields: macro=models.portfolio.macro.load_yields() (in a "
                              "strategy: the macro parameter)")
        return check_yields(macro)

    def _macro_row(self, h: np.ndarray, mask_history: np.ndarray | None, date: Any):
        """Raw macro features at t (None without a macro block)."""
        spec = self.builder.macro
        if spec is None:
            return None
        from models.portfolio.macro import macro_at
        mh = np.isfinite(h) if mask_history is None else np.asarray(mask_history, bool)
        if mh.shape[0] < h.shape[0] or mh.shape[1:] != h.shape[1:]:
            raise DataError(f"mask_history shape {mh.shape} does not match history {h.shape}")
        mh = mh[mh.shape[0] - h.shape[0]:]
        return macro_at(spec, h, mh & np.isfinite(h), date, self.macro)

    def walk_forward_forecasts(self, log_returns: np.ndarray, mask: np.ndarray,
                               start: int = 0) -> np.ndarray | None:
        """State forecasts of every row of a (T, N) history in one call (None without a
        forecaster; rows before ``start``: NaN, not computed); row t may be passed as
        ``forecast=`` to :meth:`target_weights` at bar t."""
        if self.forecaster is None:
            return None
        return _forecast_all(self.forecaster, log_returns, mask, self.env_config, start)

    def target_weights(self, log_return_history, prev_weights, mask_t, mask_history=None,
                       date=None, forecast=None):
        """``forecast``: optional row t of :meth:`walk_forward_forecasts` (else forecast here;
        ignored without a forecaster)."""
        h, p, m = _check(log_return_history, prev_weights, mask_t, self.builder.layout.n_assets)
        fc = None
        if self.forecaster is not None:
            fc = (_forecast_last(self.forecaster, h, mask_history, self.env_config)
                  if forecast is None else _given_forecast(forecast, h.shape[1]))
        obs = self.builder.observation(h[-self.env_config.window:], p, fc, m,
                                       self._macro_row(h, mask_history, date))
        w = self.weights_for_observation(obs, m)
        if self.env_config.smoothing > 0:  # as the training env does (EnvConfig.smoothing)
            w = smooth_target(p, w, self.env_config.smoothing, m)
        return w

    @classmethod
    def _parts(cls, bundle: Any, **parts: Any) -> dict[str, Any]:
        """The named parts, from ``bundle`` (which must hold this variant) when one is given;
        ConfigError if any is missing."""
        if bundle is not None:
            if bundle.variant != cls.name:
                raise BundleError(f"bundle {bundle.path} holds the '{bundle.variant}' variant, "
                                  f"not '{cls.name}'; retrain with --retrain")
            parts = {k: getattr(bundle, k) for k in parts}
        if any(v is None for v in parts.values()):
            names = list(parts)
            raise ConfigError(f"{cls.__name__} needs a bundle or {', '.join(names[:-1])} and "
                              f"{names[-1]}")
        return parts

    def weights_for_observation(self, obs: np.ndarray, mask_t: np.ndarray) -> np.ndarray:
        """Deterministic action for a raw observation, projected to weights."""
        cfg = self.env_config
        with torch_threads(INFERENCE_THREADS):
            act = policy_action(self.model, self.obs_norm, obs)
        return topk_project(act * cfg.logit_scale, cfg.top_k, cfg.tau, mask_t)


class HybridAllocator(PolicyAllocator):
    """Hybrid LSTM + PPO (forecasts in the state). Build with :meth:`from_bundle` or parts."""

    name = "hybrid"

    def __init__(self, bundle: Any = None, *, forecaster: Any = None, model: Any = None,
                 obs_norm: ObsNormalizer | None = None, builder: FeatureBuilder | None = None,
                 env_config: EnvConfig | None = None, macro: Any = None) -> None:
        p = self._parts(bundle, forecaster=forecaster, model=model, obs_norm=obs_norm,
                        builder=builder, env_config=env_config)
        super().__init__(p["model"], p["obs_norm"], p["builder"], p["env_config"],
                         p["forecaster"], macro=macro)

    @classmethod
    def from_bundle(cls, bundle: Any, macro: Any = None) -> "HybridAllocator":
        return cls(bundle, macro=macro)


class PPOAllocator(PolicyAllocator):
    """PPO-only (no forecasts in the state). Build with :meth:`from_bundle` or parts."""

    name = "ppo"

    def __init__(self, bundle: Any = None, *, model: Any = None,
                 obs_norm: ObsNormalizer | None = None, builder: FeatureBuilder | None = None,
                 env_config: EnvConfig | None = None, macro: Any = None) -> None:
        p = self._parts(bundle, model=model, obs_norm=obs_norm, builder=builder,
                        env_config=env_config)
        super().__init__(p["model"], p["obs_norm"], p["builder"], p["env_config"], None,
                         macro=macro)

    @classmethod
    def from_bundle(cls, bundle: Any, macro: Any = None) -> "PPOAllocator":
        return cls(bundle, macro=macro)


def allocator_from_bundle(bundle: Any, macro: Any = None) -> Allocator:
    """The allocator matching a bundle's variant; ``macro``: the yields a policy trained with
    yield features needs (:func:`models.portfolio.macro.load_yields`; ignored otherwise)."""
    if bundle.variant == "lstm":
        return LSTMTopKAllocator.from_bundle(bundle)
    return {"hybrid": HybridAllocator, "ppo": PPOAllocator}[bundle.variant].from_bundle(
        bundle, macro=macro)
