"""Pickle-free save/load of SB3 actor-critic policies (models/common/safe_policy.py)."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

from feeds.errors import BundleError
from models.common.safe_policy import load_policy, policy_spec, save_policy

OBS_DIM, ACT_DIM = 6, 3
SYSTEM1 = {"net_arch": {"pi": [8, 8], "vf": [8, 8]}}
SYSTEM2 = {"net_arch": dict(pi=[8], vf=[8]), "log_std_init": -0.5, "activation_fn": torch.nn.Tanh}
LIST_RELU = {"net_arch": [8], "activation_fn": torch.nn.ReLU, "share_features_extractor": False}


class _TinyEnv(gym.Env):
    """Box -> Box env; ``inf_low`` gives a non-uniform low bound with -inf to exercise encoding."""

    def __init__(self, inf_low: bool = False) -> None:
        low = np.full(OBS_DIM, -5.0, dtype=np.float32)
        if inf_low:
            low[0] = -np.inf
            low[1] = -3.0
        self.observation_space = spaces.Box(low, np.float32(5.0), (OBS_DIM,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (ACT_DIM,), dtype=np.float32)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self.np_random.uniform(-1, 1, OBS_DIM).astype(np.float32), {}

    def step(self, action):
        self._t += 1
        obs = self.np_random.uniform(-1, 1, OBS_DIM).astype(np.float32)
        return obs, float(-np.sum(np.square(action))), self._t >= 16, False, {}


def _train(policy_kwargs: dict[str, Any], inf_low: bool) -> PPO:
    model = PPO("MlpPolicy", _TinyEnv(inf_low), n_steps=64, batch_size=64, n_epochs=2, seed=0,
                device="cpu", policy_kwargs=policy_kwargs)
    return model.learn(total_timesteps=64)


@pytest.fixture(scope="module")
def models() -> dict[str, PPO]:
    return {"system1": _train(SYSTEM1, inf_low=True), "system2": _train(SYSTEM2, inf_low=False),
            "list_relu": _train(LIST_RELU, inf_low=False)}


@pytest.fixture
def saved(models: dict[str, PPO], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "policy.pt"
    return path, save_policy(models["system1"], path)


def _obs(n: int = 50) -> np.ndarray:
    return np.random.default_rng(1).uniform(-4, 4, (n, OBS_DIM)).astype(np.float32)


def _act(policy: Any, obs: np.ndarray) -> np.ndarray:
    return policy.predict(obs, deterministic=True)[0]


@pytest.mark.parametrize("name", ["system1", "system2", "list_relu"])
def test_round_trip_gives_identical_actions(models: dict[str, PPO], tmp_path: Path,
                                            name: str) -> None:
    model = models[name]
    spec = save_policy(model, tmp_path / "policy.pt")
    text = json.dumps(spec, allow_nan=False)  # +-inf must be strings, not bare Infinity
    assert json.loads(text) == spec
    rng_before = torch.get_rng_state()
    loaded = load_policy(tmp_path / "policy.pt", json.loads(text))
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG did not move
    obs = _obs()
    assert np.array_equal(_act(loaded, obs), _act(model, obs))
    for o in obs[:5]:  # single (unbatched) observations too
        assert np.array_equal(_act(loaded, o), _act(model, o))
    for mine, theirs in ((loaded.observation_space, model.observation_space),
                         (loaded.action_space, model.action_space)):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        assert np.array_equal(mine.low, theirs.low) and np.array_equal(mine.high, theirs.high)
    assert not loaded.training


def test_spec_content(models: dict[str, PPO]) -> None:
    s1, s2 = policy_spec(models["system1"]), policy_spec(models["system2"])
    assert set(s1) == {"format", "policy_class", "observation_space", "action_space",
                       "policy_kwargs"}
    # SB3's default activation is Tanh (not ReLU)
    assert s1["policy_kwargs"] == {"net_arch": {"pi": [8, 8], "vf": [8, 8]},
                                   "activation_fn": "Tanh", "log_std_init": 0.0,
                                   "ortho_init": True, "squash_output": False, "use_sde": False,
                                   "share_features_extractor": True, "normalize_images": True}
    assert s1["observation_space"]["low"] == ["-inf", -3.0, -5.0, -5.0, -5.0, -5.0]
    assert s1["observation_space"]["high"] == 5.0 and s1["action_space"]["low"] == -1.0
    kw2 = s2["policy_kwargs"]
    assert kw2["activation_fn"] == "Tanh" and kw2["log_std_init"] == -0.5
    assert kw2["net_arch"] == {"pi": [8], "vf": [8]}
    kw3 = policy_spec(models["list_relu"])["policy_kwargs"]
    assert kw3["net_arch"] == [8] and kw3["activation_fn"] == "ReLU"
    assert kw3["share_features_extractor"] is False


@pytest.mark.parametrize("kwargs, ppo_kwargs", [
    ({"activation_fn": torch.nn.Hardtanh}, {}),
    ({}, {"use_sde": True}),
])
def test_policy_spec_refuses_unsupported(kwargs: dict[str, Any],
                                         ppo_kwargs: dict[str, Any]) -> None:
    model = PPO("MlpPolicy", _TinyEnv(), n_steps=64, device="cpu", policy_kwargs=kwargs,
                **ppo_kwargs)
    with pytest.raises(ValueError):
        policy_spec(model)


def test_policy_spec_refuses_discrete_actions() -> None:
    with pytest.raises(ValueError):
        policy_spec(PPO("MlpPolicy", "CartPole-v1", n_steps=64, device="cpu"))


class _Evil:
    """Unpickling this creates ``marker`` (a stand-in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes plain pickle.dump
@pytest.mark.parametrize("writer", ["pickle", "torch", "torch-nested"])
def test_malicious_pickle_is_refused(saved, tmp_path: Path, writer: str) -> None:
    _, spec = saved
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    if writer == "pickle":
        with open(path, "wb") as fh:
            pickle.dump(_Evil(marker), fh)
    else:
        torch.save(_Evil(marker) if writer == "torch" else {"log_std": _Evil(marker)}, path)
    with pytest.raises(BundleError, match="retrain the bundle"):
        load_policy(path, spec)
    assert not marker.exists()
    # the payload is live: an unsafe load would have run it
    if writer == "pickle":
        with open(path, "rb") as fh:
            pickle.load(fh)
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


def _tampered(spec: dict[str, Any], edit: str) -> dict[str, Any]:
    s = copy.deepcopy(spec)
    kw = s["policy_kwargs"]
    if edit == "activation":
        kw["activation_fn"] = "os.system"
    elif edit == "unknown_key":
        s["extra"] = 1
    elif edit == "unknown_kwarg":
        kw["features_extractor_class"] = "NatureCNN"
    elif edit == "missing_kwarg":
        del kw["ortho_init"]
    elif edit == "net_arch_vs_weights":
        kw["net_arch"] = {"pi": [16, 16], "vf": [8, 8]}
    elif edit == "net_arch_type":
        kw["net_arch"] = {"pi": ["8"], "vf": [8]}
    elif edit == "use_sde":
        kw["use_sde"] = True
    elif edit == "bool_as_int":
        kw["ortho_init"] = 1
    elif edit == "policy_class":
        s["policy_class"] = "ActorCriticCnnPolicy"
    elif edit == "format":
        s["format"] = 2
    elif edit == "bound_string":
        s["observation_space"]["low"] = "__import__('os')"
    elif edit == "bound_shape":
        s["observation_space"]["high"] = [1.0, 2.0]
    elif edit == "space_type":
        s["action_space"]["type"] = "Discrete"
    elif edit == "obs_shape_vs_weights":
        s["observation_space"]["shape"] = [OBS_DIM + 1]
        s["observation_space"]["low"] = -5.0
    return s


@pytest.mark.parametrize("edit", ["activation", "unknown_key", "unknown_kwarg", "missing_kwarg",
                                  "net_arch_vs_weights", "net_arch_type", "use_sde", "bool_as_int",
                                  "policy_class", "format", "bound_string", "bound_shape",
                                  "space_type", "obs_shape_vs_weights"])
def test_tampered_spec_is_refused(saved, edit: str) -> None:
    path, spec = saved
    load_policy(path, spec)  # the untampered spec loads
    with pytest.raises(BundleError, match="retrain the bundle$"):
        load_policy(path, _tampered(spec, edit))


def test_net_arch_mismatch_names_the_tensor(saved) -> None:
    path, spec = saved
    with pytest.raises(BundleError, match="mlp_extractor.policy_net.0.weight"):
        load_policy(path, _tampered(spec, "net_arch_vs_weights"))


@pytest.mark.parametrize("edit", ["extra", "missing", "dtype", "not_tensor", "not_dict"])
def test_bad_state_dict_is_refused(saved, tmp_path: Path, edit: str) -> None:
    path, spec = saved
    state: Any = torch.load(path, weights_only=True)
    if edit == "extra":
        state["backdoor.weight"] = torch.zeros(2)
    elif edit == "missing":
        del state["action_net.weight"]
    elif edit == "dtype":
        state["log_std"] = state["log_std"].double()
    elif edit == "not_tensor":
        state["log_std"] = 0.5
    else:
        state = list(state.values())
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(BundleError, match="retrain the bundle$"):
        load_policy(bad, spec)


@pytest.mark.parametrize("content", [None, b"not a torch file at all"])
def test_missing_or_corrupt_file_is_refused(saved, tmp_path: Path, content: bytes | None) -> None:
    _, spec = saved
    path = tmp_path / "weights.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BundleError, match="retrain the bundle$"):
        load_policy(path, spec)
