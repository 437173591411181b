"""Named strategy presets for the CLI (``python -m strategies.run --strategy NAME``)."""

from __future__ import annotations

from dataclasses import dataclass

from feeds.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    """One runnable strategy configuration.

    Attributes:
        name: the CLI name.
        family: ``hybrid``, ``ppo``, ``lstm``, ``equal_weight``, ``index``, ``composite`` (System 1)
            or ``alpha_ppo``, ``alpha_equal``, ``buy_hold``, ``random_entry_exit``, ``momentum``
            (System 2).
        top_k: K of the Top-K projection (System 1 learned families only).
        system: 1 (weekly multi-asset portfolio) or 2 (daily per-stock alpha weighting).
        description: one line for ``--list``.
        env_overrides: ``(field, value)`` pairs of :class:`models.portfolio.config.EnvConfig`
            this preset sets (the run's ``env_overrides`` still win); empty = the paper's.
    """

    name: str
    family: str
    system: int
    description: str
    top_k: int | None = None
    env_overrides: tuple = ()

    @property
    def needs_lstm(self) -> bool:
        return self.family in ("hybrid", "lstm")

    @property
    def needs_ppo(self) -> bool:
        return self.family in ("hybrid", "ppo")


def _system1() -> list[Preset]:
    out = []
    for k in (5, 10, 30):
        out.append(Preset(f"hybrid_top{k}", "hybrid", 1,
                          f"LSTM forecasts + PPO allocation, Top-{k} projection (the paper's hybrid)", k))
        out.append(Preset(f"ppo_top{k}", "ppo", 1,
                          f"PPO allocation without forecasts, Top-{k} projection", k))
        out.append(Preset(f"lstm_top{k}", "lstm", 1,
                          f"equal weight over the Top-{k} LSTM forecasts", k))
    # issue 12: chosen on the validation slice of the training window only (docs/SELECTION.md,
    # benchmarks/select_robust.py), then locked: the hybrid with target smoothing 0.9
    out.append(Preset("hybrid_robust_top5", "hybrid", 1,
                      "the hybrid Top-5 with target smoothing 0.9 (turnover control chosen on "
                      "validation weeks; docs/SELECTION.md)", 5,
                      env_overrides=(("smoothing", 0.9),)))
    out.append(Preset("equal_weight", "equal_weight", 1,
                      "1/N over the available assets, rebalanced weekly"))
    out.append(Preset("sp500", "index", 1, "buy and hold SPY (S&P 500 proxy)"))
    out.append(Preset("composite", "composite", 1,
                      "25/25/25/25 of the four asset classes, equal weight inside each, rebalanced weekly"))
    return out


def _system2() -> list[Preset]:
    return [
        Preset("alpha_ppo", "alpha_ppo", 2, "PPO weighting of 50 formulaic alphas, per stock, daily"),
        Preset("alpha_equal", "alpha_equal", 2, "equal-weighted alphas, same signal-to-position map"),
        Preset("buy_hold", "buy_hold", 2, "buy and hold the stock"),
        Preset("random_entry_exit", "random_entry_exit", 2, "seeded random entry/exit"),
        Preset("momentum", "momentum", 2, "long/short on the sign of trailing momentum"),
    ]


PRESETS: dict[str, Preset] = {p.name: p for p in _system1() + _system2()}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ConfigError listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of: {', '.join(PRESETS)}, all, all_alpha "
            "(see --list)") from None


def expand(name: str) -> list[Preset]:
    """``all`` = every System 1 preset; ``all_alpha`` = every System 2 preset; else one preset."""
    if name == "all":
        return [p for p in PRESETS.values() if p.system == 1]
    if name == "all_alpha":
        return [p for p in PRESETS.values() if p.system == 2]
    return [get_preset(name)]
