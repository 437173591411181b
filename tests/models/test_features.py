import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ConfigError
from models.portfolio.features import FeatureBuilder, FeatureLayout, fit_stats
from tests.models._s1data import synthetic_arrays


def test_layout_slices():
    lay = FeatureLayout(n_assets=3, window=4, use_forecasts=True)
    s = lay.slices()
    assert list(s) == ["returns", "prev_weights", "forecasts", "mask"]
    assert lay.size == 4 * 3 + 3 * 3 == s["mask"].stop
    lay2 = FeatureLayout(3, 4, False)
    assert "forecasts" not in lay2.slices() and lay2.size == 18
    assert FeatureLayout.from_dict(lay.to_dict()) == lay


def test_fit_stats_uses_mask_and_defaults():
    x = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, 5.0], [100.0, 1.0, 5.0]])
    m = np.array([[True, False, True], [True, False, True], [False, True, True]])
    mean, std = fit_stats(x, m)
    assert mean[0] == pytest.approx(2.0) and std[0] == pytest.approx(np.sqrt(2.0))
    assert mean[1] == 0.0 and std[1] == 1.0  # too few values
    assert std[2] == 1.0  # constant


def test_observation_blocks():
    lay = FeatureLayout(2, 3, True)
    b = FeatureBuilder(lay, np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    hist = np.array([[1.0, 3.0], [np.nan, 1.0]])  # shorter than L -> zero-padded at the start
    obs = b.observation(hist, np.array([0.25, 0.75]), np.array([100.0, np.nan]),
                        np.array([True, False]))
    assert obs.dtype == np.float32 and obs.shape == (lay.size,)
    s = lay.slices()
    np.testing.assert_allclose(obs[s["returns"]], [0, 0, 1, 1, 0, 0])
    np.testing.assert_allclose(obs[s["prev_weights"]], [0.25, 0.75])
    np.testing.assert_allclose(obs[s["forecasts"]], [10.0, 0.0])  # clipped, NaN -> 0
    np.testing.assert_allclose(obs[s["mask"]], [1, 0])
    with pytest.raises(ConfigError):
        b.observation(hist, np.zeros(2), None, np.ones(2, bool))


@given(st.integers(0, 119), st.integers(0, 2**31 - 1))
@settings(max_examples=50, deadline=None)
def test_future_rows_never_change_observation(t, seed):
    _, _, lr, mask, fc = synthetic_arrays(seed=1)
    lay = FeatureLayout(lr.shape[1], 8, True)
    mean, std = fit_stats(lr[:80], mask[:80])
    b = FeatureBuilder(lay, mean, std)
    w = np.full(lr.shape[1], 1 / lr.shape[1])
    obs = b.observation(lr[: t + 1], w, fc[t], mask[t])
    lr2 = lr.copy()
    lr2[t + 1:] = np.random.default_rng(seed).normal(0, 1, lr2[t + 1:].shape)
    np.testing.assert_array_equal(b.observation(lr2[: t + 1], w, fc[t], mask[t]), obs)
    # the full history passed with the window ending at t gives the same vector
    np.testing.assert_array_equal(b.observation(lr2[max(0, t - 7): t + 1], w, fc[t], mask[t]), obs)
