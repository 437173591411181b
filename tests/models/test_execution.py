import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.common.execution import execute_step


def test_no_trade_no_cost_growth_is_price_move():
    w = np.array([0.5, 0.5])
    res = execute_step(w, w * 1.0, np.zeros(2), np.array([0.1, -0.1]), tc=0.001)
    assert res.turnover == 0.0 and res.cost == 0.0
    assert np.isclose(res.growth, 1.0)


def test_cost_is_tc_times_turnover():
    res = execute_step(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.zeros(2), np.zeros(2), 0.001)
    assert np.isclose(res.turnover, 2.0)
    assert np.isclose(res.growth, 1.0 - 0.002)


def test_gap_drifts_weights_before_trade():
    res = execute_step(np.array([0.5, 0.5]), np.array([0.5, 0.5]), np.array([1.0, 0.0]),
                       np.zeros(2), tc=0.0)
    assert np.allclose(res.weights_open, [2 / 3, 1 / 3])
    assert np.isclose(res.growth, 1.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=3, max_size=3),
       st.floats(0, 0.01), st.floats(0.0, 1.0))
def test_costs_never_fall_as_trades_grow(tgt, tc, scale):
    w = np.array([1 / 3] * 3)
    tgt = np.array(tgt)
    tgt = tgt / tgt.sum() if tgt.sum() > 0 else w
    small = w + scale * 0.5 * (tgt - w)
    big = w + scale * (tgt - w)
    a = execute_step(w, small, np.zeros(3), np.zeros(3), tc)
    b = execute_step(w, big, np.zeros(3), np.zeros(3), tc)
    assert b.cost >= a.cost - 1e-12
