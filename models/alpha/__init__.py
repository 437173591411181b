"""System 2: daily per-stock PPO weighting of formulaic alphas (Chen & Kawashima).

| module | what |
|---|---|
| ``language/`` | the alpha expression language, its operator table and the 50-alpha library |
| ``config`` | :class:`AlphaConfig` (env, position map, PPO settings) |
| ``env`` | :class:`AlphaWeightingEnv` (``rlportfolio/AlphaWeighting-v0``) |
| ``data`` | :func:`prepare_stock`: alphas, market state, training-window statistics |
| ``policies`` | :class:`PositionPolicy` base, :class:`AlphaPolicyBase`, the four policies |
| ``train`` | :func:`train_alpha_policy` (the shared PPO builder) |
| ``splits`` | :func:`walk_forward_splits` |
| ``bundle`` | :func:`save_alpha_bundle`, :func:`load_alpha_bundle` (safe: no pickle) |
| ``jobs`` | :func:`run_jobs`: stocks x seeds trainings in parallel |
"""

from models.alpha.bundle import load_alpha_bundle, save_alpha_bundle
from models.alpha.config import AlphaConfig
from models.alpha.data import StockArrays, make_env, prepare_stock, required_warmup
from models.alpha.env import AlphaWeightingEnv
from models.alpha.jobs import JobResult, TrainJob, run_jobs
from models.alpha.policies import (AlphaPolicy, AlphaPolicyBase, EqualWeightPolicy,
                                   MomentumPolicy, PositionPolicy, RandomEntryExitPolicy,
                                   equal_weight_position, momentum_position, random_entry_exit)
from models.alpha.splits import Split, walk_forward_splits
from models.alpha.train import train_alpha_policy

__all__ = ["AlphaConfig", "AlphaWeightingEnv", "StockArrays", "prepare_stock", "make_env",
           "required_warmup", "PositionPolicy", "AlphaPolicyBase", "AlphaPolicy",
           "EqualWeightPolicy", "MomentumPolicy", "RandomEntryExitPolicy",
           "equal_weight_position", "momentum_position", "random_entry_exit",
           "train_alpha_policy", "Split", "walk_forward_splits", "save_alpha_bundle",
           "load_alpha_bundle", "TrainJob", "JobResult", "run_jobs"]
