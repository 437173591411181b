"""Measuring helpers of ``bench_ratios.py``: CPU-seconds, child processes, rows, the table.

Nothing here changes a process-wide setting (torch threads, validation flags): each row runs
the library's code the way the CLI runs it.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(fn: Callable[[], object], repeat: int = 1) -> dict:
    """Median CPU-seconds (this process + children) and wall seconds of ``fn()``."""
    cpus, walls = [], []
    for _ in range(max(1, repeat)):
        c0, k0, w0 = time.process_time(), children_cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0 + children_cpu() - k0)
    return {"cpu_s": statistics.median(cpus), "wall_s": statistics.median(walls),
            "cpu_all": cpus}


def measure_pair(path: Callable[[], object], anchor: Callable[[], object],
                 repeat: int = 1) -> tuple[dict, dict]:
    """Path and anchor measured alternately (path, anchor, path, ...), so a change in machine
    load affects both alike; medians of each."""
    p, a = [], []
    for _ in range(max(1, repeat)):
        p.append(measure(path))
        a.append(measure(anchor))
    med = lambda xs: {"cpu_s": statistics.median(x["cpu_s"] for x in xs),  # noqa: E731
                      "wall_s": statistics.median(x["wall_s"] for x in xs),
                      "cpu_all": [x["cpu_s"] for x in xs]}
    return med(p), med(a)


_WRAP = ("import json, resource, subprocess, sys, time\n"
         "w = time.perf_counter()\n"
         "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
         "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
         "print(json.dumps({'rc': rc, 'cpu_s': ru.ru_utime + ru.ru_stime,"
         " 'wall_s': time.perf_counter() - w, 'peak_rss_mb': ru.ru_maxrss / 1024}))\n")


def run_child(cmd: list[str], cwd: Path = ROOT) -> dict:
    """Run ``cmd`` in a fresh process tree; CPU-s of it and all its children, wall seconds and
    the peak RSS (MB) of the largest process of the tree (``getrusage(RUSAGE_CHILDREN)`` in a
    wrapper, so nothing else is counted)."""
    out = subprocess.run([sys.executable, "-c", _WRAP, *cmd], cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {res['rc']}")
    return res


class Load:
    """N busy-looping child processes (simulated load), ended by pid."""

    def __init__(self, n: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(n)]

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def row(name: str, path: str, anchor: str, p: dict, a: dict | None, *, speedup: bool,
        target: str, ok: bool | None, **detail) -> dict:
    """One table row. ``speedup``: the ratio is anchor CPU / path CPU for the same work (higher
    is better); else path CPU / anchor CPU (lower is better)."""
    r = None
    if a is not None:
        r = a["cpu_s"] / p["cpu_s"] if speedup else p["cpu_s"] / a["cpu_s"]
    out = {"row": name, "path": path, "anchor": anchor, "path_cpu_s": p["cpu_s"],
           "path_wall_s": p.get("wall_s"), "anchor_cpu_s": a["cpu_s"] if a else None,
           "anchor_wall_s": a.get("wall_s") if a else None, "ratio": r,
           "ratio_is": ("anchor / path CPU (speed-up)" if speedup else "path / anchor CPU"),
           "target": target, "met": ok, **detail}
    print(f"[{name}] {path}: {p['cpu_s']:.3f} CPU-s"
          + (f"; {anchor}: {a['cpu_s']:.3f} CPU-s -> {r:.2f}x" if a else "")
          + f" (target {target}: {'met' if ok else 'not met' if ok is not None else '-'})",
          flush=True)
    return out


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (README's performance section)."""
    lines = ["| row | path | CPU-s | anchor | CPU-s | ratio | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        anc = f"{r['anchor_cpu_s']:.3f}" if r["anchor_cpu_s"] is not None else "-"
        met = {True: "yes", False: "no", None: "-"}[r["met"]]
        lines.append(f"| {r['row']} | {r['path']} | {r['path_cpu_s']:.3f} | {r['anchor']} | "
                     f"{anc} | {ratio} | {r['target']} | {met} |")
    return "\n".join(lines)
