"""The LSTM fit that skips assets which have early-stopped gives the same model per asset.

``_ReferenceForecaster`` below is a verbatim copy of ``LSTMForecaster``'s fit loop before the
change (every asset computed every epoch until the last one stops; progress bar removed). The
per-asset networks are independent (a per-asset ``bmm``; the loss is a sum of per-asset losses;
Adam and its weight decay are element-wise; dropout masks are drawn for all assets in the same
order), so dropping stopped assets from the batch must not move the fitted parameters of any
asset, nor their best epochs, stopping epochs, best validation losses or forecasts: compared
bit for bit here. (Only the per-epoch *mean* train/val loss history differs: it now averages
the assets still training.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from models.portfolio.config import LSTMConfig
from models.portfolio.forecaster import (LSTMForecaster, _EarlyStopping, _FORECAST_CHUNK,
                                         _asset_stats, _available, _check_inputs,
                                         _check_length, _split_ends, _MIN_EXTRA_ROWS, logger,
                                         torch_threads)
from feeds.errors import DataError

import math  # noqa: E402  (used by the copied code)
_progress_bar = None


class _ReferenceForecaster(LSTMForecaster):
    """The fit loop as it was (all assets every epoch)."""

    @staticmethod
    def _net(p: dict[str, torch.Tensor], x: torch.Tensor, dropout: float = 0.0,
             gen: torch.Generator | None = None) -> torch.Tensor:
        """x: (N, B, L) z-scored inputs -> (N, B) predicted next z-score."""
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
        if dropout > 0.0:
            keep = torch.rand(h.shape, generator=gen, dtype=h.dtype) >= dropout
            h = h * keep / (1.0 - dropout)
        return torch.baddbmm(p["b_out"][:, None, :], h, p["w_out"]).squeeze(-1)

    def _train_epoch(self, params, opt, z, ok, tr_ends, L: int, bs: int, gen):
        """One epoch over the training windows in a seeded random order (mini-batches of
        ``bs``); returns the per-asset sum of squared errors and the count of valid windows."""
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
            pred = self._net(params, x, self.config.dropout, gen)
            per_asset = ((pred - y) ** 2 * w).sum(1) / cnt.clamp(min=1)
            loss = per_asset.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_sum += per_asset.detach() * cnt
            run_cnt += cnt
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
            epochs_run = 0
            for epoch in epochs:
                run_sum, run_cnt = self._train_epoch(params, opt, z, ok, tr_ends, L, bs, gen)
                epochs_run = epoch + 1
                with torch.no_grad():
                    # training loss as Keras reports it: mean of the epoch's mini-batch losses
                    # (with dropout), so no extra forward pass over the training windows.
                    tr_loss = torch.where(run_cnt > 0, run_sum / run_cnt.clamp(min=1),
                                          torch.full((n,), float("nan")))
                    va_loss = self._eval_loss(params, z, ok, va_ends, L) if n_val else tr_loss
                    stop.update(epoch, torch.where(use_val, va_loss, tr_loss), params)
                mtr = float(tr_loss[t_trained].mean())
                vsel = t_trained & use_val
                mva = float(va_loss[vsel].mean()) if bool(vsel.any()) else float("nan")
                hist_tr.append(mtr)
                hist_va.append(mva)
                logger.debug("epoch %d: train MSE %.4f, val MSE %.4f, %d/%d assets still active",
                             epoch + 1, mtr, mva, int(stop.active.sum()), int(t_trained.sum()))
                if not bool(stop.active.any()):
                    break

        self._finish(stop, mean, std, trained, hist_tr, hist_va, epochs_run)
        return self

    def _eval_loss(self, p: dict[str, torch.Tensor], z: torch.Tensor, ok: torch.Tensor,
                   ends: torch.Tensor, L: int) -> torch.Tensor:
        """Per-asset mean squared error (z units) over valid windows; NaN if none."""
        n = z.shape[1]
        tot = torch.zeros(n)
        cnt = torch.zeros(n)
        for s in range(0, len(ends), _FORECAST_CHUNK):
            x, valid, y = self._windows(z, ok, ends[s:s + _FORECAST_CHUNK], L, True)
            pred = self._net(p, x)
            w = valid.float()
            tot += ((pred - y) ** 2 * w).sum(1)
            cnt += w.sum(1)
        return torch.where(cnt > 0, tot / cnt.clamp(min=1), torch.full_like(tot, float("nan")))



def _panel(T: int, N: int, seed: int, late: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((T, N))
    e = rng.standard_normal((T, N)) * rng.uniform(0.01, 0.05, N)
    phi = rng.uniform(-0.4, 0.6, N)
    for t in range(1, T):
        x[t] = phi * x[t - 1] + e[t]
    m = np.ones((T, N), dtype=bool)
    for j in range(late):  # late listings and a gap: short histories, assets without validation
        m[: rng.integers(5, T // 2), j] = False
    if N > 2:
        m[T // 3: T // 3 + 3, N - 1] = False
    x[~m] = np.nan
    return x, m


def _compare(cfg: LSTMConfig, r: np.ndarray, m: np.ndarray, seed: int,
             asset_chunk: int = 16) -> LSTMForecaster:
    with torch_threads(1):
        new = LSTMForecaster(cfg, seed=seed, num_threads=1, asset_chunk=asset_chunk).fit(r, m)
        ref = _ReferenceForecaster(cfg, seed=seed, num_threads=1).fit(r, m)
    for k in new._params:
        assert torch.equal(new._params[k], ref._params[k]), k
    for k in ("best_epoch", "stopped_epoch", "epochs_run"):
        assert new.history_[k] == ref.history_[k], k
    np.testing.assert_array_equal(new.history_["best_val_loss"], ref.history_["best_val_loss"])
    np.testing.assert_array_equal(new.forecast(r, m), ref.forecast(r, m))
    return new


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skipping_stopped_assets_is_bit_identical(seed):
    r, m = _panel(90, 7, seed, late=2)
    cfg = replace(LSTMConfig(), lookback=8, hidden=8, batch_size=16, max_epochs=12, patience=2)
    new = _compare(cfg, r, m, seed)
    stopped = [e for e in new.history_["stopped_epoch"] if e]
    assert len(set(stopped)) > 1  # assets stopped at different epochs: the skip was exercised


@pytest.mark.parametrize("chunk", [1, 3])
def test_training_a_few_assets_at_a_time_is_bit_identical(chunk):
    """asset_chunk bounds the autograd graph's memory; the fitted models do not move."""
    r, m = _panel(90, 7, 0, late=2)
    cfg = replace(LSTMConfig(), lookback=8, hidden=8, batch_size=16, max_epochs=12, patience=2)
    new = _compare(cfg, r, m, 0, asset_chunk=chunk)
    assert len({e for e in new.history_["stopped_epoch"] if e}) > 1


def test_skipping_with_assets_stopping_on_training_loss_is_bit_identical():
    # two assets end before the validation slice: they stop on their training loss
    r, m = _panel(70, 5, 3, late=1)
    m[-15:, :2] = False
    r[~m] = np.nan
    cfg = replace(LSTMConfig(), lookback=6, hidden=6, batch_size=8, max_epochs=10, patience=1)
    _compare(cfg, r, m, 3)


@pytest.mark.slow
def test_skipping_paper_sizes_is_bit_identical():
    r, m = _panel(253, 12, 5, late=3)
    cfg = replace(LSTMConfig(), max_epochs=15, patience=3)
    _compare(cfg, r, m, 0, asset_chunk=5)
