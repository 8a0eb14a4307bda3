"""The smoke preset's reference results, which ``make test`` compares a fresh run with.

Deep-learning numbers move in their last digits between CPUs and thread counts: another
CPU, like another number of threads, sums in another order, and a few training steps can
carry such a difference into an accuracy. So the smoke tables are compared as numbers,
each column against a tolerance sized by measurement: ``make smoke-reference`` runs
every notebook at smoke with 1 and with 2 torch threads, twice each, each run from an
empty cache, and records

- the reference: the first run's tables (timing columns left out), at full precision;
- each column's *spread*: the largest difference between any two of those runs, in any
  table holding the column (a column measures one quantity everywhere: an accuracy, a
  step count);
- each column's *tolerance*: :data:`SAFETY` times its spread, and at least
  :data:`FLOOR` (rounding of the stored CSV).

A column whose value never moved between those runs is compared at the floor, so a
change of code that changes it fails. Text columns (methods, flags) must match exactly.
A failure names the table, the row, the column, both values and the tolerance.

``python -m unlearnlab.reference RUN_DIR [RUN_DIR ...]`` writes the reference from runs
already made (``runs/<preset>`` folders); ``make smoke-reference`` makes the four runs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from . import paths

REFERENCE_FILE = paths.REPO_ROOT / "tests" / "smoke_results.json"

#: Columns that measure the machine rather than the method: never compared.
MACHINE_COLUMNS = re.compile(r"(^|_)time_s(_|$)|^speedup(_|$)|^cached$")

#: Tolerance = SAFETY x the measured spread: another CPU may reorder sums more than a
#: change from one thread to two does, so the measured spread is widened, not used as is.
SAFETY = 3.0

#: The smallest tolerance: the results CSVs store 6 significant digits, so values that
#: agree to about 1e-6 of their size (or absolutely, near 0) are the same number.
FLOOR = 1e-6


def results_tables(results: Path) -> dict[str, pd.DataFrame]:
    """``{table: frame}`` of each notebook's results tables in ``results`` (timing
    columns dropped)."""
    from .execute import list_notebooks

    notebooks = tuple(nb.stem for nb in list_notebooks())
    tables = sorted(t for t in results.glob("*.csv") if t.stem.startswith(notebooks))
    if not tables:
        raise FileNotFoundError(f"no notebook results tables in {results}; run the notebooks first")
    frames = {}
    for table in tables:
        frame = pd.read_csv(table)
        frames[table.stem] = frame.drop(columns=[c for c in frame.columns if MACHINE_COLUMNS.search(c)])
    return frames


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _row_label(frame: pd.DataFrame, i: int) -> str:
    """``row 3 (unsir, one class)``: the index and the row's text cells."""
    text = [str(v) for c, v in frame.iloc[i].items()
            if not _is_number(frame[c]) and isinstance(v, str) and v]
    return f"row {i}" + (f" ({', '.join(text[:3])})" if text else "")


def _differs(a, b, tolerance: float) -> bool:
    if pd.isna(a) and pd.isna(b):
        return False
    if pd.isna(a) or pd.isna(b):
        return True
    return abs(float(a) - float(b)) > max(tolerance, FLOOR * max(abs(float(a)), abs(float(b)), 1.0))


def compare(produced: dict[str, pd.DataFrame], reference: dict[str, pd.DataFrame],
            tolerances: dict[str, float]) -> list[str]:
    """Every difference between two sets of tables, one line each: a missing or extra
    table, another shape or set of columns, a text cell that differs, or a number further
    from the reference than its column's tolerance (:data:`FLOOR` where none is given)."""
    problems = []
    for name in sorted(set(produced) | set(reference)):
        if name not in produced or name not in reference:
            problems.append(f"{name}: table {'missing' if name not in produced else 'not in the reference'}")
            continue
        new, old = produced[name], reference[name]
        if list(new.columns) != list(old.columns):
            added, gone = sorted(set(new.columns) - set(old.columns)), sorted(set(old.columns) - set(new.columns))
            problems.append(f"{name}: other columns (new: {added or 'none'}; gone: {gone or 'none'})")
            continue
        if len(new) != len(old):
            problems.append(f"{name}: {len(new)} rows where the reference has {len(old)}")
            continue
        for column in new.columns:
            numeric = _is_number(old[column]) and _is_number(new[column])
            tolerance = tolerances.get(column, FLOOR)
            for i, (a, b) in enumerate(zip(new[column], old[column], strict=True)):
                if numeric:
                    bad = _differs(a, b, tolerance)
                else:
                    bad = not (pd.isna(a) and pd.isna(b)) and str(a) != str(b)
                if bad:
                    limit = f" (tolerance {tolerance:.3g})" if numeric else " (text: must match)"
                    problems.append(f"{name}, {_row_label(old, i)}, {column}: {a!r} here, "
                                    f"{b!r} in the reference{limit}")
    return problems


def spreads(runs: Iterable[dict[str, pd.DataFrame]]) -> dict[str, float]:
    """``{column: largest |difference|}`` between any two runs, over every table and row
    that holds the column (numeric columns only; NaN where every run has NaN is 0).
    Raises ValueError when the runs differ in anything but numbers: the tables' shapes,
    columns or text must be the same for a spread to mean anything."""
    runs = list(runs)
    first = runs[0]
    for other in runs[1:]:
        for name, frame in first.items():
            twin = other.get(name)
            if twin is None or list(twin.columns) != list(frame.columns) or len(twin) != len(frame):
                raise ValueError(f"{name}: the runs give tables of different shapes")
    spread: dict[str, float] = {}
    for name, frame in first.items():
        for column in (c for c in frame.columns if _is_number(frame[c])):
            cells = pd.concat([run[name][column].astype(float) for run in runs], axis=1)
            if (cells.isna().any(axis=1) != cells.isna().all(axis=1)).any():
                raise ValueError(f"{name}, {column}: NaN in one run and a number in another")
            gap = (cells.max(axis=1) - cells.min(axis=1)).max(skipna=True)
            spread[column] = max(spread.get(column, 0.0), 0.0 if math.isnan(gap) else float(gap))
    return spread


def tolerances_from(spread: dict[str, float]) -> dict[str, float]:
    return {column: max(SAFETY * value, FLOOR) for column, value in sorted(spread.items())}


def _as_records(frame: pd.DataFrame) -> dict:
    return {"columns": list(frame.columns),
            "rows": json.loads(frame.to_json(orient="values", double_precision=15))}


def _from_records(table: dict) -> pd.DataFrame:
    return pd.DataFrame(table["rows"], columns=table["columns"])


def write_reference(run_dirs: list[Path], threads: list[int] | None = None,
                    out: Path = REFERENCE_FILE) -> Path:
    """Write the reference from ``run_dirs`` (``runs/<preset>`` folders of identical
    code): the first run's tables, each column's spread and tolerance."""
    runs = [results_tables(Path(d) / "results") for d in run_dirs]
    spread = spreads(runs)
    document = {
        "preset": "smoke",
        "how": (f"{len(runs)} runs of every notebook at smoke"
                + (f" with {', '.join(map(str, threads))} torch threads" if threads else "")
                + f"; spread = the largest difference between any two runs; tolerance = "
                  f"{SAFETY:g} x spread, at least {FLOOR:g}"),
        "spread": {c: float(f"{v:.6g}") for c, v in sorted(spread.items())},
        "tolerance": {c: float(f"{v:.6g}") for c, v in tolerances_from(spread).items()},
        "tables": {name: _as_records(frame) for name, frame in runs[0].items()},
    }
    paths.atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    return out


def read_reference(path: Path = REFERENCE_FILE) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The reference tables and the tolerance of each column."""
    document = json.loads(Path(path).read_text())
    return ({name: _from_records(t) for name, t in document["tables"].items()},
            document["tolerance"])


def check(results: Path, path: Path = REFERENCE_FILE) -> list[str]:
    """The differences between the tables in ``results`` and the reference."""
    reference, tolerance = read_reference(path)
    return compare(results_tables(results), reference, tolerance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.reference",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path,
                        help="runs/<preset> folders of the same code (at least two)")
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="the torch threads of each run (recorded in the file)")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("at least two runs are needed to measure a spread")
    try:
        print(f"wrote {write_reference(args.runs, args.threads)}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
