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

from feeds.errors import BundleError, ConfigError, DataError
from models.common.threads import torch_threads
from models.portfolio import lstm_net
from models.portfolio.lstm_net import (
    _FORECAST_CHUNK,
    _LSTM_NAMES,
    _MIN_EXTRA_ROWS,
    _PARAM_NAMES,
    _asset_stats,
    _available,
    _check_inputs,
    _check_length,
    _EarlyStopping,
    _split_ends,
)

if TYPE_CHECKING:  # pragma: no cover
    from models.portfolio.config import EnvConfig, LSTMConfig

logger = logging.getLogger(__name__)

__all__ = ["LSTMForecaster", "gate_forecasts", "state_forecasts"]


def _gemm_batch(x: torch.Tensor, hidden: int) -> torch.Tensor:
    """Inference windows ``(N, B, L)`` padded to at least ``max(8, ceil(512 / hidden))``
    windows (the last one repeated; callers drop the copies).

    Torch's CPU matmuls take matrix-vector and small-matrix paths for a few rows (the threshold
    grows as ``hidden`` shrinks), whose float32 sums round differently from the path larger
    batches take. Padded, a week's forecast is bit-identical whether it is computed alone (a
    strategy deciding live, week by week) or with other weeks (the training arrays, the
    forecast cache). Tested for 2 to 85 assets and hidden sizes 4 to 256 with this torch build
    (tests/strategies/test_perf_forecast_cache.py); one asset alone is not covered (its
    matrix-vector head rounds by row position)."""
    need = max(8, -(-512 // int(hidden)))
    b = x.shape[1]
    if b >= need:
        return x
    return torch.cat([x, x[:, -1:].expand(-1, need - b, -1)], dim=1)


def _progress_bar(total: int):
    """Progress over epochs: a bar on a terminal, plain periodic lines in a log."""
    from models.common.progress import Progress
    return Progress(total, "LSTM fit", "epochs")


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

    def __init__(self, config: LSTMConfig, seed: int = 0, num_threads: int | None = None,
                 progress: bool = False, asset_chunk: int = 8):
        self.config = config
        #: assets whose recurrence is trained in one autograd graph (memory: the fit's
        #: activations scale with it; results do not depend on it)
        self.asset_chunk = max(1, int(asset_chunk))
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
        return lstm_net.init_params(n, self.config.hidden, gen)

    _net = staticmethod(lstm_net.net)  #: (N, B, L) windows -> (N, B) next z-score
    _windows = staticmethod(lstm_net.windows)  #: inputs, validity and targets of windows


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
        asset's step is bit-identical to computing every asset (tested).

        The recurrence runs forward and backward ``asset_chunk`` assets at a time (the
        dropout mask of the mini-batch drawn once for all, the head and loss on the full
        layout each time, each asset's loss term counted in its own chunk only): the autograd
        graph then holds one chunk's activations, not all assets', and every asset's gradient
        is computed by the same kernels as before (tested bit for bit)."""
        n = z.shape[1]
        drop = float(self.config.dropout)
        act = torch.arange(n) if rows is None else rows
        chunks = [None] if rows is None and n <= self.asset_chunk else \
            list(act.split(self.asset_chunk))
        perm = tr_ends[torch.randperm(len(tr_ends), generator=gen)]
        run_sum = torch.zeros(n)
        run_cnt = torch.zeros(n)
        for s in range(0, len(perm), bs):
            x, valid, y = self._windows(z, ok, perm[s:s + bs], L, True)
            w = valid.float()
            cnt = w.sum(1)
            if not (cnt > 0).any():
                continue
            keep = (lstm_net.dropout_mask((n, x.shape[1], int(self.config.hidden)), drop, gen)
                    if drop > 0.0 else None)
            opt.zero_grad(set_to_none=True)
            for g in chunks:
                if g is None:
                    h = lstm_net.hidden_states(params, x)
                else:
                    p = {k: params[k][g] for k in _LSTM_NAMES}
                    h = lstm_net.hidden_states(p, x[g], rows=g, n_all=n)
                pred = lstm_net.head(params, h, keep, drop)
                # the loss on the full (N, B) layout either way: the same kernels, the same bits
                per_asset = ((pred - y) ** 2 * w).sum(1) / cnt.clamp(min=1)
                (per_asset.sum() if g is None else per_asset[g].sum()).backward()
                sel = act if g is None else g
                run_sum[sel] += per_asset.detach()[sel] * cnt[sel]
                run_cnt[sel] += cnt[sel]
            opt.step()
        return run_sum, run_cnt

    def fit(self, log_returns: np.ndarray, mask: np.ndarray) -> LSTMForecaster:
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
                    else self._net(p, x[rows], rows, n))
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
        T, n, L, z, ok = self._prepare(log_returns, mask, "forecast")
        out = np.full((T, n), np.nan)
        if T < L:
            return out
        ends = torch.arange(L - 1, T)
        with torch_threads(self.num_threads), torch.no_grad():
            for s in range(0, len(ends), _FORECAST_CHUNK):
                e = ends[s:s + _FORECAST_CHUNK]
                x, valid, _ = self._windows(z, ok, e, L, False)
                pred = self._net(self._params, _gemm_batch(x, self.config.hidden))
                pred = pred[:, :len(e)].double().numpy()   # (N, B)
                pred = np.where(valid.numpy(), pred, np.nan)
                out[e.numpy()] = (pred * self.std_[:, None] + self.mean_[:, None]).T
        out[:, ~self.trained_] = np.nan
        return out

    def _prepare(self, log_returns: np.ndarray, mask: np.ndarray, what: str):
        """Checked inputs as z-scores with the training statistics: (T, N, L, z, ok)."""
        if self._params is None:
            raise RuntimeError(f"LSTMForecaster.{what} called before fit/load_state_dict")
        r, m = _check_inputs(log_returns, mask)
        T, n = r.shape
        if n != self.n_assets_:
            raise DataError(f"forecaster was fitted on {self.n_assets_} assets, got {n}")
        avail = _available(r, m)
        z_np = np.where(avail, (r - np.nan_to_num(self.mean_)) / self.std_, 0.0)
        return (T, n, int(self.config.lookback), torch.as_tensor(z_np, dtype=torch.float32),
                torch.as_tensor(avail))

    def forecast_samples(self, log_returns: np.ndarray, mask: np.ndarray, n: int,
                         seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo dropout: mean and std over ``n`` stochastic passes, each (T, N).

        Row t summarises the passes' forecasts of the log return at t+1 from rows <= t (NaN
        where :meth:`forecast` is NaN). The passes keep the training dropout
        (``config.dropout``) on the LSTM output before the head; pass k uses one dropout mask
        per asset and hidden unit for every window (:func:`models.portfolio.lstm_net.mc_masks`,
        seeded with ``seed``, default the forecaster's seed), so the same inputs give the same
        output, and a week's samples do not depend on the other weeks computed with it. The
        std is the sample std (``n - 1``), in log-return units like the mean.
        """
        if int(n) < 2:
            raise ConfigError(f"forecast_samples needs n >= 2 passes, got {n}")
        T, nn, L, z, ok = self._prepare(log_returns, mask, "forecast_samples")
        mean = np.full((T, nn), np.nan)
        std = np.full((T, nn), np.nan)
        if T < L:
            return mean, std
        masks = lstm_net.mc_masks(int(n), nn, int(self.config.hidden), float(self.config.dropout),
                                  self.seed if seed is None else int(seed))
        ends = torch.arange(L - 1, T)
        with torch_threads(self.num_threads), torch.no_grad():
            for s in range(0, len(ends), _FORECAST_CHUNK):
                e = ends[s:s + _FORECAST_CHUNK]
                x, valid, _ = self._windows(z, ok, e, L, False)
                h = lstm_net.hidden_states(self._params, _gemm_batch(x, self.config.hidden))
                out = lstm_net.mc_head(self._params, h, masks).double()  # (N, B', n)
                v, b = valid.numpy(), len(e)  # reductions on the padded batch too (same bits)
                mz = np.where(v, out.mean(dim=-1)[:, :b].numpy(), np.nan)
                sz = np.where(v, out.std(dim=-1)[:, :b].numpy(), np.nan)
                mean[e.numpy()] = (mz * self.std_[:, None] + self.mean_[:, None]).T
                std[e.numpy()] = (sz * self.std_[:, None]).T
        mean[:, ~self.trained_] = np.nan
        std[:, ~self.trained_] = np.nan
        return mean, std

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

    def load_state_dict(self, sd: dict) -> LSTMForecaster:
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


def gate_forecasts(mean: np.ndarray, std: np.ndarray, center: np.ndarray,
                   threshold: float) -> np.ndarray:
    """The uncertainty gate: ``mean`` where ``|mean - center| / std >= threshold``, else NaN.

    ``center`` (N,) is the forecaster's training-mean return (``mean_``): the test asks whether
    the Monte-Carlo mean departs from the asset's unconditional mean by at least ``threshold``
    pass standard deviations (equivalently ``|mean| / std`` in the forecaster's standardised
    units). NaN is what the feature builder reads as "no forecast": z-score 0, the training
    mean. A std of 0 (no dropout) passes any forecast that differs from ``center``.
    """
    mean = np.asarray(mean, dtype=np.float64)
    dev = np.abs(mean - np.asarray(center, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(std > 0, dev / std, np.where(dev > 0, np.inf, 0.0))
    return np.where(np.isfinite(mean) & (ratio >= float(threshold)), mean, np.nan)


def state_forecasts(forecaster, log_returns: np.ndarray, mask: np.ndarray,
                    env_config: EnvConfig) -> np.ndarray:
    """The forecasts that enter the System 1 state, (T, N), row t for t+1 from rows <= t.

    ``env_config.forecast_gate == "none"`` (the paper): ``forecaster.forecast``. With
    ``"mc_dropout"``: the Monte-Carlo mean of ``gate_samples`` dropout passes where it passes
    :func:`gate_forecasts` with ``gate_threshold``, NaN (state value 0) elsewhere. The one
    function the training arrays (:func:`models.portfolio.env.build_env_arrays`) and the
    allocators call.
    """
    if env_config.forecast_gate == "none":
        return np.asarray(forecaster.forecast(log_returns, mask), dtype=np.float64)
    if env_config.forecast_gate != "mc_dropout":
        raise ConfigError(f"unknown forecast_gate {env_config.forecast_gate!r}")
    if not hasattr(forecaster, "forecast_samples"):
        raise ConfigError("forecast_gate='mc_dropout' needs an LSTMForecaster (with "
                          "forecast_samples), got " + type(forecaster).__name__)
    mean, std = forecaster.forecast_samples(log_returns, mask, int(env_config.gate_samples))
    return gate_forecasts(mean, std, forecaster.mean_, float(env_config.gate_threshold))
