"""Anchors of the System 1 env-step row of ``bench_ratios.py``: FinRL's step and a NumPy floor.

* :class:`FinRLPortfolioStep`: a port of the per-step work of FinRL's ``StockPortfolioEnv``
  (``finrl/meta/env_portfolio_allocation/env_portfolio.py`` in AI4Finance-Foundation/FinRL,
  commit 5eaf7dbc005340841ca0741e543d9424fb522d80), written here because FinRL is not installed
  in this environment. Each non-terminal step does what that file's ``step`` does, with the same
  pandas and NumPy calls on the same data layout: the terminal check
  ``day >= len(df.index.unique()) - 1``, a softmax of the action, appending it to the action
  memory, ``df.loc[day, :]`` of the next day (one row per ticker, the index is the day number),
  the state ``np.append(cov_matrix, [indicator lists], axis=0)``, the portfolio return with
  Python's ``sum`` over ``(close_t+1 / close_t - 1) * weights``, and the memories (value, return,
  ``data.date.unique()[0]``). The terminal step (plots saved with matplotlib and printed
  statistics, once per episode) is left out, which only flatters FinRL. The data frame has FinRL's
  columns: ``date``, ``tic``, ``close``, ``cov_list`` (the trailing covariance matrix of returns,
  FinRL's preprocessing) and its eight default indicators (stand-in values: the step's cost does
  not depend on them).
* :func:`numpy_floor`: the same step as :class:`models.portfolio.env.PortfolioEnv` (Top-K
  projection, next-open execution with drift and costs, the reward, the observation) written as
  one NumPy function over preallocated arrays, without gymnasium, dataclasses or checks: the
  cost of the arithmetic itself. The benchmark checks that it reproduces the env's rewards and
  observations exactly before timing it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FINRL_SOURCE = ("AI4Finance-Foundation/FinRL finrl/meta/env_portfolio_allocation/env_portfolio.py"
                " @ 5eaf7dbc005340841ca0741e543d9424fb522d80")
FINRL_INDICATORS = ("macd", "boll_ub", "boll_lb", "rsi_30", "cci_30", "dx_30", "close_30_sma",
                    "close_60_sma")


def finrl_frame(close: np.ndarray, dates, tickers, lookback: int = 52) -> pd.DataFrame:
    """A long frame in FinRL's layout (index = day number, one row per ticker and day)."""
    T, N = close.shape
    c = pd.DataFrame(close, columns=list(tickers)).ffill().fillna(1.0).to_numpy()
    rets = np.vstack([np.zeros((1, N)), c[1:] / c[:-1] - 1.0])
    covs = [np.cov(rets[max(0, t - lookback + 1): t + 1].T) if t >= 1 else np.eye(N)
            for t in range(T)]
    covs = [np.nan_to_num(m) for m in covs]
    rows = {"date": np.repeat(np.asarray(dates), N), "tic": np.tile(list(tickers), T),
            "close": c.reshape(-1), "cov_list": [covs[t] for t in range(T) for _ in range(N)]}
    for i, name in enumerate(FINRL_INDICATORS):  # stand-ins: trailing means of the close
        w = 5 * (i + 1)
        rows[name] = pd.DataFrame(c).rolling(w, min_periods=1).mean().to_numpy().reshape(-1)
    df = pd.DataFrame(rows)
    df.index = np.repeat(np.arange(T), N)
    return df


class FinRLPortfolioStep:
    """The per-step work of FinRL's ``StockPortfolioEnv`` (see the module docstring)."""

    def __init__(self, df: pd.DataFrame, stock_dim: int, initial_amount: float = 1e6,
                 indicators=FINRL_INDICATORS) -> None:
        self.df, self.stock_dim, self.initial_amount = df, stock_dim, initial_amount
        self.tech_indicator_list = list(indicators)
        self.reset()

    def _load_state(self) -> None:
        self.data = self.df.loc[self.day, :]
        self.covs = self.data["cov_list"].values[0]
        self.state = np.append(np.array(self.covs),
                               [self.data[tech].values.tolist()
                                for tech in self.tech_indicator_list], axis=0)

    def reset(self):
        self.asset_memory = [self.initial_amount]
        self.day = 0
        self._load_state()
        self.portfolio_value = self.initial_amount
        self.terminal = False
        self.portfolio_return_memory = [0]
        self.actions_memory = [[1 / self.stock_dim] * self.stock_dim]
        self.date_memory = [self.data.date.unique()[0]]
        return self.state

    @staticmethod
    def softmax_normalization(actions):
        numerator = np.exp(actions)
        denominator = np.sum(np.exp(actions))
        return numerator / denominator

    def step(self, actions):
        self.terminal = self.day >= len(self.df.index.unique()) - 1
        if self.terminal:  # FinRL plots and prints here (left out, see the module docstring)
            return self.state, self.reward, self.terminal, {}
        weights = self.softmax_normalization(actions)
        self.actions_memory.append(weights)
        last_day_memory = self.data
        self.day += 1
        self._load_state()
        portfolio_return = sum(((self.data.close.values / last_day_memory.close.values) - 1)
                               * weights)
        new_portfolio_value = self.portfolio_value * (1 + portfolio_return)
        self.portfolio_value = new_portfolio_value
        self.portfolio_return_memory.append(portfolio_return)
        self.date_memory.append(self.data.date.unique()[0])
        self.asset_memory.append(new_portfolio_value)
        self.reward = new_portfolio_value
        return self.state, self.reward, self.terminal, {}


def numpy_floor(env):
    """``(reset, step)`` doing ``env``'s arithmetic (a :class:`PortfolioEnv` on the real path,
    no band, smoothing, noise or macro block) on preallocated arrays.

    ``step(action) -> (obs, reward, done)``; the observation buffer is reused between steps.
    """
    cfg, b = env.config, env.builder
    N, L, start, end = env.n_assets, cfg.window, env.start, env.end
    K, tau, scale, tc, sp = int(cfg.top_k), float(cfg.tau), float(cfg.logit_scale), cfg.tc, \
        cfg.sparsity
    z, zf, mask, gap, intra = env._z, env._zf, env.mask, env.gap, env.intra
    sl = b.layout.slices()
    pw, fsl, msl = sl["prev_weights"], sl.get("forecasts"), sl["mask"]
    obs = np.zeros(b.layout.size, dtype=np.float32)
    st = {"t": start, "w": None}

    def _obs(t, w):
        rows = min(L, t + 1)
        obs[: (L - rows) * N] = 0.0
        obs[(L - rows) * N: L * N] = z[t - rows + 1: t + 1].reshape(-1)
        obs[pw] = w
        if fsl is not None:
            obs[fsl] = zf[t]
        obs[msl] = mask[t]
        return obs

    def reset():
        m = mask[start]
        w = m / m.sum() if m.any() else np.zeros(N)
        st["t"], st["w"] = start, w
        return _obs(start, w)

    def step(action):
        t, w = st["t"], st["w"]
        x = action.astype(np.float64) * scale
        idx = np.flatnonzero(mask[t])
        vals = x[idx]
        order = np.argsort(-vals, kind="stable")[:K]
        e = np.exp(vals[order] - vals[order[0]])
        p = e / e.sum()
        p[p < tau] = 0.0
        if not p.any():
            p[0] = 1.0
        p /= p.sum()
        target = np.zeros(N)
        target[idx[order]] = p
        g, r = gap[t], intra[t]
        pg = float(np.dot(w, g))
        w_open = w * (1.0 + g) / (1.0 + pg)
        cost = tc * float(np.abs(target - w_open).sum())
        pi = float(np.dot(target, r))
        w_close = target * (1.0 + r) / (1.0 + pi)
        growth = (1.0 + pg) * (1.0 - cost) * (1.0 + pi)
        net = growth - 1.0 - sp * np.count_nonzero(target) / N
        reward = float(np.log(max(1.0 + net, 1e-12)))
        st["t"], st["w"] = t + 1, w_close
        return _obs(t + 1, w_close), reward, t + 1 >= end - 1

    return reset, step
