"""Parameter grids of notebooks: one papermill run per combination, spread over local
worker processes or a Slurm cluster (through ``submitit``), resumable, merged afterwards.

``python -m unlearnlab.run --preset cpu 05 --grid SEED=0,1,2 --grid FORGET_CLASS=0,3``
expands to six runs. Each run has its own folder, named by a hash of what defines it::

    runs/<preset>/<notebook>/<key>/
        manifest.json          notebook, its code hash, preset, parameters, status, time, commit, error
        <notebook>.ipynb       the executed notebook
        results/*.csv          its results tables (written atomically)
        figures/               its figures

A run whose manifest says ``done`` with the same parameters and the same notebook (the
code of its cells) and whose results files all exist is skipped when the grid is run
again; a failed, interrupted or stale one (its notebook edited since) runs again.
:func:`merge` gathers the tables of a notebook's finished runs into
``runs/<preset>/<notebook>/merged/``: one row per run with the parameters as columns,
and mean ± std over seeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import execute, paths, vocabulary
from .execute import NotebookFailed, environment, run_notebook, thread_environment

MANIFEST = "manifest.json"


class GridError(ValueError):
    """A grid that cannot be expanded: a bad axis, an empty axis, a name given twice."""


# --- expansion ----------------------------------------------------------------------------

def parse_axis(text: str) -> tuple[str, list]:
    """``NAME=V1,V2,...`` from the command line. Values are Python literals (``0``,
    ``1e-3``, ``None``, ``[1, 2]``) or else plain strings: ``SEED=0,1,2``,
    ``MODEL=small_cnn,resnet18``, ``CLASSES=[0],[0,1]``."""
    import ast

    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise GridError(f"A grid axis is NAME=V1,V2,..., got {text!r}")
    if not values.strip():
        raise GridError(f"Grid axis {name} has no values")
    try:
        parsed = ast.literal_eval(f"[{values}]")
    except (ValueError, SyntaxError):
        parsed = []
        for piece in values.split(","):
            try:
                parsed.append(ast.literal_eval(piece.strip()))
            except (ValueError, SyntaxError):
                parsed.append(piece.strip())
    if any(value == "" for value in parsed):
        raise GridError(f"Grid axis {name} has an empty value: {text!r}")
    return name, list(parsed)


def read_grid_file(path: Path) -> tuple[dict[str, list], dict]:
    """A TOML grid file: ``[grid]`` holds the axes (lists), ``[parameters]`` the values
    shared by every run::

        [grid]
        SEED = [0, 1, 2]
        FORGET_CLASS = [0, 3, 7]

        [parameters]
        K = 64
    """
    try:
        import tomllib
    except ImportError as exc:  # pragma: no cover - Python 3.10
        raise GridError("Grid files need Python 3.11 (tomllib); use --grid on 3.10") from exc
    try:
        content = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise GridError(f"Cannot read the grid file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(content) - {"grid", "parameters"}
    if unknown:
        raise GridError(f"{path}: unknown table(s) {sorted(unknown)}; a grid file has [grid] "
                        f"and [parameters]")
    axes = content.get("grid", {})
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{path}: grid axis {name} must be a non-empty list, got {values!r}")
    return dict(axes), dict(content.get("parameters", {}))


def expand(axes: dict[str, list], fixed: dict | None = None) -> list[dict]:
    """Every combination of the axes (the first axis varies slowest), each merged with
    the fixed parameters. A name on an axis and among the fixed ones is an error."""
    fixed = dict(fixed or {})
    twice = sorted(set(axes) & set(fixed))
    if twice:
        raise GridError(f"{', '.join(twice)} given both as a grid axis and as a parameter")
    for name, values in axes.items():
        if not values:
            raise GridError(f"Grid axis {name} has no values")
        if len({json.dumps(v, sort_keys=True, default=repr) for v in values}) != len(values):
            raise GridError(f"Grid axis {name} repeats a value: {values!r}")
    names = list(axes)
    return [{**fixed, **dict(zip(names, combo, strict=True))}
            for combo in itertools.product(*(axes[n] for n in names))]


def run_key(notebook: str, preset: str, parameters: dict) -> str:
    """12 hex digits that name a run: a hash of its notebook, preset and parameters
    (order-free), so that the same point of a grid always lands in the same folder."""
    text = json.dumps({"notebook": notebook, "preset": preset, "parameters": parameters},
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class GridRun:
    """One notebook at one point of a grid. ``parameters`` holds SEED and every other
    injected parameter except PRESET (which is in the folder's path)."""

    notebook: Path
    preset: str
    parameters: dict = field(default_factory=dict)
    runs_root: Path = field(default_factory=paths.runs_dir)

    @property
    def name(self) -> str:
        return self.notebook.stem

    @property
    def key(self) -> str:
        return run_key(self.name, self.preset, self.parameters)

    @property
    def folder(self) -> Path:
        return self.runs_root / self.preset / self.name / self.key

    def label(self) -> str:
        """``05-leaderboard SEED=1 FORGET_CLASS=3``: what a progress line shows."""
        shown = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in self.parameters.items())
        return f"{self.name} {shown}".strip()

    def rerun_command(self) -> str:
        """The command that runs this point alone (into the same folder)."""
        axes = " ".join("--grid " + shlex.quote(f"{k}={_axis_text(v)}")
                        for k, v in self.parameters.items())
        return f"python -m unlearnlab.run --preset {self.preset} {self.name[:2]} {axes}"


def _axis_text(value) -> str:
    """A value as :func:`parse_axis` reads it back: strings bare where that is unambiguous."""
    import ast

    if isinstance(value, str) and "," not in value and value.strip() == value and value:
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return repr(value)


def grid_runs(notebooks: Sequence[Path], preset: str, points: Iterable[dict], *,
              seed: int = 0) -> list[GridRun]:
    """One :class:`GridRun` per notebook and point; SEED defaults to ``seed``."""
    points = list(points)
    return [GridRun(nb, preset, {"SEED": seed, **point}) for nb in notebooks for point in points]


# --- manifests and resume -----------------------------------------------------------------

def read_manifest(folder: Path) -> dict | None:
    """The manifest of a run folder, or None when absent or unreadable."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(folder: Path, manifest: dict) -> None:
    paths.atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2, default=repr) + "\n")


def notebook_code(path: Path) -> str:
    """16 hex digits of a notebook's code cells (their sources; prose, outputs, metadata
    and the cell papermill injects left out): a run made from other code than the
    notebook's now is stale, one whose notebook only had its text edited is not."""
    cells = json.loads(Path(path).read_text())["cells"]
    text = json.dumps(["".join(c["source"]) for c in cells if c["cell_type"] == "code"
                       and "injected-parameters" not in c.get("metadata", {}).get("tags", [])])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_done(run: GridRun) -> bool:
    """Finished before with the same notebook (name and code), preset and parameters, and
    every results table it wrote is still there."""
    manifest = read_manifest(run.folder)
    if not manifest or manifest.get("status") != "done":
        return False
    same = (manifest.get("notebook") == run.name and manifest.get("preset") == run.preset
            and manifest.get("notebook_code") == notebook_code(run.notebook)
            and json.dumps(manifest.get("parameters"), sort_keys=True, default=repr)
            == json.dumps(run.parameters, sort_keys=True, default=repr))
    results = manifest.get("results", [])
    return same and all((run.folder / "results" / name).is_file() for name in results)


def execute_run(run: GridRun, threads: int | None = None) -> dict:
    """Execute one grid run into its folder and return its manifest (status ``done`` or
    ``failed`` with the notebook, cell and error). Never raises for a failing notebook,
    so that a pool or a cluster array collects every outcome. This is the function a
    local worker and a Slurm job both call."""
    folder = run.folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "results", ignore_errors=True)  # no table of an older attempt
    manifest = {"notebook": run.name, "preset": run.preset, "parameters": run.parameters,
                "key": run.key, "notebook_code": notebook_code(run.notebook),
                "status": "running", "host": socket.gethostname(),
                "pid": os.getpid(), "commit": paths.commit_stamp(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    if job_id:
        manifest["slurm_job"] = job_id + (f"_{os.environ['SLURM_ARRAY_TASK_ID']}"
                                          if "SLURM_ARRAY_TASK_ID" in os.environ else "")
    write_manifest(folder, manifest)
    run_environment = {"UNLEARNLAB_RUNS": str(run.runs_root), "UNLEARNLAB_RUN_DIR": str(folder)}
    parameters = dict(run.parameters)
    seed = parameters.pop("SEED", 0)
    start = time.perf_counter()
    try:
        with environment(run_environment), thread_environment(threads):
            executed = run_notebook(run.notebook, run.preset, seed=seed, output_dir=folder,
                               extra_parameters=parameters, progress=False)
    except NotebookFailed as err:
        manifest.update(status="failed", error=str(err))
    except Exception as err:  # a kernel that died, a parameter refused
        manifest.update(status="failed", error=f"{run.notebook.name}: {type(err).__name__}: {err}")
    else:
        manifest.update(status="done", executed=executed.output.name,
                        results=sorted(p.name for p in (folder / "results").glob("*.csv")))
    manifest.update(seconds=round(time.perf_counter() - start, 1),
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_manifest(folder, manifest)
    return manifest


# --- executors ----------------------------------------------------------------------------

def run_local(runs: Sequence[GridRun], jobs: int = 1) -> Iterator[dict]:
    """Run on this machine through :func:`unlearnlab.execute.run_local` (``jobs`` worker
    processes, the cores shared out); yield each manifest as its run finishes."""
    for run, outcome in execute.run_local(execute_run, runs, jobs=jobs):
        if isinstance(outcome, BaseException):  # the worker process itself died
            outcome = {"notebook": run.name, "preset": run.preset, "parameters": run.parameters,
                       "key": run.key, "status": "failed",
                       "error": f"{run.notebook.name}: worker died: {type(outcome).__name__}: {outcome}"}
        yield outcome


@dataclass
class SlurmOptions:
    """What a Slurm job asks for (submitit's parameters). ``cluster="local"`` runs the
    same jobs with submitit's local executor (the tests do), ``"debug"`` in-process."""

    partition: str | None = None
    time_min: int = 60
    gpus_per_job: int = 0
    cpus_per_job: int = 4
    mem_gb: float | None = None
    array_parallelism: int = 16
    setup: list[str] = field(default_factory=list)
    cluster: str = "slurm"
    poll_s: float = 30.0


def run_submitit(runs: Sequence[GridRun], options: SlurmOptions) -> Iterator[dict]:
    """Submit the runs as one job array through submitit; yield each manifest as its
    job ends. Job folders (scripts, logs, pickled results) go under
    ``runs/<preset>/submitit/``. Ctrl-C stops waiting, not the jobs: run the same command
    again later to collect (finished runs are skipped) or ``scancel`` the array."""
    try:
        import submitit
    except ImportError as exc:
        raise GridError("The slurm executor needs submitit: pip install -e '.[cluster]'") from exc
    if not runs:
        return
    folder = runs[0].runs_root / runs[0].preset / "submitit" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=options.cluster)
    executor.update_parameters(
        name="unlearnlab", timeout_min=options.time_min, gpus_per_node=options.gpus_per_job,
        cpus_per_task=options.cpus_per_job, mem_gb=options.mem_gb,
        slurm_partition=options.partition, slurm_array_parallelism=options.array_parallelism,
        slurm_setup=options.setup or None,
    )
    jobs = executor.map_array(execute_run, list(runs), [options.cpus_per_job] * len(runs))
    by_job = {id(job): run for job, run in zip(jobs, runs, strict=True)}
    print(f"Submitted {len(jobs)} job(s) ({options.cluster}, first id {jobs[0].job_id}); "
          f"logs under {folder.parent}", flush=True)
    for job in submitit.helpers.as_completed(jobs, poll_frequency=options.poll_s):
        run = by_job[id(job)]
        try:
            yield job.result()
        except Exception as err:  # the job itself failed: timeout, out of memory, node lost
            manifest = read_manifest(run.folder) or {}
            manifest.update(notebook=run.name, preset=run.preset, parameters=run.parameters,
                            key=run.key, status="failed",
                            error=f"{run.notebook.name}: job {job.job_id} failed: "
                                  f"{str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__}"
                                  f" (log: {job.paths.stderr})")
            write_manifest(run.folder, manifest)
            yield manifest


def run_grid(runs: Sequence[GridRun], *, executor: str = "local", jobs: int = 1,
             slurm: SlurmOptions | None = None, out=None) -> list[dict]:
    """Run what is not done yet, one line per finished run (done/total, its time,
    elapsed, an estimate of what is left); return every run's manifest (skipped ones
    included). Ctrl-C or SIGTERM stops the local workers and their kernels."""
    out = out or sys.stdout
    manifests, todo = [], []
    for run in runs:
        if is_done(run):
            manifests.append(read_manifest(run.folder))
        else:
            todo.append(run)
    if manifests:
        print(f"{len(manifests)} of {len(runs)} run(s) already done: skipped", file=out, flush=True)
    if not todo:
        return manifests
    start, total = time.perf_counter(), len(todo)
    if executor == "local":
        outcomes = run_local(todo, jobs)
    elif executor == "slurm":
        outcomes = run_submitit(todo, slurm or SlurmOptions())
    else:
        raise GridError(f"Unknown executor {executor!r}; choose local or slurm")
    with _sigterm_as_interrupt(), contextlib.closing(outcomes):  # closing stops the workers
        for done, manifest in enumerate(outcomes, 1):
            manifests.append(manifest)
            elapsed = time.perf_counter() - start
            left = elapsed / done * (total - done)
            state = ("done in {:.0f} s".format(manifest.get("seconds", 0))
                     if manifest["status"] == "done" else "FAILED")
            label = GridRun(Path(manifest["notebook"]), manifest["preset"],
                            manifest["parameters"]).label()
            print(f"[{done}/{total}] {label} {state} (elapsed {elapsed:.0f} s, about "
                  f"{left:.0f} s left)", file=out, flush=True)
    return manifests


class _Interrupted(KeyboardInterrupt):
    pass


class _sigterm_as_interrupt:
    """SIGTERM (a killed job, ``kill``) is handled like Ctrl-C: workers are stopped."""

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise _Interrupted()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


# --- merging ------------------------------------------------------------------------------

def finished_runs(preset: str, notebook: str, runs_root: Path | None = None) -> list[dict]:
    """Manifests of the notebook's finished runs (folder added as ``folder``)."""
    base = (runs_root or paths.runs_dir()) / preset / notebook
    found = []
    for manifest_path in sorted(base.glob(f"*/{MANIFEST}")):
        manifest = read_manifest(manifest_path.parent)
        if manifest and manifest.get("status") == "done":
            found.append({**manifest, "folder": manifest_path.parent})
    return found


def _cell(value):
    """A parameter value as a table cell (lists and dicts as JSON text)."""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


def merge(preset: str, notebook: str, runs_root: Path | None = None) -> dict[str, Path]:
    """One table per results table of ``notebook``: every finished run's rows with its
    parameters as the first columns (and ``run``, the folder's key), written to
    ``runs/<preset>/<notebook>/merged/<table>.csv``, plus ``<table>-over-seeds.csv``:
    mean and std of every numeric column over SEED, grouped by the other parameters and
    the table's text columns (method, scenario, ...), with ``n_seeds``. Returns
    ``{file name: path}``; nothing is written when no run has finished."""
    manifests = finished_runs(preset, notebook, runs_root)
    tables: dict[str, list[pd.DataFrame]] = {}
    names: list[str] = []
    for manifest in manifests:
        for name in manifest.get("results", []):
            frame = pd.read_csv(manifest["folder"] / "results" / name)
            params = {k: _cell(v) for k, v in manifest["parameters"].items()}
            for column in params:
                if column in frame:
                    frame = frame.rename(columns={column: f"{column}_value"})
            frame.insert(0, "run", manifest["key"])
            for i, (k, v) in enumerate(params.items()):
                frame.insert(i, k, v)
                names.append(k) if k not in names else None
            tables.setdefault(Path(name).stem, []).append(frame)
    out_dir = (runs_root or paths.runs_dir()) / preset / notebook / "merged"
    written: dict[str, Path] = {}
    for stem, frames in tables.items():
        merged = pd.concat(frames, ignore_index=True)
        path = out_dir / f"{stem}.csv"
        paths.atomic_write_text(path, merged.to_csv(index=False, float_format="%.6g"))
        written[path.name] = path
        if "SEED" in merged:
            over = over_seeds(merged, [n for n in names if n != "SEED" and n in merged])
            path = out_dir / f"{stem}-over-seeds.csv"
            paths.atomic_write_text(path, over.to_csv(index=False, float_format="%.6g"))
            written[path.name] = path
    return written


def over_seeds(merged: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """Mean and std over SEED of every numeric column, per combination of the other
    ``parameters`` and the table's text columns; ``n_seeds`` counts the seeds."""
    text = [c for c in merged.columns if c not in ("run", "SEED", *parameters)
            and not pd.api.types.is_numeric_dtype(merged[c])]
    keys = [*parameters, *text]
    numeric = [c for c in merged.columns if c not in ("run", "SEED", *keys)
               and pd.api.types.is_numeric_dtype(merged[c])]
    frame = merged[keys + ["SEED"]].assign(**{c: merged[c].astype(float) for c in numeric})
    if not keys:
        frame, keys = frame.assign(_all=0), ["_all"]
    stats = vocabulary.mean_std(frame, keys, numeric)
    stats.insert(len(keys), "n_seeds", frame.groupby(keys, dropna=False, sort=False)["SEED"].nunique().to_numpy())
    return stats.drop(columns="_all", errors="ignore")


def load_merged(preset: str, notebook: str, table: str | None = None, *,
                over_seeds: bool = False, runs_root: Path | None = None) -> pd.DataFrame:
    """A merged table of a grid (what the leaderboard and the verdicts read): ``table``
    defaults to the notebook's own (e.g. ``05-leaderboard-ranked`` for the ranked one)."""
    stem = (table or notebook) + ("-over-seeds" if over_seeds else "")
    path = (runs_root or paths.runs_dir()) / preset / notebook / "merged" / f"{stem}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"No merged table {path}; run the grid first "
                                f"(python -m unlearnlab.run --preset {preset} {notebook[:2]} --grid SEED=0,1,2)")
    return pd.read_csv(path)


def mean_pm_std(over: pd.DataFrame, columns: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """``mean ± std`` text columns from an over-seeds table (for printing)."""
    shown = over[[c for c in over.columns if not c.endswith(("_mean", "_std"))]].copy()
    for column in columns:
        if f"{column}_mean" in over:
            shown[column] = [vocabulary.pm(m, s, digits)
                             for m, s in zip(over[f"{column}_mean"], over[f"{column}_std"], strict=True)]
    return shown
