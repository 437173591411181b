"""Benchmark: batched per-asset LSTM fit vs a Python loop of per-asset ``nn.LSTM`` models.

Both train N independent univariate LSTMs (paper sizes: lookback 30, 64 units, dropout 0.2,
linear head, Adam lr 1e-3 / weight decay 1e-4, batch 64) on the same windows for the same
number of epochs (early stopping disabled: patience = epochs), including a per-epoch
validation pass. Usage::

    python benchmarks/bench_lstm.py [--assets 32] [--weeks 250] [--epochs 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from models.portfolio.config import LSTMConfig
from models.portfolio.forecaster import LSTMForecaster


def synthetic_panel(T: int, N: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((T, N))
    e = rng.standard_normal((T, N)) * 0.03
    for t in range(1, T):
        x[t] = 0.3 * x[t - 1] + e[t]
    return x


class _OneAsset(nn.Module):
    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L)
        out, _ = self.lstm(x.unsqueeze(-1))
        return self.head(self.drop(out[:, -1])).squeeze(-1)


def fit_loop(r: np.ndarray, cfg: LSTMConfig, seed: int = 0) -> list[nn.Module]:
    """Reference: one nn.LSTM per asset, trained one after another (same windows/split)."""
    torch.manual_seed(seed)
    L = cfg.lookback
    T, n = r.shape
    z = (r - r.mean(0)) / r.std(0)
    ends = np.arange(L - 1, T - 1)
    n_val = int(round(cfg.val_frac * len(ends)))
    models = []
    for j in range(n):
        col = torch.as_tensor(z[:, j], dtype=torch.float32)
        idx = torch.as_tensor(ends)[:, None] + torch.arange(-L + 1, 1)[None, :]
        X, Y = col[idx], col[torch.as_tensor(ends) + 1]
        Xtr, Ytr, Xva, Yva = X[:-n_val], Y[:-n_val], X[-n_val:], Y[-n_val:]
        m = _OneAsset(cfg.hidden, cfg.dropout)
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state = float("inf"), None
        for _ in range(cfg.max_epochs):
            m.train()
            perm = torch.randperm(len(Xtr))
            for s in range(0, len(perm), cfg.batch_size):
                b = perm[s:s + cfg.batch_size]
                loss = ((m(Xtr[b]) - Ytr[b]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            m.eval()
            with torch.no_grad():
                v = float(((m(Xva) - Yva) ** 2).mean())
            if v < best:
                best, best_state = v, {k: t.clone() for k, t in m.state_dict().items()}
        m.load_state_dict(best_state)
        models.append(m)
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=32)
    ap.add_argument("--weeks", type=int, default=250, help="training window length in weeks")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    from models.common.threads import torch_threads
    r = synthetic_panel(args.weeks, args.assets)
    m = np.ones_like(r, dtype=bool)
    cfg = replace(LSTMConfig(), max_epochs=args.epochs, patience=args.epochs)
    print(f"{args.assets} assets x {args.weeks} weeks, lookback {cfg.lookback}, "
          f"hidden {cfg.hidden}, "
          f"{args.epochs} epochs, batch {cfg.batch_size}, {args.threads} torch threads")

    tb, tl = [], []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        f = LSTMForecaster(cfg, seed=rep, num_threads=args.threads).fit(r, m)
        tb.append(time.perf_counter() - t0)
        assert f.history_["epochs_run"] == args.epochs
        t0 = time.perf_counter()
        with torch_threads(args.threads):  # the batched fit sets its own (num_threads)
            fit_loop(r, cfg, seed=rep)
        tl.append(time.perf_counter() - t0)
    b, lp = min(tb), min(tl)
    print(f"batched LSTMForecaster.fit : {b:8.2f} s")
    print(f"loop of {args.assets} nn.LSTM models : {lp:8.2f} s")
    print(f"speed-up                   : {lp / b:8.2f}x")


if __name__ == "__main__":
    main()
