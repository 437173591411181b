"""The packaged dataset: integrity, and every raw-data quirk handled (small slices)."""

import hashlib
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from feeds import get_universe, load_daily, load_panel
from feeds.errors import DataError
from feeds.packaged import manifest, packaged_tickers

D = pd.Timestamp


def test_manifest_hashes_rows_and_provenance():
    m = manifest()
    data = resources.files("feeds") / "data"
    assert set(m["files"]) == {"nasdaq100.csv.gz", "crypto.csv.gz", "idx.csv.gz",
                               "treasury.csv.gz", "etf.csv.gz", "benchmarks.csv.gz"}
    for fname, info in m["files"].items():
        blob = (data / fname).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == info["sha256"], fname
        assert info["provenance"]
    assert len(m["files"]["nasdaq100.csv.gz"]["tickers"]) == 85
    assert len(m["files"]["crypto.csv.gz"]["tickers"]) == 14
    assert len(m["files"]["idx.csv.gz"]["tickers"]) == 25
    assert m["jkse_splice"]["max_rel_close_diff"] < 1e-3
    json.dumps(m)


def test_every_universe_ticker_is_packaged():
    where = packaged_tickers()
    for name in ("paper", "paper_wide", "nasdaq100", "idx", "crypto", "treasury", "etf",
                 "benchmarks"):
        for t in get_universe(name).tickers:
            assert {"^TNX": "DGS10"}.get(t, t) in where, (name, t)


def test_daily_contract():
    d = load_daily(["AAPL", "BTC-USD"], start="2020-01-01", end="2020-03-31")
    for df in d.values():
        assert list(df.columns) == ["open", "high", "low", "close", "volume"]
        assert (df.dtypes == float).all() and df.index.name == "date" and df.index.tz is None
        assert df.index.is_monotonic_increasing and df.index.is_unique
        assert df.index[0] >= D("2020-01-01") and df.index[-1] <= D("2020-03-31")


def test_tz_offsets_became_local_dates():
    aapl = load_daily(["AAPL"])["AAPL"]
    assert D("2024-12-06") == aapl.index[-1]           # -05:00 stamp, same calendar date
    assert (aapl.index.day_of_week < 5).all()
    btc = load_daily(["BTC-USD"])["BTC-USD"]
    assert (btc.index.day_of_week >= 5).any()            # crypto: 7 days a week


@pytest.mark.parametrize("ticker,first", [("SOL-USD", "2020-04-10"), ("DOT-USD", "2020-08-20"),
                                          ("TON-USD", "2021-08-27"), ("ABNB", "2020-12-10")])
def test_late_starts(ticker, first):
    assert load_daily([ticker])[ticker].index[0] == D(first)


def test_late_listing_masked_before_start():
    p = load_panel(["AAPL", "ABNB"], start="2020-11-01", end="2021-01-31")
    before = p.index < D("2020-12-11")
    assert p.close["ABNB"][before].isna().all() and not p.mask["ABNB"][before].any()
    assert p.mask["ABNB"].loc["2020-12-11"] and p.mask["AAPL"].all()


def test_avax_hole_masked_after_ffill_limit():
    avax = load_daily(["AVAX-USD"])["AVAX-USD"]
    assert not ((avax.index > D("2020-07-14")) & (avax.index < D("2020-09-22"))).any()
    p = load_panel(["BTC-USD", "AVAX-USD"], start="2020-07-01", end="2020-10-31")
    m = p.mask["AVAX-USD"]
    gap = (p.index > D("2020-07-17")) & (p.index < D("2020-09-25"))
    assert list(m[gap][:2]) == [True, True] and not m[gap][2:].any()
    assert m.loc["2020-09-25"]
    assert (p.close["AVAX-USD"][gap] == avax.loc["2020-07-14", "close"]).all()


def test_idx_null_row_dropped_and_spike_dropped():
    d = load_daily(["ASII.JK", "BMRI.JK"])
    assert D("2019-06-19") not in d["ASII.JK"].index
    bmri = d["BMRI.JK"].loc["2023-03-27":"2023-04-05", "close"]
    assert D("2023-03-30") not in bmri.index
    assert bmri.max() < 6000                            # the 10225 print is gone


def test_idx_adjusted_by_adj_close():
    bbca = load_daily(["BBCA.JK"])["BBCA.JK"]
    first = bbca.iloc[0]                                # raw: O 5100, C 5065, Adj 4613.576172
    assert first["close"] == pytest.approx(4613.576, rel=1e-6)
    assert first["open"] == pytest.approx(5100 * 4613.576172 / 5065, rel=1e-6)
    assert bbca.index[0] == D("2018-12-18") and bbca.index[-1] == D("2023-12-15")


def test_etf_adjusted_and_benchmarks():
    d = load_daily(["SPY", "QQQ", "TLT", "IEF", "SHY"], start="2024-01-01")
    assert d["SPY"].loc["2025-09-26", "close"] == pytest.approx(661.82, rel=1e-6)
    for df in d.values():
        assert (df["high"] >= df["low"]).all()


def test_jkse_splice_continuous():
    j = load_daily(["^JKSE"])["^JKSE"]
    assert j.index[0] == D("2015-01-02") and j.index[-1] == D("2025-08-29")
    seam = j.loc["2023-02-27":"2023-03-10", "close"]
    assert len(seam) >= 8 and seam.pct_change().abs().max() < 0.03
    assert j.loc["2023-03-31", "close"] == 6805.0        # from ihsg_raw (integers, +07:00)


def test_yields_zero_kept_and_tnx_alias():
    d = load_daily(["DGS3MO", "^TNX", "DGS10"])
    assert (d["DGS3MO"].loc["2015-09-18", "close"]) == 0.0
    pd.testing.assert_frame_equal(d["^TNX"], d["DGS10"])
    assert (d["^TNX"]["volume"] == 0).all()
    assert (d["^TNX"]["open"] == d["^TNX"]["close"]).all()
    assert not d["^TNX"].index.isin(pd.to_datetime(["2015-12-25", "2016-01-01"])).any()


def test_unknown_ticker_and_empty_range():
    with pytest.raises(DataError, match="NOPE"):
        load_daily(["NOPE"])
    with pytest.raises(DataError, match="no rows"):
        load_daily(["AAPL"], start="2030-01-01")


def test_paper_panel_shape():
    p = load_panel("paper", start="2018-01-01", end="2024-12-31")
    assert p.close.shape[1] == 32 and p.index[-1] <= D("2024-12-31")
    assert p.asset_class["^TNX"] == "treasury" and list(p.yields.columns) == ["^TNX"]
    assert np.isfinite(p.log_returns.where(p.mask)).sum().sum() > 0
    assert not (p.returns.isna() & p.mask).any().any()
