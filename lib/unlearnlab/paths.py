"""Every path the project uses, resolved from the package location.

Papermill and nbval start kernels in different working directories, so nothing here
depends on the current directory. ``UNLEARNLAB_RUNS`` moves the runs folder (the tests
use it to stay out of the repository's own ``runs/``); ``UNLEARNLAB_RUN_DIR`` sends one
notebook run's results and figures into a folder of their own (a grid point of
:mod:`unlearnlab.grid`).
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
DATA_DIR: Path = REPO_ROOT / "data"
NOTEBOOKS_DIR: Path = REPO_ROOT / "notebooks"
FIGURES_DIR: Path = REPO_ROOT / "figures"

#: Where Debian's ``dataset-fashion-mnist`` package puts the gzipped IDX files.
SYSTEM_FASHION_MNIST: Path = Path("/usr/share/datasets/fashion-mnist")


def runs_dir() -> Path:
    """Root of executed notebooks, results tables and the cache (gitignored)."""
    return Path(os.environ.get("UNLEARNLAB_RUNS", REPO_ROOT / "runs"))


def cache_dir() -> Path:
    """Checkpoint cache shared by every preset (keys hash the full config)."""
    return runs_dir() / "cache"


def preset_dir(preset: str) -> Path:
    """Executed notebooks of one preset."""
    return runs_dir() / preset


def grid_run_dir() -> Path | None:
    """The folder of the grid run this process belongs to (``UNLEARNLAB_RUN_DIR``), or None."""
    folder = os.environ.get("UNLEARNLAB_RUN_DIR")
    return Path(folder) if folder else None


def results_path(notebook: str, preset: str) -> Path:
    """``runs/<preset>/results/<notebook>.csv``, or ``<run dir>/results/<notebook>.csv``
    inside a grid run."""
    folder = grid_run_dir() or preset_dir(preset)
    return folder / "results" / f"{notebook}.csv"


def tuned_path(preset: str) -> Path:
    """The tuned hyperparameters of a preset (:mod:`unlearnlab.tuning`): committed
    ``tuning/<preset>.json``, except ``smoke``'s, which lives in ``runs/smoke/`` so that
    tests never touch committed files."""
    if preset == "smoke":
        return preset_dir(preset) / "tuned.json"
    return REPO_ROOT / "tuning" / f"{preset}.json"


def figures_dir(notebook: str, preset: str) -> Path:
    """Where a notebook's figures go.

    ``cpu`` writes the committed figures under ``figures/<notebook>/``; other presets
    write under ``figures/<notebook>/<preset>/``, except ``smoke``, which writes under
    ``runs/smoke/figures/`` so that tests never touch committed files. Inside a grid run,
    ``<run dir>/figures/``.
    """
    if grid_run_dir() is not None:
        return grid_run_dir() / "figures"
    if preset == "smoke":
        return preset_dir(preset) / "figures" / notebook
    if preset == "cpu":
        return FIGURES_DIR / notebook
    return FIGURES_DIR / notebook / preset


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``:
    a reader sees the old file or the whole new one, never half of it (Ctrl-C, a killed job)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.cache
def commit_stamp() -> str:
    """The commit results and figures come from; ``+changes`` when lib/ or notebooks/
    differ from it, ``unknown`` outside a git checkout."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True,
                                  text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "lib", "notebooks")
    return commit + ("+changes" if dirty else "")
