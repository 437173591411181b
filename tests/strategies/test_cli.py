"""System 2 CLI and pipeline: error exits, outputs of a tiny run, walk-forward slicing."""

import json

import numpy as np
import pandas as pd
import pytest

from feeds import load_daily
from strategies import run as cli
from strategies.pipeline.system2 import System2Config, split_windows

TINY = ["--start", "2019-06-03", "--end", "2020-03-31", "--timesteps", "256", "--jobs", "1",
        "--no-progress"]


def _err_line(capsys):
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def test_unknown_ticker_exits_2(tmp_path, capsys):
    rc = cli.main(["--strategy", "alpha_ppo", "--tickers", "NOPE_XYZ", "--out",
                   str(tmp_path / "o"), "--bundle-dir", str(tmp_path / "b"), *TINY])
    assert rc == 2
    assert "NOPE_XYZ" in _err_line(capsys)


def test_too_little_history_exits_2(tmp_path, capsys):
    rc = cli.main(["--strategy", "alpha_equal", "--tickers", "AAPL", "--start", "2020-01-02",
                   "--end", "2020-02-28", "--out", str(tmp_path / "o"), "--bundle-dir",
                   str(tmp_path / "b"), "--jobs", "1"])
    assert rc == 2
    assert "too little history" in _err_line(capsys)


def test_missing_alpha_file_is_a_config_error(tmp_path):
    from strategies.pipeline.system2 import run_system2
    from feeds.errors import ConfigError
    with pytest.raises(ConfigError):
        run_system2(["alpha_equal"], System2Config(tickers=("AAPL",),
                                                   alphas_path=str(tmp_path / "none.txt")))


def test_tiny_quick_run_writes_all_outputs(tmp_path, capsys):
    out, bundles = tmp_path / "out", tmp_path / "bundles"
    args = ["--strategy", "alpha_ppo", "--tickers", "AAPL", "--seeds", "2", "--out", str(out),
            "--bundle-dir", str(bundles), *TINY]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "| AAPL | alpha_ppo |" in printed and "±" in printed
    out = out / "latest"  # each run writes into its own folder; latest points to it
    for f in ("comparison.html", "metrics.json", "returns.csv", "weights.csv", "paper_table.md",
              "run.json", "tearsheet_AAPL_alpha_ppo_vs_buy_hold.html"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert m["AAPL"]["alpha_ppo"]["n_runs"] == 2 and m["AAPL"]["buy_hold"]["n_runs"] == 1
    for k in ("cumulative_return", "sharpe", "max_drawdown"):
        assert k in m["AAPL"]["alpha_ppo"]["mean"] and k in m["AAPL"]["alpha_ppo"]["std"]
        assert k in m["AAPL"]["alpha_ppo"]["portfolio"]
    assert m["AAPL"]["buy_hold"]["portfolio"]["sharpe"] == m["AAPL"]["buy_hold"]["mean"]["sharpe"]
    rets = pd.read_csv(out / "returns.csv")
    assert rets.shape[0] > 20
    run1 = json.loads((out / "run.json").read_text())
    assert run1["timings"]["trained"] == 2
    # second run reuses the bundles and reproduces the returns
    out2 = tmp_path / "out2"
    args2 = ["--strategy", "alpha_ppo", "--tickers", "AAPL", "--seeds", "2", "--out", str(out2),
             "--bundle-dir", str(bundles), *TINY, "--no-tearsheets"]
    assert cli.main(args2) == 0
    out2 = out2 / "latest"
    run2 = json.loads((out2 / "run.json").read_text())
    assert run2["timings"]["trained"] == 0 and run2["timings"]["reused"] == 2
    pd.testing.assert_frame_equal(pd.read_csv(out / "returns.csv"),
                                  pd.read_csv(out2 / "returns.csv"))


def test_walk_forward_slices_do_not_overlap():
    df = load_daily(["AAPL"], start="2015-01-01", end="2024-05-31")["AAPL"]
    wins = split_windows(df, System2Config(walk_forward=True), 126, "AAPL")
    assert len(wins) >= 8
    for a, b in zip(wins, wins[1:]):
        assert a.test_end < b.test_start  # contiguous, non-overlapping slices
        assert df.index[df.index.get_loc(a.test_end) + 1] == b.test_start
        assert b.decide_from == a.test_end  # switch policy at the close before the slice
        assert b.train_end < b.test_start
    for w in wins:
        assert w.decide_from <= w.train_end or w.decide_from < w.test_start
        assert w.train_end < w.test_start
    # every test day covered once
    days = np.concatenate([df.loc[w.test_start:w.test_end].index.values for w in wins])
    assert len(days) == len(set(days))
