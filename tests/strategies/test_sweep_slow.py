"""Sweeps of real (tiny) cells: a sweep killed midway resumes, Ray matches the local pool.

Marked slow: each cell trains tiny LSTM and PPO models on the packaged data.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from strategies import sweep

TINY = """
start = "2019-01-04"
end = "2022-12-30"
timesteps = 256
ppo_overrides = { n_steps = 64, batch_size = 64, n_epochs = 1, net_arch = [16] }
lstm_overrides = { max_epochs = 2, hidden = 8 }
"""
UNIVERSE = "AAPL,MSFT,NVDA,AMZN,BTC-USD,ETH-USD,^TNX"


def _cells(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}


def test_bundle_lock_excludes_other_processes_for_the_same_key_only(tmp_path):
    probe = ("import fcntl, sys; f = open(sys.argv[1], 'a+b')\n"
             "try:\n    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n    sys.exit(7)\n")
    pytest.importorskip("fcntl")
    with sweep.bundle_lock(tmp_path, "k1"):
        held = subprocess.run([sys.executable, "-c", probe, str(tmp_path / ".locks/k1.lock")],
                              check=False)
        with sweep.bundle_lock(tmp_path, "k2"):
            pass  # another key is free
    free = subprocess.run([sys.executable, "-c", probe, str(tmp_path / ".locks/k1.lock")],
                              check=False)
    assert (held.returncode, free.returncode) == (7, 0)


@pytest.mark.slow
def test_a_sweep_killed_midway_finishes_without_redoing_done_cells(tmp_path):
    grid = tmp_path / "kill.toml"
    grid.write_text(f'presets = ["lstm_top5"]\nseeds = "0-2"\nuniverses = ["{UNIVERSE}"]\n'
                    f"[settings]{TINY}", encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "strategies.sweep", str(grid), "--out", str(out),
           "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while len(list((out / "cells").glob("*.json"))) < 2 and proc.poll() is None:
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # killed midway, without any chance to clean up
        proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert 2 <= len(before) < 4
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - len(before)} cells run, {len(before)} already done, 0 failed" in rerun.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert len(after) == 4 and all(after[k] == v for k, v in before.items())


@pytest.mark.slow
def test_ray_gives_the_same_results_as_the_local_pool(tmp_path):
    pytest.importorskip("ray")
    # two variants sharing each seed's LSTM: cells of the same seed take turns on the bundles
    grid = tmp_path / "ray.toml"
    grid.write_text(f'presets = ["hybrid_top5", "lstm_top5"]\nseeds = [0, 1]\n'
                    f'universes = ["{UNIVERSE}"]\n[settings]{TINY}\n[variants.a]\n'
                    "[variants.b]\nenv_overrides = { sparsity = 0.002 }\n", encoding="utf-8")
    for backend in ("local", "ray"):
        code = sweep.main([str(grid), "--out", str(tmp_path / backend), "--backend", backend,
                           "--workers", "2", "--no-progress"])
        assert code == 0
    local, ray = _cells(tmp_path / "local"), _cells(tmp_path / "ray")
    assert set(local) == set(ray) and len(local) == 1 + 2 * 2
    for cid, res in local.items():
        assert res["timing"]["backend"] == "local" and ray[cid]["timing"]["backend"] == "ray"
        for name, r in res["presets"].items():
            assert ray[cid]["presets"][name]["dates"] == r["dates"]
            assert ray[cid]["presets"][name]["returns"] == r["returns"]  # identical floats
            assert ray[cid]["presets"][name]["metrics"] == r["metrics"]
    lstm = [p for p in (tmp_path / "local" / "bundles").iterdir() if p.name.startswith("lstm-")]
    assert len(lstm) == 2  # one per seed, shared by both variants
