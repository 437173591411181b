import json

import numpy as np
import pytest

from feeds.errors import BundleError
from models.portfolio.bundle import load_bundle
from models.portfolio.config import EnvConfig
from models.portfolio.features import FeatureLayout
from models.portfolio.train import policy_action
from tests.models._s1fixtures import TICKERS, TINY_LSTM, TINY_PPO, trained
from tests.models._s1fixtures import save_tiny_bundle as _save


def test_round_trip_identical_actions(tmp_path):
    p = _save(tmp_path / "b")
    arr, fcm, tp = trained("hybrid")
    b = load_bundle(p)
    m = json.loads((p / "manifest.json").read_text())
    assert m["tickers"] == list(TICKERS) and m["variant"] == "hybrid"
    assert set(m["files"]) == {"lstm.pt", "policy.pt", "vecnormalize.json"}
    assert {"torch", "stable_baselines3", "gymnasium", "numpy", "python"} <= set(m["versions"])
    assert m["features"]["layout"]["size"] == tp.builder.layout.size
    assert b.env_config == tp.env_config and b.ppo_config == TINY_PPO and b.lstm_config == TINY_LSTM
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = rng.normal(size=tp.builder.layout.size).astype(np.float32)
        np.testing.assert_array_equal(policy_action(b.model, b.obs_norm, obs),
                                      policy_action(tp.model, tp.obs_norm, obs))
    np.testing.assert_array_equal(b.forecaster.forecast(arr.log_returns, arr.mask),
                                  fcm.forecast(arr.log_returns, arr.mask))
    np.testing.assert_array_equal(b.builder.ret_std, tp.builder.ret_std)
    b.verify_against(list(TICKERS), layout=tp.builder.layout, env_config=tp.env_config,
                     variant="hybrid")
    assert not list(tmp_path.glob(".*"))  # no temp folders left behind


def test_overwrite_is_atomic_replace(tmp_path):
    p = _save(tmp_path / "b", "ppo")
    _save(p, "lstm")
    assert load_bundle(p).variant == "lstm"
    assert not (p / "policy.pt").exists()


@pytest.mark.parametrize("name", ["policy.pt", "lstm.pt", "vecnormalize.json"])
def test_corrupt_file(tmp_path, name):
    p = _save(tmp_path / "b")
    with open(p / name, "ab") as f:
        f.write(b"x")
    with pytest.raises(BundleError, match=f"{name} is corrupt.*--retrain"):
        load_bundle(p)


def test_missing_file(tmp_path):
    p = _save(tmp_path / "b")
    (p / "lstm.pt").unlink()
    with pytest.raises(BundleError, match="lstm.pt is missing.*--retrain"):
        load_bundle(p)
    with pytest.raises(BundleError, match="manifest.json not found.*--retrain"):
        load_bundle(tmp_path / "nothing")


def test_mismatches(tmp_path):
    b = load_bundle(_save(tmp_path / "b", "ppo"))
    data = ["AAA", "BBB", "CCC", "DDD", "ZZZ", "YYY"]
    with pytest.raises(BundleError, match=r"missing EEE; extra ZZZ, YYY"):
        b.verify_against(data)
    with pytest.raises(BundleError, match="different order"):
        b.verify_against(list(reversed(TICKERS)))
    with pytest.raises(BundleError, match="'ppo' variant, not 'hybrid'"):
        b.verify_against(list(TICKERS), variant="hybrid")
    with pytest.raises(BundleError, match="feature layout"):
        b.verify_against(list(TICKERS), layout=FeatureLayout(5, 8, False))
    with pytest.raises(BundleError, match=r"top_k: bundle 2 vs requested 5"):
        b.verify_against(list(TICKERS), env_config=EnvConfig(top_k=5, window=4,
                                                             use_forecasts=False))


def test_loaded_policy_is_for_inference_and_loading_skips_torch_compile_imports(tmp_path):
    """Loading builds no torch optimizer (that imports torch._dynamo, ~2 CPU-s per process)."""
    import subprocess
    import sys

    import torch

    p = _save(tmp_path / "b")
    b = load_bundle(p)
    assert not isinstance(b.model.optimizer, torch.optim.Optimizer)
    assert b.model.ortho_init is b.manifest["policy"]["policy_kwargs"]["ortho_init"]
    with pytest.raises(RuntimeError, match="inference only"):
        b.model.optimizer.step()
    code = ("import sys; from models.portfolio.bundle import load_bundle; "
            f"b = load_bundle({str(p)!r}); "
            "print(b.model is not None, b.forecaster is not None, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]
