import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from feeds.errors import ConfigError
from models.portfolio.projection import topk_project

logit_arrays = st.integers(1, 40).flatmap(
    lambda n: arrays(np.float64, n, elements=st.floats(-50, 50, allow_nan=False)))


@st.composite
def cases(draw):
    x = draw(logit_arrays)
    n = x.size
    mask = draw(arrays(np.bool_, n))
    k = draw(st.integers(1, n + 3))
    tau = draw(st.floats(0.0, 0.9))
    return x, mask, k, tau


@given(cases())
@settings(max_examples=300, deadline=None)
def test_weights_valid(case):
    x, mask, k, tau = case
    w = topk_project(x, k, tau, mask)
    assert w.shape == x.shape
    assert np.all(w >= 0)
    assert np.all(w[~mask] == 0)
    if mask.any():
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.count_nonzero(w) <= min(k, mask.sum())
        # the (first) argmax among available assets is always held
        avail = np.flatnonzero(mask)
        am = avail[np.argmax(x[avail])]
        assert w[am] > 0
        assert np.all(w[w > 0] >= min(tau, 1.0) - 1e-12) or np.count_nonzero(w) == 1
    else:
        assert w.sum() == 0


@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-20, 20), min_size=n, max_size=n, unique=True),
    st.permutations(list(range(n))), arrays(np.bool_, n), st.integers(1, n),
    st.floats(0.0, 0.5))))
@settings(max_examples=200, deadline=None)
def test_permutation_equivariant(args):
    x, perm, mask, k, tau = args
    x, perm = np.array(x), np.array(perm)
    w = topk_project(x, k, tau, mask)
    wp = topk_project(x[perm], k, tau, mask[perm])
    np.testing.assert_allclose(wp, w[perm], atol=1e-12)


def test_hand_example():
    x = np.array([1.0, 3.0, 2.0, 0.0])
    w = topk_project(x, 2, 0.0)
    e = np.exp([3.0, 2.0]); e /= e.sum()
    np.testing.assert_allclose(w, [0, e[0], e[1], 0])
    # tau above the smaller softmax weight -> all on the argmax
    np.testing.assert_allclose(topk_project(x, 2, 0.3), [0, 1, 0, 0])
    # tau above every weight -> argmax gets 1
    np.testing.assert_allclose(topk_project(np.zeros(4), 4, 0.5), [1, 0, 0, 0])


def test_mask_and_cap():
    x = np.array([5.0, 4.0, 3.0])
    w = topk_project(x, 10, 0.0, np.array([False, True, True]))
    assert w[0] == 0 and w.sum() == pytest.approx(1.0)
    assert np.all(topk_project(x, 2, 0.0, np.zeros(3, bool)) == 0)


def test_large_logits_stable():
    w = topk_project(np.array([1e300, 1e300 * 0.5, -1e300]), 3, 0.0)
    assert np.isfinite(w).all() and w.sum() == pytest.approx(1.0)


def test_nan_logits_never_preferred():
    w = topk_project(np.array([np.nan, 0.1, 0.2]), 1, 0.0)
    np.testing.assert_allclose(w, [0, 0, 1])


def test_k_below_one():
    with pytest.raises(ConfigError, match="k >= 1"):
        topk_project(np.ones(3), 0, 0.0)
