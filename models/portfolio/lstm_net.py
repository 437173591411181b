"""The batched per-asset LSTM network of System 1's forecaster, and its data helpers.

:class:`models.portfolio.forecaster.LSTMForecaster` trains and runs N independent univariate
LSTMs as one network whose parameters carry a leading asset dimension (see that module's
implementation notes). This module holds the pieces that do not depend on the fitted state:

* :func:`init_params`: PyTorch's default ``nn.LSTM`` / ``nn.Linear`` initialisation per asset;
* :func:`hidden_states` (the recurrence), :func:`head` (dropout + linear output; the
  training mask from :func:`dropout_mask`) and :func:`net` (both, without dropout): ``(N, B, L)`` z-scored windows -> ``(N, B)`` predicted next z-score;
* :func:`mc_masks` and :func:`mc_head`: the Monte-Carlo dropout passes of the uncertainty gate.
  Each of the ``n`` passes is one thinned network (a dropout mask per asset and hidden unit,
  drawn from a seeded generator) applied to every window, so a window's samples do not depend
  on which other windows are computed with it: the training arrays (all weeks at once) and the
  allocator (the last week only) get the same samples;
* :func:`windows`: gathering input windows, validity and targets;
* input checks, per-asset statistics, the chronological split and per-asset early stopping.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from feeds.errors import DataError

# Windows processed at once by ``forecast`` (per chunk memory ~ N * chunk * 4H floats per step).
_FORECAST_CHUNK = 512
# Extra weeks beyond ``lookback`` a training window must have (train + validation windows).
_MIN_EXTRA_ROWS = 2

_PARAM_NAMES = ("w_ih", "w_hh", "b", "w_out", "b_out")
_LSTM_NAMES = ("w_ih", "w_hh", "b")  # the recurrence's parameters (the head: w_out, b_out)


def _check_length(avail: np.ndarray, L: int) -> int:
    """Rows an asset needs (lookback + 2); DataError unless some asset has that many."""
    T = avail.shape[0]
    need = L + _MIN_EXTRA_ROWS
    counts = avail.sum(axis=0)
    if T < need or not (counts >= need).any():
        raise DataError(
            f"LSTM forecaster needs at least {need} weeks of available returns for some asset "
            f"(lookback {L} + {_MIN_EXTRA_ROWS}); got {T} weeks, at most "
            f"{int(counts.max(initial=0))} available for any asset")
    return need


def _asset_stats(r: np.ndarray, avail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-asset mean and std of the available rows (NaN mean / std 1 where none or constant)."""
    n = r.shape[1]
    mean = np.full(n, np.nan)
    std = np.ones(n)
    for j in range(n):
        col = r[avail[:, j], j]
        if col.size:
            mean[j] = col.mean()
            s = col.std()
            std[j] = s if np.isfinite(s) and s > 1e-12 else 1.0
    return mean, std


def _split_ends(T: int, L: int, val_frac: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Window ends ``t in [L-1, T-2]`` (target row t+1), split chronologically: the last
    ``val_frac`` of them (at least one when ``val_frac > 0``) validate."""
    ends = torch.arange(L - 1, T - 1)
    n_win = len(ends)
    n_val = round(val_frac * n_win)
    n_val = min(max(n_val, 1 if val_frac > 0 else 0), n_win - 1)
    return ends[: n_win - n_val], ends[n_win - n_val:]


class _EarlyStopping:
    """Per-asset early stopping: keep each asset's best parameters by its own criterion and
    stop it after ``patience`` epochs without improvement (``active`` = still training)."""

    def __init__(self, params: dict, trained: torch.Tensor, patience: int) -> None:
        n = trained.shape[0]
        self.best = {k: v.detach().clone() for k, v in params.items()}
        self.best_loss = torch.full((n,), float("inf"))
        self.best_epoch = torch.full((n,), -1, dtype=torch.long)
        self.stopped = torch.full((n,), -1, dtype=torch.long)
        self.active = trained.clone()
        self.bad = torch.zeros(n, dtype=torch.long)
        self.patience = patience

    def update(self, epoch: int, crit: torch.Tensor, params: dict) -> None:
        improved = self.active & (crit < self.best_loss)
        for k in _PARAM_NAMES:
            self.best[k][improved] = params[k].detach()[improved]
        self.best_loss = torch.where(improved, crit, self.best_loss)
        self.best_epoch = torch.where(improved, torch.tensor(epoch), self.best_epoch)
        self.bad = torch.where(improved, torch.zeros_like(self.bad), self.bad + 1)
        newly = self.active & (self.bad >= self.patience)
        self.stopped = torch.where(newly, torch.tensor(epoch), self.stopped)
        self.active = self.active & ~newly



def _available(log_returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Boolean (T, N): the row is usable (mask True and the value finite)."""
    return np.asarray(mask, dtype=bool) & np.isfinite(log_returns)


def _check_inputs(log_returns: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(log_returns, dtype=np.float64)
    m = np.asarray(mask)
    if r.ndim != 2:
        raise DataError(f"log returns must be a 2-D (weeks, assets) array, got shape {r.shape}")
    if m.shape != r.shape:
        raise DataError(f"mask shape {m.shape} does not match log returns shape {r.shape}")
    return r, m.astype(bool)

def init_params(n: int, hidden: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """PyTorch nn.LSTM/nn.Linear default init: U(-1/sqrt(H), 1/sqrt(H)), per asset."""
    h = int(hidden)
    k = 1.0 / math.sqrt(h)

    def u(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1) * k

    # gate order (i, f, o, g) (nn.LSTM uses i, f, g, o); b = b_ih + b_hh.
    return {
        "w_ih": u(n, 4 * h),          # input size 1
        "w_hh": u(n, h, 4 * h),       # stored transposed for h @ w_hh
        "b": u(n, 4 * h) + u(n, 4 * h),
        "w_out": u(n, h, 1),
        "b_out": u(n, 1),
    }


def hidden_states(p: dict[str, torch.Tensor], x: torch.Tensor, rows: torch.Tensor | None = None,
                  n_all: int = 0) -> torch.Tensor:
    """x: (N, B, L) z-scored inputs -> (N, B, H) last hidden state of each window.

    ``rows`` (with ``n_all``): the recurrence runs only for these rows of a stack of ``n_all``
    assets (the others have stopped): ``x`` and the LSTM weights (``w_ih``, ``w_hh``, ``b``) hold
    those rows only, and the result is (n_all, B, H) with the stopped assets' state zero."""
    n, b, _ = x.shape
    hdim = p["w_hh"].shape[1]
    # One baddbmm per step: [h, x_t, 1] @ [[W_hh], [w_ih], [b]]. Folding the input and bias
    # into the recurrent matmul keeps their gradients a single bmm instead of large
    # broadcast reductions. The g-gate columns are doubled so that one sigmoid over all
    # gates serves: tanh(a) = 2 * sigmoid(2a) - 1 (no slicing, whose backward would
    # zero-fill full-size gradients every step).
    scale = x.new_ones(4 * hdim)
    scale[3 * hdim:] = 2.0
    w = torch.cat([p["w_hh"], p["w_ih"][:, None, :], p["b"][:, None, :]], dim=1) * scale
    xs = torch.stack([x, torch.ones_like(x)], dim=-1).permute(2, 0, 1, 3).unbind(0)
    h = x.new_zeros(n, b, hdim)
    c = x.new_zeros(n, b, hdim)
    for xt in xs:                                             # xt: (N, B, 2)
        gates = torch.bmm(torch.cat([h, xt], dim=-1), w)
        i, f, o, gs = torch.sigmoid(gates).chunk(4, dim=-1)
        c = f * c + i * (2.0 * gs - 1.0)
        h = o * torch.tanh(c)
    if rows is not None:
        h = h.new_zeros(n_all, b, hdim).index_put((rows,), h)
    return h


def dropout_mask(shape: tuple[int, ...], dropout: float, gen: torch.Generator) -> torch.Tensor:
    """Training dropout's keep-mask for hidden states of ``shape`` (N, B, H): one uniform draw
    per element from ``gen``, kept where ``>= dropout``."""
    return torch.rand(shape, generator=gen, dtype=torch.float32) >= dropout


def head(p: dict[str, torch.Tensor], h: torch.Tensor, keep: torch.Tensor | None = None,
         dropout: float = 0.0) -> torch.Tensor:
    """(N, B, H) hidden states -> (N, B) outputs: dropout (training: ``keep`` from
    :func:`dropout_mask`, kept values scaled by ``1 / (1 - dropout)``) then the linear head."""
    if keep is not None:
        h = h * keep / (1.0 - dropout)
    return torch.baddbmm(p["b_out"][:, None, :], h, p["w_out"]).squeeze(-1)


def net(p: dict[str, torch.Tensor], x: torch.Tensor, rows: torch.Tensor | None = None,
        n_all: int = 0) -> torch.Tensor:
    """x: (N, B, L) z-scored inputs -> (N, B) predicted next z-score (no dropout: evaluation and
    inference).

    ``rows`` (with ``n_all``): the recurrence runs only for these rows of a stack of
    ``n_all`` assets (the others have stopped): ``x`` and the LSTM weights (``w_ih``,
    ``w_hh``, ``b``) hold those rows only, the head (``w_out``, ``b_out``) all ``n_all``, and
    the result is (n_all, B) with the stopped assets' hidden state zero. The head runs on the
    full layout (the same reductions as computing all), so an active asset's values are
    bit-identical to computing all."""
    return head(p, hidden_states(p, x, rows, n_all))


def mc_masks(n_samples: int, n_assets: int, hidden: int, dropout: float,
             seed: int) -> torch.Tensor:
    """(N, H, n) keep-masks scaled by 1 / (1 - dropout), one column per Monte-Carlo pass, from
    ``torch.Generator().manual_seed(seed)`` (all ones when ``dropout`` is 0)."""
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.rand((int(n_samples), int(n_assets), int(hidden)), generator=gen)
    keep = (draws >= dropout).to(torch.float32) / (1.0 - dropout)
    return keep.permute(1, 2, 0).contiguous()


def mc_head(p: dict[str, torch.Tensor], h: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N, B, H) hidden states, (N, H, n) scaled masks -> (N, B, n): the head of each pass.

    Pass k computes ``b_out + (h * mask_k) @ w_out`` as ``b_out + h @ (mask_k * w_out)``: one
    ``baddbmm`` for all passes."""
    return torch.baddbmm(p["b_out"][:, None, :], h, p["w_out"] * masks)


def windows(z: torch.Tensor, ok: torch.Tensor, ends: torch.Tensor, L: int,
            with_target: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gather windows ending at ``ends``: inputs (N, B, L), validity (N, B), target (N, B)."""
    offs = torch.arange(-L + 1, 1)
    idx = ends[:, None] + offs[None, :]                     # (B, L)
    x = z[idx].permute(2, 0, 1)                             # (N, B, L)
    valid = ok[idx].all(dim=1).T                            # (N, B)
    y = None
    if with_target:
        y = z[ends + 1].T                                   # (N, B)
        valid = valid & ok[ends + 1].T
    return x, valid, y
