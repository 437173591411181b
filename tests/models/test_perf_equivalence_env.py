"""The lean System 1 env step is bit-identical to the step it replaced.

``tests/models/_env_reference.py`` holds frozen copies of the code before each lean pass
(``topk_project`` / ``execute_step`` with their checks, then ``project_clean``,
``execute_clean``, ``FeatureBuilder.assemble`` and ``PortfolioEnv.reset`` / ``step`` / ``_obs``
as they were before ``models.portfolio.env_kernel``). The library's path (``project_neg``,
``execute_rows``, ``ObsRows`` and the env) must give the same bits: weights, growth, cost,
turnover, rewards, observations, terminal flags and every info value, over random logits (with
ties, NaN and infinities), masks, K and tau, and over whole episodes of a few hundred random
actions for the default config and for every EnvConfig option. No tolerance anywhere.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.common.execution import bar_returns, execute_clean, execute_step
from models.portfolio.config import EnvConfig
from models.portfolio.env import PortfolioEnv
from models.portfolio.env_kernel import ObsRows, execute_rows
from models.portfolio.features import FeatureBuilder, FeatureLayout
from models.portfolio.projection import project_clean, project_neg, topk_project
from tests.models._env_reference import (
    RefEnv,
    ref_assemble,
    ref_execute_clean,
    ref_execute_step,
    ref_project_clean,
    ref_topk_project,
)


def _same(a, b) -> None:
    assert type(a) is type(b)
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit (NaN payloads, signed zeros included)


# ------------------------------------------------------------------ projection
_special = st.sampled_from([0.0, -0.0, 1.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300])
_special32 = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 3e38, -3e38])
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


@settings(max_examples=400, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), k=st.integers(1, 45),
       tau=st.sampled_from([0.0, 0.01, 0.02, 0.1, 0.3, 0.99]),
       scale=st.sampled_from([5.0, 1.0, 1 / 3, 7.3]), f32=st.booleans())
def test_project_neg_equals_project_clean(data, n, k, tau, scale, f32):
    # the env's path: the action times -scale, available indices prepared per row
    special = _special32 if f32 else _special
    x = data.draw(hnp.arrays(np.float32 if f32 else np.float64, n,
                             elements=st.one_of(st.floats(-1, 1, width=32), special)))
    mask = data.draw(st.one_of(hnp.arrays(np.bool_, n), st.just(np.ones(n, dtype=bool))))
    ref = ref_project_clean(np.asarray(x, dtype=np.float64) * scale, k, tau, mask)
    neg = np.multiply(x, -scale, dtype=np.float64)
    idx = None if mask.all() else np.flatnonzero(mask)
    _same(project_neg(neg, k, tau, mask, idx), ref)


# ------------------------------------------------------------------ execution
_ret = st.one_of(st.floats(-1.0, 3.0, allow_nan=False), st.sampled_from([0.0, -1.0, -0.99]))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), tc=st.sampled_from([0.0, 0.001, 0.01, 0.2]))
def test_execute_paths_equal_execute_step(data, n, tc):
    w = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1)))
    tgt = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1)))
    g = data.draw(hnp.arrays(np.float64, n, elements=_ret))
    r = data.draw(hnp.arrays(np.float64, n, elements=_ret))
    b = ref_execute_step(w, tgt, g, r, tc)
    for res in (execute_clean(w, tgt, g, r, tc), execute_step(w, tgt, g, r, tc),
                ref_execute_clean(w, tgt, g, r, tc)):
        for f in ("growth", "cost", "turnover", "weights_open", "weights_close"):
            _same(getattr(res, f), getattr(b, f))
    buf = np.full(n, np.nan)
    growth, cost, turnover, w_close, clean = execute_rows(w, tgt, g, 1.0 + g, r, 1.0 + r, tc,
                                                          buf)
    for mine, f in ((growth, "growth"), (cost, "cost"), (turnover, "turnover"),
                    (w_close, "weights_close")):
        _same(mine, getattr(b, f))
    assert w_close is not buf and (not clean or not np.isnan(w_close).any())


def test_bar_returns_are_clean():
    # execute_rows' precondition on the env's arrays: no NaN or inf, float64
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 2, (30, 5))
    p[rng.random(p.shape) < 0.2] = np.nan
    p[3, 1] = 0.0
    for a in bar_returns(p, p * 1.01):
        assert a.dtype == np.float64 and np.isfinite(a).all()


# ------------------------------------------------------------------ observations
@pytest.mark.parametrize("table", [True, False])
@pytest.mark.parametrize("window,use_fc,n_macro", [(8, True, 0), (1, False, 0), (4, True, 3),
                                                    (30, False, 2)])
def test_obs_rows_equal_assemble(monkeypatch, table, window, use_fc, n_macro):
    rng = np.random.default_rng(window + n_macro)
    T, N = 25, 6
    if not table:
        monkeypatch.setattr(ObsRows, "TABLE_BYTES", 0)
    lay = FeatureLayout(N, window, use_fc, n_macro)
    b = FeatureBuilder(lay, rng.normal(0, 0.01, N), rng.uniform(0.01, 0.05, N),
                       **({"macro_mean": np.zeros(n_macro), "macro_std": np.ones(n_macro)}
                          if n_macro else {}))
    lr = rng.normal(0, 0.05, (T, N))
    lr[rng.random(lr.shape) < 0.1] = np.nan
    lr[2, 1], lr[3, 2], lr[4, 3] = np.inf, -np.inf, -0.0
    z, mask = b.zscore(lr), rng.random((T, N)) < 0.8
    zf = b.zscore(rng.normal(0, 0.05, (T, N))) if use_fc else None
    zm = b.zscore_macro(rng.normal(0, 2, (T, n_macro))) if n_macro else None
    lo, hi = 3, T
    rows = ObsRows(lay, z, zf, mask, zm, lo)
    assert (rows._table is not None) == table
    for t in range(lo, hi):
        w = rng.dirichlet(np.ones(N)) * (rng.random(N) < 0.7)
        wn = w.copy()
        wn[1] = np.nan
        for ww, clean in ((w, True), (wn, False)):
            ref = ref_assemble(b, z[max(0, t - window + 1): t + 1], ww,
                               zf[t] if use_fc else None, mask[t], zm[t] if n_macro else None)
            _same(rows(t, ww, clean), ref)
        assert rows(t, w) is not rows(t, w)  # a fresh array each call


# ------------------------------------------------------------------ whole episodes
def _arrays(seed: int, T: int = 60, N: int = 9, crash: bool = False, empty: bool = False):
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0, 0.03, (T, N)), axis=0)) * 50
    open_ = close * np.exp(rng.normal(0, 0.01, (T, N)))
    mask = np.ones((T, N), dtype=bool)
    for j in range(3):  # late listings, an asset that ends
        mask[: rng.integers(1, T // 2), j] = False
    mask[T - 10:, N - 1] = False
    if empty:  # weeks with nothing to invest in (cash)
        mask[20:23] = False
    close[~mask] = np.nan
    open_[~mask] = np.nan
    if crash:  # an asset opens at zero (gap -1), then every asset (the portfolio is wiped out)
        open_[15, 4] = 0.0
        open_[33] = 0.0
    lr = np.full((T, N), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr[1:] = np.log(close[1:] / close[:-1])
    lr[mask & ~np.isfinite(lr)] = 0.0
    fc = np.where(mask, rng.normal(0, 0.02, (T, N)), np.nan)
    return {"open": open_, "close": close, "log_returns": lr, "mask": mask, "forecasts": fc}


_CONFIGS = {
    "default": {},
    "band": {"rebalance_band": 0.05},
    "smoothing": {"smoothing": 0.6},
    "turnover_penalty": {"turnover_penalty": 0.3},
    "obs_noise": {"obs_noise": 0.1},
    "reward_clip": {"reward_clip": 0.01},
    "macro": {"macro_features": ("realized_vol", "xmom")},
    "forecast_gate": {"forecast_gate": "mc_dropout"},
    "ppo_only": {"use_forecasts": False},
    "random_start": {"random_start": 7},
    "bootstrap": {"bootstrap_block": 4, "episode_weeks": 25},
    "k_all_tau0": {"top_k": 12, "tau": 0.0, "tc": 0.0},
    "k1_scale": {"top_k": 1, "logit_scale": 1 / 3, "window": 1},
    "big_tau": {"tau": 0.4, "sparsity": 0.01, "window": 20},
    "all_on": {"rebalance_band": 0.02, "smoothing": 0.3, "turnover_penalty": 0.1,
               "obs_noise": 0.05, "reward_clip": 0.02, "macro_features": ("yield_level",),
               "bootstrap_block": 3, "top_k": 3},
}


def _actions(rng, n_steps: int, N: int):
    """Random float32 actions with ties, NaN, infinities, float64, (1, N) and list inputs."""
    out = []
    for i in range(n_steps):
        a = rng.uniform(-1, 1, N).astype(np.float32)
        if i % 17 == 0:
            a[rng.integers(0, N, 3)] = a[0]  # ties
        if i % 53 == 5:
            a[rng.integers(0, N, 2)] = np.nan
        if i % 71 == 7:
            a[rng.integers(0, N)] = rng.choice([np.inf, -np.inf])
        if i % 29 == 3:
            a = a.astype(np.float64)
        elif i % 31 == 4:
            a = a.reshape(1, N)
        elif i % 37 == 6:
            a = a.tolist()
        out.append(a)
    return out


def _run_pair(arr, cfg, seed, n_steps=300, end=None):
    macro = None
    if cfg.macro_features:
        T = arr["close"].shape[0]
        macro = np.random.default_rng(seed).normal(0, 1, (T, len(cfg.macro_features)))
        macro[:3] = np.nan
    if not cfg.use_forecasts:
        arr = {**arr, "forecasts": None}
    envs = [PortfolioEnv(**arr, config=cfg, end=end, macro=macro),
            RefEnv(**arr, config=cfg, end=end, macro=macro)]
    first = [e.reset(seed=seed) for e in envs]
    for x, y in zip(first[0], first[1]):
        _same(x, y) if not isinstance(x, dict) else [_same(x[k], y[k]) for k in y]
    N = arr["close"].shape[1]
    rng = np.random.default_rng(1000 + seed)
    n_done = n_term = 0
    for a in _actions(rng, n_steps, N):
        a_copy = np.array(a, copy=True)
        out = [e.step(a) for e in envs]
        _same(np.asarray(a), a_copy)  # the action is not modified
        for x, y in zip(out[0][:4], out[1][:4]):
            _same(x, y)
        assert list(out[0][4]) == list(out[1][4])
        for key in out[1][4]:
            _same(out[0][4][key], out[1][4][key])
        _same(envs[0]._w, envs[1]._w)
        _same(envs[0]._obs(), envs[1]._obs())
        n_term += out[0][2]
        if out[0][2] or out[0][3]:
            n_done += 1
            obs = [e.reset() for e in envs]
            _same(obs[0][0], obs[1][0])
    return n_done, n_term


@pytest.mark.parametrize("name", list(_CONFIGS))
def test_lean_env_step_is_bit_identical_per_option(name):
    cfg = replace(EnvConfig(), **_CONFIGS[name])
    n_done, _ = _run_pair(_arrays(3), cfg, seed=7, end=50)
    assert n_done >= 3  # several episodes, resets included


@pytest.mark.parametrize("seed", range(8))
def test_lean_env_step_is_bit_identical_random_configs(seed):
    rng = np.random.default_rng(100 + seed)
    cfg = replace(EnvConfig(), top_k=int(rng.integers(1, 10)),
                  tau=float(rng.choice([0, 0.02, 0.2])), tc=float(rng.choice([0.0, 0.001, 0.01])),
                  reward_clip=float(rng.choice([0.0, 0.01])),
                  bootstrap_block=int(rng.choice([0, 4])),
                  random_start=int(rng.choice([0, 5])), use_forecasts=bool(seed % 2),
                  rebalance_band=float(rng.choice([0.0, 0.03])),
                  smoothing=float(rng.choice([0.0, 0.5])),
                  turnover_penalty=float(rng.choice([0.0, 0.2])))
    _run_pair(_arrays(seed, empty=seed % 3 == 0), cfg, seed=seed, end=45)


@pytest.mark.parametrize("cfg", [EnvConfig(top_k=1), EnvConfig(top_k=3, smoothing=0.5)])
def test_lean_env_step_is_bit_identical_through_a_crash(cfg):
    # a zero open wipes a holding out (1 + w . gap <= 0 for a lone holding) and then the whole
    # portfolio: equity reaches zero and the episode terminates, in both envs alike
    n_done, n_term = _run_pair(_arrays(5, crash=True), cfg, seed=2, n_steps=150)
    assert n_term >= 2 and n_done >= 3


def test_obs_of_weights_with_nan_matches():
    # _obs() writes NaN weights as 0 like the old assembly (the step never produces them)
    arr = _arrays(1)
    envs = [PortfolioEnv(**arr), RefEnv(**arr)]
    for e in envs:
        e.reset(seed=0)
        e._w = e._w.copy()
        e._w[[2, 5]] = np.nan
    _same(envs[0]._obs(), envs[1]._obs())


def test_stepping_past_truncation_matches():
    # gymnasium leaves stepping on after truncation undefined; the env still behaves as before
    # (rows after ``end`` are used while they exist), in both envs alike
    arr = _arrays(2)
    envs = [PortfolioEnv(**arr, end=30), RefEnv(**arr, end=30)]
    for e in envs:
        e.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(45):
        a = rng.uniform(-1, 1, 9).astype(np.float32)
        out = [e.step(a) for e in envs]
        for x, y in zip(out[0][:4], out[1][:4]):
            _same(x, y)
    assert out[0][3] and envs[0]._t == 45  # 16 rows past end - 1 = 29
