"""The one causal feature builder for System 1 (used by the env and by the allocators).

The observation at decision bar t is built from data up to and including t only:

==============  ===========  ==============================================================
block           size         content
==============  ===========  ==============================================================
returns         L * N        last L weekly log returns (rows t-L+1..t), z-scored per asset
                             with training-window statistics, row-major (oldest row first)
prev_weights    N            weights held at the close of t (before the new decision)
forecasts       N            LSTM forecast of the log return at t+1 (hybrid only), z-scored
                             with the same per-asset return statistics
mask            N            1.0 where the asset is investable at t, else 0.0
macro           M            macro features at t (only with ``EnvConfig.macro_features``;
                             :mod:`models.portfolio.macro`), z-scored per column with their
                             training-window mean and std
==============  ===========  ==============================================================

Without macro features (the default, the paper's state) the layout and every value are what
they were before the macro block existed: the block is appended after the mask.

NaN policy: a missing return or forecast becomes 0 (the training mean) after z-scoring; z-scores
are clipped to [-clip, clip] (10 by default). Histories shorter than L are padded with zeros at
the start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from feeds.errors import ConfigError, DataError


@dataclass(frozen=True)
class FeatureLayout:
    """Shape of the System 1 observation vector.

    Attributes:
        n_assets: N, number of assets (ordered as the tickers).
        window: L, weeks of return history.
        use_forecasts: whether the forecast block is present (hybrid) or not (PPO-only).
        n_macro: M, columns of the macro block (0 = none, the paper).
    """

    n_assets: int
    window: int
    use_forecasts: bool
    n_macro: int = 0

    def __post_init__(self) -> None:
        if self.n_assets < 1 or self.window < 1 or self.n_macro < 0:
            raise ConfigError(f"FeatureLayout needs n_assets >= 1 and window >= 1, got {self}")

    @property
    def size(self) -> int:
        n = self.n_assets
        return self.window * n + n + (n if self.use_forecasts else 0) + n + self.n_macro

    def slices(self) -> dict[str, slice]:
        """Named blocks of the observation vector, in order."""
        n, lw = self.n_assets, self.window * self.n_assets
        out = {"returns": slice(0, lw), "prev_weights": slice(lw, lw + n)}
        pos = lw + n
        if self.use_forecasts:
            out["forecasts"] = slice(pos, pos + n)
            pos += n
        out["mask"] = slice(pos, pos + n)
        if self.n_macro:
            out["macro"] = slice(pos + n, pos + n + self.n_macro)
        return out

    def to_dict(self) -> dict:
        d = {"n_assets": self.n_assets, "window": self.window,
             "use_forecasts": self.use_forecasts, "size": self.size}
        if self.n_macro:
            d["n_macro"] = self.n_macro
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureLayout:
        return cls(n_assets=int(d["n_assets"]), window=int(d["window"]),
                   use_forecasts=bool(d["use_forecasts"]), n_macro=int(d.get("n_macro", 0)))


def fit_stats(log_returns_train: np.ndarray, mask_train: np.ndarray | None = None,
              min_std: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Per-asset mean and std of log returns over the training window only.

    Only finite values where ``mask_train`` is True are used. An asset with fewer than two such
    values gets mean 0 and std 1; a (near-)constant asset gets std 1.
    """
    x = np.asarray(log_returns_train, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"fit_stats expects a (T, N) array, got shape {x.shape}")
    ok = np.isfinite(x)
    if mask_train is not None:
        ok &= np.asarray(mask_train, dtype=bool)
    cnt = ok.sum(axis=0)
    xs = np.where(ok, x, 0.0)
    mean = np.divide(xs.sum(axis=0), cnt, out=np.zeros(x.shape[1]), where=cnt > 0)
    var = np.divide((np.where(ok, x - mean, 0.0) ** 2).sum(axis=0), cnt - 1,
                    out=np.ones(x.shape[1]), where=cnt > 1)
    std = np.sqrt(var)
    few = cnt < 2
    mean[few] = 0.0
    std[few | (std < min_std)] = 1.0
    return mean, std


class FeatureBuilder:
    """Builds observations from point-in-time data (see the module docstring for the layout).

    Args:
        layout: the FeatureLayout.
        ret_mean, ret_std: (N,) training-window statistics from :func:`fit_stats`.
        clip: z-scores are clipped to [-clip, clip].
        macro: the :class:`models.portfolio.macro.MacroSpec` of the macro block (None without;
            required by the allocators to compute the block, optional for the env).
        macro_mean, macro_std: (M,) training-window statistics of the raw macro columns
            (:func:`fit_stats` of :func:`models.portfolio.macro.macro_features`); required iff
            ``layout.n_macro > 0``.
    """

    def __init__(self, layout: FeatureLayout, ret_mean: np.ndarray, ret_std: np.ndarray,
                 clip: float = 10.0, macro=None, macro_mean: np.ndarray | None = None,
                 macro_std: np.ndarray | None = None) -> None:
        n = layout.n_assets
        self.layout = layout
        self.ret_mean = np.asarray(ret_mean, dtype=np.float64).reshape(-1)
        self.ret_std = np.asarray(ret_std, dtype=np.float64).reshape(-1)
        if self.ret_mean.shape != (n,) or self.ret_std.shape != (n,):
            raise ConfigError(f"feature statistics must have {n} entries, got "
                              f"{self.ret_mean.shape} and {self.ret_std.shape}")
        if not (np.all(np.isfinite(self.ret_std)) and np.all(self.ret_std > 0)):
            raise ConfigError("feature statistics: ret_std must be finite and positive")
        self.clip = float(clip)
        self._slices = layout.slices()
        self.macro = macro
        self.macro_mean = self.macro_std = None
        m = layout.n_macro
        if m:
            if macro_mean is None or macro_std is None:
                raise ConfigError(f"the feature layout has {m} macro columns: macro_mean and "
                                  "macro_std are required")
            self.macro_mean = np.asarray(macro_mean, dtype=np.float64).reshape(-1)
            self.macro_std = np.asarray(macro_std, dtype=np.float64).reshape(-1)
            if self.macro_mean.shape != (m,) or self.macro_std.shape != (m,):
                raise ConfigError(f"macro statistics must have {m} entries, got "
                                  f"{self.macro_mean.shape} and {self.macro_std.shape}")
            if not (np.all(np.isfinite(self.macro_std)) and np.all(self.macro_std > 0)):
                raise ConfigError("feature statistics: macro_std must be finite and positive")
            if macro is not None and macro.size != m:
                raise ConfigError(f"macro spec has {macro.size} columns, the layout {m}")
        elif macro is not None:
            raise ConfigError("a macro spec was given but the feature layout has no macro block")

    def zscore(self, x: np.ndarray) -> np.ndarray:
        """Z-score returns (any shape ending in N) with training stats; NaN -> 0; clipped."""
        z = (np.asarray(x, dtype=np.float64) - self.ret_mean) / self.ret_std
        z = np.clip(z, -self.clip, self.clip)  # +-inf -> +-clip
        z[np.isnan(z)] = 0.0
        return z

    def zscore_macro(self, x: np.ndarray) -> np.ndarray:
        """Z-score raw macro features (any shape ending in M) with training stats; NaN -> 0;
        clipped like :meth:`zscore`."""
        if self.macro_mean is None:
            raise ConfigError("this feature layout has no macro block")
        z = (np.asarray(x, dtype=np.float64) - self.macro_mean) / self.macro_std
        z = np.clip(z, -self.clip, self.clip)
        z[np.isnan(z)] = 0.0
        return z

    def observation(self, log_return_history: np.ndarray, prev_weights: np.ndarray,
                    forecasts: np.ndarray | None, mask: np.ndarray,
                    macro: np.ndarray | None = None) -> np.ndarray:
        """The float32 observation at decision bar t.

        Args:
            log_return_history: (T_h, N) log returns ending at t (only the last L rows are used;
                fewer rows are zero-padded at the start).
            prev_weights: (N,) weights held at the close of t.
            forecasts: (N,) forecasts of the log return at t+1 (required iff the layout uses
                forecasts; NaN allowed).
            mask: (N,) availability at t.
            macro: (M,) raw macro features at t (required iff the layout has a macro block).
        """
        lay = self.layout
        n, L = lay.n_assets, lay.window
        h = np.asarray(log_return_history, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != n:
            raise DataError(f"return history must be (T, {n}), got shape {h.shape}")
        if lay.use_forecasts:
            if forecasts is None:
                raise ConfigError("this feature layout uses forecasts but none were given")
            zf = self.zscore(np.asarray(forecasts, dtype=np.float64).reshape(-1))
        else:
            zf = None
        zm = None
        if lay.n_macro:
            if macro is None:
                raise ConfigError("this feature layout has a macro block but no macro features "
                                  "were given")
            zm = self.zscore_macro(np.asarray(macro, dtype=np.float64).reshape(-1))
        return self.assemble(self.zscore(h[-L:]), prev_weights, zf, mask, zm)

    def assemble(self, z_history: np.ndarray, prev_weights: np.ndarray,
                 z_forecasts: np.ndarray | None, mask: np.ndarray,
                 z_macro: np.ndarray | None = None) -> np.ndarray:
        """Assemble an observation from already z-scored blocks (the env's fast path).

        ``z_history`` is ``zscore(history)[-L:]`` (may have fewer than L rows),
        ``z_forecasts`` is ``zscore(forecasts)`` (or None without forecasts), ``z_macro`` is
        ``zscore_macro(macro)`` (or None without a macro block).
        """
        lay = self.layout
        n, L = lay.n_assets, lay.window
        s = self._slices
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
