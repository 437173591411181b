"""Alpha evaluator: causality of every operator and library alpha, reference values, NaN policy."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import DataError
from models.alpha.language import AlphaScaler, evaluate, evaluate_alphas, load_alphas, parse
from tests.models._alpha_asts import ASTS


def synthetic(T=400, seed=0):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, T)))
    o = c * np.exp(rng.normal(0, 0.004, T))
    idx = pd.DatetimeIndex(pd.bdate_range("2015-01-01", periods=T), name="date")
    return pd.DataFrame({"open": o, "high": np.maximum(o, c) * 1.005,
                         "low": np.minimum(o, c) * 0.995, "close": c,
                         "volume": rng.lognormal(10, 0.3, T)}, index=idx)


def alter_after(df, t, seed):
    rng = np.random.default_rng(seed)
    out = df.copy()
    n = len(df) - t - 1
    out.iloc[t + 1:] = out.iloc[t + 1:].to_numpy() * rng.uniform(0.5, 1.5, (n, 5))
    return out


OPERATOR_FORMULAS = [
    "delay(C,3)", "delta(C,3)", "mom(C,5)", "ts_mean(C,5)", "ts_std(C,5)", "ts_sum(V,5)",
    "ts_min(L,5)", "ts_max(H,5)", "ts_rank(C,7)", "ts_corr(C,V,10)", "ema(C,5)", "rsi(C,14)",
    "macd(C)", "macd_signal(C,5,10,3)", "bbpos(C,20,2)", "obv(C,V)", "sign(returns)",
    "abs(returns)", "log(C-100)", "sqrt(C-100)", "clip(returns,-0.01,0.01)", "max(O,C)",
    "min(O,C)", "C > O ? H : L", "(C >= O) + (C < O) * 2", "typical / C", "-C/O",
]


def test_every_library_alpha_and_operator_is_causal():
    df = synthetic(400)
    alphas = load_alphas()
    extra = [parse(f) for f in OPERATOR_FORMULAS]
    base = evaluate_alphas(df, alphas)
    base_ops = [evaluate(a, df) for a in extra]
    for t, seed in ((150, 1), (250, 2), (398, 3)):
        alt = alter_after(df, t, seed)
        got = evaluate_alphas(alt, alphas)
        pd.testing.assert_frame_equal(got.iloc[:t + 1], base.iloc[:t + 1])
        assert not got.iloc[t + 1:].equals(base.iloc[t + 1:])
        for f, a, b in zip(OPERATOR_FORMULAS, extra, base_ops):
            np.testing.assert_array_equal(evaluate(a, alt)[:t + 1], b[:t + 1], err_msg=f)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(OPERATOR_FORMULAS), st.integers(30, 180), st.integers(0, 10_000))
def test_operator_causality_property(formula, t, seed):
    df = synthetic(200, seed=seed % 7)
    node = parse(formula)
    a = evaluate(node, df)
    b = evaluate(node, alter_after(df, t, seed))
    np.testing.assert_array_equal(a[:t + 1], b[:t + 1])


def test_sma_matches_pandas():
    df = synthetic(120)
    got = evaluate(parse("sma(C, 10)"), df)
    np.testing.assert_allclose(got, df["close"].rolling(10).mean().to_numpy(), equal_nan=True)


def test_ts_rank_matches_loop():
    df = synthetic(80)
    x = np.round(df["close"].to_numpy(), 0)  # create ties
    df = df.assign(close=x)
    n = 6
    got = evaluate(parse(f"ts_rank(C, {n})"), df)
    ref = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        w = x[t - n + 1:t + 1]
        less = (w < x[t]).sum()
        ties = (w == x[t]).sum() - 1
        ref[t] = (less + 0.5 * ties) / (n - 1)
    np.testing.assert_allclose(got, ref, equal_nan=True)
    assert np.nanmin(got) >= 0 and np.nanmax(got) <= 1


def test_rsi_matches_wilder_loop():
    df = synthetic(150)
    n = 14
    c = df["close"].to_numpy()
    got = evaluate(parse(f"rsi(C, {n})"), df)
    a = 1.0 / n
    ag = al = None
    ref = np.full(len(c), np.nan)
    for t in range(1, len(c)):
        d = c[t] - c[t - 1]
        g, l_ = max(d, 0.0), max(-d, 0.0)
        ag = g if ag is None else (1 - a) * ag + a * g
        al = l_ if al is None else (1 - a) * al + a * l_
        if t >= n:
            ref[t] = 100.0 * ag / (ag + al)
    np.testing.assert_allclose(got, ref, equal_nan=True, rtol=1e-10)


def test_ema_and_macd_match_pandas():
    df = synthetic(200)
    c = df["close"]
    ema = lambda s, n: s.ewm(span=n, adjust=False, min_periods=n).mean()  # noqa: E731
    np.testing.assert_allclose(evaluate(parse("ema(C, 9)"), df), ema(c, 9), equal_nan=True)
    m = ema(c, 12) - ema(c, 26)
    np.testing.assert_allclose(evaluate(parse("macd(C)"), df), m, equal_nan=True)
    np.testing.assert_allclose(evaluate(parse("macd_signal(C)"), df), ema(m, 9), equal_nan=True)


def test_division_by_zero_and_log_give_nan_not_inf():
    df = synthetic(50)
    v = evaluate(parse("C / (O - O)"), df)
    assert np.isnan(v).all()
    v = evaluate(parse("log(O - C)"), df)
    neg = (df["open"] - df["close"]).to_numpy() <= 0
    assert np.isnan(v[neg]).all() and np.isfinite(v[~neg]).all()
    v = evaluate(parse("ts_corr(C * 0 + 1, V, 5)"), df)  # constant window
    assert not np.isinf(v).any() and np.isnan(v).all()


def test_comparisons_are_one_zero_and_nan_propagates():
    df = synthetic(30)
    v = evaluate(parse("delay(C, 1) > C"), df)
    assert np.isnan(v[0]) and set(np.unique(v[1:])) <= {0.0, 1.0}


def test_evaluate_alphas_shape_and_warmup():
    df = synthetic(300)
    alphas = load_alphas()
    vals = evaluate_alphas(df, alphas)
    assert vals.shape == (300, 50) and list(vals.columns) == [a.name for a in alphas]
    for a in alphas:  # after the stated look-back every library alpha is defined
        assert vals[a.name].iloc[a.lookback:].notna().mean() > 0.95, a.name


def test_bad_input_is_data_error():
    df = synthetic(30)
    with pytest.raises(DataError, match="missing columns"):
        evaluate_alphas(df.drop(columns="volume"), load_alphas())
    with pytest.raises(DataError, match="sorted"):
        evaluate_alphas(df.iloc[::-1], load_alphas())


def test_scaler_uses_training_rows_only_and_clips():
    df = synthetic(300)
    vals = evaluate_alphas(df, load_alphas())
    train = vals.iloc[130:230]
    sc = AlphaScaler().fit(train)
    changed = vals.copy()
    changed.iloc[230:] *= 100.0
    sc2 = AlphaScaler().fit(changed.iloc[130:230])
    np.testing.assert_array_equal(sc.mean_, sc2.mean_)
    z = sc.transform(vals)
    assert z.abs().max().max() <= 5.0 and not z.isna().any().any()
    zt = z.iloc[130:230]
    assert (zt.mean().abs() < 0.3).mean() > 0.9
    back = AlphaScaler.from_dict(sc.to_dict())
    np.testing.assert_array_equal(back.transform(vals.to_numpy()), z.to_numpy())


@settings(max_examples=60, deadline=None)
@given(ASTS, st.integers(20, 110))
def test_random_ast_is_causal_and_never_inf(node, t):
    df = synthetic(120, seed=1)
    a = evaluate(node, df)
    b = evaluate(node, alter_after(df, t, seed=t))
    assert a.shape == (120,) and not np.isinf(a).any()
    np.testing.assert_array_equal(a[:t + 1], b[:t + 1])
