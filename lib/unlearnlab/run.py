"""Run notebooks headlessly with papermill: ``python -m unlearnlab.run --preset cpu [NB ...]``.

Each notebook is executed with ``PRESET``/``SEED`` injected into its ``parameters``
cell, in the notebooks folder as working directory, into ``runs/<preset>/<name>.ipynb``.
One line per notebook (its wall time) is printed; a failure stops the run and names the
notebook, the cell and the error. Afterwards the results tables of the preset are
gathered into ``runs/<preset>/results/summary.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import paths
from .config import PRESET_NAMES


@dataclass
class NotebookRun:
    notebook: str
    output: Path
    seconds: float


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def list_notebooks() -> list[Path]:
    return sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))


def resolve_notebooks(names: list[str] | None) -> list[Path]:
    """Notebooks by full name, stem or number prefix ("00", "00-train-original")."""
    available = list_notebooks()
    if not names:
        return available
    chosen = []
    for name in names:
        stem = Path(name).stem
        matches = [nb for nb in available if nb.stem == stem or nb.stem.startswith(f"{stem}-")]
        if len(matches) != 1:
            raise SystemExit(
                f"No single notebook matches {name!r}; available: "
                + ", ".join(nb.stem for nb in available)
            )
        chosen.append(matches[0])
    return chosen


class ParameterError(ValueError):
    """A parameter the notebook does not define, or of the wrong type."""


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,),
                                       "bool": (bool,), "list": (list, tuple), "dict": (dict,)}


def notebook_parameters(notebook: Path) -> dict[str, str]:
    """``{name: type name}`` of the notebook's ``parameters`` cell, as papermill reads it."""
    import papermill

    return {name: p["inferred_type_name"] for name, p in
            papermill.inspect_notebook(str(notebook)).items()}


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Refuse parameters the notebook does not define, and values of the wrong type
    (``Optional[T]`` accepts None), naming the parameter, before a kernel starts."""
    declared = notebook_parameters(notebook)
    for name, value in parameters.items():
        if name not in declared:
            raise ParameterError(f"{notebook.name} has no parameter {name!r}; its parameters are "
                                 f"{', '.join(declared) or 'none'}")
        type_name = declared[name]
        optional = type_name.startswith("Optional[")
        base = type_name[len("Optional["):-1] if optional else type_name
        if value is None and optional:
            continue
        allowed = _TYPES.get(base.split("[")[0])
        if allowed is None:
            continue  # no annotation papermill could read: nothing to check against
        wrong_bool = isinstance(value, bool) and bool not in allowed
        if wrong_bool or not isinstance(value, allowed):
            raise ParameterError(f"{notebook.name}: parameter {name} must be {type_name}, got "
                                 f"{type(value).__name__} {value!r}")


def parse_parameter(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` from the command line; VALUE is a Python literal (3, 0.1, [1, 2],
    None, True) or else a plain string."""
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ParameterError(f"A parameter is NAME=VALUE, got {text!r}")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()


def check_writable(folder: Path) -> None:
    """Fail before a long run, not after it, when results could not be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"Cannot write to {folder} ({exc.strerror or exc}); set "
                              f"UNLEARNLAB_RUNS to a writable folder") from exc


def execute(notebook: Path, preset: str, *, seed: int = 0, output_dir: Path | None = None,
            extra_parameters: dict | None = None, progress: bool = True) -> NotebookRun:
    """Execute one notebook with papermill; raises :class:`NotebookFailed` on error and
    :class:`ParameterError` for a parameter the notebook does not take."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    saves_figures = {"SAVE_FIGURES": True} if "SAVE_FIGURES" in notebook_parameters(notebook) else {}
    parameters = {"PRESET": preset, "SEED": seed, **saves_figures, **(extra_parameters or {})}
    check_parameters(notebook, parameters)
    output_dir = output_dir or paths.preset_dir(preset)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    start = time.perf_counter()
    try:
        with _quiet_kernel():
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, kernel_name="python3",
                language="python", cwd=str(notebook.parent), progress_bar=progress,
                # the kernel's own notices (TCP without encryption; the KeyboardInterrupt of its shutdown)
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    except PapermillExecutionError as err:
        raise NotebookFailed(
            f"{notebook.name} failed in cell {err.cell_index} (execution count "
            f"{err.exec_count}): {err.ename}: {err.evalue}\nExecuted copy: {output}"
        ) from err
    return NotebookRun(notebook.stem, output, time.perf_counter() - start)


#: Columns of the summary, when a table has them (the CSV files keep every column).
SUMMARY_COLUMNS = ("method", "forget", "acc_forget", "acc_retain", "acc_test_forget",
                   "acc_test_retain", "acc_test", "mia_entropy_lr_member", "mia_svc_nonmember",
                   "mia_loss_lr_acc", "zrf", "time_s", "speedup")


@contextlib.contextmanager
def _quiet_kernel():
    """Headless runs keep the library's progress bars out of the executed notebooks
    (papermill shows its own per-cell bar); the kernel inherits this environment."""
    previous = os.environ.get("UNLEARNLAB_QUIET")
    os.environ["UNLEARNLAB_QUIET"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["UNLEARNLAB_QUIET"]
        else:
            os.environ["UNLEARNLAB_QUIET"] = previous


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


def execution_order(notebooks: list[Path]) -> list[Path]:
    """00 (the originals every other notebook loads) first, then the rest from the
    highest number down: the later notebooks are the longest, and starting the longest
    first keeps a pool of workers busy to the end."""
    first = [nb for nb in notebooks if nb.stem.startswith("00-")]
    return first + sorted((nb for nb in notebooks if nb not in first), reverse=True)


def _worker(notebook: Path, preset: str, seed: int, output_dir: Path | None, threads: int,
            parameters: dict | None = None) -> NotebookRun:
    """One notebook in a worker process, its kernel pinned to ``threads`` torch threads
    (two processes that each spin two threads on two cores slow each other down)."""
    for var in ("UNLEARNLAB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    return execute(notebook, preset, seed=seed, output_dir=output_dir, extra_parameters=parameters,
                   progress=False)


def _worker_init() -> None:
    """A pool worker: leaves Ctrl-C to the parent (which stops it), and dies with the
    parent even when that is killed outright (Linux ``PR_SET_PDEATHSIG``); its notebook
    kernel notices the worker is gone and exits within a second (ipykernel's parent poller)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no glibc
            pass


@contextlib.contextmanager
def worker_pool(jobs: int):
    """A pool of ``jobs`` spawned worker processes. Leaving it by an exception (Ctrl-C,
    SIGTERM made into one) kills the workers at once instead of waiting for their
    notebooks to end; queued work is cancelled."""
    import concurrent.futures as cf
    import multiprocessing

    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init)
    try:
        yield pool
    except BaseException:
        workers = list(getattr(pool, "_processes", {}).values())  # no public handle on them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.kill()
        raise
    else:
        pool.shutdown(wait=True)


def run_parallel(notebooks: list[Path], preset: str, *, seed: int, output_dir: Path | None,
                 jobs: int, parameters: dict | None = None) -> tuple[list[NotebookRun], list[str]]:
    """Run notebooks in ``jobs`` worker processes; each finished notebook prints one line
    (done/total, its time, elapsed). The trained-model cache is locked per entry, so
    workers that need the same original or retrain compute it once. Returns the runs and
    the failure messages (every notebook is attempted)."""
    import concurrent.futures as cf

    threads = max(1, (os.cpu_count() or 1) // jobs)
    order = execution_order(notebooks)
    runs, failures, start = [], [], time.perf_counter()
    with worker_pool(jobs) as pool:
        futures = {pool.submit(_worker, nb, preset, seed, output_dir, threads, parameters): nb
                   for nb in order}
        for done, future in enumerate(cf.as_completed(futures), 1):
            notebook = futures[future]
            elapsed = time.perf_counter() - start
            try:
                run = future.result()
            except Exception as err:  # a failed cell, or a kernel that died
                failures.append(str(err) if isinstance(err, NotebookFailed)
                                else f"{notebook.name}: {type(err).__name__}: {err}")
                print(f"[{done}/{len(order)}] FAILED {notebook.name} (elapsed {elapsed:.0f} s)", flush=True)
                continue
            runs.append(run)
            print(f"[{done}/{len(order)}] {notebook.name} done in {run.seconds:.1f} s "
                  f"(elapsed {elapsed:.0f} s) -> {run.output}", flush=True)
    return runs, failures


def main(argv: list[str] | None = None) -> int:
    """The command line; user errors print one line and exit 2, failed notebooks exit 1."""
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.run", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all), e.g. 00")
    parser.add_argument("--preset", default="cpu", choices=PRESET_NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a notebook parameter (a Python literal, or a string), e.g. -p K=64; "
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
    if args.grid or args.grid_file or args.executor == "slurm":
        return _main_grid(args)
    try:
        notebooks = resolve_notebooks(args.notebooks)
        extra = dict(parse_parameter(p) for p in args.param)
        for notebook in notebooks:
            check_parameters(notebook, {"PRESET": args.preset, "SEED": args.seed, **extra})
        check_writable(args.output_dir or paths.preset_dir(args.preset))
        check_writable(paths.cache_dir())
    except (ParameterError, PermissionError, SystemExit) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    print(f"Running {len(notebooks)} notebook(s) at preset {args.preset!r}, seed {args.seed}"
          + (f", {args.jobs} at a time" if args.jobs > 1 else ""))
    start = time.perf_counter()
    if args.jobs > 1 and len(notebooks) > 1:
        runs, failures = run_parallel(notebooks, args.preset, seed=args.seed,
                                      output_dir=args.output_dir, jobs=args.jobs, parameters=extra)
    else:
        runs, failures = [], []
        for i, notebook in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {notebook.name} ...", end="\n" if args.progress else " ",
                  flush=True)
            try:
                run = execute(notebook, args.preset, seed=args.seed, output_dir=args.output_dir,
                              extra_parameters=extra, progress=args.progress)
            except NotebookFailed as err:
                print("FAILED", flush=True)
                failures.append(str(err))
                break
            runs.append(run)
            print(f"done in {run.seconds:.1f} s -> {run.output}", flush=True)
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
        notebooks = resolve_notebooks(args.notebooks)
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
