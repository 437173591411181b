"""The lean env step is bit-identical to the step it replaced.

Reference implementations below are verbatim copies of the functions before the change
(``topk_project`` with its checks, ``execute_step`` with its NaN cleaning, and
``PortfolioEnv.step`` calling them). The new path (``project_clean``, ``execute_clean``, the
lean ``PortfolioEnv.step``) must give the same bits: weights, growth, cost, turnover, rewards,
observations, info, over random logits (with ties, NaN and infinities), masks, K and tau, and
over whole episodes of many seeds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.common.execution import StepResult, bar_returns, execute_clean, execute_step
from models.portfolio.config import EnvConfig
from models.portfolio.env import PortfolioEnv
from models.portfolio.projection import project_clean, topk_project


# ------------------------------------------------------------------ references (old code)
def ref_topk_project(logits, k, tau, mask=None):
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


def _ref_drift(weights, rets):
    port = float(np.dot(weights, rets))
    if 1.0 + port <= 0.0:
        return port, np.zeros_like(weights)
    return port, weights * (1.0 + rets) / (1.0 + port)


def ref_execute_step(weights_close_t, target, gap_returns, intra_returns, tc):
    w = np.asarray(weights_close_t, dtype=float)
    tgt = np.asarray(target, dtype=float)
    g = np.nan_to_num(np.asarray(gap_returns, dtype=float), nan=0.0)
    r = np.nan_to_num(np.asarray(intra_returns, dtype=float), nan=0.0)
    port_gap, w_open = _ref_drift(w, g)
    turnover = float(np.abs(tgt - w_open).sum())
    cost_open = tc * turnover
    port_intra, w_close = _ref_drift(tgt, r)
    growth = (1.0 + port_gap) * (1.0 - cost_open) * (1.0 + port_intra)
    return StepResult(growth=growth, cost=(1.0 + port_gap) * cost_open, turnover=turnover,
                      weights_open=w_open, weights_close=w_close)


class RefEnv(PortfolioEnv):
    """PortfolioEnv with the old step."""

    def step(self, action):
        cfg, t = self.config, self._t
        target = ref_topk_project(np.asarray(action, dtype=np.float64) * cfg.logit_scale,
                                  cfg.top_k, cfg.tau, self.mask[self._t])
        res = ref_execute_step(self._w, target, self.gap[t], self.intra[t], cfg.tc)
        nnz = int(np.count_nonzero(target))
        net = res.growth - 1.0 - cfg.sparsity * nnz / self.n_assets
        reward = float(np.log(max(1.0 + net, 1e-12)))
        if cfg.reward_clip > 0:
            reward = float(np.clip(reward, -cfg.reward_clip, cfg.reward_clip))
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


def _same(a, b) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit (NaN payloads, signed zeros included)


# ------------------------------------------------------------------ projection
_special = st.sampled_from([0.0, -0.0, 1.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300])
_logit = st.one_of(st.floats(-50, 50, allow_nan=False), _special)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), k=st.integers(1, 45),
       tau=st.sampled_from([0.0, 0.01, 0.02, 0.1, 0.3, 0.99]))
def test_project_clean_equals_topk_project(data, n, k, tau):
    x = data.draw(hnp.arrays(np.float64, n, elements=_logit))
    mask = data.draw(hnp.arrays(np.bool_, n))
    ref = ref_topk_project(x, k, tau, mask)
    _same(topk_project(x, k, tau, mask), ref)
    _same(project_clean(x.copy(), k, tau, mask), ref)
    _same(topk_project(x, k, tau, None), ref_topk_project(x, k, tau, None))


# ------------------------------------------------------------------ execution
@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), tc=st.sampled_from([0.0, 0.001, 0.01, 0.2]))
def test_execute_clean_equals_execute_step(data, n, tc):
    ret = st.one_of(st.floats(-1.0, 3.0, allow_nan=False), st.sampled_from([0.0, -1.0, -0.99]))
    w = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1)))
    tgt = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1)))
    g = data.draw(hnp.arrays(np.float64, n, elements=ret))
    r = data.draw(hnp.arrays(np.float64, n, elements=ret))
    a, b = execute_clean(w, tgt, g, r, tc), ref_execute_step(w, tgt, g, r, tc)
    c = execute_step(w, tgt, g, r, tc)
    for res in (a, c):
        for f in ("growth", "cost", "turnover", "weights_open", "weights_close"):
            _same(getattr(res, f), getattr(b, f))


def test_bar_returns_are_clean():
    # execute_clean's precondition on the env's arrays: no NaN or inf, float64
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 2, (30, 5))
    p[rng.random(p.shape) < 0.2] = np.nan
    p[3, 1] = 0.0
    for a in bar_returns(p, p * 1.01):
        assert a.dtype == np.float64 and np.isfinite(a).all()


# ------------------------------------------------------------------ whole episodes
def _arrays(seed: int, T: int = 60, N: int = 9):
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0, 0.03, (T, N)), axis=0)) * 50
    open_ = close * np.exp(rng.normal(0, 0.01, (T, N)))
    mask = np.ones((T, N), dtype=bool)
    for j in range(3):  # late listings, an asset that ends
        mask[: rng.integers(1, T // 2), j] = False
    mask[T - 10:, N - 1] = False
    close[~mask] = np.nan
    open_[~mask] = np.nan
    lr = np.full((T, N), np.nan)
    lr[1:] = np.log(close[1:] / close[:-1])
    lr[mask & ~np.isfinite(lr)] = 0.0
    fc = np.where(mask, rng.normal(0, 0.02, (T, N)), np.nan)
    return {"open": open_, "close": close, "log_returns": lr, "mask": mask, "forecasts": fc}


@pytest.mark.parametrize("seed", range(12))
def test_lean_env_step_is_bit_identical(seed):
    rng = np.random.default_rng(100 + seed)
    cfg = replace(EnvConfig(), top_k=int(rng.integers(1, 10)), tau=float(rng.choice([0, 0.02, 0.2])),
                  tc=float(rng.choice([0.0, 0.001, 0.01])),
                  reward_clip=float(rng.choice([0.0, 0.01])),
                  bootstrap_block=int(rng.choice([0, 4])),
                  random_start=int(rng.choice([0, 5])), use_forecasts=bool(seed % 2))
    arr = _arrays(seed)
    if not cfg.use_forecasts:
        arr["forecasts"] = None
    envs = [PortfolioEnv(**arr, config=cfg, end=45), RefEnv(**arr, config=cfg, end=45)]
    obs = [e.reset(seed=seed)[0] for e in envs]
    _same(obs[0], obs[1])
    for i in range(300):
        a = rng.uniform(-1, 1, 9).astype(np.float32)
        if i % 17 == 0:
            a[rng.integers(0, 9, 3)] = a[0]  # ties
        out = [e.step(a) for e in envs]
        for x, y in zip(out[0][:4], out[1][:4]):
            _same(x, y)
        assert out[0][4].keys() == out[1][4].keys()
        for key in out[0][4]:
            _same(out[0][4][key], out[1][4][key])
        if out[0][2] or out[0][3]:
            obs = [e.reset() for e in envs]
            _same(obs[0][0], obs[1][0])
