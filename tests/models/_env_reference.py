"""Frozen copies of the System 1 env step as it was before the lean rewrite (not a test module).

``RefEnv`` is :class:`models.portfolio.env.PortfolioEnv` with its ``step`` and ``_obs``
replaced by verbatim copies of the code they replaced (with the projection, the
execution and the observation assembly they called, also frozen here), so
``tests/models/test_perf_equivalence_env.py`` can check the library's lean path against them
bit for bit. Nothing here is imported by the library.
"""

from __future__ import annotations

import numpy as np

from models.common.execution import StepResult, drifted_weights, smooth_target, within_band
from models.portfolio.env import PortfolioEnv


def ref_topk_project(logits, k, tau, mask=None):
    """``topk_project`` before the first lean pass (with its checks and NaN cleaning)."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    avail = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    out = np.zeros(n, dtype=np.float64)
    idx = np.flatnonzero(avail)
    if idx.size == 0:
        return out
    vals = x[idx]
    vals = np.where(np.isnan(vals), -np.inf, vals)
    kk = min(int(k), idx.size)
    order = np.argsort(-vals, kind="stable")[:kk]
    top = vals[order]
    if not np.isfinite(top[0]):
        out[idx[order[0]]] = 1.0
        return out
    top = np.where(np.isfinite(top), top, -np.inf)
    e = np.exp(top - top[0])
    w = e / e.sum()
    w[w < tau] = 0.0
    if not w.any():
        w[0] = 1.0
    w /= w.sum()
    out[idx[order]] = w
    return out


def ref_execute_step(weights_close_t, target, gap_returns, intra_returns, tc):
    """``execute_step`` before the first lean pass (NaN cleaning, then the accounting)."""
    g = np.nan_to_num(np.asarray(gap_returns, dtype=float), nan=0.0)
    r = np.nan_to_num(np.asarray(intra_returns, dtype=float), nan=0.0)
    return ref_execute_clean(np.asarray(weights_close_t, dtype=float),
                             np.asarray(target, dtype=float), g, r, tc)


def ref_project_clean(x, k, tau, avail):
    """``models.portfolio.projection.project_clean`` before the rewrite."""
    out = np.zeros(x.shape[0], dtype=np.float64)
    idx = np.flatnonzero(avail)
    if idx.size == 0:
        return out
    vals = x[idx]
    nan = np.isnan(vals)
    if nan.any():
        vals[nan] = -np.inf
    kk = k if k < idx.size else idx.size  # noqa: FURB136 (verbatim)
    order = np.argsort(-vals, kind="stable")[:kk]
    top = vals[order]
    if not -np.inf < top[0] < np.inf:
        out[idx[order[0]]] = 1.0
        return out
    e = np.exp(top - top[0])
    w = e / e.sum()
    w[w < tau] = 0.0
    if not w.any():
        w[0] = 1.0
    w /= w.sum()
    out[idx[order]] = w
    return out


def _ref_drift(weights, rets):
    port = float(np.dot(weights, rets))
    if 1.0 + port <= 0.0:
        return port, np.zeros_like(weights)
    return port, weights * (1.0 + rets) / (1.0 + port)


def ref_execute_clean(w, tgt, g, r, tc):
    """``models.common.execution.execute_clean`` before the rewrite."""
    port_gap, w_open = _ref_drift(w, g)
    turnover = float(np.abs(tgt - w_open).sum())
    cost_open = tc * turnover
    port_intra, w_close = _ref_drift(tgt, r)
    growth = (1.0 + port_gap) * (1.0 - cost_open) * (1.0 + port_intra)
    return StepResult(growth=growth, cost=(1.0 + port_gap) * cost_open, turnover=turnover,
                      weights_open=w_open, weights_close=w_close)


def ref_assemble(builder, z_history, prev_weights, z_forecasts, mask, z_macro=None):
    """``FeatureBuilder.assemble`` before the rewrite."""
    lay = builder.layout
    n, L = lay.n_assets, lay.window
    s = lay.slices()
    obs = np.zeros(lay.size, dtype=np.float32)
    rows = z_history.shape[0]
    if rows:
        obs[(L - rows) * n: L * n] = z_history.reshape(-1)
    pw = np.asarray(prev_weights, dtype=np.float64)
    obs[s["prev_weights"]] = np.where(np.isnan(pw), 0.0, pw)
    if lay.use_forecasts:
        obs[s["forecasts"]] = z_forecasts
    obs[s["mask"]] = mask
    if lay.n_macro:
        obs[s["macro"]] = z_macro
    return obs


class RefEnv(PortfolioEnv):
    """PortfolioEnv with the step and observation of before the rewrite."""

    def _obs(self):
        t, L = self._t, self.config.window
        zf = self._zf[t] if self._zf is not None else None
        zm = self._zm[t] if self._zm is not None else None
        return ref_assemble(self.builder, self._z[max(0, t - L + 1): t + 1], self._w, zf,
                            self.mask[t], zm)

    def reset(self, *, seed=None, options=None):
        # the episode start and bootstrap rows are the library's (the rewrite left them as
        # they were); the first observation is the frozen assembly's
        _, info = super().reset(seed=seed, options=options)
        return self._obs(), info

    def step(self, action):
        cfg, t = self.config, self._t
        target = ref_project_clean(
            np.asarray(action, dtype=np.float64).reshape(-1) * cfg.logit_scale,
            int(cfg.top_k), float(cfg.tau), self.mask[t])
        if cfg.smoothing > 0:
            target = smooth_target(self._w, target, cfg.smoothing, self.mask[t])
        if cfg.rebalance_band > 0 and within_band(self._w, target, cfg.rebalance_band):
            target = drifted_weights(self._w, self.gap[t])
        res = ref_execute_clean(self._w, target, self.gap[t], self.intra[t], cfg.tc)
        nnz = int(np.count_nonzero(target))
        net = res.growth - 1.0 - cfg.sparsity * nnz / self.n_assets
        reward = float(np.log(max(1.0 + net, 1e-12)))
        if cfg.turnover_penalty > 0:
            reward -= cfg.turnover_penalty * 0.5 * res.turnover
        if cfg.reward_clip > 0:
            c = cfg.reward_clip
            reward = float(min(max(reward, -c), c))
        self._equity *= res.growth
        self._w = res.weights_close
        self._i += 1
        terminated = bool(self._equity <= 0.0)
        if self._rows is None:
            self._t = t + 1
            truncated = (not terminated) and self._t >= self.end - 1
        else:
            self._t = int(self._rows[min(self._i, len(self._rows) - 1)])
            truncated = (not terminated) and self._i >= len(self._rows) - 1
        info = {"weights": target, "weights_close": res.weights_close, "turnover": res.turnover,
                "cost": res.cost, "growth": res.growth, "equity": self._equity, "t": self._t}
        return self._obs(), reward, terminated, truncated, info
