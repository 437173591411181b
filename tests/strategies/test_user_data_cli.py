"""The CLI on a user's own files: their benchmark, their asset classes, dates before 2015."""

import json

import numpy as np
import pandas as pd
import pytest

from strategies import run as cli


def _write_prices(folder, tickers, start="2004-01-01", end="2011-12-30", seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range(start, end)
    folder.mkdir(parents=True, exist_ok=True)
    for k, t in enumerate(tickers):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003 * (k + 1), 0.012, len(idx))))
        opn = close * np.exp(rng.normal(0, 0.002, len(idx)))
        df = pd.DataFrame({"Date": idx.strftime("%Y-%m-%d"), "Open": opn,
                           "High": np.maximum(opn, close) * 1.004,
                           "Low": np.minimum(opn, close) * 0.996, "Close": close,
                           "Adj Close": close, "Volume": 1e6})
        df.to_csv(folder / f"{t}.csv", index=False)
    return folder


def _run(argv, capsys):
    rc = cli.main(argv)
    return rc, capsys.readouterr()


def test_sp500_benchmark_comes_from_the_users_data_before_2015(tmp_path, capsys):
    data = _write_prices(tmp_path / "data", ["AAA", "BBB", "SPY"])
    out = tmp_path / "out"
    rc, cap = _run(["--strategy", "sp500", "--data", str(data), "--universe", "AAA,BBB",
                    "--start", "2004-01-01", "--end", "2011-12-30", "--out", str(out),
                    "--no-tearsheets", "--no-progress"], capsys)
    assert rc == 0, cap.err
    out = out / "latest"
    run = json.loads((out / "run.json").read_text())
    assert run["benchmark"].startswith("SPY from your data")
    assert run["test_first"] < "2015-01-01"
    metrics = json.loads((out / "metrics.json").read_text())
    # buy and hold of the user's SPY, by hand from the file: units sized at the close of the
    # last training week (98% of the value, 2% cash buffer), bought at the next open with 10 bp
    spy = pd.read_csv(data / "SPY.csv", index_col="Date", parse_dates=True)
    first = pd.Timestamp(run["test_first"])
    decide_close = spy["Close"].loc[:first - pd.Timedelta(days=7)].iloc[-1]
    fill_open = spy["Open"].loc[first - pd.Timedelta(days=6):].iloc[0]
    last_close = spy["Close"].loc[:pd.Timestamp(run["test_last"])].iloc[-1]
    units = 0.98 / decide_close
    expect = 1.0 - units * fill_open * 1.001 + units * last_close
    # within 0.1%: the by-hand figure ignores the order-sizing details of the engine; the
    # packaged SPY (other prices entirely) would miss by far more
    assert metrics["sp500"]["final_equity"] == pytest.approx(expect, rel=1e-3)


def test_benchmark_option_names_another_ticker(tmp_path, capsys):
    data = _write_prices(tmp_path / "data", ["AAA", "BBB", "IDX"])
    out = tmp_path / "out"
    rc, cap = _run(["--strategy", "sp500", "--data", str(data), "--universe", "AAA,BBB",
                    "--benchmark", "IDX", "--start", "2004-01-01", "--end", "2011-12-30",
                    "--out", str(out), "--no-tearsheets", "--no-progress"], capsys)
    assert rc == 0, cap.err
    assert json.loads((out / "latest" / "run.json").read_text())["benchmark"].startswith(
        "IDX from your")


def test_composite_needs_known_asset_classes(tmp_path, capsys):
    data = _write_prices(tmp_path / "data", ["AAA", "BBB", "CCC", "DDD", "SPY"])
    base = ["--strategy", "composite", "--data", str(data), "--universe", "AAA,BBB,CCC,DDD",
            "--start", "2004-01-01", "--end", "2011-12-30", "--no-tearsheets", "--no-progress"]
    rc, cap = _run(base + ["--out", str(tmp_path / "o1")], capsys)
    assert rc == 2
    assert cap.err.startswith("error:") and "--asset-classes" in cap.err
    assert not (tmp_path / "o1").exists()
    classes = "AAA=nasdaq100,BBB=idx,CCC=treasury,DDD=crypto"
    rc, cap = _run(base + ["--asset-classes", classes, "--out", str(tmp_path / "o2")], capsys)
    assert rc == 0, cap.err
    run = json.loads((tmp_path / "o2" / "latest" / "run.json").read_text())
    assert run["asset_class"] == {"AAA": "nasdaq100", "BBB": "idx", "CCC": "treasury",
                                  "DDD": "crypto"}


@pytest.mark.parametrize("bad, words", [
    ("AAA", "not TICKER=CLASS"),
    ("ZZZ=crypto", "ZZZ"),
])
def test_bad_asset_classes_fail_before_work(tmp_path, capsys, bad, words):
    data = _write_prices(tmp_path / "data", ["AAA", "BBB", "SPY"])
    rc, cap = _run(["--strategy", "equal_weight", "--data", str(data), "--universe", "AAA,BBB",
                    "--asset-classes", bad, "--start", "2004-01-01", "--end", "2011-12-30",
                    "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and words in cap.err and not (tmp_path / "o").exists()


def test_library_users_cannot_put_bundles_outside_the_bundle_dir(tmp_path):
    """Past the CLI's checks: the pipeline itself refuses a ticker that is a path."""
    from feeds.errors import DataError
    from strategies.pipeline.system2 import System2Config, run_system2
    cfg = System2Config(tickers=("../../escape",), n_seeds=1, timesteps=64, jobs=1,
                        bundle_dir=str(tmp_path / "b"))
    with pytest.raises(DataError, match="bad ticker"):
        run_system2(["alpha_ppo"], cfg)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.rglob("*escape*"))
