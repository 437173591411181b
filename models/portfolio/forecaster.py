"""Batched per-asset LSTM forecaster (System 1, "Hybrid LSTM and PPO", Kevin & Yugopuspito 2025).

One univariate LSTM per asset predicts next week's log return from the last ``lookback`` weekly
log returns (paper: 30 weeks, 64 hidden units, dropout 0.2, linear output, Adam lr 1e-3, weight
decay 1e-4, batch 64, up to 40 epochs with early stopping, MSE loss).

Implementation notes
--------------------
* **Independent weights, one batched pass.** The parameters of the N per-asset networks are
  stacked with a leading asset dimension (``W_ih: (N, 4H)``, ``W_hh: (N, H, 4H)``, ...) and the
  LSTM recurrence is written with one ``torch.bmm`` per step over ``(N, batch, ...)``. Asset ``i``'s
  network only ever sees asset ``i``'s series, and the loss is a *sum over assets* of per-asset
  mean losses, so asset ``i``'s gradient comes only from its own windows. Adam and its L2 weight
  decay are element-wise, so one Adam over the stacked tensors equals N separate Adams (the one
  difference: a mini-batch in which an asset has no valid window still makes an Adam step for
  that asset from momentum and weight decay alone).
* **Shared time batches, masked loss.** Mini-batches are sets of window end times shared by all
  assets. A window (inputs rows ``t-L+1..t``, target row ``t+1``) counts for an asset only if all
  ``L+1`` rows are available; other windows get loss weight 0. So assets listed late (short
  history) train on their valid windows only.
* **Chronological validation.** The last ``val_frac`` of the training window's targets form the
  validation slice (no shuffling across the split; training windows' targets all precede it).
  Shuffling happens only inside the training slice, with a seeded ``torch.Generator``.
* **Per-asset early stopping.** Each asset keeps its own best-validation weights and patience
  counter; once an asset's patience is exhausted its later epochs are ignored (its best weights
  are frozen), which reproduces what training it alone would have given. Training stops when
  every asset has stopped or after ``max_epochs``. An asset without any valid validation window
  uses its training loss (mean mini-batch loss of the epoch) as the stopping criterion. Best
  weights are restored at the end.
* **Normalisation.** Per-asset mean/std of log returns over the *available training rows* only
  (``mean_``, ``std_``); the network works on z-scores and ``forecast`` de-normalises.
* **Causal walk-forward forecasts.** ``forecast`` row ``t`` is the forecast of the log return at
  ``t+1`` from rows ``t-L+1..t`` only (eval mode, no dropout), vectorised over all windows in
  chunks of bounded memory. NaN where ``t < L-1`` or the window contains an unavailable row.
* **Determinism.** Initialisation, batch order and dropout masks all come from one
  ``torch.Generator`` seeded with ``seed``; the global torch RNG is not touched. Same seed, same
  data, same thread count -> identical weights and forecasts.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from feeds.errors import BundleError, DataError
from models.common.threads import torch_threads

if TYPE_CHECKING:  # pragma: no cover
    from models.portfolio.config import LSTMConfig

logger = logging.getLogger(__name__)

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
    n_val = int(round(val_frac * n_win))
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


def _progress_bar(total: int):
    """Progress over epochs: a bar on a terminal, plain periodic lines in a log."""
    from models.common.progress import Progress
    return Progress(total, "LSTM fit", "epochs")


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


class LSTMForecaster:
    """N independent univariate LSTMs (one per asset) trained and run as one batched network.

    Attributes set by :meth:`fit` (or :meth:`load_state_dict`):
        n_assets_: number of assets N.
        mean_, std_: (N,) per-asset training mean/std of log returns (NaN mean for an asset
            without enough data; its forecasts are all NaN).
        trained_: (N,) bool, the asset had at least one valid training window.
        history_: ``{"train_loss": [...], "val_loss": [...]}`` (per epoch, mean over trained
            assets, z-score MSE), ``"epochs_run"``, and per asset ``"best_epoch"``,
            ``"best_val_loss"``, ``"stopped_epoch"`` (lists of length N).
    """

    def __init__(self, config: "LSTMConfig", seed: int = 0, num_threads: int | None = None,
                 progress: bool = False):
        self.config = config
        self.seed = int(seed)
        self.num_threads = num_threads
        self.progress = progress
        self.n_assets_: int = 0
        self.mean_: np.ndarray = np.zeros(0)
        self.std_: np.ndarray = np.ones(0)
        self.trained_: np.ndarray = np.zeros(0, dtype=bool)
        self.history_: dict = {}
        self._params: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------------ network
    def _init_params(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """PyTorch nn.LSTM/nn.Linear default init: U(-1/sqrt(H), 1/sqrt(H)), per asset."""
        h = self.config.hidden
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

    @staticmethod
    def _net(p: dict[str, torch.Tensor], x: torch.Tensor, dropout: float = 0.0,
             gen: torch.Generator | None = None, rows: torch.Tensor | None = None,
             n_all: int = 0) -> torch.Tensor:
        """x: (N, B, L) z-scored inputs -> (N, B) predicted next z-score.

        ``rows`` (with ``n_all``): the recurrence runs only for these rows of a stack of
        ``n_all`` assets (the others have stopped): ``x`` and the LSTM weights (``w_ih``,
        ``w_hh``, ``b``) hold those rows only, the head (``w_out``, ``b_out``) all ``n_all``, and
        the result is (n_all, B) with the stopped assets' hidden state zero. Dropout and the
        head then run on the full layout (the same mask draws, and the same reductions in the
        head's backward), so an active asset's values are bit-identical to computing all."""
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
        if dropout > 0.0:
            keep = torch.rand(h.shape, generator=gen, dtype=h.dtype) >= dropout
            h = h * keep / (1.0 - dropout)
        return torch.baddbmm(p["b_out"][:, None, :], h, p["w_out"]).squeeze(-1)

    # ------------------------------------------------------------------ data
    @staticmethod
    def _windows(z: torch.Tensor, ok: torch.Tensor, ends: torch.Tensor, L: int,
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

    # ------------------------------------------------------------------ fit
    def _finish(self, stop, mean, std, trained, hist_tr, hist_va, epochs_run: int) -> None:
        """Keep each asset's best parameters, the normalisation and the training history."""
        self._params = {k: v.detach().clone() for k, v in stop.best.items()}
        self.n_assets_ = n = len(mean)
        self.mean_ = mean
        self.std_ = std
        self.trained_ = trained
        self.history_ = {
            "train_loss": hist_tr,
            "val_loss": hist_va,
            "epochs_run": epochs_run,
            "best_epoch": [int(e) + 1 if e >= 0 else 0 for e in stop.best_epoch.tolist()],
            "best_val_loss": [float(v) if math.isfinite(v) else float("nan")
                              for v in stop.best_loss.tolist()],
            "stopped_epoch": [int(e) + 1 if e >= 0 else 0 for e in stop.stopped.tolist()],
        }
        logger.info(
            "LSTM forecaster fitted: %d assets (%d trainable), %d epochs, mean best val MSE %.4f",
            n, int(trained.sum()), epochs_run,
            float(np.nanmean(np.where(trained, self.history_["best_val_loss"], np.nan))),
        )

    def _train_epoch(self, params, opt, z, ok, tr_ends, L: int, bs: int, gen,
                     rows: torch.Tensor | None = None):
        """One epoch over the training windows in a seeded random order (mini-batches of
        ``bs``); returns the per-asset sum of squared errors and the count of valid windows.

        ``rows``: the assets still training (None = all). Only they are computed; the others'
        gradients are zero (their parameters are no longer used: their best ones are kept).
        Each asset's network, loss term, Adam update and dropout mask are its own, so an active
        asset's step is bit-identical to computing every asset (tested)."""
        n = z.shape[1]
        perm = tr_ends[torch.randperm(len(tr_ends), generator=gen)]
        run_sum = torch.zeros(n)
        run_cnt = torch.zeros(n)
        for s in range(0, len(perm), bs):
            x, valid, y = self._windows(z, ok, perm[s:s + bs], L, True)
            w = valid.float()
            cnt = w.sum(1)
            if not (cnt > 0).any():
                continue
            if rows is None:
                pred = self._net(params, x, self.config.dropout, gen)
            else:
                p = {k: (v[rows] if k in _LSTM_NAMES else v) for k, v in params.items()}
                pred = self._net(p, x[rows], self.config.dropout, gen, rows=rows, n_all=n)
            # the loss on the full (N, B) layout either way: the same kernels, the same bits
            per_asset = ((pred - y) ** 2 * w).sum(1) / cnt.clamp(min=1)
            loss = per_asset.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if rows is None:
                run_sum += per_asset.detach() * cnt
                run_cnt += cnt
            else:
                run_sum[rows] += per_asset.detach()[rows] * cnt[rows]
                run_cnt[rows] += cnt[rows]
        return run_sum, run_cnt

    def fit(self, log_returns: np.ndarray, mask: np.ndarray) -> "LSTMForecaster":
        """Train on the training window only: (T_train, N) log returns and availability mask."""
        cfg = self.config
        L = int(cfg.lookback)
        r, m = _check_inputs(log_returns, mask)
        T, n = r.shape
        avail = _available(r, m)
        need = _check_length(avail, L)

        mean, std = _asset_stats(r, avail)  # from available training rows only
        z_np = np.where(avail, (r - np.nan_to_num(mean)) / std, 0.0)
        z = torch.as_tensor(z_np, dtype=torch.float32)
        ok = torch.as_tensor(avail)

        # window ends t in [L-1, T-2]; target row t+1. Chronological validation split on targets.
        tr_ends, va_ends = _split_ends(T, L, cfg.val_frac)
        n_val = len(va_ends)

        _, tr_valid_all, _ = self._windows(z, ok, tr_ends, L, True)
        _, va_valid_all, _ = self._windows(z, ok, va_ends, L, True)
        n_tr = tr_valid_all.sum(1)                                # (N,)
        n_va = va_valid_all.sum(1)
        trained = (n_tr > 0).numpy()
        if not trained.any():
            raise DataError(
                f"LSTM forecaster needs at least {need} consecutive available weeks for some asset "
                f"(lookback {L} + {_MIN_EXTRA_ROWS}); no asset has a full training window"
            )
        use_val = (n_va > 0)                                      # else stop on training loss
        t_trained = torch.as_tensor(trained)

        gen = torch.Generator().manual_seed(self.seed)
        with torch_threads(self.num_threads):
            params = {k: v.requires_grad_(True) for k, v in self._init_params(n, gen).items()}
            opt = torch.optim.Adam(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            stop = _EarlyStopping(params, t_trained, int(cfg.patience))
            hist_tr: list[float] = []
            hist_va: list[float] = []
            bs = int(cfg.batch_size)
            epochs = range(int(cfg.max_epochs))
            bar = _progress_bar(int(cfg.max_epochs)) if self.progress else None
            epochs_run = 0
            for epoch in epochs:
                # only the assets still training are computed (stopped ones keep their best)
                act = stop.active.clone()
                rows = None if bool(act.all()) else torch.nonzero(act).squeeze(1)
                run_sum, run_cnt = self._train_epoch(params, opt, z, ok, tr_ends, L, bs, gen,
                                                     rows)
                epochs_run = epoch + 1
                with torch.no_grad():
                    # training loss as Keras reports it: mean of the epoch's mini-batch losses
                    # (with dropout), so no extra forward pass over the training windows.
                    tr_loss = torch.where(run_cnt > 0, run_sum / run_cnt.clamp(min=1),
                                          torch.full((n,), float("nan")))
                    va_loss = (self._eval_loss(params, z, ok, va_ends, L, rows) if n_val
                               else tr_loss)
                    stop.update(epoch, torch.where(use_val, va_loss, tr_loss), params)
                # history: means over the assets that trained this epoch
                mtr = float(tr_loss[act].mean())
                vsel = act & use_val
                mva = float(va_loss[vsel].mean()) if bool(vsel.any()) else float("nan")
                hist_tr.append(mtr)
                hist_va.append(mva)
                logger.debug("epoch %d: train MSE %.4f, val MSE %.4f, %d/%d assets still active",
                             epoch + 1, mtr, mva, int(stop.active.sum()), int(t_trained.sum()))
                if bar is not None:
                    bar.update(1, train=mtr, val=mva, active=int(stop.active.sum()))
                if not bool(stop.active.any()):
                    break
            if bar is not None:
                bar.close()

        self._finish(stop, mean, std, trained, hist_tr, hist_va, epochs_run)
        return self

    def _eval_loss(self, p: dict[str, torch.Tensor], z: torch.Tensor, ok: torch.Tensor,
                   ends: torch.Tensor, L: int, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Per-asset mean squared error (z units) over valid windows; NaN if none (and for
        assets not in ``rows`` when given: only those are computed, on the full layout)."""
        n = z.shape[1]
        if rows is not None:
            p = {k: (v[rows] if k in _LSTM_NAMES else v) for k, v in p.items()}
        tot = torch.zeros(n)
        cnt = torch.zeros(n)
        for s in range(0, len(ends), _FORECAST_CHUNK):
            x, valid, y = self._windows(z, ok, ends[s:s + _FORECAST_CHUNK], L, True)
            pred = (self._net(p, x) if rows is None
                    else self._net(p, x[rows], rows=rows, n_all=n))
            w = valid.float()
            tot += ((pred - y) ** 2 * w).sum(1)
            cnt += w.sum(1)
        out = torch.where(cnt > 0, tot / cnt.clamp(min=1), torch.full_like(tot, float("nan")))
        if rows is not None:
            keep = torch.zeros(n, dtype=torch.bool)
            keep[rows] = True
            out = torch.where(keep, out, torch.full_like(out, float("nan")))
        return out

    # ------------------------------------------------------------------ forecast
    def forecast(self, log_returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Walk-forward forecasts, (T, N): row t = forecast of the log return at t+1 (rows <= t)."""
        if self._params is None:
            raise RuntimeError("LSTMForecaster.forecast called before fit/load_state_dict")
        r, m = _check_inputs(log_returns, mask)
        T, n = r.shape
        if n != self.n_assets_:
            raise DataError(f"forecaster was fitted on {self.n_assets_} assets, got {n}")
        L = int(self.config.lookback)
        out = np.full((T, n), np.nan)
        if T < L:
            return out
        avail = _available(r, m)
        z_np = np.where(avail, (r - np.nan_to_num(self.mean_)) / self.std_, 0.0)
        z = torch.as_tensor(z_np, dtype=torch.float32)
        ok = torch.as_tensor(avail)
        ends = torch.arange(L - 1, T)
        with torch_threads(self.num_threads), torch.no_grad():
            for s in range(0, len(ends), _FORECAST_CHUNK):
                e = ends[s:s + _FORECAST_CHUNK]
                x, valid, _ = self._windows(z, ok, e, L, False)
                pred = self._net(self._params, x).double().numpy()   # (N, B)
                pred = np.where(valid.numpy(), pred, np.nan)
                out[e.numpy()] = (pred * self.std_[:, None] + self.mean_[:, None]).T
        out[:, ~self.trained_] = np.nan
        return out

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        """Tensors (+ plain history), loadable with ``torch.load(weights_only=True)``."""
        if self._params is None:
            raise RuntimeError("LSTMForecaster.state_dict called before fit")
        sd: dict = {k: v.clone() for k, v in self._params.items()}
        sd["mean"] = torch.as_tensor(self.mean_, dtype=torch.float64)
        sd["std"] = torch.as_tensor(self.std_, dtype=torch.float64)
        sd["trained"] = torch.as_tensor(self.trained_, dtype=torch.bool)
        sd["lookback"] = torch.tensor(int(self.config.lookback))
        sd["hidden"] = torch.tensor(int(self.config.hidden))
        sd["history"] = {
            "train_loss": [float(v) for v in self.history_.get("train_loss", [])],
            "val_loss": [float(v) for v in self.history_.get("val_loss", [])],
            "epochs_run": int(self.history_.get("epochs_run", 0)),
            "best_epoch": [int(v) for v in self.history_.get("best_epoch", [])],
            "best_val_loss": [float(v) for v in self.history_.get("best_val_loss", [])],
            "stopped_epoch": [int(v) for v in self.history_.get("stopped_epoch", [])],
        }
        return sd

    def load_state_dict(self, sd: dict) -> "LSTMForecaster":
        missing = [k for k in (*_PARAM_NAMES, "mean", "std", "trained") if k not in sd]
        if missing:
            raise BundleError(f"LSTM state is missing {', '.join(missing)}")
        L, H = int(self.config.lookback), int(self.config.hidden)
        if "lookback" in sd and int(sd["lookback"]) != L:
            raise BundleError(f"LSTM state has lookback {int(sd['lookback'])}, config says {L}")
        if int(sd["w_hh"].shape[1]) != H or ("hidden" in sd and int(sd["hidden"]) != H):
            raise BundleError(f"LSTM state has hidden {int(sd['w_hh'].shape[1])}, config says {H}")
        n = int(sd["w_ih"].shape[0])
        self._params = {k: sd[k].detach().to(torch.float32).clone() for k in _PARAM_NAMES}
        self.n_assets_ = n
        self.mean_ = sd["mean"].detach().double().numpy().copy()
        self.std_ = sd["std"].detach().double().numpy().copy()
        self.trained_ = sd["trained"].detach().bool().numpy().copy()
        self.history_ = dict(sd.get("history", {}))
        return self
