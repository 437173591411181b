"""The task runner of sweeps and System 2 jobs: processes, failures, progress, Ctrl-C, Ray."""

import io
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from feeds.errors import ConfigError
from models.common.runner import Task, run_tasks


# Module-level task functions: spawned workers import them by name.
def square_in_worker(x):
    return {"pid": os.getpid(), "square": x * x, "omp": os.environ.get("OMP_NUM_THREADS")}


def fail_on_two(x):
    if x == 2:
        raise ValueError(f"bad input\n{x}")
    return x


def die_on_one(x):
    if x == 1:
        os._exit(3)  # a worker killed from outside (out of memory, kill -9)
    return x


def interrupt_parent(arg):
    """Wait until the parent has saved task 'a', then press Ctrl-C in the parent, then hang."""
    marker, pidfile = Path(arg["seen"]), Path(arg["pids"])
    with pidfile.open("a") as f:
        f.write(f"{os.getpid()}\n")
    while not marker.exists():
        time.sleep(0.05)
    os.kill(arg["parent"], signal.SIGINT)
    time.sleep(600)  # stopped by the runner long before


def record_pid(arg):
    with Path(arg["pids"]).open("a") as f:
        f.write(f"{os.getpid()}\n")
    return "a"


def test_local_pool_runs_tasks_in_single_threaded_worker_processes():
    tasks = [Task(f"t{x}", square_in_worker, x) for x in range(4)]
    outcomes = run_tasks(tasks, workers=2, progress=False)
    assert [o.task_id for o in outcomes] == ["t0", "t1", "t2", "t3"]  # the order of the tasks
    assert [o.value["square"] for o in outcomes] == [0, 1, 4, 9]
    pids = {o.value["pid"] for o in outcomes}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert {o.value["omp"] for o in outcomes} == {"1"}
    assert all(o.ok and o.wall_s >= 0 and o.cpu_s >= 0 for o in outcomes)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_task_is_reported_and_the_others_complete(workers):
    seen = []
    outcomes = run_tasks([Task(f"t{x}", fail_on_two, x) for x in range(4)], workers=workers,
                         on_outcome=seen.append, progress=False)
    assert sorted(o.task_id for o in seen) == ["t0", "t1", "t2", "t3"]
    bad = outcomes[2]
    assert not bad.ok and bad.error == "ValueError: bad input 2"  # one line
    assert "Traceback" in bad.traceback and "fail_on_two" in bad.traceback
    assert isinstance(bad.exception, ValueError)
    assert [o.value for o in outcomes if o.ok] == [0, 1, 3]


def test_progress_is_one_line_per_task_in_a_log():
    stream = io.StringIO()
    run_tasks([Task(f"t{x}", fail_on_two, x) for x in range(4)], workers=1, stream=stream,
              desc="sweep demo", unit="cells")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("sweep demo: 1/4 cells (25%)") and "failed 0, last t0" in lines[0]
    assert "3/4 cells" in lines[2] and "failed 1" in lines[2] and "left" in lines[2]
    assert lines[-1].startswith("sweep demo: done, 4/4 cells in") and "failed 1" in lines[-1]


def test_a_dead_worker_fails_its_task_only():
    outcomes = run_tasks([Task(f"t{x}", die_on_one, x) for x in range(5)], workers=2,
                         progress=False)
    assert [o.ok for o in outcomes] == [True, False, True, True, True]  # no bystander blamed
    assert outcomes[1].error.startswith("WorkerDied")
    assert [o.value for o in outcomes if o.ok] == [0, 2, 3, 4]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_workers_and_keeps_what_finished(tmp_path):
    # Python's own Ctrl-C handler, also where the test process was started with SIGINT ignored
    # (a background job of a non-interactive shell, as some CI runners start it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_case(tmp_path)
    finally:
        signal.signal(signal.SIGINT, before)


def _ctrl_c_case(tmp_path):
    seen, pids = tmp_path / "seen", tmp_path / "pids"
    saved = []

    def on_outcome(o):
        saved.append(o.task_id)
        seen.touch()

    arg = {"seen": str(seen), "pids": str(pids), "parent": os.getpid()}
    tasks = [Task("a", record_pid, arg), Task("b", interrupt_parent, arg),
             Task("c", interrupt_parent, arg)]
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, workers=2, on_outcome=on_outcome, progress=False)
    assert saved == ["a"]
    for pid in {int(p) for p in pids.read_text().split()}:  # every worker has been stopped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_options_are_checked(monkeypatch):
    t = [Task("t", fail_on_two, 1)]
    with pytest.raises(ConfigError, match="unknown backend 'dask'"):
        run_tasks(t, backend="dask")
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        run_tasks(t, workers=0)
    with pytest.raises(ConfigError, match="--backend ray"):
        run_tasks(t, address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    with pytest.raises(ConfigError, match=r"bt-rlportfolio\[distributed\]"):
        run_tasks(t, backend="ray")
