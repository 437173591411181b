"""Macro features of the System 1 state (the paper's future work; ``EnvConfig.macro_features``).

Every feature of week t is known at the close of week t (the decision bar): it uses the weekly
log returns of rows ``<= t`` and the Treasury yields dated on or before the week's date.

=============  =========  ========================================================================
feature        columns    value at week t
=============  =========  ========================================================================
yield_level    1          the 10-year Treasury yield DGS10 (percent), the last daily value dated
                          on or before week t's date
yield_slope    1          DGS10 - DGS2 (percentage points), each the last value on or before t
realized_vol   N          per asset: sample std (ddof 1) of its available weekly log returns in
                          rows ``t-7 .. t`` (8 weeks); NaN with fewer than 2 available weeks
xmom           G          per asset class (G classes, in order of first appearance among the
                          tickers): the mean, over the class's assets available at t, of each
                          asset's sum of available log returns in rows ``t-11 .. t`` (12-week
                          momentum); NaN when no asset of the class is available at t
=============  =========  ========================================================================

Columns follow this table's order (whatever the order in the config). "Available" means the
availability mask is True and the return finite, as for the forecaster. A yield older than
:data:`MAX_YIELD_AGE_DAYS` calendar days at week t counts as unknown (NaN), so a stale series
is never carried forward for months. The feature builder z-scores every column with its mean
and std over the training rows (:func:`models.portfolio.features.fit_stats`), clips to +-10 and
reads NaN as 0 (the training mean), like the return block.

Where the inputs come from: the price-derived features (``realized_vol``, ``xmom``) are
computed from the log-return history the allocators already receive, so a Backtrader strategy
needs nothing extra for them. The yield features need the yields at test time: a DataFrame
indexed by date with columns ``DGS10`` and ``DGS2`` in percent (:func:`load_yields` gives the
packaged FRED series) passed to the allocator (``macro=``), which looks up the last row on or
before the bar's date (``target_weights(..., date=...)``). The bundle records the feature
names, the asset classes and the training statistics (:class:`MacroSpec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from feeds.errors import ConfigError, DataError
from models.portfolio.config import MACRO_FEATURES, EnvConfig

#: FRED series the yield features read (percent): the 10-year and the 2-year constant maturity
YIELD_TICKERS = ("DGS10", "DGS2")
#: features that need the yield series
YIELD_FEATURES = ("yield_level", "yield_slope")
#: weeks of the realised-volatility window
VOL_WEEKS = 8
#: weeks of the momentum window
MOM_WEEKS = 12
#: a yield dated more than this many calendar days before the week's date is unknown
MAX_YIELD_AGE_DAYS = 10


@dataclass(frozen=True)
class MacroSpec:
    """Which macro columns the state has (recorded in the bundle).

    Attributes:
        features: the chosen names, in the canonical order of :data:`MACRO_FEATURES`.
        classes: the asset class of every asset, in ticker order (groups of ``xmom``).
    """

    features: tuple[str, ...]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(MACRO_FEATURES))
        if unknown or not self.features:
            raise ConfigError(f"MacroSpec: features must be a non-empty subset of "
                              f"{MACRO_FEATURES}, got {list(self.features)}")
        if not self.classes:
            raise ConfigError("MacroSpec needs the asset class of every asset")
        object.__setattr__(self, "features",
                           tuple(f for f in MACRO_FEATURES if f in set(self.features)))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))

    @classmethod
    def from_config(cls, env_config: EnvConfig, tickers: Sequence[str],
                    asset_class: dict[str, str] | None = None) -> MacroSpec | None:
        """The spec of ``env_config.macro_features`` (None when it has none); tickers without
        a class in ``asset_class`` form the class ``other``."""
        if not env_config.macro_features:
            return None
        ac = asset_class or {}
        return cls(tuple(env_config.macro_features), tuple(ac.get(t, "other") for t in tickers))

    @property
    def n_assets(self) -> int:
        return len(self.classes)

    @property
    def groups(self) -> tuple[str, ...]:
        """The distinct asset classes, in order of first appearance (the ``xmom`` columns)."""
        return tuple(dict.fromkeys(self.classes))

    @property
    def needs_yields(self) -> bool:
        return any(f in YIELD_FEATURES for f in self.features)

    @property
    def history_needed(self) -> int:
        """Rows of log-return history (ending at t) the price features read."""
        return max([1] + [VOL_WEEKS for f in self.features if f == "realized_vol"]
                   + [MOM_WEEKS for f in self.features if f == "xmom"])

    def columns(self, tickers: Sequence[str] | None = None) -> list[str]:
        """Column names: ``yield_level``, ``yield_slope``, ``realized_vol:<asset>``,
        ``xmom:<class>`` (assets named by ``tickers`` or by position)."""
        names = list(tickers) if tickers is not None else [str(i) for i in range(self.n_assets)]
        out: list[str] = []
        for f in self.features:
            if f in YIELD_FEATURES:
                out.append(f)
            elif f == "realized_vol":
                out += [f"realized_vol:{t}" for t in names]
            else:
                out += [f"xmom:{g}" for g in self.groups]
        return out

    @property
    def size(self) -> int:
        return len(self.columns())

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MacroSpec:
        return cls(tuple(d["features"]), tuple(d["classes"]))


# ------------------------------------------------------------------------------------ yields
def load_yields(source: str = "packaged", path: str | None = None) -> pd.DataFrame:
    """Daily DGS10 and DGS2 (percent) as one DataFrame indexed by date (the packaged FRED
    series by default; ``source``/``path`` as :func:`feeds.load_daily`)."""
    from feeds import load_daily
    daily = load_daily(list(YIELD_TICKERS), source=source, path=path)
    return pd.DataFrame({t: daily[t]["close"] for t in YIELD_TICKERS}).sort_index()


def yields_for(env_config: EnvConfig) -> pd.DataFrame | None:
    """The packaged yields (:func:`load_yields`) when ``env_config`` has a yield feature, else
    None: what training arrays and allocators of that config need."""
    if any(f in YIELD_FEATURES for f in env_config.macro_features):
        return load_yields()
    return None


def check_yields(yields: Any) -> pd.DataFrame:
    """The yields as a sorted float DataFrame with a DatetimeIndex; DataError naming the fix
    when it is not one with columns DGS10 and DGS2."""
    fix = "pass models.portfolio.macro.load_yields() (daily DGS10 and DGS2 in percent)"
    if not isinstance(yields, pd.DataFrame):
        raise DataError(f"macro yields must be a DataFrame, got {type(yields).__name__}; {fix}")
    missing = [t for t in YIELD_TICKERS if t not in yields.columns]
    if missing:
        raise DataError(f"macro yields lack columns {missing} (have {list(yields.columns)}); "
                        f"{fix}")
    try:
        idx = pd.DatetimeIndex(yields.index)
    except (TypeError, ValueError):
        raise DataError(f"macro yields must be indexed by date; {fix}") from None
    out = pd.DataFrame(yields[list(YIELD_TICKERS)].to_numpy(dtype=np.float64),
                       index=idx.tz_localize(None) if idx.tz is not None else idx,
                       columns=list(YIELD_TICKERS))
    return out.sort_index(kind="stable")


def yields_asof(yields: pd.DataFrame, dates: Any,
                max_age_days: int = MAX_YIELD_AGE_DAYS) -> np.ndarray:
    """(T, 2) DGS10 and DGS2 at each date: each series' last finite value dated on or before
    it, NaN when there is none or it is more than ``max_age_days`` old. Never reads a later
    row (causal; no back-fill)."""
    y = check_yields(yields)
    d = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(dates)))).to_numpy(
        dtype="datetime64[ns]")
    out = np.full((len(d), len(YIELD_TICKERS)), np.nan)
    max_age = np.timedelta64(int(max_age_days), "D")
    for j, t in enumerate(YIELD_TICKERS):
        col = y[t]
        col = col[np.isfinite(col.to_numpy())]
        idx = col.index.to_numpy(dtype="datetime64[ns]")
        pos = np.searchsorted(idx, d, side="right") - 1
        ok = pos >= 0
        ok[ok] &= (d[ok] - idx[pos[ok]]) <= max_age
        out[ok, j] = col.to_numpy()[pos[ok]]
    return out


# ------------------------------------------------------------------------------------ features
def _shift(a: np.ndarray, k: int, fill) -> np.ndarray:
    """Row t of the result is row t-k of ``a`` (``fill`` for t < k)."""
    if k == 0:
        return a
    out = np.full_like(a, fill)
    out[k:] = a[:-k]
    return out


def realized_vol(log_returns: np.ndarray, avail: np.ndarray,
                 weeks: int = VOL_WEEKS) -> np.ndarray:
    """(T, N): sample std of each asset's available log returns in rows ``t-weeks+1 .. t``
    (NaN with fewer than two). Sums run over the window in a fixed order, so row t does not
    depend on how many earlier rows are passed (the allocator passes only the last ones)."""
    ok = np.asarray(avail, dtype=bool)
    x = np.where(ok, np.asarray(log_returns, dtype=np.float64), 0.0)
    cnt = np.zeros(x.shape)
    tot = np.zeros(x.shape)
    for k in range(weeks):
        cnt += _shift(ok, k, False)
        tot += _shift(x, k, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = tot / cnt
        ss = np.zeros(x.shape)
        for k in range(weeks):
            ss += np.where(_shift(ok, k, False), (_shift(x, k, 0.0) - mean) ** 2, 0.0)
        return np.where(cnt >= 2, np.sqrt(ss / (cnt - 1)), np.nan)


def class_momentum(log_returns: np.ndarray, avail: np.ndarray, classes: Sequence[str],
                   weeks: int = MOM_WEEKS) -> np.ndarray:
    """(T, G): per asset class, the mean over its assets available at t of their sum of
    available log returns in rows ``t-weeks+1 .. t`` (NaN when none is available at t)."""
    ok = np.asarray(avail, dtype=bool)
    x = np.where(ok, np.asarray(log_returns, dtype=np.float64), 0.0)
    mom = np.zeros(x.shape)
    for k in range(weeks):
        mom += _shift(x, k, 0.0)
    groups = list(dict.fromkeys(classes))
    cls = np.asarray(classes)
    out = np.full((x.shape[0], len(groups)), np.nan)
    for g, name in enumerate(groups):
        members = ok[:, cls == name]
        n = members.sum(axis=1)
        s = np.where(members, mom[:, cls == name], 0.0).sum(axis=1)
        out[n > 0, g] = s[n > 0] / n[n > 0]
    return out


def macro_features(spec: MacroSpec, log_returns: np.ndarray, avail: np.ndarray,
                   yield_rows: np.ndarray | None = None) -> np.ndarray:
    """(T, M) raw macro features of every row (before z-scoring), columns as
    ``spec.columns()``.

    Args:
        spec: the MacroSpec.
        log_returns, avail: (T, N) weekly log returns and availability (mask and finite).
        yield_rows: (T, 2) DGS10 and DGS2 of each row (:func:`yields_asof`); required iff the
            spec has a yield feature.
    """
    lr = np.asarray(log_returns, dtype=np.float64)
    if lr.ndim != 2 or lr.shape[1] != spec.n_assets:
        raise DataError(f"macro features need a (T, {spec.n_assets}) return history, got shape "
                        f"{lr.shape}")
    if spec.needs_yields:
        if yield_rows is None:
            raise ConfigError("the yield features need the DGS10/DGS2 yields; pass "
                              "models.portfolio.macro.load_yields()")
        yield_rows = np.asarray(yield_rows, dtype=np.float64).reshape(lr.shape[0], 2)
    cols: list[np.ndarray] = []
    for f in spec.features:
        if f == "yield_level":
            cols.append(yield_rows[:, :1])
        elif f == "yield_slope":
            cols.append(yield_rows[:, :1] - yield_rows[:, 1:])
        elif f == "realized_vol":
            cols.append(realized_vol(lr, avail))
        else:
            cols.append(class_momentum(lr, avail, spec.classes))
    return np.hstack(cols)


def macro_at(spec: MacroSpec, log_returns: np.ndarray, avail: np.ndarray, date: Any = None,
             yields: pd.DataFrame | None = None) -> np.ndarray:
    """(M,) raw macro features of the LAST row of a history (what an allocator needs at t).

    ``date`` (the bar's date) and ``yields`` are required iff the spec has a yield feature.
    Only the last :attr:`MacroSpec.history_needed` rows are read."""
    h = np.asarray(log_returns, dtype=np.float64)[-spec.history_needed:]
    a = np.asarray(avail, dtype=bool)[-spec.history_needed:]
    rows = None
    if spec.needs_yields:
        if yields is None:
            raise ConfigError(f"this model was trained with yield features "
                              f"({', '.join(f for f in spec.features if f in YIELD_FEATURES)}); "
                              "give the allocator the yields: macro=models.portfolio.macro."
                              "load_yields()")
        if date is None:
            raise ConfigError("the yield features need the date of bar t: "
                              "target_weights(..., date=<the bar's date>)")
        rows = np.repeat(yields_asof(yields, [date]), h.shape[0], axis=0)
    return macro_features(spec, h, a, rows)[-1]
