"""System 2 alpha expression language, the 50-alpha library, evaluation and standardisation.

Public API::

    parse(formula) -> Node                      # AlphaSyntaxError (a ConfigError) on bad text
    to_text(node) -> str                        # parse(to_text(n)) == n
    load_alphas(path=None) -> list[Alpha]       # packaged library.txt by default
    max_lookback(alphas) -> int                 # bars of history needed before the first value
    evaluate_alphas(df, alphas) -> DataFrame    # dates x alpha names, causal
    AlphaScaler().fit(train_values).transform(values) -> DataFrame
    OPERATORS                                   # the operator table (one entry per function)

Modules: ``parser`` (tokenizer, parser, printer), ``evaluator`` (tree walk, NaN policy,
look-back), ``operators`` (the operator table). To add a function, add one ``Operator(...)``
entry to ``OPERATORS`` in ``operators.py``; the parser, the evaluator and the look-back all
read it from there (see that module's docstring for the entry's fields).

File format (``library.txt`` or a user file): one alpha per line ``name | formula | description``;
blank lines and lines whose first non-blank character is ``#`` are ignored (``#`` is only a
whole-line comment). The description field is optional.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from feeds.errors import ConfigError
from models.alpha.language.evaluator import evaluate, lookback, validate_ohlcv
from models.alpha.language.operators import OPERATORS, Operator, OperatorTable
from models.alpha.language.parser import (FUNCTION_ALIASES, FUNCTIONS, VARIABLES, AlphaSyntaxError,
                                          BinOp, Call, Cond, Neg, Node, Num, Var, parse, to_text)

__all__ = [
    "Alpha", "AlphaScaler", "AlphaSyntaxError", "FUNCTIONS", "FUNCTION_ALIASES", "VARIABLES",
    "LIBRARY_PATH", "OPERATORS", "Operator", "OperatorTable",
    "Node", "Num", "Var", "Neg", "BinOp", "Cond", "Call",
    "alphas_hash", "evaluate", "evaluate_alphas", "load_alphas", "lookback", "max_lookback",
    "parse", "parse_alpha_lines", "to_text",
]

LIBRARY_PATH = Path(__file__).with_name("library.txt")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Alpha:
    """One named formulaic alpha.

    Attributes:
        name: identifier, unique within a library.
        formula: the formula text as written.
        description: one-line human description.
        ast: the parsed expression (canonical names).
    """

    name: str
    formula: str
    description: str
    ast: Node

    @property
    def lookback(self) -> int:
        """Bars of history needed before the first reliable value."""
        return lookback(self.ast)


def parse_alpha_lines(lines: Iterable[str], source: str = "<text>") -> list[Alpha]:
    """Parse ``name | formula | description`` lines; report every bad line in one ConfigError."""
    alphas: list[Alpha] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) not in (2, 3):
            errors.append(f"line {lineno}: expected 'name | formula | description' "
                          f"(2 or 3 fields separated by '|'), got {len(parts)} fields")
            continue
        name, formula = parts[0], parts[1]
        desc = parts[2] if len(parts) == 3 else ""
        if not _NAME_RE.match(name):
            errors.append(f"line {lineno}: invalid alpha name {name!r} "
                          "(letters, digits, underscore; not starting with a digit)")
            continue
        if name in seen:
            errors.append(f"line {lineno}: duplicate alpha name {name!r} "
                          f"(first defined on line {seen[name]})")
            continue
        try:
            ast = parse(formula)
        except AlphaSyntaxError as exc:
            caret = " " * (exc.column - 1) + "^"
            errors.append(f"line {lineno}: alpha {name!r}: {exc.short}\n"
                          f"    {formula}\n    {caret}")
            continue
        seen[name] = lineno
        alphas.append(Alpha(name, formula, desc, ast))
    if errors:
        n = len(errors)
        raise ConfigError(f"{source}: {n} invalid alpha line{'s' if n > 1 else ''}; fix them "
                          "and retry\n" + "\n".join(errors))
    if not alphas:
        raise ConfigError(f"{source}: no alphas defined (need lines 'name | formula | description')")
    return alphas


def load_alphas(path: str | Path | None = None) -> list[Alpha]:
    """Load an alpha library; ``None`` loads the packaged 50-alpha ``library.txt``."""
    p = LIBRARY_PATH if path is None else Path(path)
    if not p.is_file():
        raise ConfigError(f"alpha file {p} not found; pass an existing file or None for the "
                          "packaged library")
    text = p.read_text(encoding="utf-8")
    return parse_alpha_lines(text.splitlines(), source=str(p))


def max_lookback(alphas: Sequence[Alpha]) -> int:
    """Longest look-back over the alphas (see ``models.alpha.language.evaluator`` for the rule)."""
    return max((a.lookback for a in alphas), default=0)


def alphas_hash(alphas: Sequence[Alpha]) -> str:
    """sha256 of the ordered ``name|canonical formula`` lines (identifies a library)."""
    h = hashlib.sha256()
    for a in alphas:
        h.update(f"{a.name}|{to_text(a.ast)}\n".encode())
    return h.hexdigest()


def evaluate_alphas(df: pd.DataFrame, alphas: Sequence[Alpha]) -> pd.DataFrame:
    """Evaluate alphas on daily OHLCV bars -> DataFrame (dates x alpha names), NaN in warm-up.

    Shared sub-expressions are evaluated once. Causal: row t depends on rows <= t only.
    """
    validate_ohlcv(df)
    cache: dict = {}
    cols = {a.name: evaluate(a.ast, df, cache=cache) for a in alphas}
    out = pd.DataFrame(cols, index=df.index)
    out.columns.name = "alpha"
    return out


class AlphaScaler:
    """Per-alpha standardisation fitted on the training window only.

    ``fit`` winsorises each alpha's training values at the ``winsor`` and ``1 - winsor``
    quantiles, then stores the mean and std (ddof=0). ``transform`` gives
    ``z = clip((x - mean_) / std_, -clip, clip)`` with NaN -> 0 (call it on rows after the
    warm-up; a NaN there means "no information"). An alpha that is constant or all-NaN in
    training gets std 1 (and mean 0 if all-NaN).

    Attributes (after fit): ``names_`` (list), ``mean_`` and ``std_`` (float arrays).
    """

    def __init__(self, clip: float = 5.0, winsor: float = 0.005):
        self.clip = float(clip)
        self.winsor = float(winsor)

    def fit(self, train_values: pd.DataFrame) -> "AlphaScaler":
        x = np.asarray(train_values, dtype=float)
        names = list(train_values.columns)
        mean = np.zeros(x.shape[1])
        std = np.ones(x.shape[1])
        for j in range(x.shape[1]):
            col = x[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                continue
            if self.winsor > 0 and col.size > 10:
                lo, hi = np.quantile(col, [self.winsor, 1.0 - self.winsor])
                col = np.clip(col, lo, hi)
            mean[j] = col.mean()
            sd = col.std()
            std[j] = sd if sd > 1e-12 * max(1.0, abs(mean[j])) else 1.0
        self.names_, self.mean_, self.std_ = names, mean, std
        return self

    def transform(self, values: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Standardise values (DataFrame with the fitted columns, or an array [..., n_alphas])."""
        if not hasattr(self, "mean_"):
            raise ConfigError("AlphaScaler is not fitted; call fit(train_values) first")
        if isinstance(values, pd.DataFrame):
            if list(values.columns) != self.names_:
                raise ConfigError("alpha columns differ from the ones the scaler was fitted on")
            return pd.DataFrame(self._z(values.to_numpy(dtype=float)), index=values.index,
                                columns=values.columns)
        return self._z(np.asarray(values, dtype=float))

    def _z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            z = (x - self.mean_) / self.std_
        return np.nan_to_num(np.clip(z, -self.clip, self.clip), nan=0.0)

    def to_dict(self) -> dict:
        return {"clip": self.clip, "winsor": self.winsor, "names": list(self.names_),
                "mean": [float(v) for v in self.mean_], "std": [float(v) for v in self.std_]}

    @classmethod
    def from_dict(cls, d: dict) -> "AlphaScaler":
        s = cls(clip=d["clip"], winsor=d["winsor"])
        s.names_ = list(d["names"])
        s.mean_ = np.asarray(d["mean"], dtype=float)
        s.std_ = np.asarray(d["std"], dtype=float)
        return s
