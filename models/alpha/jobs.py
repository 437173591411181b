"""Stocks x seeds trainings of System 2, in parallel processes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

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


def _run_job(job: TrainJob, single_thread: bool = False) -> JobResult:
    from models.alpha.language import load_alphas

    if single_thread:
        import torch
        torch.set_num_threads(1)
    alphas = load_alphas(job.alphas_path)
    t0 = time.perf_counter()
    policy = train_alpha_policy(job.df, alphas, job.config, job.seed,
                                (job.train_start, job.train_end), ticker=job.ticker)
    folder = save_alpha_bundle(policy, Path(job.out_dir) / f"{job.ticker}_seed{job.seed}")
    return JobResult(job.ticker, job.seed, str(folder), round(time.perf_counter() - t0, 2))


def _run_indexed(i: int, job: TrainJob, single_thread: bool) -> tuple[int, JobResult]:
    return i, _run_job(job, single_thread)


def run_jobs(jobs: Sequence[TrainJob], n_jobs: int = 1, verbose: int = 0,
             on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Train stocks x seeds, ``n_jobs`` processes at once (joblib/loky; 1 torch thread each).

    Results come back in the order of ``jobs``. ``n_jobs=1`` runs in this process.
    ``on_done(result)`` is called as each job finishes (in completion order), e.g. to report
    progress.
    """
    results: list[JobResult | None] = [None] * len(jobs)
    if n_jobs == 1:
        for i, j in enumerate(jobs):
            results[i] = _run_job(j)
            if on_done is not None:
                on_done(results[i])
        return results  # type: ignore[return-value]
    from joblib import Parallel, delayed
    par = Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator_unordered")
    for i, res in par(delayed(_run_indexed)(i, j, True) for i, j in enumerate(jobs)):
        results[i] = res
        if on_done is not None:
            on_done(res)
    return results  # type: ignore[return-value]
