"""What a run writes and where: one folder per run, the main job's comparisons, System 2's
seed-averaged portfolio, costs in money and in % of capital."""

import json
import os
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from strategies.pipeline.cli import system1_names
from strategies.pipeline.common import StrategyResult
from strategies.pipeline.outputs import RunFolder, tearsheet_benchmarks, write_outputs


# ----------------------------------------------------------------------------- run folders
def test_each_run_gets_its_own_folder_and_latest_points_to_it(tmp_path):
    root = tmp_path / "results"
    when = datetime(2024, 12, 6, 17, 30, 0)
    with RunFolder(root, "hybrid_top5", now=when) as first:
        (first.tmp / "comparison.html").write_text("one")
        assert not first.path.exists()  # published only when complete
    assert first.path.name == "20241206-173000_hybrid_top5"
    assert (root / "latest" / "comparison.html").read_text() == "one"
    assert (root / "LATEST").read_text().strip() == first.path.name
    with RunFolder(root, "alpha_ppo", now=when) as second:  # same second: a new name
        (second.tmp / "paper_table.md").write_text("two")
    assert second.path.name == "20241206-173000_alpha_ppo"
    with RunFolder(root, "alpha_ppo", now=when) as third:
        (third.tmp / "x").write_text("3")
    assert third.path.name == "20241206-173000_alpha_ppo-2"
    # the earlier runs are untouched; latest shows only the newest run's files
    assert (first.path / "comparison.html").read_text() == "one"
    assert sorted(p.name for p in (root / "latest").iterdir()) == ["x"]
    assert os.readlink(root / "latest") == third.path.name
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_a_failed_run_leaves_nothing(tmp_path):
    root = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with RunFolder(root, "hybrid_top5") as folder:
            (folder.tmp / "half.html").write_text("x")
            raise RuntimeError("disk full")
    assert not root.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("user file")
    with pytest.raises(RuntimeError):
        with RunFolder(kept, "x"):
            raise RuntimeError("boom")
    assert [p.name for p in kept.iterdir()] == ["mine.txt"]


def test_labels_are_made_safe(tmp_path):
    assert RunFolder(tmp_path, "../a b/c").name.endswith("_a-b-c")


# ----------------------------------------------------------------------------- main job
def test_the_main_job_runs_the_single_model_strategies_at_the_same_k():
    assert system1_names(["hybrid_top5"]) == ["hybrid_top5", "ppo_top5", "lstm_top5",
                                              "equal_weight", "sp500"]
    assert system1_names(["equal_weight"]) == ["equal_weight", "sp500"]
    every = system1_names([f"{f}_top{k}" for f in ("hybrid", "ppo", "lstm") for k in (5, 10)])
    assert len(every) == len(set(every)) == 8
    assert tearsheet_benchmarks(["hybrid_top10"]) == {
        "hybrid_top10": ["ppo_top10", "lstm_top10", "equal_weight", "sp500"]}
    assert tearsheet_benchmarks(["sp500"]) == {"sp500": ["equal_weight"]}


def _result(name, seed, n=30):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-11-11", periods=n, freq="W-FRI", name="date")
    r = pd.Series(rng.normal(0.004, 0.03, n), index=idx, name=name)
    costs = pd.Series(rng.uniform(0, 2000, n), index=idx)
    turnover = pd.Series(rng.uniform(0, 1, n), index=idx)
    w = pd.DataFrame({"A": 0.5, "B": 0.5}, index=idx)
    m = compute_metrics(r, 52, costs=costs, turnover=turnover, capital=1_000_000.0)
    m["rejected_orders"] = 0
    return StrategyResult(name=name, returns=r, weights=w, turnover=turnover,
                          costs=costs / 1e6, orders={}, metrics=m)


def test_outputs_agree_with_each_other(tmp_path):
    names = system1_names(["hybrid_top5"])
    results = {n: _result(n, i) for i, n in enumerate(names)}
    meta = {"test_first": "2022-11-11", "test_last": "2023-06-02", "test_weeks": 30,
            "train_first": "2018-01-05", "train_last": "2022-11-04", "capital": 1e6, "tc": 0.001}
    write_outputs(results, tmp_path, meta, ["hybrid_top5"], 52, tearsheets=False,
                  progress=False)
    page = (tmp_path / "comparison.html").read_text()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for n in names:  # every strategy of the main job is on the page, with its metrics.json Sharpe
        assert f'data-strategy="{n}"' in page
        row = page.split(f'data-strategy="{n}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-metric="sharpe">{metrics[n]["sharpe"]:.2f}<' in row
        assert f'data-metric="costs_paid">{metrics[n]["costs_paid"]:,.0f}<' in row
        assert f'data-metric="costs_pct">{100 * metrics[n]["costs_pct"]:.2f}%<' in row
        assert 'data-metric="n_periods">30<' in row
    assert "starting capital 1,000,000" in page
    returns = pd.read_csv(tmp_path / "returns.csv", index_col="date", parse_dates=True)
    assert list(returns.columns) == names
    assert (tmp_path / "run.json").is_file() and (tmp_path / "weights.csv").is_file()


# ----------------------------------------------------------------------------- System 2
def test_system2_portfolio_metrics_are_those_of_the_seed_average():
    from strategies.pipeline.system2 import portfolio_metrics, seed_mean_returns, summarise
    runs = {"alpha_ppo/seed0": _result("a", 0), "alpha_ppo/seed1": _result("b", 1),
            "buy_hold": _result("c", 2)}
    for r in runs.values():
        r.metrics["mean_abs_position"] = 0.5
    summary = summarise({"AAPL": runs})["AAPL"]
    avg = compute_metrics(seed_mean_returns(runs, "alpha_ppo"), 252)
    assert summary["alpha_ppo"]["portfolio"]["sharpe"] == pytest.approx(avg["sharpe"])
    assert summary["alpha_ppo"]["portfolio"]["costs_paid"] == pytest.approx(
        np.mean([runs["alpha_ppo/seed0"].metrics["costs_paid"],
                 runs["alpha_ppo/seed1"].metrics["costs_paid"]]))
    assert summary["buy_hold"]["portfolio"] == runs["buy_hold"].metrics
    assert portfolio_metrics(runs, "buy_hold")["sharpe"] == summary["buy_hold"]["mean"]["sharpe"]
