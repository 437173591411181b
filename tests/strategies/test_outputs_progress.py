"""Progress output of long work: a bar on a terminal, plain periodic lines in a log, real counts."""

import io

import numpy as np
import pytest

from models.common.ppo import rollout_steps
from models.common.progress import Progress, format_duration


class FakeClock:
    def __init__(self, step=1.0):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    log = io.StringIO()
    with Progress(40, "LSTM fit", "epochs", stream=log, clock=FakeClock()) as bar:
        for k in range(40):
            bar.update(1, train=1.0 - k / 100, val=1.1)
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) == 10  # at 10%, 20%, ..., 90% and the end
    assert lines[0].startswith("LSTM fit: 4/40 epochs (10%), ") and "left; train" in lines[0]
    assert lines[-1].startswith("LSTM fit: done, 40/40 epochs in ")
    assert all(len(line) < 200 for line in lines)


def test_eta_and_early_stop():
    log = io.StringIO()
    clock = FakeClock(step=0.0)
    bar = Progress(10, "work", "runs", stream=log, clock=clock)
    clock.t = 20.0
    bar.update(2)
    assert bar.eta() == pytest.approx(80.0)
    assert "20 s elapsed, about 1 min 20 s left" in log.getvalue()
    bar.close()
    assert log.getvalue().splitlines()[-1] == "work: stopped at 2/10 runs in 20 s"
    bar.close()  # idempotent
    assert len(log.getvalue().splitlines()) == 2


def test_a_bar_on_a_terminal_and_nothing_when_disabled():
    term = Terminal()
    with Progress(5, "PPO training", "steps", stream=term) as bar:
        for _ in range(5):
            bar.update(1)
    assert "\r" in term.getvalue() and "5/5" in term.getvalue()
    quiet = io.StringIO()
    with Progress(5, "x", stream=quiet, enabled=False) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""


def test_format_duration():
    assert [format_duration(s) for s in (0.4, 38, 245, 3720)] == ["0 s", "38 s", "4 min 05 s",
                                                                   "1 h 02 min"]


def test_ppo_counts_whole_rollouts():
    assert rollout_steps(10_000, 512, 1) == 10_240
    assert rollout_steps(10_240, 512, 1) == 10_240
    assert rollout_steps(100, 64, 2) == 128


def test_ppo_progress_reports_the_steps_really_taken(capsys):
    from models.portfolio.config import EnvConfig, PPOConfig
    from models.portfolio.env import PortfolioEnv
    from models.portfolio.train import train_ppo
    from tests.models._s1data import synthetic_arrays

    def env_fn():
        opn, close, lr, mask, fc = synthetic_arrays(T=60, N=4, late=1, late_start=10)
        return PortfolioEnv(opn, close, lr, mask, fc, EnvConfig(top_k=2, window=4), 0, 50)

    cfg = PPOConfig(n_steps=64, batch_size=32, n_epochs=1, net_arch=(8, 8), total_timesteps=100)
    quiet, _ = train_ppo(env_fn, cfg, seed=3, progress_bar=False)
    shown, _ = train_ppo(env_fn, cfg, seed=3, progress_bar=True)
    err = capsys.readouterr().err
    assert "PPO training: done, 128/128 steps in" in err and "\r" not in err
    assert shown.num_timesteps == 128
    # the progress callback does not change what is learned
    for a, b in zip(quiet.policy.parameters(), shown.policy.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_lstm_fit_progress_is_plain_lines_in_a_log(capsys):
    from models.portfolio.config import LSTMConfig
    from models.portfolio.forecaster import LSTMForecaster
    rng = np.random.default_rng(0)
    lr = rng.normal(0, 0.02, size=(80, 3))
    mask = np.ones_like(lr, dtype=bool)
    cfg = LSTMConfig(lookback=8, hidden=4, max_epochs=5, patience=5)
    LSTMForecaster(cfg, seed=0, num_threads=1, progress=True).fit(lr, mask)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("LSTM fit")]
    assert lines and "\r" not in err
    assert lines[-1].startswith("LSTM fit: ") and "/5 epochs in " in lines[-1]
