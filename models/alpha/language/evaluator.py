"""Vectorised, causal evaluation of alpha ASTs over a daily OHLCV frame.

Every operator is causal: the value at bar t uses bars up to and including t only (rolling
windows look back, EMAs run forward, nothing is shifted backwards, nothing is back-filled).

NaN policy
    * Any non-finite intermediate result (division by zero, ``log`` of a non-positive value,
      correlation of a constant window) becomes NaN, never ``inf``.
    * NaN propagates through arithmetic; a comparison with a NaN operand is NaN (not 0);
      ``cond ? a : b`` is NaN where ``cond`` is NaN.
    * Rolling windows need ``n`` valid values (``min_periods=n``), so warm-up rows are NaN.

Operator reference (``n`` window, ``x``/``y`` series)
    ==================  ========================================================================
    delay(x,n)          x[t-n]                           (alias ``ref``)
    delta(x,n)          x[t] - x[t-n]
    mom(x,n)            x[t] / x[t-n] - 1   (rate of change, scale-free)
    ts_mean(x,n)        rolling mean of the last n values (alias ``sma``)
    ts_std(x,n)         rolling sample std (ddof=1) of the last n values
    ts_sum/min/max      rolling sum / min / max
    ts_rank(x,n)        rank of x[t] within the last n values mapped to [0, 1]:
                        (#{x[s] < x[t]} + 0.5 * #{ties other than t}) / (n - 1); 0.5 when n=1
    ts_corr(x,y,n)      rolling Pearson correlation
    ema(x,n)            exponential moving average, span n (alpha = 2/(n+1)), recursive
                        (``adjust=False``), first value after n valid inputs
    rsi(x,n)            Wilder RSI in [0, 100]: 100 * avg_gain / (avg_gain + avg_loss), with
                        Wilder smoothing (alpha = 1/n); NaN when there was no move at all
    macd(x,f=12,s=26)   ema(x,f) - ema(x,s)
    macd_signal(x,f,s,g=9)  ema(macd(x,f,s), g)
    bbpos(x,n,k=2)      Bollinger %B: (x - (m - k*sd)) / (2*k*sd), m/sd rolling mean/std(ddof=1)
    obv(c,v)            on-balance volume: cumulative sum of sign(c[t]-c[t-1]) * v[t], starting
                        at 0 on the first bar (depends on where the history starts; use it
                        through delta(obv(C,V),n) to be start-independent)
    sign, abs, sqrt     element-wise; sqrt of a negative value is NaN
    log(x)              natural log of positive values; non-positive -> NaN
    clip(x,lo,hi)       element-wise clip (lo/hi may be series)
    max(a,b), min(a,b)  element-wise
    ==================  ========================================================================

Look-back rule (:func:`lookback`, used for the minimum history): number of earlier bars a node
needs before its first reliable value. Leaves need 0 (``returns`` needs 1); ``delay``/``delta``/
``mom`` add ``n``; rolling ``ts_*`` and ``bbpos`` add ``n - 1``; ``ema`` adds ``3 * n`` (an
exponential filter "forgets" its start value to ~0.25% after 3 spans); ``rsi`` adds ``1 + 3 * n``;
``macd`` adds ``3 * slow``; ``macd_signal`` adds ``3 * slow + 3 * signal``; ``obv`` adds 1. A
node's look-back is its own addition plus the maximum of its arguments' look-backs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.errors import DataError
from models.alpha.language.parser import BinOp, Call, Cond, Neg, Node, Num, Var

__all__ = ["evaluate", "lookback", "validate_ohlcv"]

REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")


def validate_ohlcv(df: pd.DataFrame) -> None:
    """Check the daily input contract; raise :class:`DataError` saying what is wrong."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of daily bars, got {type(df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"daily bars are missing columns {missing}; need {list(REQUIRED_COLUMNS)}")
    if not isinstance(df.index, pd.DatetimeIndex):
        raise DataError("daily bars need a DatetimeIndex named 'date'")
    if df.index.tz is not None:
        raise DataError("daily bars need a tz-naive DatetimeIndex; use df.tz_localize(None)")
    if not df.index.is_monotonic_increasing or not df.index.is_unique:
        raise DataError("daily bars must be sorted by date with unique dates")


def _clean(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def _ema(x: np.ndarray, span: int | None = None, alpha: float | None = None,
         min_periods: int = 0) -> np.ndarray:
    s = pd.Series(x)
    if alpha is None:
        return s.ewm(span=span, adjust=False, min_periods=min_periods).mean().to_numpy()
    return s.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean().to_numpy()


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if n < len(x):
        out[n:] = x[:len(x) - n]
    return out


def _ts_rank(x: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.where(np.isnan(x), np.nan, 0.5)
    r = pd.Series(x).rolling(n, min_periods=n).rank(method="average").to_numpy()
    return (r - 1.0) / (n - 1.0)


def _rsi(x: np.ndarray, n: int) -> np.ndarray:
    d = np.diff(x, prepend=np.nan)
    gain = np.where(np.isnan(d), np.nan, np.maximum(d, 0.0))
    loss = np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0))
    ag = _ema(gain, alpha=1.0 / n, min_periods=n)
    al = _ema(loss, alpha=1.0 / n, min_periods=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * ag / (ag + al)


class _Ctx:
    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.cache: dict[Node, np.ndarray] = {}

    def var(self, name: str) -> np.ndarray:
        if name in REQUIRED_COLUMNS:
            return self.df[name].to_numpy(dtype=float)
        if name == "typical":
            return (self.var("high") + self.var("low") + self.var("close")) / 3.0
        if name == "returns":
            c = self.var("close")
            with np.errstate(invalid="ignore", divide="ignore"):
                return c / _shift(c, 1) - 1.0
        raise AssertionError(name)  # parser only produces known variables


def _binop(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return np.where(b == 0.0, np.nan, a / np.where(b == 0.0, 1.0, b))
    nan = np.isnan(a) | np.isnan(b)
    res = {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}[op]
    return np.where(nan, np.nan, res.astype(float))


def _eval(node: Node, ctx: _Ctx) -> np.ndarray:
    hit = ctx.cache.get(node)
    if hit is not None:
        return hit
    with np.errstate(all="ignore"):
        out = _clean(_eval_raw(node, ctx))
    if out.ndim == 0:
        out = np.full(len(ctx.df), float(out))
    ctx.cache[node] = out
    return out


def _eval_raw(node: Node, ctx: _Ctx) -> np.ndarray:
    T = len(ctx.df)
    if isinstance(node, Num):
        return np.full(T, node.value)
    if isinstance(node, Var):
        return ctx.var(node.name)
    if isinstance(node, Neg):
        return -_eval(node.operand, ctx)
    if isinstance(node, BinOp):
        return _binop(node.op, _eval(node.left, ctx), _eval(node.right, ctx))
    if isinstance(node, Cond):
        c = _eval(node.cond, ctx)
        a = _eval(node.then, ctx)
        b = _eval(node.other, ctx)
        return np.where(np.isnan(c), np.nan, np.where(c != 0.0, a, b))
    if isinstance(node, Call):
        return _call(node, ctx)
    raise TypeError(f"not an alpha AST node: {node!r}")


def _call(node: Call, ctx: _Ctx) -> np.ndarray:
    f, args = node.func, node.args
    x = _eval(args[0], ctx)
    ints = [int(a.value) for a in args[1:] if isinstance(a, Num)]
    if f == "delay":
        return _shift(x, ints[0])
    if f == "delta":
        return x - _shift(x, ints[0])
    if f == "mom":
        prev = _shift(x, ints[0])
        return np.where(prev == 0.0, np.nan, x / np.where(prev == 0.0, 1.0, prev) - 1.0)
    if f in ("ts_mean", "ts_std", "ts_sum", "ts_min", "ts_max"):
        n = int(args[1].value)
        r = pd.Series(x).rolling(n, min_periods=n)
        if f == "ts_mean":
            return r.mean().to_numpy()
        if f == "ts_std":
            return (r.std(ddof=1).to_numpy() if n > 1 else np.where(np.isnan(x), np.nan, 0.0))
        return getattr(r, f[3:])().to_numpy()
    if f == "ts_rank":
        return _ts_rank(x, int(args[1].value))
    if f == "ts_corr":
        y = _eval(args[1], ctx)
        n = int(args[2].value)
        sx, sy = pd.Series(x), pd.Series(y)
        valid = ~(np.isnan(x) | np.isnan(y))
        sx, sy = sx.where(valid), sy.where(valid)
        mx = sx.rolling(n, min_periods=n).mean()
        my = sy.rolling(n, min_periods=n).mean()
        cov = (sx * sy).rolling(n, min_periods=n).mean() - mx * my
        vx = (sx * sx).rolling(n, min_periods=n).mean() - mx * mx
        vy = (sy * sy).rolling(n, min_periods=n).mean() - my * my
        denom = np.sqrt(np.clip((vx * vy).to_numpy(), 0.0, None))
        scale = np.maximum(np.abs(mx.to_numpy()), np.abs(my.to_numpy()))
        tiny = denom <= 1e-12 * (1.0 + scale ** 2)  # constant window: undefined
        c = np.where(tiny, np.nan, cov.to_numpy() / np.where(tiny, 1.0, denom))
        return np.clip(c, -1.0, 1.0)
    if f == "ema":
        n = ints[0]
        return _ema(x, span=n, min_periods=n)
    if f == "rsi":
        return _rsi(x, ints[0])
    if f in ("macd", "macd_signal"):
        fast = ints[0] if len(ints) >= 1 else 12
        slow = ints[1] if len(ints) >= 2 else 26
        m = _ema(x, span=fast, min_periods=fast) - _ema(x, span=slow, min_periods=slow)
        if f == "macd":
            return m
        sig = ints[2] if len(ints) >= 3 else 9
        return _ema(m, span=sig, min_periods=sig)
    if f == "bbpos":
        n = int(args[1].value)
        k = float(args[2].value) if len(args) > 2 else 2.0
        r = pd.Series(x).rolling(n, min_periods=n)
        m = r.mean().to_numpy()
        sd = r.std(ddof=1).to_numpy() if n > 1 else np.zeros_like(x)
        width = 2.0 * k * sd
        return np.where(width == 0.0, np.nan, (x - (m - k * sd)) / np.where(width == 0, 1, width))
    if f == "obv":
        v = _eval(args[1], ctx)
        d = np.sign(np.diff(x, prepend=np.nan))
        inc = np.nan_to_num(d * v, nan=0.0)
        return np.cumsum(inc)
    if f == "sign":
        return np.sign(x)
    if f == "abs":
        return np.abs(x)
    if f == "log":
        return np.where(x > 0.0, np.log(np.where(x > 0.0, x, 1.0)), np.nan)
    if f == "sqrt":
        return np.where(x >= 0.0, np.sqrt(np.where(x >= 0.0, x, 0.0)), np.nan)
    if f == "clip":
        lo, hi = _eval(args[1], ctx), _eval(args[2], ctx)
        return np.minimum(np.maximum(x, lo), hi)
    if f == "max":
        return np.maximum(x, _eval(args[1], ctx))
    if f == "min":
        return np.minimum(x, _eval(args[1], ctx))
    raise AssertionError(f)  # parser only produces known functions


def evaluate(node: Node, df: pd.DataFrame, cache: dict | None = None) -> np.ndarray:
    """Evaluate one AST on daily OHLCV bars; returns a float array aligned with ``df.index``."""
    ctx = _Ctx(df)
    if cache is not None:
        ctx.cache = cache
    return _eval(node, ctx)


def lookback(node: Node) -> int:
    """Bars of history a node needs before its first reliable value (see module docstring)."""
    if isinstance(node, Num):
        return 0
    if isinstance(node, Var):
        return 1 if node.name == "returns" else 0
    if isinstance(node, Neg):
        return lookback(node.operand)
    if isinstance(node, BinOp):
        return max(lookback(node.left), lookback(node.right))
    if isinstance(node, Cond):
        return max(lookback(node.cond), lookback(node.then), lookback(node.other))
    if isinstance(node, Call):
        f, args = node.func, node.args
        child = max(lookback(a) for a in args if not isinstance(a, Num)) \
            if any(not isinstance(a, Num) for a in args) else 0
        ints = [int(a.value) for a in args[1:] if isinstance(a, Num)]
        if f in ("delay", "delta", "mom"):
            own = ints[0]
        elif f in ("ts_mean", "ts_std", "ts_sum", "ts_min", "ts_max", "ts_rank", "bbpos"):
            own = ints[0] - 1
        elif f == "ts_corr":
            own = ints[0] - 1
        elif f == "ema":
            own = 3 * ints[0]
        elif f == "rsi":
            own = 1 + 3 * ints[0]
        elif f == "macd":
            own = 3 * (ints[1] if len(ints) >= 2 else 26)
        elif f == "macd_signal":
            own = 3 * (ints[1] if len(ints) >= 2 else 26) + 3 * (ints[2] if len(ints) >= 3 else 9)
        elif f == "obv":
            own = 1
        else:
            own = 0
        return own + child
    raise TypeError(f"not an alpha AST node: {node!r}")
