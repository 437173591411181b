"""AlphaPPO / AlphaEqualWeight evaluating the alphas once per feed equals per-day evaluation.

Every alpha operator is causal, so row t of the alphas evaluated on the whole feed is the row
the visible history up to t gives. pandas' rolling sums are online (add/subtract), so a series
that starts earlier can differ in the last bits: the raw rows are compared within 1e-9
relative (plus 1e-12 absolute) and the decisions within 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

from feeds import load_daily
from models.alpha import train_alpha_policy
from models.alpha.env import STATE_WARMUP, market_state, market_state_last
from models.alpha.language import evaluate_alphas, load_alphas
from strategies.alpha import AlphaEqualWeight, AlphaPPO

from tests.strategies.test_alpha_strategies import (TINY, TRADE_START, alphas, df,  # noqa: F401
                                                    eq_policy, policy, run)

WINDOW = TINY.window


class PerDayPPO(AlphaPPO):
    evaluate_once = False


class PerDayEqual(AlphaEqualWeight):
    evaluate_once = False


def test_whole_feed_rows_equal_visible_history_rows(df):
    lib = load_alphas()
    full = evaluate_alphas(df, lib).to_numpy(dtype=float)
    for t in range(40, len(df), 23):
        row = evaluate_alphas(df.iloc[: t + 1], lib).to_numpy(dtype=float)[-1]
        np.testing.assert_allclose(full[t], row, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.slow
@pytest.mark.parametrize("once, perday, pol", [(AlphaPPO, PerDayPPO, "policy"),
                                               (AlphaEqualWeight, PerDayEqual, "eq_policy")])
def test_evaluate_once_decisions_equal_per_day(once, perday, pol, df, request):
    p = request.getfixturevalue(pol)
    a, ra = run(once, df, policy=p, trade_start=TRADE_START)
    b, rb = run(perday, df, policy=p, trade_start=TRADE_START)
    assert a._alpha_once and all(v is not None for v in a._alpha_once.values())  # the fast path ran
    assert [d for d, _ in a.decisions] == [d for d, _ in b.decisions]
    np.testing.assert_allclose([x for _, x in a.decisions], [x for _, x in b.decisions],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ra.to_numpy(), rb.to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_history_bars_keeps_per_day_evaluation(df, policy):
    s, _ = run(AlphaPPO, df, policy=policy, trade_start=TRADE_START, history_bars=400)
    assert not s._alpha_once  # a trimmed history is evaluated per day, as before


# --------------------------------------------------------------------------- market state
#: market_state_last against pandas' rolling values: vs the whole series (pandas' online sums
#: drift with its length: up to ~1.5e-11 relative seen on DGS3MO) and vs the ~100-bar tail the
#: strategy used to compute (a few 1e-15 seen). Log returns and trend flags: exactly equal.
VOL_RTOL_FULL, VOL_RTOL_TAIL = 1e-10, 1e-13
STATE_TICKERS = ["AAPL", "PTPP.JK", "DGS3MO", "DOGE-USD"]  # + flat prices, near-constant yields


def _vol_close(a, b, rtol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    assert np.array_equal(a[ok] == 0.0, b[ok] == 0.0)  # a constant window is exactly 0 in both
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=0.0)


@pytest.mark.parametrize("ticker", STATE_TICKERS)
def test_market_state_last_equals_pandas_every_day(ticker):
    close = load_daily([ticker])[ticker]["close"].to_numpy(dtype=float)
    assert (np.diff(close) == 0).sum() > 5  # flat days are part of what is checked
    lr, trend, vol = market_state(close)
    last = [market_state_last(close[:t + 1], WINDOW) for t in range(len(close))]
    for t, (lr_t, _, _) in enumerate(last):
        assert np.array_equal(lr_t, lr[max(0, t - WINDOW + 1):t + 1], equal_nan=True), t
    assert np.array_equal([x[1] for x in last], trend)
    _vol_close([x[2] for x in last], vol, VOL_RTOL_FULL)
    tail = max(STATE_WARMUP, WINDOW) + 2  # what the strategy computed with pandas before
    for t in range(0, len(close), 5):
        tl, tt, tv = market_state(close[max(0, t + 1 - tail):t + 1])
        assert last[t][1] == tt[-1], t
        _vol_close([last[t][2]], [tv[-1]], VOL_RTOL_TAIL)


def test_market_state_last_edge_cases():
    rng = np.random.default_rng(7)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))
    c[150:260] = c[150]  # constant: MA20 == MA100 exactly (no trend), vol exactly 0
    c[300], c[320], c[340] = np.nan, 0.0, -1.0  # NaN, zero and negative closes
    for n in [0, 1, 2, 10, 11, 20, 63, 64, 65, 99, 100, 101, 400]:
        part = c[:n]
        lr, trend, vol = market_state(part) if n else (np.array([]), [0.0], [np.nan])
        for w in (1, 10, 70):
            got = market_state_last(part, w)
            assert np.array_equal(got[0], lr[max(0, n - w):], equal_nan=True), (n, w)
            assert got[1] == trend[-1], n
            _vol_close([got[2]], [vol[-1]], VOL_RTOL_TAIL)
    for t in range(100, 400):
        got = market_state_last(c[:t + 1], 10)
        lr, trend, vol = market_state(c[:t + 1])
        assert got[1] == trend[-1], t
        _vol_close([got[2]], [vol[-1]], VOL_RTOL_TAIL)
        # a live strategy holding only the last 101 bars decides exactly as one with all bars
        short = market_state_last(c[t - 100:t + 1], 10)
        assert np.array_equal(short[0], got[0], equal_nan=True)
        assert short[1:] == got[1:] or np.isnan(got[2]) and np.isnan(short[2]) and \
            short[1] == got[1]
    assert market_state_last(c[:250], 10)[1:] == (0.0, 0.0)


# --------------------------------------------------------------------------- whole backtests
class _Recorder:
    """Records the state (trend, vol) of each decision and every order submitted."""

    def __init__(self):
        super().__init__()
        self.states, self.orders = [], []

    def alpha_state(self, pol):
        st = super().alpha_state(pol)
        if st is not None:
            self.states.append((self.now(), st[2], st[3]))
        return st

    def _submit(self, i, size):
        self.orders.append((self.now(), float(size)))
        super()._submit(i, size)


class NewPPO(_Recorder, AlphaPPO):
    pass


class PandasTailPPO(_Recorder, AlphaPPO):
    """The market state as the strategy computed it before: pandas on the last ~100 closes."""

    def alpha_state(self, pol):
        st = AlphaPPO.alpha_state(self, pol)
        if st is None:
            return None
        tail = max(STATE_WARMUP, pol.config.window) + 2
        lr, trend, vol = market_state(self._ohlcv[max(0, self.n_bars - tail):self.n_bars, 3])
        self.states.append((self.now(), float(trend[-1]), float(vol[-1])))
        return st[0], lr, float(trend[-1]), float(vol[-1])


class PandasAllPPO(PandasTailPPO):
    """The market state of all the visible history (what the training env computes)."""

    def alpha_state(self, pol):
        st = AlphaPPO.alpha_state(self, pol)
        if st is None:
            return None
        lr, trend, vol = market_state(self._ohlcv[:self.n_bars, 3])
        self.states.append((self.now(), float(trend[-1]), float(vol[-1])))
        return st[0], lr, float(trend[-1]), float(vol[-1])


#: (ticker, data from, data to, training window, trade_start): a US stock and an IDX stock
#: (many flat days: tick-size prices)
LONG_CASES = [("AAPL", "2015-01-01", "2020-12-31", ("2016-01-04", "2018-12-28"), "2019-01-02"),
              ("PTPP.JK", "2018-01-01", "2023-12-31", ("2019-07-01", "2021-06-30"), "2021-07-01")]


@pytest.fixture(scope="module", params=LONG_CASES, ids=[c[0] for c in LONG_CASES])
def long_case(request):
    """A real stock over several years, a tiny policy trained on its first years."""
    t, start, end, train, trade_start = request.param
    d = load_daily([t], start=start, end=end)[t]
    pol = train_alpha_policy(d, load_alphas(), TINY, 0, train, ticker=t)
    return d, pol, trade_start


@pytest.mark.parametrize("ref, rtol", [(PandasTailPPO, VOL_RTOL_TAIL),
                                       (PandasAllPPO, VOL_RTOL_FULL)])
def test_backtest_decisions_equal_pandas_market_state(long_case, ref, rtol):
    d, pol, trade_start = long_case
    a, ra = run(NewPPO, d, policy=pol, trade_start=trade_start)
    b, rb = run(ref, d, policy=pol, trade_start=trade_start)
    assert len(a.decisions) > 400 and len({x for _, x in a.decisions}) > 100
    assert [(t, tr) for t, tr, _ in a.states] == [(t, tr) for t, tr, _ in b.states]
    assert len({tr for _, tr, _ in a.states}) == 2  # both trend regimes occur
    _vol_close([v for *_, v in a.states], [v for *_, v in b.states], rtol)
    assert [t for t, _ in a.decisions] == [t for t, _ in b.decisions]
    np.testing.assert_allclose([x for _, x in a.decisions], [x for _, x in b.decisions],
                               rtol=1e-12, atol=1e-15)
    # the same orders: dates, directions, and sizes up to the last bits of the volatility
    assert [(t, np.sign(s)) for t, s in a.orders] == [(t, np.sign(s)) for t, s in b.orders]
    np.testing.assert_allclose([s for _, s in a.orders], [s for _, s in b.orders], rtol=1e-9)
    np.testing.assert_allclose(ra.to_numpy(), rb.to_numpy(), rtol=1e-9, atol=1e-12)


def test_standardising_all_rows_at_once_equals_row_by_row(df, policy):
    raw = evaluate_alphas(df, policy.alphas).to_numpy(dtype=float)
    whole = policy.scaler.transform(raw)
    rows = np.stack([policy.scaler.transform(r[None, :])[-1] for r in raw])
    assert np.isnan(raw).any() and whole.tobytes() == rows.tobytes()


def test_signal_cache_keys_are_the_digest_of_every_bar_seen(df, policy):
    """The digest is brought up to date lazily, in blocks: its keys are still the hash of, bar
    by bar, the date as int64 ns and the OHLCV values, then the alphas' hash."""
    import hashlib

    import pandas as pd

    from models.alpha.language import alphas_hash
    cache = {}
    s, _ = run(AlphaPPO, df, policy=policy, trade_start=TRADE_START, signal_cache=cache)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(None).encode())
    want, decided = set(), {t for t, _ in s.decisions}
    for i, (date, row) in enumerate(zip(df.index, df[["open", "high", "low", "close",
                                                      "volume"]].to_numpy(dtype=float))):
        h.update(np.int64(pd.Timestamp(date).value).tobytes())
        h.update(row.tobytes())
        assert s._date_ns[i] == pd.Timestamp(date).value
        if date in decided:
            k = h.copy()
            k.update(alphas_hash(policy.alphas).encode())
            want.add(k.hexdigest())
    assert len(want) == len(decided) > 50 and set(cache) == want
