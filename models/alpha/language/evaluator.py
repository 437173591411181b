"""Vectorised, causal evaluation of alpha ASTs over a daily OHLCV frame.

Every operator is causal: the value at bar t uses bars up to and including t only (rolling
windows look back, EMAs run forward, nothing is shifted backwards, nothing is back-filled).

NaN policy
    * Any non-finite intermediate result (division by zero, ``log`` of a non-positive value,
      correlation of a constant window) becomes NaN, never ``inf``.
    * NaN propagates through arithmetic; a comparison with a NaN operand is NaN (not 0);
      ``cond ? a : b`` is NaN where ``cond`` is NaN.
    * Rolling windows need ``n`` valid values (``min_periods=n``), so warm-up rows are NaN.

Functions are dispatched through the operator table
(:data:`~models.alpha.language.operators.OPERATORS`): each entry's ``fn`` receives its evaluated
``x`` arguments as float arrays and its ``n``/``k`` literals as ``int``/``float`` (defaults filled).
The operator reference, and how to add an operator (one table entry), are in
:mod:`models.alpha.language.operators`; this module does not change when an operator is added.

Look-back rule (:func:`lookback`, used for the minimum history): number of earlier bars a node
needs before its first reliable value. Leaves need 0 (``returns`` needs 1); arithmetic,
comparisons and ``?:`` need the maximum of their operands; a function call needs what its table
entry's ``lookback(child, *constants)`` says, ``child`` being the maximum over its ``x`` arguments
(e.g. ``delay`` adds ``n``, rolling ``ts_*`` add ``n - 1``, ``ema`` adds ``3 * n``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.errors import DataError
from models.alpha.language.operators import OPERATORS, OperatorTable, shift
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


class _Ctx:
    def __init__(self, df: pd.DataFrame, table: OperatorTable):
        self.df = df
        self.table = table
        self.cache: dict[Node, np.ndarray] = {}

    def var(self, name: str) -> np.ndarray:
        if name in REQUIRED_COLUMNS:
            return self.df[name].to_numpy(dtype=float)
        if name == "typical":
            return (self.var("high") + self.var("low") + self.var("close")) / 3.0
        if name == "returns":
            c = self.var("close")
            with np.errstate(invalid="ignore", divide="ignore"):
                return c / shift(c, 1) - 1.0
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
    op = ctx.table[node.func]
    return op.fn(*op.bind(node.args, lambda a: _eval(a, ctx), lambda a: a.value))


def evaluate(node: Node, df: pd.DataFrame, cache: dict | None = None, *,
             table: OperatorTable = OPERATORS) -> np.ndarray:
    """Evaluate one AST on daily OHLCV bars; returns a float array aligned with ``df.index``.

    ``cache`` (node -> array) is shared between calls on the same bars and table;
    ``table`` is the operator table the AST was parsed with.
    """
    ctx = _Ctx(df, table)
    if cache is not None:
        ctx.cache = cache
    return _eval(node, ctx)


def lookback(node: Node, *, table: OperatorTable = OPERATORS) -> int:
    """Bars of history a node needs before its first reliable value (see module docstring)."""
    if isinstance(node, Num):
        return 0
    if isinstance(node, Var):
        return 1 if node.name == "returns" else 0
    if isinstance(node, Neg):
        return lookback(node.operand, table=table)
    if isinstance(node, BinOp):
        return max(lookback(node.left, table=table), lookback(node.right, table=table))
    if isinstance(node, Cond):
        return max(lookback(n, table=table) for n in (node.cond, node.then, node.other))
    if isinstance(node, Call):
        op = table[node.func]
        return op.total_lookback(op.bind(node.args, lambda a: lookback(a, table=table),
                                         lambda a: a.value))
    raise TypeError(f"not an alpha AST node: {node!r}")
