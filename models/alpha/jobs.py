"""Stocks x seeds trainings of System 2, in parallel processes (the task runner of sweeps)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from models.alpha.bundle import save_alpha_bundle
from models.alpha.config import AlphaConfig
from models.alpha.train import train_alpha_policy


@dataclass(frozen=True)
class TrainJob:
    """One (stock, seed) training job; the bundle goes to ``out_dir / f"{ticker}_seed{seed}"``."""

    ticker: str
    df: pd.DataFrame = field(repr=False)
    seed: int
    train_start: Any
    train_end: Any
    out_dir: str | Path
    config: AlphaConfig = AlphaConfig()
    alphas_path: str | None = None  #: None = the packaged library


@dataclass(frozen=True)
class JobResult:
    ticker: str
    seed: int
    bundle_dir: str
    train_seconds: float


def _run_job(job: TrainJob) -> JobResult:
    from models.alpha.language import load_alphas

    alphas = load_alphas(job.alphas_path)
    t0 = time.perf_counter()
    policy = train_alpha_policy(job.df, alphas, job.config, job.seed,
                                (job.train_start, job.train_end), ticker=job.ticker)
    folder = save_alpha_bundle(policy, Path(job.out_dir) / f"{job.ticker}_seed{job.seed}")
    return JobResult(job.ticker, job.seed, str(folder), round(time.perf_counter() - t0, 2))


def run_jobs(jobs: Sequence[TrainJob], n_jobs: int = 1, verbose: int = 0,
             on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Train stocks x seeds, ``n_jobs`` processes at once (1 torch thread each).

    Results come back in the order of ``jobs``. ``n_jobs=1`` runs in this process; ``-1`` uses
    every core (joblib's convention).
    ``on_done(result)`` is called as each job finishes (in completion order), e.g. to report
    progress. The jobs run on the task runner of sweeps (:mod:`models.common.runner`,
    local processes started with ``spawn``): a job that fails does not stop the others (their
    bundles are saved), and the first failure is raised once every job has ended.
    ``verbose > 0`` logs each job as it ends.
    """
    import logging

    from models.common.runner import Task, run_tasks
    log = logging.getLogger(__name__)

    def done(o) -> None:
        if not o.ok:
            log.error("training %s failed: %s", o.task_id, o.error)
            return
        if verbose:
            log.info("trained %s in %.1f s", o.task_id, o.value.train_seconds)
        if on_done is not None:
            on_done(o.value)

    tasks = [Task(f"{j.ticker} seed {j.seed} #{i}", _run_job, j) for i, j in enumerate(jobs)]
    if n_jobs < 0:  # joblib's convention: -1 = every core, -2 = all but one, ...
        import os
        n_jobs = (os.cpu_count() or 1) + 1 + n_jobs
    outcomes = run_tasks(tasks, workers=max(1, int(n_jobs)), on_outcome=done, progress=False)
    for o in outcomes:
        if not o.ok:
            if o.exception is not None:
                raise o.exception
            raise RuntimeError(f"training {o.task_id} failed: {o.error}\n{o.traceback or ''}")
    return [o.value for o in outcomes]
