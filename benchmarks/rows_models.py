"""Rows of ``bench_ratios.py`` for ``models/``: env step, PPO learn, LSTM fit.

Each row runs the library's code as the CLI runs it (the pipeline's thread counts, the default
configs) on the packaged ``paper`` panel (32 assets, training rows = first 70% of the weeks) and
times its anchor on the same data in the same process, alternating the two.
"""

from __future__ import annotations

import numpy as np
from ratio_kit import measure, measure_pair, row


def paper_panel():
    from feeds import load_panel
    panel = load_panel("paper", start="2018-01-01", end="2024-12-06")
    return panel, panel.split_index(0.7)


def _hybrid_env_inputs():
    """Env arrays of the paper panel with seeded stand-in forecasts (the LSTM has its own row)."""
    from models.portfolio.env import build_env_arrays
    panel, n_train = paper_panel()
    arrays = build_env_arrays(panel)
    fc = np.random.default_rng(0).normal(0.0, 0.01, arrays.close.shape)
    return arrays, fc, n_train


# --------------------------------------------------------------------------- env
def row_env(repeat: int, n_steps: int = 5000) -> list[dict]:
    """System 1 env step (hybrid layout, K=5, random actions) vs FinRL's StockPortfolioEnv step
    (port, see ``env_anchors.py``) and vs a NumPy floor of the same arithmetic."""
    from env_anchors import FINRL_SOURCE, FinRLPortfolioStep, finrl_frame, numpy_floor

    from models.portfolio.config import EnvConfig
    from models.portfolio.env import PortfolioEnv
    arrays, fc, n_train = _hybrid_env_inputs()
    N = arrays.close.shape[1]
    env = PortfolioEnv(**{**arrays.env_kwargs(), "forecasts": fc}, config=EnvConfig(top_k=5),
                       start=0, end=n_train)
    acts = np.random.default_rng(0).uniform(-1, 1, (n_steps, N)).astype(np.float32)
    f_reset, f_step = numpy_floor(env)
    env.reset(seed=0)
    f_reset()
    for a in acts[:2 * n_train]:  # the floor computes exactly what the env computes
        o1, r1, te, tr, _ = env.step(a)
        o2, r2, done = f_step(a)
        if r1 != r2 or not np.array_equal(o1, o2) or (te or tr) != done:
            raise AssertionError("the NumPy floor does not reproduce the env step")
        if done:
            env.reset()
            f_reset()

    def ours():
        env.reset(seed=0)
        for a in acts:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    def floor():
        f_reset()
        for a in acts:
            if f_step(a)[2]:
                f_reset()

    finrl = FinRLPortfolioStep(finrl_frame(arrays.close[:n_train], arrays.dates[:n_train],
                                           arrays.tickers), N)
    n_finrl = min(n_steps, 1000)

    def finrl_steps():
        finrl.reset()
        for a in acts[:n_finrl]:
            if finrl.step(a)[2]:
                finrl.reset()
    p, fl = measure_pair(ours, floor, repeat)
    fr = measure(finrl_steps, repeat)
    fr_scaled = {**fr, "cpu_s": fr["cpu_s"] * n_steps / n_finrl,
                 "wall_s": fr["wall_s"] * n_steps / n_finrl}
    sps = {"ours": n_steps / p["cpu_s"], "floor": n_steps / fl["cpu_s"],
           "finrl": n_finrl / fr["cpu_s"]}
    r1 = row("env vs FinRL", f"PortfolioEnv.step, N={N}, {n_steps} steps "
             f"({sps['ours']:,.0f}/CPU-s)", f"FinRL StockPortfolioEnv.step port "
             f"({sps['finrl']:,.0f}/CPU-s)", p, fr_scaled, speedup=True, target=">= 20x",
             ok=sps["ours"] >= 20 * sps["finrl"], steps_per_cpu_s=sps, finrl_source=FINRL_SOURCE)
    r2 = row("env vs floor", f"PortfolioEnv.step ({sps['ours']:,.0f}/CPU-s)",
             f"NumPy floor of the same step ({sps['floor']:,.0f}/CPU-s)", p, fl, speedup=True,
             target=">= 1.0x", ok=sps["ours"] >= sps["floor"], steps_per_cpu_s=sps)
    return [r1, r2]


# --------------------------------------------------------------------------- PPO
def row_ppo(repeat: int, timesteps: int = 4096, n_envs=(1, 8, 16)) -> list[dict]:
    """``train_portfolio_policy`` (the CLI's PPO: VecNormalize, the config's thread count)
    vs plain SB3: ``PPO("MlpPolicy", env)`` with one env and SB3's defaults, on one torch thread
    (as ours; torch's default would make the anchor slower under load)."""
    from stable_baselines3 import PPO

    from models.common.threads import torch_threads
    from models.portfolio.config import EnvConfig, PPOConfig
    from models.portfolio.env import PortfolioEnv
    from models.portfolio.train import train_portfolio_policy
    arrays, fc, n_train = _hybrid_env_inputs()
    cfg = EnvConfig(top_k=5)

    def env():
        return PortfolioEnv(**{**arrays.env_kwargs(), "forecasts": fc}, config=cfg, start=0,
                            end=n_train)

    def plain(**kw):
        def go():
            with torch_threads(1):
                PPO("MlpPolicy", env(), seed=0, device="cpu", **kw).learn(timesteps)
        return go

    def ours(n):
        return lambda: train_portfolio_policy(arrays, n_train, cfg, PPOConfig(n_envs=n), fc,
                                              seed=0, timesteps=timesteps, progress_bar=False)
    ours(1)()  # warm-up: imports and torch's first optimizer step are not charged to a row
    plain()()
    anchor = None
    rows = []
    for n in n_envs:
        p, a = measure_pair(ours(n), plain(), repeat)
        anchor = a if anchor is None else anchor
        rows.append(row(f"PPO n_envs={n}", f"train_portfolio_policy, n_envs={n} "
                        f"({timesteps / p['cpu_s']:,.0f} steps/CPU-s)",
                        f"plain SB3 PPO, 1 env, defaults ({timesteps / a['cpu_s']:,.0f})", p, a,
                        speedup=True, target=">= 3x", ok=a["cpu_s"] >= 3 * p["cpu_s"],
                        timesteps=timesteps))
    # the same training through SB3's stock classes (bit-identical weights, tested): what the
    # lean vec env and the distribution checks off buy on their own
    from tests.models.test_perf_ppo import _reference
    stock = lambda: _reference(env, PPOConfig(), 0, timesteps, n_envs=1,  # noqa: E731
                               norm_obs=True, norm_reward=False, monitor=True)
    p, a = measure_pair(ours(1), stock, repeat)
    rows.append(row("PPO lean glue", "train_portfolio_policy, n_envs=1",
                    "the same through SB3's DummyVecEnv/VecNormalize, checks on", p, a,
                    speedup=True, target="(bit-identical)", ok=None, timesteps=timesteps))
    # same hyperparameters as ours (the paper's): what the glue and n_envs alone buy
    same = dict(n_steps=512, batch_size=128, learning_rate=1e-4, ent_coef=0.01,
                policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}})
    p, a = measure_pair(ours(n_envs[0]), plain(**same), repeat)
    rows.append(row("PPO same hparams", f"train_portfolio_policy, n_envs={n_envs[0]}",
                    "plain SB3 PPO, 1 env, the paper's n_steps/batch/lr", p, a, speedup=True,
                    target="(information)", ok=None, timesteps=timesteps))
    return rows


# --------------------------------------------------------------------------- LSTM
def _warm_torch() -> None:
    """Pay torch's one-off costs (the first optimizer step imports torch._dynamo) up front."""
    import torch
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([w], lr=1e-3)
    (w ** 2).sum().backward()
    opt.step()


def _loop_fit(lr: np.ndarray, mask: np.ndarray, cfg, seed: int = 0) -> int:
    """Anchor: one ``nn.LSTM`` per asset trained one after another (windows of available rows,
    chronological validation split, early stopping with the same patience). Returns epochs."""
    import torch
    from torch import nn

    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, cfg.hidden, batch_first=True)
            self.drop = nn.Dropout(cfg.dropout)
            self.head = nn.Linear(cfg.hidden, 1)

        def forward(self, x):
            out, _ = self.lstm(x.unsqueeze(-1))
            return self.head(self.drop(out[:, -1])).squeeze(-1)

    torch.manual_seed(seed)
    L, epochs = cfg.lookback, 0
    for j in range(lr.shape[1]):
        x = lr[mask[:, j], j]
        x = np.nan_to_num((x - x.mean()) / (x.std() + 1e-12))
        if len(x) < L + 3:
            continue
        col = torch.as_tensor(x, dtype=torch.float32)
        ends = torch.arange(L - 1, len(x) - 1)
        X, Y = col[ends[:, None] + torch.arange(-L + 1, 1)[None, :]], col[ends + 1]
        n_val = max(1, int(round(cfg.val_frac * len(ends))))
        Xtr, Ytr, Xva, Yva = X[:-n_val], Y[:-n_val], X[-n_val:], Y[-n_val:]
        m = One()
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, bad, state = float("inf"), 0, None
        for _ in range(cfg.max_epochs):
            epochs += 1
            m.train()
            perm = torch.randperm(len(Xtr))
            for s in range(0, len(perm), cfg.batch_size):
                b = perm[s:s + cfg.batch_size]
                loss = ((m(Xtr[b]) - Ytr[b]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            m.eval()
            with torch.no_grad():
                v = float(((m(Xva) - Yva) ** 2).mean())
            if v < best:
                best, bad, state = v, 0, {k: t.clone() for k, t in m.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        m.load_state_dict(state)
    return epochs


def _matmul_share(fit) -> float:
    """Share of the fit's CPU spent in its batched matmuls (``aten::bmm`` / ``baddbmm`` self
    time over all self time, torch profiler)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fit()
    ev = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ev)
    mm = sum(e.self_cpu_time_total for e in ev if e.key in ("aten::bmm", "aten::baddbmm"))
    return mm / total if total else float("nan")


def row_lstm(repeat: int) -> list[dict]:
    """``LSTMForecaster.fit`` as the pipeline runs it (default LSTMConfig, early stopping,
    ``num_threads=1``) vs a loop of per-asset ``nn.LSTM`` models on one thread."""
    from models.common.threads import torch_threads
    from models.portfolio.config import LSTMConfig
    from models.portfolio.forecaster import LSTMForecaster
    panel, n_train = paper_panel()
    lr = panel.log_returns.to_numpy()[:n_train]
    mask = panel.mask.to_numpy()[:n_train]
    cfg = LSTMConfig()
    info = {}

    def ours():
        f = LSTMForecaster(cfg, seed=0, num_threads=1).fit(lr, mask)
        h = f.history_
        info["epochs_run"] = h.get("epochs_run")
        info["asset_epochs"] = sum(s or h["epochs_run"]
                                   for s, t in zip(h["stopped_epoch"], f.trained_) if t)

    def loop():
        with torch_threads(1):
            info["loop_asset_epochs"] = _loop_fit(lr, mask, cfg)
    _warm_torch()
    p, a = measure_pair(ours, loop, repeat)
    info["matmul_share"] = _matmul_share(lambda: LSTMForecaster(cfg, seed=0, num_threads=1)
                                         .fit(lr, mask))
    # the fit's own matmuls at the BLAS's speed bound it: even free element-wise work and
    # autograd would leave matmul_share x its CPU, so at best loop / (that) times the loop
    info["best_possible_vs_loop"] = a["cpu_s"] / (p["cpu_s"] * info["matmul_share"])
    return [row("LSTM fit", f"LSTMForecaster.fit, {lr.shape[1]} assets, 1 thread",
                "per-asset nn.LSTM loop, 1 thread, same early stopping", p, a, speedup=True,
                target=">= 3x", ok=a["cpu_s"] >= 3 * p["cpu_s"], **info)]
