"""Sweeps of System 1: presets x seeds x universes x windows x settings, each cell a task.

    python -m strategies.sweep examples/sweep_smoke.toml                  # local process pool
    python -m strategies.sweep GRID.toml --backend ray [--address auto]   # on Ray
    python -m strategies.sweep GRID.toml --report-only                    # report of done cells

The grid is a small TOML file (see ``examples/sweep_paper_seeds.toml``)::

    presets = ["hybrid_top5", "ppo_top5", "lstm_top5"]  # learned System 1 presets
    seeds = "0-9"                     # a range "A-B" or a list [0, 3, 7]
    universes = ["paper"]             # universe presets or "AAPL,MSFT,BTC-USD" ticker lists
    windows = ["split", "wf26"]       # split = the paper's 70/30; wfN = retrain every N weeks
                                      # (expanding window; "wfN-rolling" for a rolling one)
    references = ["equal_weight", "sp500"]   # deterministic baselines (this is the default)
    out = "results/sweeps/paper"      # optional, from the current folder (default
                                      # results/sweeps/<file name>; --out wins)

    [settings]                        # RunConfig fields shared by every variant
    timesteps = 20000
    lstm_overrides = { max_epochs = 40 }

    [variants.low_lr]                 # optional named variants, each over [settings]
    ppo_overrides = { learning_rate = 3e-5 }   # without any: one variant called "default"

Settings are the fields of :class:`strategies.pipeline.system1.RunConfig` except those the grid
sets (universe, seed, walk_forward, walk_forward_mode) or the sweep owns (bundle_dir, progress,
retrain). The whole grid is checked before anything runs; a bad entry is one ConfigError line.

Cells: one per universe x window x variant x seed, holding every learned preset (they share the
LSTM), plus one reference cell per universe x window (x the settings references depend on) for
the deterministic presets. A cell carries only its configuration; it runs
:func:`strategies.pipeline.system1.run_system1` and its result (each preset's weekly test
returns with dates, metrics, the run's meta) is saved atomically as ``OUT/cells/<id>.json``.
The id is a readable label plus a hash of the cell's configuration. Bundles go to
``OUT/bundles``; cells that could train the same bundle (same data and seed) take turns via a
lock file there. A finished cell is never run again (a sweep is resumable: rerun the command),
a failed one is written to ``OUT/failed/<id>.txt`` (error, then traceback) and rerun next time.
``OUT/report.html`` and ``OUT/summary.json`` compare everything (:mod:`~.pipeline.sweep_report`).
Exit codes: 0 all cells done, 1 some failed, 2 bad grid or options, 130 interrupted.

Ray (``pip install 'bt-rlportfolio[distributed]'``): without ``--address`` a local Ray with
``--workers`` CPUs; with one, every node needs this package installed, and OUT should be a folder
every node mounts at the same path (workers write bundles there; results are written by this
process). The same seeds give the same results on either backend.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from feeds.errors import ConfigError, PluginError
from strategies.pipeline.sweep_report import CELL_FORMAT, CELL_VERSION, load_cell, write_json

log = logging.getLogger("strategies.sweep")

TOP_KEYS = ("presets", "seeds", "universes", "windows", "references", "out", "settings",
            "variants")
AXES = ("universe", "seed", "walk_forward", "walk_forward_mode")  #: RunConfig fields the grid sets
OWNED = ("bundle_dir", "progress", "retrain")  #: RunConfig fields the sweep sets
LEARNING = ("seed", "timesteps", "env_overrides", "ppo_overrides", "lstm_overrides")
"""Settings only learned presets read: references ignore them."""
DATA = ("universe", "source", "data_path", "start", "end", "train_frac", "asset_classes", "seed")
"""What a bundle's key depends on besides model settings: cells equal in these may share one."""
DETERMINISTIC = ("equal_weight", "index", "composite")
_FLAGS = {"--train-frac": "train_frac", "--tc": "tc", "--timesteps": "timesteps",
          "--start": "start", "--end": "end", "--universe": "universe", "--data": "data_path",
          "--source": "source", "--seed": "seed", "--asset-classes": "asset_classes",
          "--benchmark": "benchmark"}


def _settings_names() -> list[str]:
    from strategies.pipeline.system1 import RunConfig
    return [f.name for f in fields(RunConfig) if f.name not in AXES + OWNED]


def _hash(obj) -> str:
    from strategies.pipeline.common import config_key
    return config_key(obj)[:10]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "x"


@dataclass(frozen=True)
class Grid:
    """A validated sweep grid (:func:`load_grid`)."""

    name: str
    presets: tuple[str, ...]
    references: tuple[str, ...]
    seeds: tuple[int, ...]
    universes: tuple[str, ...]
    windows: tuple[str, ...]
    variants: dict = field(default_factory=dict)  #: name -> RunConfig settings
    out: str | None = None

    @property
    def n_trials(self) -> int:
        """Variants x presets tried: the number of trials of the deflated Sharpe ratio."""
        return len(self.variants) * len(self.presets)

    def reference_cell(self, universe: str, window: str, variant: str) -> dict:
        """The reference cell a variant's learned cells are compared with."""
        wf, mode = parse_window(window)
        settings = {k: v for k, v in self.variants[variant].items() if k not in LEARNING}
        first = next(n for n, s in self.variants.items()
                     if {k: v for k, v in s.items() if k not in LEARNING} == settings)
        return _cell("reference", universe, window, "ref" if first == next(iter(self.variants))
                     else f"ref-{first}", None, list(self.references),
                     {**settings, "universe": universe, "walk_forward": wf,
                      "walk_forward_mode": mode})

    def cells(self) -> list[dict]:
        """Every cell: the reference cells first, then universe x window x variant x seed (seed
        innermost, so cells running side by side rarely wait for each other's bundles)."""
        refs, learned = {}, []
        for u in self.universes:
            for w in self.windows:
                wf, mode = parse_window(w)
                for v, s in self.variants.items():
                    if self.references:
                        r = self.reference_cell(u, w, v)
                        refs[r["id"]] = r
                    for seed in self.seeds:
                        learned.append(_cell("learned", u, w, v, seed, list(self.presets),
                                             {**s, "universe": u, "seed": seed,
                                              "walk_forward": wf, "walk_forward_mode": mode}))
        return list(refs.values()) + learned


def _cell(kind, universe, window, variant, seed, presets, run) -> dict:
    cell = json.loads(json.dumps({"kind": kind, "universe": universe, "window": window,
                                  "variant": variant, "seed": seed, "presets": presets,
                                  "run": run}))
    label = f"{_label(universe)}-{window}-{variant}" + (f"-s{seed}" if seed is not None else "")
    return {"id": f"{label}-{_hash(cell)}", **cell}


def parse_window(text: str) -> tuple[int, str]:
    """``"split"`` -> (0, "expanding"); ``"wf26"`` -> (26, "expanding"); ``"wf26-rolling"``."""
    if text == "split":
        return 0, "expanding"
    m = re.fullmatch(r"wf(\d+)(?:-(expanding|rolling))?", str(text))
    if not m or int(m.group(1)) < 4:
        raise ConfigError(f"window {text!r} is not split, wfN or wfN-rolling with N >= 4 weeks "
                          "(e.g. wf26: retrain every 26 weeks)")
    return int(m.group(1)), m.group(2) or "expanding"


# ----------------------------------------------------------------------------------- grid
def load_grid(path: str | os.PathLike) -> Grid:
    """Read and validate a grid file. Anything wrong (an unknown preset, universe or setting, a
    value out of range, prices missing for the dates) is one ConfigError line prefixed with the
    file name. Nothing is trained or written."""
    p = Path(path)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("reading a grid needs Python 3.11, or pip install tomli on "
                              "Python 3.10") from None
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such grid file; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the grid ({e})") from None
    except ValueError as e:  # tomllib.TOMLDecodeError
        raise ConfigError(f"{p.name}: not valid TOML ({e})") from None
    try:
        return validate_grid(doc, name=p.stem, base=p.parent)
    except PluginError as e:
        text = re.sub(r"--[a-z][a-z-]*", lambda m: _FLAGS.get(m.group(0), m.group(0)), str(e))
        raise ConfigError(f"{p.name}: {text}") from None


def _str_list(doc: dict, key: str, default=None) -> tuple[str, ...]:
    v = doc.get(key, default)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ConfigError(f"{key} must be a list of names, e.g. {key} = [\"...\"]")
    if len(set(v)) != len(v):
        raise ConfigError(f"{key} lists a name twice: {v}")
    return tuple(x.strip() for x in v)


def _seeds(v) -> tuple[int, ...]:
    from strategies.pipeline.cli import MAX_SEED
    if isinstance(v, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", v):
        a, b = (int(x) for x in v.split("-"))
        v = list(range(a, b + 1)) if a <= b else None
    if (not isinstance(v, list) or not v
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in v)):
        raise ConfigError(f"seeds must be a range \"0-9\" or a list [0, 3, 7], got {v!r}")
    if len(set(v)) != len(v) or not all(0 <= s <= MAX_SEED for s in v):
        raise ConfigError("seeds must be distinct and between 0 and 2**32 - 1")
    return tuple(v)


def _settings(table, where: str, base: Path) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of settings")
    known = _settings_names()
    out = {}
    for k, v in table.items():
        if k not in known:
            owner = ("set by the grid's universes/seeds/windows" if k in AXES
                     else "set by the sweep" if k in OWNED else f"not a setting; known: "
                     f"{', '.join(known)}")
            raise ConfigError(f"{where}: {k!r} is {owner}")
        if isinstance(v, (_dt.date, _dt.datetime)):
            v = v.isoformat()
        if k == "data_path" and isinstance(v, str):
            v = str((base / Path(v).expanduser()).resolve())
        out[k] = v
    return out


def validate_grid(doc: dict, name: str = "sweep", base: Path = Path(".")) -> Grid:
    """A :class:`Grid` from the parsed TOML ``doc`` (relative data paths resolve from ``base``)."""
    from strategies.presets import get_preset
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}; a grid has "
                          f"{', '.join(TOP_KEYS)}")
    for key in ("presets", "seeds"):
        if key not in doc:
            raise ConfigError(f"{key} is missing; see examples/sweep_smoke.toml")
    presets, refs = [], list(_str_list(doc, "references", ["equal_weight", "sp500"]))
    for n in _str_list(doc, "presets"):
        p = get_preset(n)
        if p.system != 1:
            raise ConfigError(f"{n} is a System 2 (alpha) preset; sweeps run System 1 presets")
        (refs if p.family in DETERMINISTIC else presets).append(n)
    for n in refs:
        if get_preset(n).family not in DETERMINISTIC:
            raise ConfigError(f"reference {n} is learned; list it under presets")
    if not presets:
        raise ConfigError("presets holds no learned preset (hybrid_*, ppo_*, lstm_*)")
    windows = _str_list(doc, "windows", ["split"])
    for w in windows:
        parse_window(w)
    out = doc.get("out")
    if out is not None and (not isinstance(out, str) or not out.strip()):
        raise ConfigError("out must be a folder path")
    settings = _settings(doc.get("settings", {}), "[settings]", base)
    vtab = doc.get("variants", {})
    if not isinstance(vtab, dict) or not all(isinstance(t, dict) for t in vtab.values()):
        raise ConfigError("variants must be tables: [variants.NAME] with settings under it")
    for v in vtab:
        if _label(v) != v:
            raise ConfigError(f"variant name {v!r}: use letters, digits, '_', '.' or '-'")
    variants = {v: {**settings, **_settings(t, f"[variants.{v}]", base)}
                for v, t in vtab.items()} or {"default": settings}
    grid = Grid(name, tuple(presets), tuple(dict.fromkeys(refs)), _seeds(doc["seeds"]),
                _str_list(doc, "universes", ["paper"]), windows, variants, out)
    for v, s in variants.items():
        _check_run(grid, f"[variants.{v}]" if vtab else "[settings]", s)
    return grid


def _check_run(grid: Grid, where: str, s: dict) -> None:
    """Every universe with one variant's settings, checked as the CLI checks its options."""
    from strategies.pipeline import cli
    from strategies.pipeline.system1 import RunConfig, configs
    from strategies.presets import get_preset
    try:
        run = RunConfig(**s)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where} invalid settings ({e})") from None
    for dest, ok, msg in cli._NUMBERS:
        if hasattr(run, dest) and dest != "seed" and not ok(getattr(run, dest)):
            raise ConfigError(f"{where} {msg.format(v=getattr(run, dest))}")
    from models.portfolio.config import EnvConfig, LSTMConfig, PPOConfig
    for key, cls in (("env_overrides", EnvConfig), ("ppo_overrides", PPOConfig),
                     ("lstm_overrides", LSTMConfig)):
        if not isinstance(getattr(run, key), dict):
            raise ConfigError(f"{where} {key} must be a table, e.g. {key} = {{ ... }}")
        cls.from_dict(getattr(run, key))
    presets = [get_preset(n) for n in grid.presets + grid.references]
    for p in presets:
        if p.family not in DETERMINISTIC:
            configs(run, p)
    for u in grid.universes:
        a = argparse.Namespace(universe=u, tickers=None, data=run.data_path, source=run.source,
                               start=run.start, end=run.end, asset_classes=None, alphas=None)
        source = cli._check_source(a)
        start, end = cli._check_dates(a, 1)
        tickers, flag = cli._run_tickers(a, [get_preset("equal_weight")], source)
        cli._check_availability(a, tickers, flag, source, start, end)
        k, name = max((p.top_k or 0, p.name) for p in presets)
        if k > len(tickers):
            raise ConfigError(f"{name}: K={k} is larger than the {len(tickers)} asset(s) of "
                              f"universe {u}; choose a smaller K or a wider universe")
        if "composite" in grid.references:
            from feeds import get_benchmark
            from strategies.pipeline.system1 import _universe
            classes = _universe(RunConfig(universe=u, asset_classes=run.asset_classes))
            weights = get_benchmark("composite").class_weights
            off = sorted(t for t, c in classes.asset_class.items() if c not in weights)
            if off:
                raise ConfigError(f"composite weights the classes {', '.join(weights)}, but "
                                  f"{', '.join(off[:5])} of universe {u} have none of them: "
                                  "set asset_classes or drop composite from references")


# ----------------------------------------------------------------------------------- cells
def bundle_lock(root: Path, key: str):
    """The lock of bundle key group ``key`` under ``root``: cells that could train the same
    bundle take turns, because two writers of one bundle folder at once fail or corrupt each
    other's reads (``write_bundle`` renames folders over each other)."""
    from models.common.runner import file_lock
    return file_lock(Path(root) / ".locks" / f"{key}.lock")


def run_cell(arg: dict) -> dict:
    """Run one cell (``{"cell": ..., "bundle_dir": ...}``) in a worker; returns its result."""
    from strategies.pipeline.system1 import RunConfig, run_system1
    cell, root = arg["cell"], Path(arg["bundle_dir"])
    run = RunConfig(**{**cell["run"], "bundle_dir": str(root), "progress": False})
    lock = (bundle_lock(root, _hash([cell["run"].get(k) for k in DATA]))
            if cell["kind"] == "learned" else contextlib.nullcontext())
    with lock:
        results, meta = run_system1(cell["presets"], run)
    return {"format": CELL_FORMAT, "version": CELL_VERSION, "cell": cell, "meta": meta,
            "presets": {n: {"dates": [d.date().isoformat() for d in r.returns.index],
                            "returns": [float(x) for x in r.returns.to_numpy()],
                            "metrics": r.metrics, "bundle": r.bundle}
                        for n, r in results.items()}}


# ----------------------------------------------------------------------------------- sweep
def run_sweep(grid: Grid, out: str | os.PathLike, *, backend: str = "local",
              workers: int | None = None, address: str | None = None,
              progress: bool = True) -> dict:
    """Run every cell of ``grid`` not done yet in ``out``; returns ``{"total", "skipped",
    "done", "failed": [ids], "wall_s", "cpu_s"}``. Results are saved as cells finish, so an
    interrupted sweep (``KeyboardInterrupt`` is re-raised) keeps them."""
    import time

    from models.common.runner import Task, run_tasks
    out = Path(out)
    cells = grid.cells()
    todo = [c for c in cells if load_cell(out, c) is None]
    log.info("%d cells: %d done before, %d to run (backend %s)", len(cells),
             len(cells) - len(todo), len(todo), backend)
    failed: list[str] = []
    cpu = [0.0]

    def save(o) -> None:
        cpu[0] += o.cpu_s
        fail = out / "failed" / f"{o.task_id}.txt"
        if o.ok:
            write_json(out / "cells" / f"{o.task_id}.json",
                       {**o.value, "timing": {"wall_s": o.wall_s, "cpu_s": o.cpu_s,
                                              "backend": backend}})
            fail.unlink(missing_ok=True)
            return
        failed.append(o.task_id)
        fail.parent.mkdir(parents=True, exist_ok=True)
        fail.write_text(f"{o.error}\n\n{o.traceback or ''}", encoding="utf-8")
        log.error("cell %s failed: %s (details in %s)", o.task_id, o.error, fail)

    t0 = time.perf_counter()
    tasks = [Task(c["id"], run_cell, {"cell": c, "bundle_dir": str((out / "bundles").resolve())})
             for c in todo]
    run_tasks(tasks, backend=backend, workers=workers, address=address, on_outcome=save,
              progress=progress, desc=f"sweep {grid.name}", unit="cells")
    return {"total": len(cells), "skipped": len(cells) - len(todo),
            "done": len(todo) - len(failed), "failed": failed,
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(cpu[0], 1)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m strategies.sweep", description=(
        "Run a System 1 sweep (presets x seeds x universes x windows x settings) described by "
        "a TOML grid; resumable; writes OUT/report.html and OUT/summary.json."))
    p.add_argument("grid", help="the grid file (see examples/sweep_smoke.toml)")
    p.add_argument("--out", default=None,
                   help="output folder (default: the grid's out, else results/sweeps/<grid name>)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (local) or CPUs of a local Ray; a cluster given by "
                        "--address uses its own (default: all cores)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. auto or ray://host:10001); default: start a "
                        "local Ray")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: rebuild the report from the cells already done")
    p.add_argument("--dry-run", action="store_true",
                   help="check the grid and list its cells (done or to run), then stop")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    return p


def _logging(out: Path) -> logging.Handler:
    """Sweep lines to stderr and ``OUT/sweep.log``; returns the file handler (removed at the
    end). Cells log warnings only, whether in this process or in a worker."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    out.mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(out / "sweep.log", encoding="utf-8")
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(h)
    return h


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        from strategies.pipeline import cli
        if a.workers is not None and a.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {a.workers}")
        if a.address is not None and a.backend != "ray":
            raise ConfigError("--address is a Ray option; add --backend ray or drop --address")
        grid = load_grid(a.grid)
        out = cli.writable_dir("--out", a.out or grid.out or
                               str(Path("results") / "sweeps" / grid.name))
        if a.dry_run:
            for c in grid.cells():
                print(f"{'done ' if load_cell(out, c) else 'to run'}  {c['id']}")
            return 0
        handler = _logging(out)
        try:
            summary = None
            if not a.report_only:
                summary = run_sweep(grid, out, backend=a.backend, workers=a.workers,
                                    address=a.address, progress=not a.no_progress)
            from strategies.pipeline.sweep_report import write_report
            print(write_report(grid, out, run=summary))
        finally:
            log.removeHandler(handler)
            handler.close()
        if summary and summary["failed"]:
            print(f"{len(summary['failed'])} cell(s) failed (see {out / 'failed'}/; rerun the "
                  f"same command to retry them): {', '.join(summary['failed'])}",
                  file=sys.stderr)
            return 1
        return 0
    except PluginError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted: the cells already finished are kept; run the same command to "
              "resume (add --report-only for a report of them)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
