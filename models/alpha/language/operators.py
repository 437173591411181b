"""The operator table: every alpha function is declared once, here.

An :class:`Operator` entry holds everything the language knows about a function: its canonical
name and aliases, its signature (argument kinds and defaults), the vectorised implementation, its
look-back rule, an optional cross-argument check and a one-line description. The parser validates
calls from the table, the evaluator dispatches to ``fn`` and :func:`~models.alpha.language.lookback`
asks the entry. :data:`OPERATORS` is the built-in (immutable) table.

Adding an operator = adding one ``Operator(...)`` entry to :data:`OPERATORS` below::

    Operator("ts_median", "x n", _rolling("median"), lookback=_window,
             doc="rolling median of the last n values")

Signature (``sig``): space-separated argument kinds, trailing ones may carry a default:
    ``x``  any expression, passed to ``fn`` as a float array aligned with the bars;
    ``n``  positive integer literal (a window), passed as ``int``;
    ``k``  numeric literal, passed as ``float``.
``"x n=12 n=26"`` means one series, then two optional windows with defaults 12 and 26. Error
messages show it as ``macd(x, n1=12, n2=26)``.

Implementation (``fn``): called as ``fn(*values)`` with defaults filled in; must return an array
(or scalar) of the bars' length and be causal: the value at bar t may use inputs at bars <= t only
(rolling windows look back, EMAs run forward; never shift backwards, never back-fill). Non-finite
results become NaN in the evaluator, and warnings are silenced there.

Look-back (``lookback``): ``lookback(child, *constants) -> int``, the bars of history the call
needs before its first reliable value, given ``child`` (the largest look-back of its ``x``
arguments) and its ``n``/``k`` values (defaults filled). The default is ``child`` (element-wise).

Check (``check``): optional ``check(*constants) -> (message, arg_index) | None`` for rules across
arguments; the parser raises ``AlphaSyntaxError(message)`` with the caret on that argument.

For experiments without touching the built-in table use ``OPERATORS.extended(Operator(...))`` and
pass the new table to ``parse``/``evaluate``/``lookback`` (``table=``).

Operator reference: ``print(OPERATORS.reference())``. ``where(c, a, b)`` is not an operator: it
is syntax for ``c ? a : b`` handled by the parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["OPERATORS", "Operator", "OperatorTable"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_RESERVED = frozenset({"where"})  # parser syntax for the conditional


def _same(child: int, *_constants) -> int:
    """Default look-back: element-wise, needs only what the arguments need."""
    return child


@dataclass(frozen=True)
class Operator:
    """One alpha function (see the module docstring for every field's contract).

    Attributes:
        name: canonical name (the one kept in the AST and in printed formulas).
        sig: argument kinds with optional trailing defaults, e.g. ``"x n k=2"``.
        fn: vectorised, causal implementation ``fn(*values) -> array``.
        lookback: ``lookback(child, *constants) -> int`` bars of history needed.
        aliases: other accepted names, resolved to ``name`` while parsing.
        check: optional ``check(*constants) -> (message, arg_index) | None``.
        doc: one-line description for the reference.
    """

    name: str
    sig: str
    fn: Callable[..., np.ndarray]
    lookback: Callable[..., int] = _same
    aliases: tuple[str, ...] = ()
    check: Callable[..., tuple[str, int] | None] | None = None
    doc: str = ""
    kinds: str = field(init=False, repr=False)
    required: int = field(init=False, repr=False)
    defaults: tuple = field(init=False, repr=False)

    def __post_init__(self):
        kinds, defaults = "", []
        for part in self.sig.split():
            kind, eq, default = part.partition("=")
            if kind not in ("x", "n", "k") or (eq and kind == "x"):
                raise ValueError(f"operator {self.name!r}: bad argument {part!r} in sig "
                                 f"{self.sig!r} (use x, n, k, n=<int>, k=<number>)")
            if defaults and not eq:
                raise ValueError(f"operator {self.name!r}: arguments without a default must "
                                 f"come before those with one ({self.sig!r})")
            if eq:
                defaults.append(int(default) if kind == "n" else float(default))
            kinds += kind
        for name in (self.name, *self.aliases):
            if not _NAME_RE.match(name):
                raise ValueError(f"operator name {name!r} is not an identifier")
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "required", len(kinds) - len(defaults))
        object.__setattr__(self, "defaults", tuple(defaults))

    def signature(self) -> str:
        """Human signature used in error messages, e.g. ``macd(x, n1=12, n2=26)``."""
        parts = []
        for i, k in enumerate(self.kinds):
            label = k + (str(i) if self.kinds.count(k) > 1 else "")
            if i >= self.required:
                label += f"={self.defaults[i - self.required]:g}"
            parts.append(label)
        return f"{self.name}({', '.join(parts)})"

    def bind(self, args: Sequence, series: Callable, literal: Callable) -> list:
        """Values for ``fn``/``lookback``/``check``, in order, defaults filled.

        ``series(arg)`` is used for ``x`` arguments; ``literal(arg)`` gives the number of an
        ``n`` (converted to ``int``) or ``k`` (converted to ``float``) argument.
        """
        out = []
        for i, kind in enumerate(self.kinds):
            if i >= len(args):
                out.append(self.defaults[i - self.required])
            elif kind == "x":
                out.append(series(args[i]))
            else:
                value = literal(args[i])
                out.append(int(value) if kind == "n" else float(value))
        return out

    def constants(self, bound: Sequence) -> list:
        """The ``n``/``k`` entries of bound values (see :meth:`bind`)."""
        return [v for v, k in zip(bound, self.kinds) if k != "x"]

    def total_lookback(self, bound: Sequence) -> int:
        """Look-back of a call whose ``x`` arguments were bound to their look-backs."""
        child = max((v for v, k in zip(bound, self.kinds) if k == "x"), default=0)
        return int(self.lookback(child, *self.constants(bound)))


class OperatorTable(Mapping):
    """Immutable mapping canonical name -> :class:`Operator`, with alias resolution."""

    def __init__(self, operators: Iterable[Operator]):
        self._ops: dict[str, Operator] = {}
        self._aliases: dict[str, str] = {}
        for op in operators:
            for name in (op.name, *op.aliases):
                if name in self._ops or name in self._aliases or name in _RESERVED:
                    raise ValueError(f"operator name {name!r} is already taken")
            self._ops[op.name] = op
            self._aliases.update({a: op.name for a in op.aliases})

    def __getitem__(self, name: str) -> Operator:
        return self._ops[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    @property
    def aliases(self) -> dict[str, str]:
        """alias -> canonical name (a copy)."""
        return dict(self._aliases)

    def resolve(self, name: str) -> Operator | None:
        """The operator called ``name`` (canonical or alias), or None."""
        return self._ops.get(self._aliases.get(name, name))

    def extended(self, *operators: Operator) -> OperatorTable:
        """A new table with extra operators (this one is unchanged)."""
        return OperatorTable([*self._ops.values(), *operators])

    def reference(self) -> str:
        """One line per operator: signature, aliases and description."""
        lines = []
        for op in self._ops.values():
            alias = f" (alias {', '.join(op.aliases)})" if op.aliases else ""
            lines.append(f"{op.signature():<36} {op.doc}{alias}")
        return "\n".join(lines)


# ----------------------------------------------------------------------- implementations
def _ema(x: np.ndarray, span: int | None = None, alpha: float | None = None,
         min_periods: int = 0) -> np.ndarray:
    s = pd.Series(x)
    if alpha is None:
        return s.ewm(span=span, adjust=False, min_periods=min_periods).mean().to_numpy()
    return s.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean().to_numpy()


def shift(x: np.ndarray, n: int) -> np.ndarray:
    """x[t-n] (NaN for the first n bars)."""
    out = np.full_like(x, np.nan)
    if n < len(x):
        out[n:] = x[:len(x) - n]
    return out


def _mom(x: np.ndarray, n: int) -> np.ndarray:
    prev = shift(x, n)
    return np.where(prev == 0.0, np.nan, x / np.where(prev == 0.0, 1.0, prev) - 1.0)


def _rolling(stat: str) -> Callable[[np.ndarray, int], np.ndarray]:
    def roll(x: np.ndarray, n: int) -> np.ndarray:
        return getattr(pd.Series(x).rolling(n, min_periods=n), stat)().to_numpy()
    roll.__name__ = f"ts_{stat}"
    return roll


def _ts_std(x: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.where(np.isnan(x), np.nan, 0.0)
    return pd.Series(x).rolling(n, min_periods=n).std(ddof=1).to_numpy()


def _ts_rank(x: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.where(np.isnan(x), np.nan, 0.5)
    r = pd.Series(x).rolling(n, min_periods=n).rank(method="average").to_numpy()
    return (r - 1.0) / (n - 1.0)


def _ts_corr(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    valid = ~(np.isnan(x) | np.isnan(y))
    sx, sy = pd.Series(x).where(valid), pd.Series(y).where(valid)
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


def _rsi(x: np.ndarray, n: int) -> np.ndarray:
    d = np.diff(x, prepend=np.nan)
    gain = np.where(np.isnan(d), np.nan, np.maximum(d, 0.0))
    loss = np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0))
    ag = _ema(gain, alpha=1.0 / n, min_periods=n)
    al = _ema(loss, alpha=1.0 / n, min_periods=n)
    return 100.0 * ag / (ag + al)


def _macd(x: np.ndarray, fast: int, slow: int) -> np.ndarray:
    return _ema(x, span=fast, min_periods=fast) - _ema(x, span=slow, min_periods=slow)


def _macd_signal(x: np.ndarray, fast: int, slow: int, signal: int) -> np.ndarray:
    return _ema(_macd(x, fast, slow), span=signal, min_periods=signal)


def _fast_below_slow(fast: int, slow: int, *_signal) -> tuple[str, int] | None:
    if fast >= slow:
        return (f"macd fast span ({fast:g}) must be smaller than the slow span ({slow:g})", 1)
    return None


def _bbpos(x: np.ndarray, n: int, k: float) -> np.ndarray:
    r = pd.Series(x).rolling(n, min_periods=n)
    m = r.mean().to_numpy()
    sd = r.std(ddof=1).to_numpy() if n > 1 else np.zeros_like(x)
    width = 2.0 * k * sd
    return np.where(width == 0.0, np.nan, (x - (m - k * sd)) / np.where(width == 0, 1, width))


def _obv(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    d = np.sign(np.diff(c, prepend=np.nan))
    return np.cumsum(np.nan_to_num(d * v, nan=0.0))


def _log(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, np.log(np.where(x > 0.0, x, 1.0)), np.nan)


def _sqrt(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0.0, np.sqrt(np.where(x >= 0.0, x, 0.0)), np.nan)


def _plus_n(child: int, n: int) -> int:
    return child + n


def _window(child: int, n: int, *_k) -> int:
    return child + n - 1


# ----------------------------------------------------------------------------- the table
# Look-back rule of thumb: a shift by n adds n, a rolling window of n adds n - 1, an
# exponential filter of span n adds 3 * n (its start value is forgotten to ~0.25% after 3 spans).
OPERATORS = OperatorTable([
    Operator("delay", "x n", shift, lookback=_plus_n, aliases=("ref",), doc="x[t-n]"),
    Operator("delta", "x n", lambda x, n: x - shift(x, n), lookback=_plus_n,
             doc="x[t] - x[t-n]"),
    Operator("mom", "x n", _mom, lookback=_plus_n, doc="x[t] / x[t-n] - 1 (rate of change)"),
    Operator("ts_mean", "x n", _rolling("mean"), lookback=_window, aliases=("sma",),
             doc="rolling mean of the last n values"),
    Operator("ts_std", "x n", _ts_std, lookback=_window,
             doc="rolling sample std (ddof=1); 0 when n=1"),
    Operator("ts_sum", "x n", _rolling("sum"), lookback=_window, doc="rolling sum"),
    Operator("ts_min", "x n", _rolling("min"), lookback=_window, doc="rolling minimum"),
    Operator("ts_max", "x n", _rolling("max"), lookback=_window, doc="rolling maximum"),
    Operator("ts_rank", "x n", _ts_rank, lookback=_window,
             doc="rank of x[t] in the last n values in [0, 1]: (#less + 0.5 * #ties) / (n - 1)"),
    Operator("ts_corr", "x x n", _ts_corr, lookback=_window,
             doc="rolling Pearson correlation; NaN for a constant window"),
    Operator("ema", "x n", lambda x, n: _ema(x, span=n, min_periods=n),
             lookback=lambda child, n: child + 3 * n,
             doc="exponential moving average, span n, adjust=False, first value after n inputs"),
    Operator("rsi", "x n", _rsi, lookback=lambda child, n: child + 1 + 3 * n,
             doc="Wilder RSI in [0, 100] (smoothing 1/n); NaN when there was no move"),
    Operator("macd", "x n=12 n=26", _macd, lookback=lambda child, fast, slow: child + 3 * slow,
             check=_fast_below_slow, doc="ema(x, n1) - ema(x, n2) (fast span n1 < slow span n2)"),
    Operator("macd_signal", "x n=12 n=26 n=9", _macd_signal,
             lookback=lambda child, fast, slow, signal: child + 3 * slow + 3 * signal,
             check=_fast_below_slow, doc="ema(macd(x, n1, n2), n3) (n3: signal span)"),
    Operator("bbpos", "x n k=2", _bbpos, lookback=_window,
             doc="Bollinger %B: (x - (m - k*sd)) / (2*k*sd), rolling mean/std (ddof=1)"),
    Operator("obv", "x x", _obv, lookback=lambda child: child + 1,
             doc="on-balance volume: cumsum of sign(c[t]-c[t-1]) * v[t] from 0 at the start"),
    Operator("sign", "x", np.sign, doc="element-wise sign"),
    Operator("abs", "x", np.abs, doc="element-wise absolute value"),
    Operator("log", "x", _log, doc="natural log of positive values; non-positive -> NaN"),
    Operator("sqrt", "x", _sqrt, doc="square root; negative -> NaN"),
    Operator("clip", "x x x", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
             doc="element-wise clip(x, lo, hi); bounds may be series"),
    Operator("max", "x x", np.maximum, doc="element-wise maximum"),
    Operator("min", "x x", np.minimum, doc="element-wise minimum"),
])
