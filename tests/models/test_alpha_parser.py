"""Alpha language: parser round trips, error positions, library and user-file loading."""

import pytest
from hypothesis import given, settings

from feeds.errors import ConfigError
from models.alpha.language import (AlphaSyntaxError, BinOp, Cond, Neg, Num, Var,
                           load_alphas, max_lookback, parse, to_text)
from models.alpha.language.parser import FUNCTION_ALIASES

from tests.models._alpha_asts import ASTS



@settings(max_examples=300, deadline=None)
@given(ASTS)
def test_print_parse_round_trip(node):
    assert parse(to_text(node)) == node


def test_library_round_trips_and_aliases_are_canonical():
    for a in load_alphas():
        assert parse(to_text(a.ast)) == a.ast
    assert parse("ref(C, 2)") == parse("delay(close, 2)")
    assert parse("sma(O, 3)") == parse("ts_mean(open, 3)")
    assert parse("where(C > O, 1, -1)") == parse("C > O ? 1 : -1")


def test_precedence_and_associativity():
    assert parse("1 + 2 * 3") == BinOp("+", Num(1), BinOp("*", Num(2), Num(3)))
    assert parse("1 - 2 - 3") == BinOp("-", BinOp("-", Num(1), Num(2)), Num(3))
    assert parse("-C * 2") == BinOp("*", Neg(Var("close")), Num(2))
    assert parse("C > O + 1") == BinOp(">", Var("close"), BinOp("+", Var("open"), Num(1)))
    assert parse("C > O ? 1 : O > C ? -1 : 0") == Cond(
        BinOp(">", Var("close"), Var("open")), Num(1),
        Cond(BinOp(">", Var("open"), Var("close")), Neg(Num(1)), Num(0)))


@pytest.mark.parametrize("formula, column, fragment", [
    ("ts_mean(C, 5", 13, "expected ',' or ')'"),
    ("(C - O", 7, "expected ')'"),
    ("foo(C)", 1, "unknown function 'foo'"),
    ("C + bar(O, 3)", 5, "unknown function 'bar'"),
    ("ts_mean(C, 0)", 12, "window must be a positive integer"),
    ("ts_mean(C, 2.5)", 12, "window must be a positive integer"),
    ("delay(C, O)", 10, "window must be a positive integer"),
    ("C + * O", 5, "expected a number, variable"),
    ("C $ O", 3, "unexpected character"),
    ("C O", 3, "expected an operator or end of formula"),
    ("ts_mean(C)", 1, "takes 2 arguments"),
    ("price / 2", 1, "unknown variable 'price'"),
    ("C > O ? 1", 10, "expected ':'"),
    ("macd(C, 30, 10)", 9, "fast span"),
    ("", 1, "empty formula"),
])
def test_error_positions(formula, column, fragment):
    with pytest.raises(AlphaSyntaxError) as info:
        parse(formula)
    err = info.value
    assert isinstance(err, ConfigError)
    assert err.column == column, str(err)
    assert fragment in str(err)
    assert f"at column {column}" in str(err).splitlines()[0]
    caret = str(err).splitlines()[2]
    assert caret.index("^") - 2 == column - 1


def test_unknown_function_lists_known():
    with pytest.raises(AlphaSyntaxError, match="known: .*ts_mean"):
        parse("foo(C)")


def test_never_uses_python_eval():
    with pytest.raises(AlphaSyntaxError):
        parse("__import__('os')")
    with pytest.raises(AlphaSyntaxError):
        parse("C.__class__")


def test_library_loads_50_valid_alphas():
    alphas = load_alphas()
    assert len(alphas) == 50
    assert len({a.name for a in alphas}) == 50
    assert all(a.description for a in alphas)
    assert max_lookback(alphas) == max(a.lookback for a in alphas) == 126


def test_lookback_rule():
    assert parse("C").__class__ is Var
    from models.alpha.language import lookback
    assert lookback(parse("ts_mean(C, 20)")) == 19
    assert lookback(parse("delay(ts_mean(C, 20), 5)")) == 24
    assert lookback(parse("ema(C, 10)")) == 30
    assert lookback(parse("macd_signal(C)")) == 78 + 27
    assert lookback(parse("rsi(returns, 14)")) == 1 + 1 + 42


def test_user_file_reports_every_bad_line(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("\n".join([
        "# my alphas",
        "good1 | C/O - 1 | fine",
        "bad_paren | ts_mean(C, 5 | missing paren",
        "",
        "good2 | mom(C, 5)",
        "bad_fn | foo(C) | unknown function",
        "good1 | C | duplicate",
        "no formula here",
        "9bad | C | bad name",
        "bad_win | delay(C, -1) | negative window",
    ]))
    with pytest.raises(ConfigError) as info:
        load_alphas(p)
    msg = str(info.value)
    first = msg.splitlines()[0]
    assert "6 invalid alpha lines" in first and str(p) in first
    for line_no in (3, 6, 7, 8, 9, 10):
        assert f"line {line_no}:" in msg
    assert "duplicate alpha name 'good1' (first defined on line 2)" in msg
    assert "unknown function 'foo' at column 1" in msg


def test_user_file_loads(tmp_path):
    p = tmp_path / "ok.txt"
    p.write_text("x1 | (C-O)/O | intraday\nx2 | V/sma(V,20)\n")
    alphas = load_alphas(p)
    assert [a.name for a in alphas] == ["x1", "x2"] and alphas[1].description == ""


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_alphas(tmp_path / "nope.txt")


def test_aliases_table_is_consistent():
    assert set(FUNCTION_ALIASES) >= {"ref", "sma", "where"}
