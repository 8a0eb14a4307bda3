"""The smoke reference: tables compared as numbers within measured tolerances."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unlearnlab import reference

TABLE = "01-relabel-vs-reset"


def _tables(forget=(0.5, 0.25), steps=(10, 20), method=("relabel", "reset")) -> dict[str, pd.DataFrame]:
    return {TABLE: pd.DataFrame({"method": list(method), "acc_forget": list(forget),
                                 "steps": list(steps), "zrf": [np.nan, 0.3]})}


def test_the_spread_is_the_largest_difference_per_column_over_runs_and_tables():
    runs = [_tables(), _tables(forget=(0.52, 0.25)), _tables(forget=(0.49, 0.26))]
    spread = reference.spreads(runs)
    assert spread["acc_forget"] == pytest.approx(0.03) and spread["steps"] == 0 and spread["zrf"] == 0
    tolerance = reference.tolerances_from(spread)
    assert tolerance["acc_forget"] == pytest.approx(reference.SAFETY * 0.03)
    assert tolerance["steps"] == reference.FLOOR, "a column that never moved is compared at the floor"


def test_runs_that_differ_in_shape_or_text_have_no_spread():
    with pytest.raises(ValueError, match="different shapes"):
        reference.spreads([_tables(), {TABLE: _tables()[TABLE].iloc[:1]}])
    with pytest.raises(ValueError, match="NaN in one run"):
        reference.spreads([_tables(), {TABLE: _tables()[TABLE].assign(zrf=[0.1, 0.3])}])


def test_numbers_within_tolerance_pass_and_beyond_it_fail_naming_the_cell():
    tolerance = {"acc_forget": 0.03}
    assert reference.compare(_tables(forget=(0.52, 0.25)), _tables(), tolerance) == []
    (problem,) = reference.compare(_tables(forget=(0.6, 0.25)), _tables(), tolerance)
    assert problem == (f"{TABLE}, row 0 (relabel), acc_forget: 0.6 here, 0.5 in the reference "
                       "(tolerance 0.03)")
    (problem,) = reference.compare(_tables(steps=(10, 21)), _tables(), tolerance)
    assert "row 1 (reset), steps: 21 here, 20 in the reference" in problem


def test_text_shape_and_missing_tables_are_reported():
    assert "text: must match" in reference.compare(_tables(method=("relabel", "prune")), _tables(), {})[0]
    assert "rows where the reference has 2" in reference.compare(
        {TABLE: _tables()[TABLE].iloc[:1]}, _tables(), {})[0]
    assert reference.compare({}, _tables(), {}) == [f"{TABLE}: table missing"]
    extra = {TABLE: _tables()[TABLE].assign(new=1.0)}
    assert "other columns (new: ['new']" in reference.compare(extra, _tables(), {})[0]
    nan = {TABLE: _tables()[TABLE].assign(zrf=[0.1, 0.3])}
    assert "zrf" in reference.compare(nan, _tables(), {"zrf": 1.0})[0], "NaN against a number fails"


def test_the_reference_file_round_trips_and_leaves_timings_out(tmp_path):
    for i, forget in enumerate(((0.5, 0.25), (0.51, 0.25))):
        results = tmp_path / f"run{i}" / "results"
        results.mkdir(parents=True)
        _tables(forget=forget)[TABLE].assign(time_s=[1.0 + i, 2.0], speedup=[i, 1.0]).to_csv(
            results / f"{TABLE}.csv", index=False)
        pd.DataFrame({"x": [1]}).to_csv(results / "99-not-a-notebook.csv", index=False)
    out = reference.write_reference([tmp_path / "run0", tmp_path / "run1"], [1, 2], tmp_path / "ref.json")
    document = json.loads(out.read_text())
    assert document["spread"]["acc_forget"] == pytest.approx(0.01)
    assert "time_s" not in document["spread"] and list(document["tables"]) == [TABLE]
    assert reference.check(tmp_path / "run1" / "results", out) == []
    tables, tolerance = reference.read_reference(out)
    assert tables[TABLE]["zrf"].isna().tolist() == [True, False]
