"""The benchmark comes from the user's data when it is there (runs before 2015 become possible)."""

import pandas as pd
import pytest

from feeds import load_daily, resolve_benchmark
from feeds.errors import ConfigError, DataError

from .conftest import make_daily


def _spy_csv(path, start="2005-01-03", end="2006-12-29"):
    d = make_daily(pd.bdate_range(start, end), seed=7)
    d.index = d.index.strftime("%Y-%m-%d")
    d.rename(columns=str.title).rename_axis("Date").to_csv(path)


def test_benchmark_from_user_folder(tmp_path):
    _spy_csv(tmp_path / "SPY.csv")
    df, prov = resolve_benchmark("sp500", source="files", path=tmp_path, start="2005-01-01")
    assert df.index[0] == pd.Timestamp("2005-01-03")          # before the packaged 2015 start
    assert prov.startswith("SPY from your data") and str(tmp_path) in prov
    assert "2005-01-03..2006-12-29" in prov


def test_benchmark_from_user_wide_file(tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("date,AAPL,SPY\n2010-01-04,7.6,113.3\n2010-01-05,7.6,113.6\n")
    df, prov = resolve_benchmark("SPY", source="files", path=f)
    assert list(df["close"]) == [113.3, 113.6] and "from your data" in prov


def test_benchmark_falls_back_to_packaged_and_says_so(tmp_path):
    (tmp_path / "AAPL.csv").write_text("Date,Close\n2020-01-02,1\n")
    df, prov = resolve_benchmark("sp500", source="files", path=tmp_path, start="2020-01-01",
                                 end="2020-12-31")
    assert prov == "SPY from the packaged dataset (not in your data), 2020-01-02..2020-12-31"
    pd.testing.assert_frame_equal(df, load_daily(["SPY"], start="2020-01-01",
                                                 end="2020-12-31")["SPY"])


def test_explicit_ticker_override(tmp_path):
    _spy_csv(tmp_path / "VOO.csv")
    df, prov = resolve_benchmark("sp500", source="files", path=tmp_path, ticker="VOO")
    assert prov.startswith("VOO from your data") and len(df) > 400
    _, prov2 = resolve_benchmark("sp500", source="packaged", ticker="QQQ")
    assert prov2.startswith("QQQ from the packaged dataset,")


def test_packaged_source_provenance():
    df, prov = resolve_benchmark("jkse", start="2024-01-01", end="2024-03-31")
    assert prov.startswith("^JKSE from the packaged dataset, 2024-01-") and len(df) > 40


@pytest.mark.parametrize("kwargs,exc,what", [
    ({"name_or_ticker": "composite"}, ConfigError, "asset classes"),
    ({"name_or_ticker": "NOPE", "source": "files"}, DataError,
     "NOPE is neither in your data"),
    ({"name_or_ticker": "sp500", "source": "files", "start": "2005-01-01",
      "end": "2010-12-31"}, DataError, "packaged copy covers 2015-01-02.."),
    ({"name_or_ticker": "../SPY", "source": "files"}, DataError, "bad ticker"),
    ({"name_or_ticker": "sp500", "ticker": "a/b"}, DataError, "bad ticker"),
])
def test_benchmark_errors_one_line(tmp_path, kwargs, exc, what):
    (tmp_path / "AAPL.csv").write_text("Date,Close\n2020-01-02,1\n")
    if kwargs.get("source") == "files":
        kwargs = {**kwargs, "path": tmp_path}
    with pytest.raises(exc) as ei:
        resolve_benchmark(**kwargs)
    assert what in str(ei.value) and "\n" not in str(ei.value)
