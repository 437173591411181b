"""Sweeps: the grid file, its cells, resuming, failed cells and the aggregated report.

The runs here replace the cell function by a fast stand-in (``workers = 1`` runs cells in this
process) that returns seeded synthetic weekly returns: these tests are about the sweep, not the
models. tests/strategies/test_sweep_slow.py runs real cells (and Ray).
"""

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from analyzers.metrics import compute_metrics
from feeds.errors import ConfigError
from strategies import sweep
from strategies.pipeline.sweep_report import collect

UNIVERSE = "AAPL,MSFT,NVDA,AMZN,BTC-USD,ETH-USD,^TNX"
GRID = f"""
presets = ["hybrid_top5", "ppo_top5"]
seeds = "0-2"
universes = ["{UNIVERSE}"]
windows = ["split", "wf26"]

[settings]
timesteps = 256

[variants.paper]
[variants.band]
env_overrides = {{ rebalance_band = 0.05 }}
"""
N_WEEKS = 60


def write_grid(tmp_path, text=GRID, name="grid"):
    p = tmp_path / f"{name}.toml"
    p.write_text(text, encoding="utf-8")
    return p


def synthetic_result(cell):
    """What a cell returns, with seeded synthetic returns (learned presets drift with seed)."""
    idx = pd.date_range("2022-01-07", periods=N_WEEKS, freq="W-FRI")
    out = {}
    for k, name in enumerate(cell["presets"]):
        seed = (cell["seed"] or 0) * 100 + k + (7 if cell["variant"].startswith("ref") else 0)
        r = pd.Series(np.random.default_rng(seed).normal(0.003, 0.02, N_WEEKS), index=idx)
        out[name] = {"dates": [d.date().isoformat() for d in idx], "returns": r.tolist(),
                     "metrics": compute_metrics(r, 52, turnover=r.abs(), costs=r.abs() * 10,
                                                capital=1e6), "bundle": None}
    return {"format": sweep.CELL_FORMAT, "version": sweep.CELL_VERSION, "cell": cell,
            "presets": out, "meta": {"test_first": "2022-01-07", "test_last": "2023-02-24",
                                     "test_weeks": N_WEEKS}}


class FakeCells:
    """Stands in for :func:`strategies.sweep.run_cell`: counts calls, can fail or be
    interrupted."""

    def __init__(self, fail=(), interrupt_after=None):
        self.calls, self.fail, self.interrupt_after = [], set(fail), interrupt_after

    def __call__(self, arg):
        cell = arg["cell"]
        if self.interrupt_after is not None and len(self.calls) == self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append(cell["id"])
        if cell["seed"] in self.fail:
            raise RuntimeError(f"boom in seed {cell['seed']}")
        return synthetic_result(cell)


def run(monkeypatch, tmp_path, fake, *extra, grid=None):
    monkeypatch.setattr(sweep, "run_cell", fake)
    grid = grid or write_grid(tmp_path)
    return sweep.main([str(grid), "--out", str(tmp_path / "out"), "--workers", "1",
                       "--no-progress", *extra])


# ----------------------------------------------------------------------------------- grid
def test_example_grids_are_valid_and_cells_are_as_documented():
    paper = sweep.load_grid("examples/sweep_paper_seeds.toml")
    cells = paper.cells()
    assert paper.presets == ("hybrid_top5", "ppo_top5", "lstm_top5", "hybrid_top10",
                             "ppo_top10", "lstm_top10")
    assert paper.seeds == tuple(range(10)) and paper.n_trials == 6
    robust = sweep.load_grid("examples/sweep_robust.toml")
    assert robust.presets == ("hybrid_robust_top5",) and len(robust.cells()) == 3 + 30
    assert [c["kind"] for c in cells] == ["reference"] + ["learned"] * 10
    assert cells[0]["presets"] == ["equal_weight", "sp500"] and cells[0]["seed"] is None
    assert all(c["presets"] == list(paper.presets) for c in cells[1:])
    assert [c["seed"] for c in cells[1:]] == list(range(10))
    assert all(c["run"]["walk_forward"] == 0 for c in cells)
    smoke = sweep.load_grid("examples/sweep_smoke.toml")
    assert len(smoke.cells()) == 1 + len(smoke.seeds)


def test_cells_are_identified_by_their_configuration(tmp_path):
    grid = sweep.load_grid(write_grid(tmp_path))
    cells = grid.cells()
    ids = [c["id"] for c in cells]
    assert len(ids) == len(set(ids)) == 2 + 2 * 2 * 3  # a reference per window; windows x 2 x 3
    assert [c["id"] for c in sweep.load_grid(write_grid(tmp_path)).cells()] == ids  # stable
    wf = [c for c in cells if c["window"] == "wf26"]
    assert {(c["run"]["walk_forward"], c["run"]["walk_forward_mode"]) for c in wf} == {
        (26, "expanding")}
    # the band changes only the learned cells: both variants share one reference per window
    assert grid.reference_cell(UNIVERSE, "split", "band") == grid.reference_cell(
        UNIVERSE, "split", "paper")
    changed = sweep.load_grid(write_grid(tmp_path, GRID.replace("256", "512"), "g2")).cells()
    same = set(ids) & {c["id"] for c in changed}
    assert same == {c["id"] for c in cells if c["kind"] == "reference"}
    assert all(c["id"].startswith("AAPL_MSFT_NVDA_AMZN_BTC-USD_ETH-USD_TNX-") for c in cells)


def test_parse_window():
    assert sweep.parse_window("split") == (0, "expanding")
    assert sweep.parse_window("wf26") == (26, "expanding")
    assert sweep.parse_window("wf13-rolling") == (13, "rolling")
    for bad in ("wf2", "weekly", "wf26-sliding"):
        with pytest.raises(ConfigError, match="window"):
            sweep.parse_window(bad)


BAD = [
    ('presets = ["hybrid_top7"]\nseeds = [0]', "unknown strategy 'hybrid_top7'"),
    ('presets = ["alpha_ppo"]\nseeds = [0]', "System 2"),
    ('presets = ["equal_weight"]\nseeds = [0]', "no learned preset"),
    ('presets = ["ppo_top5"]\nseeds = 10', 'seeds must be a range "0-9" or a list'),
    ('presets = ["ppo_top5"]\nseeds = [1, 1]', "seeds must be distinct"),
    ('presets = ["ppo_top5"]\nseed = [1]', "unknown key(s) seed"),
    ('presets = ["ppo_top5"]\nseeds = [0]\nuniverses = ["nosuchthing"]',
     "universe nosuchthing is neither a universe preset"),
    ('presets = ["hybrid_top10"]\nseeds = [0]\nuniverses = ["AAPL,MSFT"]', "K=10 is larger"),
    ('presets = ["ppo_top5"]\nseeds = [0]\nwindows = ["wf2"]', "window 'wf2'"),
    (('presets = ["ppo_top5"]\nseeds = [0]\nreferences = ["composite"]\n'
      'universes = ["AAPL,MSFT,NVDA,AMZN,IEF"]'), "IEF of universe AAPL,MSFT,NVDA,AMZN,IEF have"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\ntimestep = 5',
     "[settings]: 'timestep' is not a setting"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[variants.a]\nseed = 3',
     "[variants.a]: 'seed' is set by the grid"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\nbundle_dir = "x"', "set by the sweep"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\nppo_overrides = { lr = 1 }',
     "PPOConfig: unknown fields ['lr']"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\nenv_overrides = { tau = 2.0 }',
     "EnvConfig: tau must be in [0, 1)"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\ntc = 0.5', "tc is a cost per unit"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\nstart = 2024-01-01',
     "start 2024-01-01 .. end 2024-12-06 holds fewer than 60 weeks"),
    ('presets = ["ppo_top5"]\nseeds = [0]\n[settings]\nend = 2031-01-01', "in the future"),
    ('presets = ["ppo_top5"\nseeds = [0]', "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_a_bad_grid_is_one_clear_error_before_anything_runs(tmp_path, capsys, monkeypatch,
                                                           text, message):
    fake = FakeCells()
    grid = write_grid(tmp_path, text, "bad")
    with pytest.raises(ConfigError) as err:
        sweep.load_grid(grid)
    assert message in str(err.value) and str(err.value).startswith("bad.toml: ")
    assert run(monkeypatch, tmp_path, fake, grid=grid) == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: bad.toml: ") and "\n" not in stderr
    assert fake.calls == [] and not (tmp_path / "out").exists()


def test_cli_option_errors(tmp_path, capsys):
    grid = write_grid(tmp_path)
    assert sweep.main([str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: no such grid file" in capsys.readouterr().err
    assert sweep.main([str(grid), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert sweep.main([str(grid), "--address", "auto"]) == 2
    assert "--address is a Ray option" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- running
def test_an_interrupted_sweep_resumes_without_redoing_done_cells(tmp_path, monkeypatch,
                                                                 capsys):
    cells = sweep.load_grid(write_grid(tmp_path)).cells()
    first = FakeCells(interrupt_after=5)  # Ctrl-C while the 6th cell runs
    assert run(monkeypatch, tmp_path, first) == 130
    assert "interrupted" in capsys.readouterr().err
    done = sorted((tmp_path / "out" / "cells").glob("*.json"))
    assert sorted(p.stem for p in done) == sorted(first.calls) and len(done) == 5
    stamps = {p.name: p.stat().st_mtime_ns for p in done}
    second = FakeCells()
    assert run(monkeypatch, tmp_path, second) == 0
    assert sorted(second.calls) == sorted({c["id"] for c in cells} - set(first.calls))
    assert {p.name: p.stat().st_mtime_ns for p in done} == stamps  # not rewritten
    third = FakeCells()
    assert run(monkeypatch, tmp_path, third) == 0 and third.calls == []
    out = capsys.readouterr().out
    assert f"{len(cells)}/{len(cells)} cells done" in out and "0 cells run" in out


def test_a_saved_result_of_another_configuration_is_not_trusted(tmp_path, monkeypatch):
    cells = sweep.load_grid(write_grid(tmp_path)).cells()
    assert run(monkeypatch, tmp_path, FakeCells()) == 0
    cell_dir = tmp_path / "out" / "cells"
    other = json.loads((cell_dir / f"{cells[1]['id']}.json").read_text())
    (cell_dir / f"{cells[0]['id']}.json").write_text(json.dumps(other))  # someone else's
    (cell_dir / f"{cells[2]['id']}.json").write_text('{"format": "bt-rlp')  # half a file
    again = FakeCells()
    assert run(monkeypatch, tmp_path, again) == 0
    assert sorted(again.calls) == sorted([cells[0]["id"], cells[2]["id"]])


def test_a_failed_cell_is_reported_and_the_others_complete(tmp_path, monkeypatch, capsys):
    cells = sweep.load_grid(write_grid(tmp_path)).cells()
    bad = sorted(c["id"] for c in cells if c["seed"] == 1)
    assert run(monkeypatch, tmp_path, FakeCells(fail={1})) == 1
    err = capsys.readouterr().err
    assert all(i in err for i in bad) and "rerun the same command" in err
    out = tmp_path / "out"
    assert sorted(p.stem for p in (out / "failed").glob("*.txt")) == bad
    text = (out / "failed" / f"{bad[0]}.txt").read_text()
    assert text.splitlines()[0] == "RuntimeError: boom in seed 1" and "Traceback" in text
    assert "boom in seed 1" in (out / "sweep.log").read_text()
    assert len(list((out / "cells").glob("*.json"))) == len(cells) - len(bad)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells"]["failed"] == bad
    assert "failed: " + ", ".join(bad) in (out / "report.html").read_text()
    retry = FakeCells()
    assert run(monkeypatch, tmp_path, retry) == 0
    assert sorted(retry.calls) == bad and not list((out / "failed").glob("*.txt"))


def test_report_only_runs_nothing(tmp_path, monkeypatch):
    assert run(monkeypatch, tmp_path, FakeCells(fail={0, 1, 2})) == 1
    (tmp_path / "out" / "report.html").unlink()
    nothing = FakeCells()
    assert run(monkeypatch, tmp_path, nothing, "--report-only") == 0
    assert nothing.calls == [] and (tmp_path / "out" / "report.html").is_file()


# ----------------------------------------------------------------------------------- report
@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    try:
        assert run(mp, tmp, FakeCells()) == 0
    finally:
        mp.undo()
    grid = sweep.load_grid(tmp / "grid.toml")
    return {"grid": grid, "out": tmp / "out",
            "summary": json.loads((tmp / "out" / "summary.json").read_text())}


def test_summary_aggregates_seeds_with_the_statistics(report):
    from analyzers.stats import default_block_length, sharpe
    s = report["summary"]
    assert s["grid"]["n_trials"] == 4 and s["cells"]["done"] == s["cells"]["total"] == 14
    assert [(t["universe"], t["window"]) for t in s["tables"]] == [(UNIVERSE, "split"),
                                                                   (UNIVERSE, "wf26")]
    g = s["tables"][0]["groups"][0]
    assert (g["variant"], g["preset"], g["seeds"]) == ("paper", "hybrid_top5", [0, 1, 2])
    cells = {(c["seed"], c["kind"]): c for c in report["grid"].cells()
             if c["window"] == "split" and c["variant"] in ("paper", "ref")}
    res = {k: synthetic_result(c) for k, c in cells.items()}
    seed_sharpes = [res[(s, "learned")]["presets"]["hybrid_top5"]["metrics"]["sharpe"]
                    for s in (0, 1, 2)]
    assert g["summary"]["sharpe"]["mean"] == pytest.approx(np.mean(seed_sharpes))
    assert g["summary"]["sharpe"]["std"] == pytest.approx(np.std(seed_sharpes, ddof=1))
    assert g["per_seed"]["1"]["sharpe"] == pytest.approx(seed_sharpes[1])
    ew = res[(None, "reference")]["presets"]["equal_weight"]
    vs = g["vs_equal_weight"]
    assert vs["diff"] == pytest.approx(np.mean(seed_sharpes) - sharpe(ew["returns"], 52))
    assert vs["ci_low"] < vs["diff"] < vs["ci_high"] and 0 <= vs["p_le_0"] <= 1
    assert vs["block"] == default_block_length(N_WEEKS) and vs["n_obs"] == N_WEEKS
    assert vs["beats_reference"] == sum(x > sharpe(ew["returns"], 52) for x in seed_sharpes)
    assert g["vs_index"]["reference"] == "sp500"
    assert g["deflated_sharpe"]["n_trials"] == 4
    assert set(s["tables"][0]["references"]) == {"equal_weight", "sp500"}


def test_summary_of_a_partial_sweep_lists_what_is_missing(report, tmp_path):
    out = tmp_path / "partial"
    shutil.copytree(report["out"] / "cells", out / "cells")
    gone = [c["id"] for c in report["grid"].cells() if c["seed"] == 2]
    for i in gone:
        (out / "cells" / f"{i}.json").unlink()
    s = collect(report["grid"], out)
    assert s["cells"]["missing"] == sorted(gone) and s["cells"]["done"] == 14 - len(gone)
    assert s["tables"][0]["groups"][0]["seeds"] == [0, 1]


def test_report_page_is_self_contained_and_states_its_units(report):
    text = (report["out"] / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text and not re.search(r"(src|href)=", text)  # nothing fetched
    for words in ("CAGR (%)", "max drawdown (%)", "turnover / week (%)", "costs (% of capital)",
                  "[90% CI]", "mean block length 4",
                  "number of trials is the variants x presets of this sweep (4)",
                  "14 of 14 cells done"):
        assert html.escape(words, quote=False) in text, words


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = r"""<script>
window.addEventListener('load', function () {
  var tables = Array.from(document.querySelectorAll('table.sweep')).map(function (t) {
    return {id: t.dataset.table, rows: Array.from(t.rows).map(function (r) {
      return Array.from(r.cells).map(function (c) {
        return [c.textContent.trim(), getComputedStyle(c).textAlign]; }); })}; });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({tables: tables,
    h2: Array.from(document.querySelectorAll('h2')).map(function (h) { return h.textContent; }),
    captions: Array.from(document.querySelectorAll('p.caption')).map(function (p) {
      return p.textContent; }),
    defs: document.getElementById('definitions').innerText});
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_report_page_in_chromium(report, tmp_path):
    page = tmp_path / "probe.html"
    page.write_text((report["out"] / "report.html").read_text(encoding="utf-8")
                    .replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert m, "the page did not load"
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["h2"] == [f"universe {UNIVERSE}, window {w}: test weeks 2022-01-07 .. "
                           f"2023-02-24 ({N_WEEKS} weeks)" for w in ("split", "wf26")]
    assert "mean block length 4" in probe["defs"]
    caption = ("Bootstrap of this table: paired stationary block bootstrap of "
               f"{N_WEEKS} test weeks, mean block length 4 weeks, 5000 resamples; deflated "
               "Sharpe over 4 trials.")
    assert probe["captions"] == [caption] * 2
    s = report["summary"]
    for table, t in zip(probe["tables"], s["tables"]):
        head, *rows = table["rows"]
        assert len(rows) == 4 + 2  # 2 variants x 2 presets, then equal weight and the index
        assert all(len(r) == len(head) for r in rows)
        col = [h for h, _ in head].index("Sharpe mean ± std")
        for r, g in zip(rows, t["groups"]):
            assert [r[0][0], r[1][0], r[2][0]] == [g["variant"], g["preset"], "3"]
            sh = g["summary"]["sharpe"]
            assert r[col][0] == f"{sh['mean']:.2f} ± {sh['std']:.2f}"
            assert all(align == "right" for _, align in r[2:])  # numbers right-aligned
            assert r[0][1] == r[1][1] == "left"
        cagr = [h for h, _ in head].index("CAGR (%), seed mean")
        assert rows[4][1][0] == "equal_weight"
        assert rows[4][cagr][0] == f"{100 * t['references']['equal_weight']['cagr']:.2f}"
        ci = [h for h, _ in head].index("ΔSharpe vs equal weight [90% CI]")
        v = t["groups"][0]["vs_equal_weight"]
        assert rows[0][ci][0] == f"{v['diff']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
        assert rows[0][ci + 1][0] == f"{v['p_le_0']:.2f}"
