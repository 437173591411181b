"""Run independent tasks on a local process pool or on a Ray cluster, with progress and ETA.

A :class:`Task` is a module-level function and its one argument (both picklable: a process
started with ``spawn`` or a Ray worker on another machine imports the function by name). Every
task runs whatever happens to the others: an exception becomes a failed :class:`Outcome` (a
one-line error plus the traceback) and the rest go on. Sweeps (:mod:`strategies.sweep`) and
System 2's stocks x seeds trainings (:func:`models.alpha.jobs.run_jobs`) run on it::

    from models.common.runner import Task, run_tasks
    outcomes = run_tasks([Task("a", math.sqrt, 4.0), Task("b", math.sqrt, 9.0)], workers=2)
    [o.value for o in outcomes]  # [2.0, 3.0], in the order of the tasks

Backends:

* ``"local"`` (default): ``workers`` processes on this machine (default ``os.cpu_count()``),
  started with ``spawn`` (no state inherited from the caller), each with one torch/BLAS thread:
  the models are tiny and one process per core beats threads within a process. ``workers=1``
  runs the tasks here, one after another. A worker that dies (killed, out of memory) fails its
  task only: the others are run again in a fresh pool. As always with ``spawn``, a script that
  calls this needs the ``if __name__ == "__main__":`` guard.
* ``"ray"``: one Ray task per :class:`Task` (``num_cpus=1``). Without ``address`` a local Ray is
  started with ``num_cpus=workers``; with ``address`` (``"auto"``, ``"ray://host:10001"``, ...)
  the tasks go to that cluster, whose nodes must have this package installed. Ray is optional:
  ``pip install 'bt-rlportfolio[distributed]'``.

Ctrl-C stops at once: tasks not started are cancelled, running ones are stopped, the outcomes
already received have been passed to ``on_outcome``, and ``KeyboardInterrupt`` is raised again.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feeds.errors import ConfigError

__all__ = ["BACKENDS", "Outcome", "Task", "file_lock", "run_tasks", "write_text"]

BACKENDS = ("local", "ray")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``fn(arg)``, named ``id`` in progress and failures."""

    id: str
    fn: Callable[[Any], Any]  #: a module-level function (imported by name in the worker)
    arg: Any = None  #: its one argument (picklable; a sweep passes a JSON-able dict)


@dataclass
class Outcome:
    """What became of one task."""

    task_id: str
    ok: bool
    value: Any = None  #: what ``fn`` returned (ok only)
    error: str | None = None  #: ``"ErrorType: message"`` on one line (failed only)
    traceback: str | None = None  #: the full traceback text (failed only)
    exception: BaseException | None = None  #: the exception itself, when it could be sent back
    wall_s: float = 0.0  #: wall time of the task in its worker
    cpu_s: float = 0.0  #: CPU time of the task's process while it ran (all its threads)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def _single_thread() -> None:
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _init_worker() -> None:
    """Pool worker start: Ctrl-C is the parent's to handle; one BLAS/torch thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _single_thread()


def execute(task_id: str, fn: Callable[[Any], Any], arg: Any, single_thread: bool = True
            ) -> Outcome:
    """Run ``fn(arg)`` and return its :class:`Outcome` (an exception is caught into it)."""
    if single_thread:
        _single_thread()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        value = fn(arg)
    except Exception as exc:  # noqa: BLE001 - a failed task must not stop the others
        try:
            pickle.dumps(exc)
            kept: BaseException | None = exc
        except Exception:  # noqa: BLE001 - an exception that cannot travel back
            kept = None
        return Outcome(task_id, False, error=_one_line(exc), traceback=traceback.format_exc(),
                       exception=kept, wall_s=time.perf_counter() - t0,
                       cpu_s=time.process_time() - c0)
    return Outcome(task_id, True, value=value, wall_s=time.perf_counter() - t0,
                   cpu_s=time.process_time() - c0)


def run_tasks(tasks: Sequence[Task], *, backend: str = "local", workers: int | None = None,
              address: str | None = None, on_outcome: Callable[[Outcome], None] | None = None,
              progress: bool = True, desc: str = "tasks", unit: str = "tasks",
              stream=None) -> list[Outcome]:
    """Run every task; returns their outcomes in the order of ``tasks``.

    Args:
        tasks: the tasks (ids unique).
        backend: ``"local"`` or ``"ray"`` (see the module docstring).
        workers: processes (local) or CPUs of a local Ray; default ``os.cpu_count()``. The local
            pool never starts more processes than there are tasks.
        address: Ray only: the cluster to join (None = start a local Ray).
        on_outcome: called in this process as each task ends (completion order), e.g. to save
            its result at once.
        progress: show "done / total, failed, ETA" (a bar on a terminal, a line per task in a log).
        desc, unit: the words of the progress line.
        stream: where progress goes (default stderr).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if address is not None and backend != "ray":
        raise ConfigError("an address is only used by the Ray backend; add --backend ray or "
                          "drop --address")
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("task ids must be unique")
    n = int(workers or os.cpu_count() or 1)
    from models.common.progress import Progress
    by_id: dict[str, Outcome] = {}
    bar = Progress(len(tasks), desc, unit, enabled=progress and bool(tasks), stream=stream,
                   step=1.0 / max(len(tasks), 1))
    failed = 0

    def done(o: Outcome) -> None:
        nonlocal failed
        by_id[o.task_id] = o
        failed += 0 if o.ok else 1
        try:
            if on_outcome is not None:
                on_outcome(o)
        finally:
            bar.update(1, failed=failed, last=o.task_id)

    try:
        if not tasks:
            pass
        elif backend == "ray":
            _run_ray(tasks, n, address, done)
        elif n == 1:
            for t in tasks:
                done(execute(t.id, t.fn, t.arg, single_thread=False))
        else:
            _run_pool(tasks, min(n, len(tasks)), done)
    finally:
        bar.close()
    return [by_id[i] for i in ids]


# ----------------------------------------------------------------------------------- files
def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically: a temporary sibling renamed over ``path``, so a reader (or a
    run killed midway) never sees half a file."""
    import uuid
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive OS lock on ``path`` (created if needed) for the ``with`` block, so
    tasks on this machine, or on machines sharing the folder, that write the same files take
    turns. The lock goes with the process: a killed task never leaves it held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        try:
            import fcntl
        except ImportError:  # Windows: lock the first byte, retrying until it is free
            import msvcrt
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    time.sleep(0.5)
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------- local
def _run_pool(tasks: Sequence[Task], n: int, done: Callable[[Outcome], None]) -> None:
    """Run on ``n`` spawned processes. When a worker dies the pool breaks: tasks that had not
    started go to a fresh pool; those that had are rerun alone, so the one that kills its worker
    is found and reported (a task running beside it is not blamed)."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="runner-") as marks:
        queue = list(tasks)
        while queue:
            lost = _pool_round(queue, n, done, marks)
            if len(lost) == len(queue) and not any(started for _, started in lost):
                for t, _ in lost:  # the pool breaks before running anything: give up
                    done(Outcome(t.id, False, error="WorkerDied: the worker processes could "
                                 "not start (see the log above)"))
                return
            queue = [t for t, started in lost if not started]
            for t in (t for t, started in lost if started):
                if _pool_round([t], 1, done, marks):
                    done(Outcome(t.id, False, error="WorkerDied: the worker process running "
                                 "this task ended abruptly (killed, or out of memory?)"))


def _marked_execute(mark: str, task_id: str, fn, arg) -> Outcome:
    Path(mark).touch()  # tells the parent this task started, should the worker die
    return execute(task_id, fn, arg)


def _pool_round(tasks: Sequence[Task], n: int, done: Callable[[Outcome], None], marks: str
                ) -> list[tuple[Task, bool]]:
    """One pool over ``tasks``; returns the tasks lost to a dead worker and whether each had
    started."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    mark = {t.id: Path(marks) / f"{i}" for i, t in enumerate(tasks)}
    for m in mark.values():
        m.unlink(missing_ok=True)
    pool = ProcessPoolExecutor(max_workers=min(n, len(tasks)),
                               mp_context=mp.get_context("spawn"), initializer=_init_worker)
    futures = {pool.submit(_marked_execute, str(mark[t.id]), t.id, t.fn, t.arg): t
               for t in tasks}
    lost: list[tuple[Task, bool]] = []
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                t = futures[f]
                try:
                    o = f.result()
                except BrokenProcessPool:
                    lost.append((t, mark[t.id].exists()))
                    continue
                done(o)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return lost


def _stop_pool(pool) -> None:
    """Cancel what has not started and stop the worker processes this pool started."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)


# ----------------------------------------------------------------------------------- ray
def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray, which is not installed: pip install "
                          "'bt-rlportfolio[distributed]' (or pip install ray==2.60.0)") from None
    return ray


def _ray_execute(task_id: str, fn, arg) -> Outcome:
    return execute(task_id, fn, arg)


def _run_ray(tasks: Sequence[Task], n: int, address: str | None,
             done: Callable[[Outcome], None]) -> None:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": "WARNING"}
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=n, **kw)
        started = True
    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_execute)
    refs = {remote.remote(t.id, t.fn, t.arg): t for t in tasks}
    try:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                t = refs[r]
                try:
                    o = ray.get(r)
                except Exception as exc:  # noqa: BLE001 - the worker died or Ray failed it
                    o = Outcome(t.id, False, error=_one_line(exc),
                                traceback="".join(traceback.format_exception(exc)))
                done(o)
    except BaseException:
        for r in refs:
            with contextlib.suppress(Exception):  # finished ones cannot be cancelled
                ray.cancel(r, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
