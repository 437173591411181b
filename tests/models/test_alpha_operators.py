"""Alpha operator table: one entry drives parsing, evaluation and look-back; table invariants."""

import numpy as np
import pytest

from feeds.errors import ConfigError
from models.alpha.language import (
    FUNCTION_ALIASES,
    FUNCTIONS,
    OPERATORS,
    AlphaSyntaxError,
    Call,
    Num,
    Operator,
    OperatorTable,
    Var,
    evaluate,
    lookback,
    parse,
)
from tests.models.test_alpha_evaluator import alter_after, synthetic


def _toy(x, y, n, k):
    """Rolling sum of (x - y) over n bars, times k (causal: looks back only)."""
    d = x - y
    out = np.full_like(d, np.nan)
    for t in range(n - 1, len(d)):
        out[t] = k * d[t - n + 1:t + 1].sum()
    return out


def _toy_check(n, k):
    return ("toy scale k must not be zero", 3) if k == 0 else None


TOY = Operator("toy_spread", "x x n=4 k=0.5", _toy, lookback=lambda child, n, k: child + n - 1,
               aliases=("tspread",), check=_toy_check, doc="k * rolling sum of (x - y)")


@pytest.fixture()
def table():
    return OPERATORS.extended(TOY)  # a copy: the built-in table is not touched


def test_toy_operator_parses_evaluates_and_reports_lookback(table):
    df = synthetic(60)
    node = parse("tspread(C, O, 5, 2)", table=table)
    assert node == Call("toy_spread", (Var("close"), Var("open"), Num(5), Num(2)))
    want = _toy(df["close"].to_numpy(), df["open"].to_numpy(), 5, 2.0)
    np.testing.assert_array_equal(evaluate(node, df, table=table), want)
    assert lookback(node, table=table) == 4
    assert lookback(parse("toy_spread(delay(C, 3), O)", table=table), table=table) == 3 + 3
    defaults = evaluate(parse("toy_spread(C, O)", table=table), df, table=table)
    np.testing.assert_array_equal(defaults, _toy(df["close"].to_numpy(),
                                                 df["open"].to_numpy(), 4, 0.5))
    alt = alter_after(df, 40, seed=1)
    np.testing.assert_array_equal(evaluate(node, alt, table=table)[:41],
                                  evaluate(node, df, table=table)[:41])


@pytest.mark.parametrize("formula, column, fragment", [
    ("toy_spread(C)", 1, "'toy_spread' takes 2 to 4 arguments (toy_spread(x0, x1, n=4, k=0.5))"),
    ("tspread(C, O, 0)", 15, "window must be a positive integer literal in 'tspread'"),
    ("toy_spread(C, O, 3, V)", 21, "argument must be a numeric literal"),
    ("toy_spread(C, O, 3, 0)", 21, "toy scale k must not be zero"),
])
def test_toy_operator_errors_come_from_its_entry(table, formula, column, fragment):
    with pytest.raises(AlphaSyntaxError) as info:
        parse(formula, table=table)
    assert info.value.column == column and fragment in str(info.value)


def test_builtin_table_is_unchanged_by_extension(table):
    assert "toy_spread" in table and "toy_spread" not in OPERATORS
    with pytest.raises(AlphaSyntaxError, match="unknown function 'tspread'"):
        parse("tspread(C, O)")
    with pytest.raises(AlphaSyntaxError, match="known: .*tspread"):
        parse("nope(C)", table=table)


def test_table_rejects_bad_entries():
    with pytest.raises(ValueError, match="already taken"):
        OPERATORS.extended(Operator("ema", "x n", _toy))
    with pytest.raises(ValueError, match="already taken"):
        OPERATORS.extended(Operator("foo", "x", np.abs, aliases=("sma",)))
    with pytest.raises(ValueError, match="already taken"):
        OperatorTable([Operator("where", "x x x", _toy)])
    with pytest.raises(ValueError, match="bad argument"):
        Operator("foo", "x y", _toy)
    with pytest.raises(ValueError, match="bad argument"):
        Operator("foo", "x=1", _toy)
    with pytest.raises(ValueError, match="must come before"):
        Operator("foo", "x n=3 k", _toy)
    with pytest.raises(ValueError, match="not an identifier"):
        Operator("foo-bar", "x", _toy)


def test_derived_views_match_the_table():
    assert set(FUNCTIONS) == set(OPERATORS)
    assert FUNCTIONS["macd_signal"] == ("xnnn", 1, (12, 26, 9))
    assert FUNCTIONS["bbpos"] == ("xnk", 2, (2.0,))
    assert dict(FUNCTION_ALIASES) == {"ref": "delay", "sma": "ts_mean", "where": "where"}
    assert OPERATORS["macd"].signature() == "macd(x, n1=12, n2=26)"
    with pytest.raises(TypeError):
        FUNCTIONS["foo"] = ("x", 1, ())  # read-only view
    assert len(OPERATORS.reference().splitlines()) == len(OPERATORS)


def _sample_call(op: Operator) -> str:
    """A formula calling op with close/volume series and small windows."""
    series = iter(["C", "V", "C"])
    args = [next(series) if k == "x" else "5" if k == "n" else "1.5" for k in op.kinds]
    if op.check is not None:
        args = args[:op.required]  # defaults are valid by construction
    return f"{op.name}({', '.join(args)})"


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_table_operator_is_causal_and_defined_after_its_lookback(name):
    df = synthetic(300, seed=2)
    node = parse(_sample_call(OPERATORS[name]))
    base = evaluate(node, df)
    for t in (120, 200):
        np.testing.assert_array_equal(evaluate(node, alter_after(df, t, seed=t))[:t + 1],
                                      base[:t + 1])
    assert np.isfinite(base[lookback(node):]).mean() > 0.95


@pytest.mark.parametrize("formula, bars", [
    ("delay(C, 5)", 5), ("ref(C, 5)", 5), ("delta(C, 5)", 5), ("mom(C, 5)", 5),
    ("ts_mean(C, 5)", 4), ("sma(C, 5)", 4), ("ts_std(C, 5)", 4), ("ts_sum(C, 5)", 4),
    ("ts_min(C, 5)", 4), ("ts_max(C, 5)", 4), ("ts_rank(C, 5)", 4), ("ts_corr(C, V, 5)", 4),
    ("ts_corr(C, 7, 5)", 4), ("ema(C, 5)", 15), ("rsi(C, 5)", 16), ("macd(C)", 78),
    ("macd(C, 3, 10)", 30), ("macd_signal(C)", 105), ("macd_signal(C, 3, 10, 4)", 42),
    ("bbpos(C, 5)", 4), ("bbpos(C, 5, 1)", 4), ("obv(C, V)", 1), ("sign(returns)", 1),
    ("abs(C)", 0), ("log(C)", 0), ("sqrt(C)", 0), ("clip(C, delay(C, 3), 9)", 3),
    ("max(C, delay(O, 2))", 2), ("min(returns, O)", 1), ("ema(delay(C, 2), 4)", 14),
])
def test_lookback_rule_per_operator(formula, bars):
    assert lookback(parse(formula)) == bars


def test_operator_entries_are_config_errors_for_users():
    with pytest.raises(ConfigError, match="unknown function"):
        parse("toy_spread(C, O)")
