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


def test_bar_returns_by_hand_and_untradable_prices_give_zero():
    from models.common.execution import bar_returns
    opn = np.array([[10.0, 5.0], [11.0, np.nan], [12.0, 0.0]])
    close = np.array([[10.5, 5.0], [11.5, 5.5], [12.5, 6.0]])
    gap, intra = bar_returns(opn, close)
    assert gap.shape == intra.shape == (2, 2)
    assert gap[0, 0] == 11.0 / 10.5 - 1 and intra[0, 0] == 11.5 / 11.0 - 1
    assert gap[1, 0] == 12.0 / 11.5 - 1 and intra[1, 0] == 12.5 / 12.0 - 1
    # NaN open, zero open (division by zero): 0, never NaN or inf
    assert gap[0, 1] == 0.0 and intra[0, 1] == 0.0 and intra[1, 1] == 0.0
    assert np.all(np.isfinite(gap)) and np.all(np.isfinite(intra))
    g1, i1 = bar_returns(opn[:, 0], close[:, 0])  # one asset: 1-D in, 1-D out
    np.testing.assert_array_equal(g1, gap[:, 0])
    np.testing.assert_array_equal(i1, intra[:, 0])
