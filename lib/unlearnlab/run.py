"""Run notebooks headlessly with papermill: ``python -m unlearnlab.run --preset cpu [NB ...]``.

A plain run executes each notebook with ``PRESET``/``SEED`` injected into its
``parameters`` cell, into ``runs/<preset>/<name>.ipynb``: the canonical run, whose
results tables (``runs/<preset>/results/``) and figures (``figures/`` at cpu) RESULTS.md
and the README are generated from. A run with parameters (``-p NAME=VALUE``), another
seed or a grid never touches those: each point goes to a folder of its own,
``runs/<preset>/<notebook>/<key>/`` (:mod:`unlearnlab.grid`). One line per notebook (its
wall time) is printed; a failure names the notebook, the cell and the error, and every
other notebook still runs. Afterwards the canonical results tables of the preset are
gathered into ``runs/<preset>/results/summary.md``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import pandas as pd

from . import paths
from .config import PRESET_NAMES
from .execute import (
    NotebookFailed,
    NotebookRun,
    ParameterError,
    check_parameters,
    check_writable,
    execution_order,
    parse_parameter,
    resolve_notebooks,
    run_local,
    run_notebook,
    thread_environment,
)

#: Columns of the summary, when a table has them (the CSV files keep every column).
SUMMARY_COLUMNS = ("method", "forget", "acc_forget", "acc_retain", "acc_test_forget",
                   "acc_test_retain", "acc_test", "mia_entropy_lr_member", "mia_svc_nonmember",
                   "mia_loss_lr_acc", "zrf", "time_s", "speedup")


def write_summary(preset: str) -> Path | None:
    """Gather the key columns of ``runs/<preset>/results/*.csv`` into one Markdown file."""
    results = paths.preset_dir(preset) / "results"
    tables = sorted(results.glob("*.csv")) if results.exists() else []
    if not tables:
        return None
    parts = [f"# Results of the `{preset}` preset\n"]
    for table in tables:
        frame = pd.read_csv(table)
        shown = [c for c in SUMMARY_COLUMNS if c in frame] or list(frame)
        frame = frame[shown]
        parts.append(f"## {table.stem}\n\n{frame.to_markdown(index=False, floatfmt='.3f')}\n")
    out = results / "summary.md"
    out.write_text("\n".join(parts))
    return out


def _canonical_notebook(notebook: Path, threads: int | None, *, preset: str,
                        output_dir: Path | None, progress: bool) -> NotebookRun:
    """One notebook of a canonical run (a :func:`run_local` item)."""
    with thread_environment(threads):
        return run_notebook(notebook, preset, output_dir=output_dir, progress=progress)


def run_canonical(notebooks: list[Path], preset: str, *, output_dir: Path | None = None,
                  jobs: int = 1, progress: bool = False) -> tuple[list[NotebookRun], list[str]]:
    """Run notebooks at ``preset`` and seed 0 with their own defaults, ``jobs`` at a time
    (00 first, then the longest); each finished notebook prints one line (done/total, its
    time, elapsed). Every notebook is attempted. Returns the runs and the failure messages."""
    order = execution_order(notebooks)
    one = functools.partial(_canonical_notebook, preset=preset, output_dir=output_dir,
                            progress=progress and jobs == 1)
    runs, failures, start = [], [], time.perf_counter()
    for done, (notebook, outcome) in enumerate(run_local(one, order, jobs=jobs), 1):
        elapsed = time.perf_counter() - start
        if isinstance(outcome, BaseException):
            failures.append(str(outcome) if isinstance(outcome, NotebookFailed)
                            else f"{notebook.name}: {type(outcome).__name__}: {outcome}")
            print(f"[{done}/{len(order)}] FAILED {notebook.name} (elapsed {elapsed:.0f} s)", flush=True)
            continue
        runs.append(outcome)
        print(f"[{done}/{len(order)}] {notebook.name} done in {outcome.seconds:.1f} s "
              f"(elapsed {elapsed:.0f} s) -> {outcome.output}", flush=True)
    return runs, failures


def main(argv: list[str] | None = None) -> int:
    """The command line; user errors print one line and exit 2, failed notebooks exit 1."""
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.run", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all), e.g. 00")
    parser.add_argument("--preset", default="cpu", choices=PRESET_NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a notebook parameter (a Python literal, or a string), e.g. -p SHARE=0.05; "
                             "every chosen notebook must define it")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where executed notebooks go (default: runs/<preset>/)")
    parser.add_argument("--progress", action="store_true",
                        help="papermill's per-cell progress bar (default: one line per notebook)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks (or grid runs) at once, each in its own process with "
                             "the cores shared out between them (default 1)")
    grid = parser.add_argument_group(
        "grids", "one run per combination, each in runs/<preset>/<notebook>/<key>/; finished "
                 "runs are skipped when the command is repeated; tables merged afterwards")
    grid.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                      help="a grid axis, e.g. --grid SEED=0,1,2 --grid FORGET_CLASS=0,3,7")
    grid.add_argument("--grid-file", type=Path, default=None,
                      help="a TOML file with [grid] axes and [parameters] (see unlearnlab.grid)")
    grid.add_argument("--executor", choices=("local", "slurm"), default="local",
                      help="local: --jobs worker processes here; slurm: one job array through "
                           "submitit (pip install -e '.[cluster]')")
    slurm = parser.add_argument_group("slurm (with --executor slurm)")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--time-min", type=int, default=60, help="time limit per job, minutes")
    slurm.add_argument("--gpus-per-job", type=int, default=0)
    slurm.add_argument("--cpus-per-job", type=int, default=4)
    slurm.add_argument("--mem-gb", type=float, default=None)
    slurm.add_argument("--array-parallelism", type=int, default=16,
                       help="jobs of the array running at once")
    slurm.add_argument("--slurm-setup", action="append", default=[], metavar="COMMAND",
                       help="a shell line run before each job, e.g. 'module load cuda'")
    slurm.add_argument("--cluster", choices=("slurm", "local", "debug"), default="slurm",
                       help="submitit's executor: local or debug run the same jobs on this "
                            "machine, to try the path without a cluster")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.grid or args.grid_file or args.param or args.seed != 0 or args.executor == "slurm":
        return _main_grid(args)  # not the canonical run: a folder of its own per point
    try:
        notebooks = resolve_notebooks(args.notebooks, args.preset)
        for notebook in notebooks:
            check_parameters(notebook, {"PRESET": args.preset, "SEED": 0})
        check_writable(args.output_dir or paths.preset_dir(args.preset))
        check_writable(paths.cache_dir())
    except (ParameterError, PermissionError, SystemExit) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Running {len(notebooks)} notebook(s) at preset {args.preset!r}"
          + (f", {args.jobs} at a time" if args.jobs > 1 else ""), flush=True)
    start = time.perf_counter()
    runs, failures = run_canonical(notebooks, args.preset, output_dir=args.output_dir,
                                   jobs=min(args.jobs, len(notebooks)), progress=args.progress)
    summary = write_summary(args.preset)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(f"{len(runs)} of {len(notebooks)} notebook(s) done in {time.perf_counter() - start:.1f} s "
          f"wall time ({sum(r.seconds for r in runs):.1f} s of notebook time)."
          + (f" Results: {summary}" if summary else ""))
    return 1 if failures else 0


def _main_grid(args: argparse.Namespace) -> int:
    """``--grid``/``--grid-file``/``--executor slurm``: expand, check every run's
    parameters before anything starts, run what is not done, merge, report failures."""
    from . import grid

    try:
        notebooks = resolve_notebooks(args.notebooks, args.preset)
        axes, fixed = grid.read_grid_file(args.grid_file) if args.grid_file else ({}, {})
        for text in args.grid:
            name, values = grid.parse_axis(text)
            if name in axes:
                raise grid.GridError(f"Grid axis {name} given twice")
            axes[name] = values
        for text in args.param:
            name, value = parse_parameter(text)
            fixed[name] = value
        points = grid.expand(axes, fixed)
        runs = grid.grid_runs(notebooks, args.preset, points, seed=args.seed)
        for run in runs:
            check_parameters(run.notebook, {"PRESET": run.preset, **run.parameters})
        check_writable(paths.preset_dir(args.preset))
        check_writable(paths.cache_dir())
    except (grid.GridError, ParameterError, PermissionError, SystemExit) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    where = (f"{args.jobs} local worker(s)" if args.executor == "local"
             else f"submitit ({args.cluster})")
    print(f"Grid: {len(runs)} run(s) of {len(notebooks)} notebook(s) at preset {args.preset!r} "
          f"on {where}")
    options = grid.SlurmOptions(
        partition=args.partition, time_min=args.time_min, gpus_per_job=args.gpus_per_job,
        cpus_per_job=args.cpus_per_job, mem_gb=args.mem_gb,
        array_parallelism=args.array_parallelism, setup=args.slurm_setup, cluster=args.cluster,
        poll_s=30.0 if args.cluster == "slurm" else 1.0)
    start = time.perf_counter()
    try:
        manifests = grid.run_grid(runs, executor=args.executor, jobs=args.jobs, slurm=options)
    except KeyboardInterrupt:
        print("Interrupted: finished runs are kept; the same command resumes the grid.",
              file=sys.stderr)
        return 130
    failed = [m for m in manifests if m.get("status") != "done"]
    for notebook in notebooks:
        for name, path in grid.merge(args.preset, notebook.stem).items():
            print(f"merged {name}: {path}")
    for manifest in failed:
        run = next(r for r in runs if r.key == manifest.get("key"))
        print(f"FAILED {run.label()}: {manifest.get('error')}\n  folder: {run.folder}\n"
              f"  alone: {run.rerun_command()}", file=sys.stderr)
    print(f"{len(manifests) - len(failed)} of {len(runs)} run(s) done, {len(failed)} failed; "
          f"{time.perf_counter() - start:.1f} s wall time.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
