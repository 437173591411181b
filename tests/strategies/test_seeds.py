"""System 1 over seeds: seed parsing, seed ensembles, statistics in every output."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import backtrader as bt
import numpy as np
import pytest

from feeds import get_universe, load_panel, to_backtrader
from feeds.errors import ConfigError
from models.portfolio.allocators import Allocator, EqualWeightAllocator
from models.portfolio.composite import EnsembleAllocator
from strategies.allocation import PPOOnly
from strategies.composite import SeedEnsemble
from strategies.pipeline.seeds import comparison_stats, parse_seeds, run_seeds
from strategies.pipeline.system1 import RunConfig, split
from tests.strategies.test_portfolio import TICKERS, TINY


def test_parse_seeds_count_list_range():
    assert parse_seeds(None, 4) == [4]
    assert parse_seeds("3", 5) == [5, 6, 7]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("2-5") == [2, 3, 4, 5]
    for bad in ("ten", "0", "1,1", "5-2", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


class _Fixed(Allocator):
    def __init__(self, w):
        self.w = np.asarray(w, dtype=float)

    def target_weights(self, h, prev, mask_t, mask_history=None):
        return self.w


def test_ensemble_allocator_averages_member_weights():
    a, b = _Fixed([1.0, 0.0, 0.0]), _Fixed([0.0, 0.5, 0.5])
    h, m = np.zeros((3, 3)), np.ones(3, bool)
    np.testing.assert_allclose(EnsembleAllocator([a, b]).target_weights(h, None, m),
                               [0.5, 0.25, 0.25])
    np.testing.assert_allclose(EnsembleAllocator([a, b], [3, 1]).target_weights(h, None, m),
                               [0.75, 0.125, 0.125])
    w = EnsembleAllocator([a, EqualWeightAllocator()]).target_weights(h, None, m)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    with pytest.raises(ConfigError):
        EnsembleAllocator([])
    with pytest.raises(ConfigError):
        EnsembleAllocator([a, b], [1, -1])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    run = RunConfig(bundle_dir=str(tmp_path_factory.mktemp("seeds")), **TINY)
    return run, run_seeds(["ppo_top5", "equal_weight", "sp500"], run, [0, 1], ensemble=True)


def test_every_learned_preset_runs_per_seed_and_references_once(study):
    run, st = study
    assert st.seeds == [0, 1] and set(st.runs) == {0, 1}
    assert st.runs[0]["ppo_top5"].bundle != st.runs[1]["ppo_top5"].bundle  # one bundle per seed
    assert not st.runs[0]["ppo_top5"].returns.equals(st.runs[1]["ppo_top5"].returns)
    assert set(st.fixed) == {"equal_weight", "sp500"}
    res = st.results()
    assert list(res) == ["ppo_top5", "ppo_top5_ens2", "equal_weight", "sp500"]
    mean = (st.runs[0]["ppo_top5"].returns + st.runs[1]["ppo_top5"].returns) / 2
    np.testing.assert_allclose(res["ppo_top5"].returns.to_numpy(), mean.to_numpy())


def test_seed_ensemble_first_decision_is_the_mean_of_its_members(study):
    run, st = study
    panel = load_panel(get_universe(TICKERS), start=run.start, end=run.end)
    n_train = split(panel, run.train_frac)
    bundles = [st.runs[s]["ppo_top5"].bundle for s in st.seeds]

    def first(cls, **params):
        cerebro = bt.Cerebro(stdstats=False)
        for d in to_backtrader(panel):
            cerebro.adddata(d, name=d._name)
        cerebro.addstrategy(cls, trade_start=panel.index[n_train - 1], **params)
        return cerebro.run()[0].decisions[0]

    d_ens, w_ens = first(SeedEnsemble, bundles=bundles, top_k=5)
    members = [first(PPOOnly, bundle=b, top_k=5) for b in bundles]
    assert all(d == d_ens for d, _ in members)
    np.testing.assert_allclose(w_ens, np.mean([w for _, w in members], axis=0), atol=1e-12)
    assert (w_ens > 0).sum() > 5 or np.allclose(members[0][1], members[1][1])


def test_comparison_stats_cover_every_strategy_against_both_references(study):
    run, st = study
    stats = comparison_stats(st.results(), st, 52, n_boot=500)
    seeded = stats["ppo_top5"]
    assert seeded["sharpe_seeds"]["n"] == 2
    assert seeded["sharpe_seeds"]["min"] <= seeded["sharpe_seeds"]["max"]
    for key, ref in (("vs_equal_weight", "equal_weight"), ("vs_index", "sp500")):
        v = seeded[key]
        assert v["reference"] == ref and v["ci_low"] <= v["diff"] <= v["ci_high"]
        assert 0.0 <= v["p_le_0"] <= 1.0 and v["block"] >= 1 and v["n_boot"] == 500
        assert 0 <= v["beats_reference"] <= 2
    assert "vs_equal_weight" not in stats["equal_weight"]  # no comparison with itself
    assert "vs_index" in stats["equal_weight"]
    assert 0.0 <= seeded["deflated_sharpe"]["dsr"] <= 1.0
    assert seeded["deflated_sharpe"]["n_trials"] == 2  # ppo_top5 and its ensemble


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.rows = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "data-strategy" in a:
            self.rows.append(a["data-strategy"])


@pytest.mark.slow
def test_cli_seeds_write_per_seed_figures_and_statistics(tmp_path):
    from strategies import run as cli
    out = tmp_path / "out"
    rc = cli.main(["--strategy", "ppo_top5", "--universe", ",".join(TICKERS), "--start",
                   TINY["start"], "--end", TINY["end"], "--seeds", "0-1", "--ensemble",
                   "--timesteps", "256", "--bundle-dir", str(tmp_path / "b"), "--out", str(out),
                   "--no-tearsheets", "--no-progress"])
    assert rc == 0
    folder = out / "latest"
    m = json.loads((folder / "metrics.json").read_text())
    assert set(m["ppo_top5"]["seeds"]) == {"0", "1"}
    assert m["ppo_top5"]["sharpe_seeds"]["n"] == 2
    assert "vs_equal_weight" in m["ppo_top5_ens2"] and "deflated_sharpe" in m["sp500"]
    page = _Tables()
    page.feed((folder / "comparison.html").read_text())
    assert {"metrics", "significance"} <= page.ids
    assert page.rows.count("ppo_top5") == 2  # in the metrics table and the statistics table
    run = json.loads((folder / "run.json").read_text())
    assert run["seeds"] == [0, 1] and set(run["bundles_by_seed"]) == {"0", "1"}
