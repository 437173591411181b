"""Tests for the batched per-asset LSTM forecaster (models/portfolio/forecaster.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.errors import BundleError, DataError
from models.portfolio.config import LSTMConfig
from models.portfolio.forecaster import LSTMForecaster

# Small networks keep the suite fast; the paper's sizes are exercised by the benchmark.
SMALL = LSTMConfig(lookback=6, hidden=8, max_epochs=3, patience=2, batch_size=32)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny networks: one intra-op thread is much faster (and immune to a busy CI box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _ar1(T: int, N: int, phi: float, seed: int, scale: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((T, N)) * scale
    x = np.zeros((T, N))
    for t in range(1, T):
        x[t] = phi * x[t - 1] + e[t]
    return x


@pytest.fixture(scope="module")
def panel():
    r = _ar1(120, 3, 0.3, seed=1)
    m = np.ones_like(r, dtype=bool)
    # asset 2 is listed at week 40: unavailable (NaN) before
    r[:40, 2] = np.nan
    m[:40, 2] = False
    return r, m


@pytest.fixture(scope="module")
def fitted(panel):
    r, m = panel
    return LSTMForecaster(SMALL, seed=3).fit(r[:90], m[:90])


def test_shapes_and_nan_where_too_short(fitted, panel):
    r, m = panel
    L = SMALL.lookback
    f = fitted.forecast(r, m)
    assert f.shape == r.shape
    assert fitted.n_assets_ == 3 and fitted.mean_.shape == (3,) and fitted.std_.shape == (3,)
    assert np.isnan(f[: L - 1]).all()
    assert np.isfinite(f[L - 1:, :2]).all()
    # late-listed asset: first forecast at the end of its first full window (rows 40..40+L-1)
    assert np.isnan(f[: 40 + L - 1, 2]).all()
    assert np.isfinite(f[40 + L - 1:, 2]).all()
    # a gap (one unavailable row) blanks exactly the L windows that contain it
    m2 = m.copy()
    m2[100, 0] = False
    f2 = fitted.forecast(r, m2)
    assert np.isnan(f2[100:100 + L, 0]).all()
    np.testing.assert_array_equal(f2[:100, 0], f[:100, 0])
    np.testing.assert_array_equal(f2[100 + L:, 0], f[100 + L:, 0])
    # series shorter than the lookback: all NaN, right shape
    assert np.isnan(fitted.forecast(r[: L - 1], m[: L - 1])).all()


def test_normalisation_uses_available_training_rows_only(fitted, panel):
    r, m = panel
    tr = r[:90]
    for j in range(3):
        col = tr[m[:90, j], j]
        assert np.isclose(fitted.mean_[j], col.mean())
        assert np.isclose(fitted.std_[j], col.std())


def test_forecast_in_log_return_units(fitted, panel):
    r, m = panel
    f = fitted.forecast(r, m)
    # de-normalised: centred near the training mean, scale of the returns (not of z-scores)
    assert np.nanmax(np.abs(f)) < 5 * np.nanstd(r)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=st.integers(0, 118), seed=st.integers(0, 2**31 - 1), drop=st.booleans())
def test_causal_future_rows_never_change_past_forecasts(fitted, panel, t, seed, drop):
    r, m = panel
    base = fitted.forecast(r, m)
    rng = np.random.default_rng(seed)
    r2, m2 = r.copy(), m.copy()
    r2[t + 1:] = rng.standard_normal(r2[t + 1:].shape) * 0.5
    if drop:
        m2[t + 1:] = rng.random(m2[t + 1:].shape) < 0.5
    alt = fitted.forecast(r2, m2)
    np.testing.assert_array_equal(alt[: t + 1], base[: t + 1])


def test_same_seed_identical_weights_and_forecasts(panel):
    r, m = panel
    a = LSTMForecaster(SMALL, seed=7).fit(r[:90], m[:90])
    b = LSTMForecaster(SMALL, seed=7).fit(r[:90], m[:90])
    c = LSTMForecaster(SMALL, seed=8).fit(r[:90], m[:90])
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    for k in ("w_ih", "w_hh", "b", "w_out", "b_out"):
        assert torch.equal(sa[k], sb[k])
    assert not torch.equal(sa["w_hh"], sc["w_hh"])
    np.testing.assert_array_equal(a.forecast(r, m), b.forecast(r, m))
    assert a.history_ == b.history_


def test_fit_does_not_touch_global_torch_rng(panel):
    r, m = panel
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LSTMForecaster(SMALL, seed=0).fit(r[:90], m[:90])
    assert torch.equal(torch.rand(3), expected)


def test_assets_are_independent(panel):
    """Asset 0's network only ever sees asset 0's series: changing the others changes nothing."""
    r, m = panel
    r2 = r.copy()
    r2[:, 1] = np.random.default_rng(5).standard_normal(len(r)) * 0.1
    r2[40:, 2] = -r2[40:, 2] * 3
    a = LSTMForecaster(SMALL, seed=1).fit(r[:90], m[:90])
    b = LSTMForecaster(SMALL, seed=1).fit(r2[:90], m[:90])
    for k in ("w_ih", "w_hh", "b", "w_out", "b_out"):
        torch.testing.assert_close(a.state_dict()[k][0], b.state_dict()[k][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.forecast(r, m)[:, 0], b.forecast(r2, m)[:, 0],
                               rtol=1e-4, atol=1e-7)


def test_unavailable_values_are_ignored(panel):
    """Values at masked-out rows (even huge or NaN) do not affect training or forecasts."""
    r, m = panel
    r2 = r.copy()
    r2[:40, 2] = 1e6
    a = LSTMForecaster(SMALL, seed=2).fit(r[:90], m[:90])
    b = LSTMForecaster(SMALL, seed=2).fit(r2[:90], m[:90])
    np.testing.assert_array_equal(a.forecast(r, m), b.forecast(r2, m))


def test_state_dict_round_trip_weights_only(fitted, panel):
    r, m = panel
    buf = io.BytesIO()
    torch.save(fitted.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf, weights_only=True)
    g = LSTMForecaster(SMALL).load_state_dict(sd)
    np.testing.assert_array_equal(g.forecast(r, m), fitted.forecast(r, m))
    np.testing.assert_array_equal(g.mean_, fitted.mean_)
    assert g.n_assets_ == 3 and g.history_["epochs_run"] == fitted.history_["epochs_run"]
    with pytest.raises(BundleError):
        LSTMForecaster(LSTMConfig(lookback=6, hidden=16)).load_state_dict(sd)
    with pytest.raises(BundleError):
        LSTMForecaster(LSTMConfig(lookback=7, hidden=8)).load_state_dict(sd)


def test_history_and_early_stopping(panel):
    r, m = panel
    cfg = LSTMConfig(lookback=6, hidden=8, max_epochs=30, patience=1, batch_size=32, lr=0.05)
    f = LSTMForecaster(cfg, seed=0).fit(r[:90], m[:90])
    h = f.history_
    assert 1 <= h["epochs_run"] <= 30
    assert len(h["train_loss"]) == len(h["val_loss"]) == h["epochs_run"]
    assert len(h["best_epoch"]) == 3 and all(1 <= e <= h["epochs_run"] for e in h["best_epoch"])
    assert np.isfinite(h["train_loss"]).all()
    # patience 1 with a large lr stops well before 30 epochs on this little data
    assert h["epochs_run"] < 30


def test_too_little_data_raises_data_error():
    L = SMALL.lookback
    r = np.zeros((L + 1, 2))
    with pytest.raises(DataError, match=rf"needs at least {L + 2} weeks"):
        LSTMForecaster(SMALL).fit(r, np.ones_like(r, dtype=bool))
    # enough rows, but no asset has enough available rows
    r = np.zeros((50, 2))
    m = np.zeros_like(r, dtype=bool)
    m[-L:] = True
    with pytest.raises(DataError, match="weeks"):
        LSTMForecaster(SMALL).fit(r, m)
    with pytest.raises(DataError):
        LSTMForecaster(SMALL).fit(np.zeros(50), np.ones(50, dtype=bool))


def test_asset_without_data_gets_nan_but_others_train():
    r = _ar1(80, 2, 0.3, seed=4)
    m = np.ones_like(r, dtype=bool)
    m[:, 1] = False
    f = LSTMForecaster(SMALL, seed=0).fit(r, m)
    out = f.forecast(r, m)
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[SMALL.lookback - 1:, 0]).all()
    assert list(f.trained_) == [True, False]


def test_forecast_requires_fit_and_matching_width(fitted, panel):
    r, m = panel
    with pytest.raises(RuntimeError):
        LSTMForecaster(SMALL).forecast(r, m)
    with pytest.raises(DataError):
        fitted.forecast(r[:, :2], m[:, :2])


def test_ar1_forecasts_correlate_with_next_value():
    """AR(1), phi=0.5: the ideal forecast has correlation 0.5 with the next value."""
    T, N, split = 400, 4, 300
    x = _ar1(T, N, 0.5, seed=11)
    m = np.ones_like(x, dtype=bool)
    cfg = LSTMConfig(lookback=10, hidden=16, lr=1e-2, max_epochs=15, patience=5, batch_size=64)
    f = LSTMForecaster(cfg, seed=0).fit(x[:split], m[:split])
    p = f.forecast(x, m)
    pred, nxt = p[split - 1:-1], x[split:]          # out-of-sample: forecasts made at t >= split-1
    corr = [np.corrcoef(pred[:, j], nxt[:, j])[0, 1] for j in range(N)]
    assert np.mean(corr) > 0.35 and min(corr) > 0.2, corr


def test_noise_only_does_not_blow_up():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 3)) * 0.05
    m = np.ones_like(x, dtype=bool)
    cfg = LSTMConfig(lookback=10, hidden=16, lr=1e-2, max_epochs=10, patience=3)
    f = LSTMForecaster(cfg, seed=0).fit(x[:220], m[:220])
    p = f.forecast(x, m)
    assert np.isfinite(p[9:]).all()
    assert np.abs(p[9:]).max() < 3 * x.std()          # shrinks towards the mean, no explosion
    assert np.isfinite(f.history_["val_loss"]).all()


@pytest.mark.slow
def test_paper_sized_fit_runs(panel):
    """Paper configuration (30 weeks, 64 units, up to 40 epochs) on a 32-asset, 250-week panel."""
    x = _ar1(250, 32, 0.3, seed=2)
    m = np.ones_like(x, dtype=bool)
    f = LSTMForecaster(LSTMConfig(), seed=0).fit(x, m)
    p = f.forecast(x, m)
    assert p.shape == x.shape and np.isfinite(p[29:]).all()


def test_batched_network_matches_nn_lstm(fitted):
    """The hand-written batched recurrence is exactly nn.LSTM + linear head, per asset."""
    sd = fitted.state_dict()
    H = SMALL.hidden
    perm = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H),
                      torch.arange(2 * H, 3 * H)])
    x = torch.randn(3, 5, SMALL.lookback, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = LSTMForecaster._net({k: sd[k] for k in ("w_ih", "w_hh", "b", "w_out", "b_out")}, x)
        for j in range(3):
            lstm = torch.nn.LSTM(1, H, batch_first=True)
            head = torch.nn.Linear(H, 1)
            # ours: gate order (i, f, o, g); nn.LSTM: (i, f, g, o). perm maps ours -> theirs.
            lstm.weight_ih_l0.copy_(sd["w_ih"][j][perm][:, None])
            lstm.weight_hh_l0.copy_(sd["w_hh"][j].T[perm])
            lstm.bias_ih_l0.copy_(sd["b"][j][perm])
            lstm.bias_hh_l0.zero_()
            head.weight.copy_(sd["w_out"][j].T)
            head.bias.copy_(sd["b_out"][j])
            out, _ = lstm(x[j].unsqueeze(-1))
            ref = head(out[:, -1]).squeeze(-1)
            torch.testing.assert_close(ours[j], ref, rtol=1e-5, atol=1e-6)


def test_forecast_chunking_does_not_change_results(fitted, panel, monkeypatch):
    import models.portfolio.forecaster as fc

    r, m = panel
    full = fitted.forecast(r, m)
    monkeypatch.setattr(fc, "_FORECAST_CHUNK", 7)
    np.testing.assert_allclose(fitted.forecast(r, m), full, rtol=1e-6, atol=1e-9)


def test_num_threads_is_restored(panel):
    r, m = panel
    before = torch.get_num_threads()
    LSTMForecaster(SMALL, seed=0, num_threads=before + 1).fit(r[:90], m[:90])
    assert torch.get_num_threads() == before
