"""Executing notebooks: one notebook through papermill (:func:`run_notebook`), and many
through one local executor (:func:`run_local`) that :mod:`unlearnlab.run` (the command
line) and :mod:`unlearnlab.grid` (grids, Slurm) both use.

One failure rule: every item is attempted; a failing notebook, or a worker process that
died, is reported as that item's outcome and never stops the others.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import paths


@dataclass
class NotebookRun:
    notebook: str
    output: Path
    seconds: float


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def list_notebooks() -> list[Path]:
    return sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))


#: Notebooks that a run of every notebook leaves out at these presets unless named: the
#: privacy pool takes hours beyond `make reproduce`'s budget there (`make privacy`).
OPT_IN = {"06-privacy-pool": ("cpu", "deep", "gpu", "paper")}


def resolve_notebooks(names: list[str] | None, preset: str | None = None) -> list[Path]:
    """Notebooks by full name, stem or number prefix ("00", "00-train-original"); none
    named: every notebook, less those :data:`OPT_IN` at ``preset``."""
    available = list_notebooks()
    if not names:
        return [nb for nb in available if preset not in OPT_IN.get(nb.stem, ())]
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


def run_notebook(notebook: Path, preset: str, *, seed: int = 0, output_dir: Path | None = None,
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
        with environment({"UNLEARNLAB_QUIET": "1"}):  # progress bars: papermill's per-cell one only
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


def execution_order(notebooks: list[Path]) -> list[Path]:
    """00 (the originals every other notebook loads) first, then the rest from the
    highest number down: the later notebooks are the longest, and starting the longest
    first keeps a pool of workers busy to the end."""
    first = [nb for nb in notebooks if nb.stem.startswith("00-")]
    return first + sorted((nb for nb in notebooks if nb not in first), reverse=True)


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


def run_local(function: Callable, items: Iterable, *, jobs: int = 1) -> Iterator[tuple[object, object]]:
    """Call ``function(item, threads)`` for every item and yield ``(item, outcome)`` as each
    finishes, the outcome being the return value or the exception raised.

    ``jobs == 1`` runs the items one after another in this process with ``threads=None``
    (torch's own thread count); more jobs run in that many spawned worker processes with
    the cores shared out (``threads = cores // jobs``), because two processes that each
    spin every core slow each other down several times over. ``function`` must be a
    module-level function (or a ``functools.partial`` of one) so that workers can import it.
    """
    items = list(items)
    if jobs == 1:
        for item in items:
            try:
                yield item, function(item, None)
            except Exception as err:  # a failed notebook: reported, the next one runs
                yield item, err
        return
    import concurrent.futures as cf

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with worker_pool(jobs) as pool:
        futures = {pool.submit(function, item, threads): item for item in items}
        for future in cf.as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as err:  # a failed notebook, or the worker process died
                yield futures[future], err


@contextlib.contextmanager
def thread_environment(threads: int | None) -> Iterator[None]:
    """Pin a kernel started inside to ``threads`` torch threads (nothing when None)."""
    names = ("UNLEARNLAB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    with environment({name: str(threads) for name in names} if threads else {}):
        yield


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (a kernel started inside inherits them)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
