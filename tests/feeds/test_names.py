"""Safe ticker names and paths: nothing outside the user's folder is ever read."""

import os

import pandas as pd
import pytest

import feeds.files
from feeds import load_daily, safe_join, validate_ticker
from feeds.__main__ import main
from feeds.errors import DataError
from feeds.yahoo import cache_path


@pytest.mark.parametrize("name", ["AAPL", "BRK-B", "BBCA.JK", "^TNX", "EURUSD=X", "0700.HK",
                                  "TON11419-USD", "DGS3MO", "MY_FUND", "A" * 32])
def test_good_tickers_pass_unchanged(name):
    assert validate_ticker(name) == name


@pytest.mark.parametrize("name", ["", "../X", "../../etc/passwd", "a/b", "a\\b", ".hidden",
                                  "-rf", "A..B", "A B", "A\x00B", "A\nB", "A" * 33, "/abs",
                                  "C:X", "AAPL*", None, 5])
def test_bad_tickers_one_line_data_error(name):
    with pytest.raises(DataError) as ei:
        validate_ticker(name)
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("bad ticker ")
    assert repr(name)[:20] in msg                     # names the bad name
    assert "letters, digits" in msg                   # says what is allowed


def test_safe_join_inside_and_escapes(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    assert safe_join(root, "AAPL.csv") == (root / "AAPL.csv").resolve()
    assert safe_join(root, "sub", "..", "AAPL.csv") == (root / "AAPL.csv").resolve()
    for parts in (("..", "X.csv"), ("../X.csv",), ("/etc/passwd",), ("sub", "../../X")):
        with pytest.raises(DataError) as ei:
            safe_join(root, *parts)
        assert "leads outside" in str(ei.value) and "\n" not in str(ei.value)


def test_safe_join_follows_symlinks(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.csv").write_text("x")
    os.symlink(tmp_path / "secret.csv", root / "EVIL.csv")
    with pytest.raises(DataError, match="leads outside"):
        safe_join(root, "EVIL.csv")
    # a root that is itself a symlink is fine
    os.symlink(root, tmp_path / "link")
    (root / "OK.csv").write_text("x")
    assert safe_join(tmp_path / "link", "OK.csv") == (root / "OK.csv").resolve()


OUTSIDE = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,1\n"


@pytest.fixture
def nest(tmp_path, monkeypatch):
    """data/ inside tmp_path, and X.csv beside it (outside --path); records files opened."""
    data = tmp_path / "a" / "data"
    data.mkdir(parents=True)
    (tmp_path / "a" / "X.csv").write_text(OUTSIDE)
    (tmp_path / "X.csv").write_text(OUTSIDE)
    (data / "AAA.csv").write_text(OUTSIDE)
    opened = []
    real = feeds.files.open_text
    monkeypatch.setattr(feeds.files, "open_text", lambda p: opened.append(p) or real(p))
    return data, opened


@pytest.mark.parametrize("ticker", ["../X", "../../X", "..", "sub/../../X"])
def test_traversal_ticker_fails_and_reads_nothing(nest, ticker):
    data, opened = nest
    with pytest.raises(DataError) as ei:
        load_daily([ticker], source="files", path=data)
    assert "bad ticker" in str(ei.value) and "\n" not in str(ei.value)
    assert opened == []


def test_symlink_to_outside_file_fails_and_reads_nothing(nest, tmp_path):
    data, opened = nest
    os.symlink(tmp_path / "X.csv", data / "EVIL.csv")
    with pytest.raises(DataError, match="leads outside"):
        load_daily(["EVIL"], source="files", path=data)
    assert opened == []
    # the legitimate file next to it still loads
    assert len(load_daily(["AAA"], source="files", path=data)["AAA"]) == 1


def test_cli_traversal_exit_2_one_line(nest, capsys):
    data, opened = nest
    code = main(["coverage", "--universe", "AAA,../../X", "--source", "files", "--path",
                 str(data)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: bad ticker '../../X'") and err.count("\n") == 1
    assert opened == []


def test_yfinance_cache_and_packaged_reject_bad_names(tmp_path):
    with pytest.raises(DataError, match="bad ticker"):
        cache_path("../evil", tmp_path / "cache")
    with pytest.raises(DataError, match="bad ticker"):
        load_daily(["../evil"], source="yfinance", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("*.csv"))
    with pytest.raises(DataError, match="bad ticker"):
        load_daily(["../nasdaq100"], source="packaged")
    assert cache_path("^TNX", tmp_path).name == "_5ETNX.csv"
    assert cache_path("^TNX", tmp_path, ".json").parent == tmp_path.resolve()


def test_yfinance_cache_symlink_out_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (tmp_path / "AAPL.csv").write_text("date,open,high,low,close,volume\n")
    os.symlink(tmp_path / "AAPL.csv", cache / "AAPL.csv")
    with pytest.raises(DataError, match="leads outside"):
        load_daily(["AAPL"], source="yfinance", cache_dir=cache)


def test_long_and_wide_lookups_validate_too(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("date,AAA\n2024-01-02,1\n")
    with pytest.raises(DataError, match="bad ticker"):
        load_daily(["AAA/.."], source="files", path=p)
    assert load_daily(["AAA"], source="files", path=p)["AAA"]["close"].iloc[0] == 1.0
    assert isinstance(load_daily(["AAA"], source="files", path=p)["AAA"].index, pd.DatetimeIndex)
