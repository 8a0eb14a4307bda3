"""The smoke preset's reference results, which ``make test`` compares a fresh run with.

Deep-learning numbers move in their last digits between CPUs and thread counts: another
CPU, like another number of threads, sums in another order, and a few training steps can
carry such a difference into an accuracy, or, for a model trained into collapse, much
further. So the smoke tables are compared as numbers, each cell against a tolerance
sized by measurement: ``make smoke-reference`` runs every notebook at smoke with 1 and
with 2 torch threads, twice each, and twice more on other CPU kernels (oneDNN's SSE4.1
kernels on one thread; ATen's scalar kernels with oneDNN's SSE4.1 ones on two: another
CPU's order of sums), each run from an empty cache, and records

- the reference: the first run's tables (timing columns left out), at full precision;
- each cell's *spread*: the largest difference between any two of those runs;
- each column's *typical spread*, per table: the median spread of the cells of that
  column that moved (a column measures one quantity in one experiment);
- each cell's *tolerance*: :data:`SAFETY` times the larger of its own spread and its
  column's typical spread, and at least :data:`FLOOR` (rounding of the stored CSV).

So a cell that moved little, or not at all, between thread counts may still move as
much as its column typically does on another CPU, and a cell that proved chaotic (a
membership attack on a collapsed model) gets its own wider tolerance; a column in which
no cell moved (counts, settings) is compared at the floor, so a change of code that
changes it fails. Text cells (methods, flags) must match exactly. A cell whose runs
disagreed in kind (NaN in one, a number in another; two texts: a method whose test
accuracy sits at the collapse threshold is flagged in one run only) is recorded as
*unstable* and not compared; the file lists every such cell. Ranked tables are compared
row by row after sorting on their :data:`ROW_KEYS`, so two methods that swap ranks are
two changed ``rank`` cells, not two changed rows.

A failure names the table, the row, the column, both values and the tolerance.
``python -m unlearnlab.reference RUN_DIR [RUN_DIR ...]`` writes the reference from runs
already made (``runs/<preset>`` folders); ``make smoke-reference`` makes the four runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from . import paths

REFERENCE_FILE = paths.REPO_ROOT / "tests" / "smoke_results.json"

#: Columns that measure the machine rather than the method: never compared.
MACHINE_COLUMNS = re.compile(r"(^|_)time_s(_|$)|^speedup(_|$)|^cached$")

#: Tolerance = SAFETY x the measured spread: another CPU may reorder sums in ways none of
#: the measured runs did, so the spread is widened, not used as is. 5 is the smallest
#: factor at which a kernel run left out of the measurement passes against the
#: tolerances of the other runs (3 leaves one cell of about 10,000 outside).
SAFETY = 5.0

#: The columns that name a row of a ranked table (whose rows are sorted by rank).
ROW_KEYS = ("scenario", "method")

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
        frame = frame.drop(columns=[c for c in frame.columns if MACHINE_COLUMNS.search(c)])
        if "rank" in frame:  # rows in rank order: align them by what they are instead
            frame = frame.sort_values([k for k in ROW_KEYS if k in frame], kind="stable")
        frames[table.stem] = frame.reset_index(drop=True)
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
            tolerance: dict[str, dict[str, list[float]]],
            unstable: dict[str, dict[str, list[int]]] | None = None) -> list[str]:
    """Every difference between two sets of tables, one line each: a missing or extra
    table, another shape or set of columns, a text cell that differs, or a number further
    from the reference than its cell's tolerance (``tolerance[table][column][row]``;
    :data:`FLOOR` where none is given). ``unstable`` cells (:func:`spreads`) are not
    compared."""
    unstable = unstable or {}
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
            limits = tolerance.get(name, {}).get(column) or [FLOOR] * len(old)
            skipped = set(unstable.get(name, {}).get(column, ()))
            for i, (a, b) in enumerate(zip(new[column], old[column], strict=True)):
                if i in skipped:
                    continue
                if numeric:
                    bad = _differs(a, b, limits[i])
                else:
                    bad = not (pd.isna(a) and pd.isna(b)) and str(a) != str(b)
                if bad:
                    limit = f" (tolerance {limits[i]:.3g})" if numeric else " (text: must match)"
                    problems.append(f"{name}, {_row_label(old, i)}, {column}: {a!r} here, "
                                    f"{b!r} in the reference{limit}")
    return problems


def spreads(runs: Iterable[dict[str, pd.DataFrame]]
            ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, list[int]]]]:
    """``(spread, unstable)`` over the runs: per table, a frame of each numeric cell's
    largest |difference| between any two runs (NaN for text columns and unstable cells),
    and the *unstable* cells (``{table: {column: [rows]}}``) whose runs disagree in kind:
    a number in one run and NaN in another, or another text. Raises ValueError when the
    runs' tables differ in shape or columns: then nothing is comparable."""
    runs = list(runs)
    first = runs[0]
    for other in runs[1:]:
        for name, frame in first.items():
            twin = other.get(name)
            if twin is None or list(twin.columns) != list(frame.columns) or len(twin) != len(frame):
                raise ValueError(f"{name}: the runs give tables of different shapes")
    spread: dict[str, pd.DataFrame] = {}
    unstable: dict[str, dict[str, list[int]]] = {}
    for name, frame in first.items():
        gaps = {}
        for column in frame.columns:
            if all(_is_number(run[name][column]) for run in runs):
                cells = pd.concat([run[name][column].astype(float) for run in runs], axis=1)
                mixed = cells.isna().any(axis=1) & ~cells.isna().all(axis=1)
                gaps[column] = (cells.max(axis=1) - cells.min(axis=1)).fillna(0.0).mask(mixed)
            else:
                cells = pd.concat([run[name][column].astype(str) for run in runs], axis=1)
                mixed = cells.nunique(axis=1, dropna=False) > 1
            if mixed.any():
                unstable.setdefault(name, {})[column] = [int(i) for i in mixed[mixed].index]
        spread[name] = pd.DataFrame(gaps, index=frame.index)
    return spread, unstable


def tolerances(spread: pd.DataFrame) -> dict[str, dict]:
    """Per column of one table: ``typical_spread`` (the median spread of its cells that
    moved; 0 when none did), the ``tolerance`` of a cell that moved no more than that,
    and ``cells``: ``{row: {"spread", "tolerance"}}`` for the cells that moved more."""
    out = {}
    for column in spread.columns:
        moved = spread[column][spread[column] > 0]
        typical = float(moved.median()) if len(moved) else 0.0
        entry = {"typical_spread": _short(typical), "tolerance": _short(max(SAFETY * typical, FLOOR))}
        wider = moved[moved > typical]
        if len(wider):
            entry["cells"] = {str(int(row)): {"spread": _short(v), "tolerance": _short(SAFETY * v)}
                              for row, v in wider.items()}
        out[column] = entry
    return out


def cell_tolerances(entry: dict, rows: int) -> list[float]:
    """The tolerance of every row of a column from its :func:`tolerances` entry."""
    values = [entry["tolerance"]] * rows
    for row, cell in entry.get("cells", {}).items():
        values[int(row)] = cell["tolerance"]
    return values


def _short(value: float) -> float:
    return float(f"{value:.6g}")


def _as_records(frame: pd.DataFrame) -> dict:
    return {"columns": list(frame.columns),
            "rows": json.loads(frame.to_json(orient="values", double_precision=15))}


def _from_records(table: dict) -> pd.DataFrame:
    return pd.DataFrame(table["rows"], columns=table["columns"])


def write_reference(run_dirs: list[Path], labels: list[str] | None = None,
                    out: Path = REFERENCE_FILE) -> Path:
    """Write the reference from ``run_dirs`` (``runs/<preset>`` folders of identical
    code): the first run's tables, each column's and each wide cell's spread and
    tolerance, and the unstable cells."""
    runs = [results_tables(Path(d) / "results") for d in run_dirs]
    spread, unstable = spreads(runs)
    document = {
        "preset": "smoke",
        "how": (f"{len(runs)} runs of every notebook at smoke"
                + (f" ({'; '.join(labels)})" if labels else "")
                + f"; a cell's spread = the largest difference between any two runs; a column's "
                  f"typical spread = the median spread of its cells that moved; a cell's "
                  f"tolerance = {SAFETY:g} x the larger of the two, at least {FLOOR:g}"),
        "columns": {name: tolerances(frame) for name, frame in spread.items()},
        "unstable": unstable,
        "tables": {name: _as_records(frame) for name, frame in runs[0].items()},
    }
    paths.atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    return out


def read_reference(path: Path = REFERENCE_FILE) -> tuple[dict[str, pd.DataFrame],
                                                         dict[str, dict[str, list[float]]],
                                                         dict[str, dict[str, list[int]]]]:
    """The reference tables, every cell's tolerance and the unstable cells."""
    document = json.loads(Path(path).read_text())
    tables = {name: _from_records(t) for name, t in document["tables"].items()}
    tolerance = {name: {column: cell_tolerances(entry, len(tables[name]))
                        for column, entry in document["columns"].get(name, {}).items()}
                 for name in tables}
    return tables, tolerance, document.get("unstable", {})


def check(results: Path, path: Path = REFERENCE_FILE) -> list[str]:
    """The differences between the tables in ``results`` and the reference."""
    reference, tolerance, unstable = read_reference(path)
    return compare(results_tables(results), reference, tolerance, unstable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.reference",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path,
                        help="runs/<preset> folders of the same code (at least two)")
    parser.add_argument("--labels", nargs="*", default=None,
                        help="what differs between the runs, one label each (recorded in the file)")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("at least two runs are needed to measure a spread")
    if args.labels is not None and len(args.labels) != len(args.runs):
        parser.error(f"{len(args.labels)} labels for {len(args.runs)} runs")
    try:
        print(f"wrote {write_reference(args.runs, args.labels)}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
