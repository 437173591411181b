"""``AlphaPolicy.action``'s functional actor forward equals ``policy_action`` bit for bit.

The forward calls the layers' torch functions directly (``F.linear``, ``torch.tanh``) instead of
going through ``nn.Module.__call__``; it must give exactly ``policy_action``'s action (itself
bit-identical to SB3's ``predict``, tests/models/test_perf_policy_action.py) for a trained
policy, a policy loaded from a bundle and one whose means leave the action box, and hand every
case it does not cover (hooks, NaN means, wrong shapes, ``FAST_ACTION`` off) to
``policy_action``. ``observation_fast`` (the observation the strategies build each day) must
give the env's ``build_observation`` bytes.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import models.common.ppo as P
from models.alpha import load_alpha_bundle, save_alpha_bundle, train_alpha_policy
from models.alpha.env import build_observation
from models.alpha.language import load_alphas
from models.alpha.policies import observation_fast
from models.common.ppo import policy_action
from models.common.threads import torch_threads
from tests.models.test_alpha_train import synthetic
from tests.models.test_perf_policy_action import TINY, _amplified, _observations


@pytest.fixture(scope="module")
def pols(tmp_path_factory):
    df = synthetic(T=420, seed=3)
    pol = train_alpha_policy(df, load_alphas(), TINY, seed=5,
                             train_slice=(df.index[140], df.index[330]), ticker="SYN")
    loaded = load_alpha_bundle(save_alpha_bundle(pol, tmp_path_factory.mktemp("b") / "b"),
                               ticker="SYN")
    big = copy.copy(loaded)
    big.model = _amplified(loaded.model)
    return {"trained": pol, "loaded": loaded, "amplified": big}


def _outcome(f):
    try:
        return np.asarray(f(), dtype=np.float64)
    except ValueError as exc:  # predict refuses a NaN mean (e.g. +inf and -inf inputs)
        return str(exc)


def _counting(monkeypatch):
    calls = {"module": 0}
    direct = P._actor_action

    def count(*a, **k):
        calls["module"] += 1
        return direct(*a, **k)
    monkeypatch.setattr(P, "_actor_action", count)
    return calls


@pytest.mark.parametrize("which", ["trained", "loaded", "amplified"])
def test_action_identical_to_policy_action(pols, which, monkeypatch):
    pol = pols[which]
    X = _observations(400, pol.model.observation_space.shape[0], seed=11)
    with torch_threads(1):
        want = [_outcome(lambda x=x: np.clip(policy_action(pol.model, None, x), -1.0, 1.0))
                for x in X]
        calls = _counting(monkeypatch)
        got = [_outcome(lambda x=x: pol.action(x)) for x in X]
    fast = sum(isinstance(g, np.ndarray) for g in got)
    assert calls["module"] == len(X) - fast  # only the NaN-mean cases left the fast path
    assert fast > 200
    for g, w in zip(got, want):
        if isinstance(w, str):
            assert g == w
        else:
            assert isinstance(g, np.ndarray) and g.dtype == w.dtype and g.tobytes() == w.tobytes()
    if which == "amplified":
        acts = np.array([g for g in got if isinstance(g, np.ndarray)])
        assert np.any(np.abs(acts) == 1.0) and np.any(np.abs(acts) < 1.0)  # the box clip ran


def test_cases_it_does_not_cover_go_to_policy_action(pols, monkeypatch):
    pol = pols["trained"]
    x = _observations(40, pol.model.observation_space.shape[0], seed=4)
    x = x[np.isfinite(x).all(axis=1)][0]
    want = np.clip(policy_action(pol.model, None, x), -1.0, 1.0)
    calls = _counting(monkeypatch)
    assert np.array_equal(pol.action(x), want) and calls["module"] == 0
    seen = []  # a forward hook must run: the module path is taken
    hook = pol.model.policy.action_net.register_forward_hook(lambda *_: seen.append(1))
    try:
        assert np.array_equal(pol.action(x), want)
    finally:
        hook.remove()
    assert seen == [1] and calls["module"] == 1
    frozen = x.copy()
    frozen.flags.writeable = False  # read-only: no torch warning, same action
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(pol.action(frozen), want)
    with pytest.raises(ValueError, match="Unexpected observation shape"):
        pol.action(x[:-1])
    monkeypatch.setattr(P, "FAST_ACTION", False)
    predicted = []
    predict = type(pol.model).predict
    monkeypatch.setattr(type(pol.model), "predict",
                        lambda self, *a, **k: predicted.append(1) or predict(self, *a, **k))
    assert np.array_equal(pol.action(x), want) and predicted == [1]


def test_a_replaced_model_is_used(pols):
    pol = copy.copy(pols["loaded"])
    x = _observations(40, pol.model.observation_space.shape[0], seed=5)
    x = x[np.isfinite(x).all(axis=1)][0]
    before = pol.action(x)
    pol.model = _amplified(pol.model)
    want = np.clip(policy_action(pol.model, None, x), -1.0, 1.0)
    assert np.array_equal(pol.action(x), want) and not np.array_equal(before, want)


def test_observation_fast_equals_build_observation_bit_for_bit():
    """Typical, huge, +-inf, NaN and signed-zero entries; float, float64 and float32 scalars;
    with and without alphas: the same float32 bytes as the env's build_observation."""
    rng = np.random.default_rng(0)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 10.0, -10.0,
                        10.000001, 5e-324, -5e-324])
    kinds = (float, np.float64, np.float32)  # 1e308 as float32 is inf: no overflow warnings
    for _ in range(3000):
        lr = rng.normal(0, 0.05, int(rng.integers(1, 15))) * rng.choice([1.0, 100.0, 1e6])
        lr[rng.random(len(lr)) < 0.2] = rng.choice(special)
        z = None if rng.random() < 0.2 else rng.normal(0, 8, int(rng.integers(0, 60)))
        if z is not None:
            z[rng.random(len(z)) < 0.2] = rng.choice(special)
        kind = kinds[int(rng.integers(0, 3))]
        with np.errstate(all="ignore"):
            args = (lr if rng.random() < 0.8 else list(lr),
                    float(rng.choice([0.01, 1.0, 1e-300])),
                    kind(rng.choice(np.r_[special, rng.normal(0, 5, 5)])),
                    kind(rng.choice([0.0, 1.0, np.nan, -0.0, 3.0])),
                    kind(rng.choice(np.r_[special, rng.random(5)])), z)
        with np.errstate(all="ignore"):
            got, want = observation_fast(*args), build_observation(*args)
        assert got.dtype == want.dtype == np.float32 and got.tobytes() == want.tobytes(), args
    two_d = np.zeros((2, 3))  # not 1-D: build_observation's own path (and its error)
    with pytest.raises(ValueError):
        build_observation(two_d, 0.01, 0.0, 0.0, 0.1, None)
    with pytest.raises(ValueError):
        observation_fast(two_d, 0.01, 0.0, 0.0, 0.1, None)
