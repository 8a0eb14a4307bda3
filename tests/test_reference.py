"""The smoke reference: tables compared as numbers within measured tolerances."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unlearnlab import reference

TABLE = "01-relabel-vs-reset"


def _tables(forget=(0.5, 0.25, 0.1), steps=(10, 20, 30), method=("relabel", "reset", "prune")):
    return {TABLE: pd.DataFrame({"method": list(method), "acc_forget": list(forget),
                                 "steps": list(steps), "zrf": [np.nan, 0.3, 0.2]})}


def test_each_cell_has_its_spread_and_each_column_its_typical_spread():
    runs = [_tables(), _tables(forget=(0.52, 0.25, 0.1)), _tables(forget=(0.49, 0.26, 0.5))]
    spread, unstable = reference.spreads(runs)
    assert unstable == {}
    assert spread[TABLE]["acc_forget"].tolist() == pytest.approx([0.03, 0.01, 0.4])
    assert spread[TABLE]["steps"].tolist() == [0, 0, 0] and spread[TABLE]["zrf"].tolist() == [0, 0, 0]
    columns = reference.tolerances(spread[TABLE])
    forget = columns["acc_forget"]
    assert forget["typical_spread"] == pytest.approx(0.03), "the median of the cells that moved"
    assert forget["tolerance"] == pytest.approx(reference.SAFETY * 0.03)
    wide = reference.SAFETY * 0.4
    assert forget["cells"] == {"2": {"spread": pytest.approx(0.4), "tolerance": pytest.approx(wide)}}
    typical = reference.SAFETY * 0.03
    assert reference.cell_tolerances(forget, 3) == pytest.approx([typical, typical, wide]), \
        "a cell that moved less than typical still gets the column's tolerance"
    assert columns["steps"] == {"typical_spread": 0, "tolerance": reference.FLOOR}


def test_runs_that_differ_in_shape_have_no_spread_and_cells_that_differ_in_kind_are_unstable():
    with pytest.raises(ValueError, match="different shapes"):
        reference.spreads([_tables(), {TABLE: _tables()[TABLE].iloc[:1]}])
    flipped = {TABLE: _tables()[TABLE].assign(zrf=[0.1, 0.3, 0.2], method=["relabel", "reset!", "prune"],
                                              flag=[None, None, "COLLAPSED"])}
    spread, unstable = reference.spreads([{TABLE: _tables()[TABLE].assign(flag=[None] * 3)}, flipped])
    assert unstable == {TABLE: {"method": [1], "zrf": [0], "flag": [2]}}
    assert np.isnan(spread[TABLE]["zrf"][0]), "the unstable cell has no spread"
    produced = {TABLE: _tables()[TABLE].assign(zrf=[0.9, 0.3, 0.2], method=["relabel", "other", "prune"])}
    assert reference.compare(produced, _tables(), {}, unstable) == [], "unstable cells are not compared"
    assert len(reference.compare(produced, _tables(), {})) == 2


def test_numbers_within_tolerance_pass_and_beyond_it_fail_naming_the_cell():
    tolerance = {TABLE: {"acc_forget": [0.03, 0.03, 0.03]}}
    assert reference.compare(_tables(forget=(0.52, 0.25, 0.1)), _tables(), tolerance) == []
    (problem,) = reference.compare(_tables(forget=(0.6, 0.25, 0.1)), _tables(), tolerance)
    assert problem == (f"{TABLE}, row 0 (relabel), acc_forget: 0.6 here, 0.5 in the reference "
                       "(tolerance 0.03)")
    (problem,) = reference.compare(_tables(steps=(10, 21, 30)), _tables(), tolerance)
    assert "row 1 (reset), steps: 21 here, 20 in the reference (tolerance 1e-06)" in problem


def test_text_shape_and_missing_tables_are_reported():
    assert "text: must match" in reference.compare(_tables(method=("relabel", "x", "prune")), _tables(), {})[0]
    assert "rows where the reference has 3" in reference.compare(
        {TABLE: _tables()[TABLE].iloc[:1]}, _tables(), {})[0]
    assert reference.compare({}, _tables(), {}) == [f"{TABLE}: table missing"]
    extra = {TABLE: _tables()[TABLE].assign(new=1.0)}
    assert "other columns (new: ['new']" in reference.compare(extra, _tables(), {})[0]
    nan = {TABLE: _tables()[TABLE].assign(zrf=[0.1, 0.3, 0.2])}
    assert "zrf" in reference.compare(nan, _tables(), {TABLE: {"zrf": [1.0] * 3}})[0], \
        "NaN against a number fails"


def _write_run(folder, frame):
    results = folder / "results"
    results.mkdir(parents=True)
    frame.to_csv(results / f"{TABLE}.csv", index=False)
    pd.DataFrame({"x": [1]}).to_csv(results / "99-not-a-notebook.csv", index=False)
    return folder


def test_the_reference_file_round_trips_and_leaves_timings_out(tmp_path):
    runs = [_write_run(tmp_path / f"run{i}", _tables(forget=forget)[TABLE].assign(
        time_s=[1.0 + i, 2.0, 3.0], speedup=[i, 1.0, 1.0])) for i, forget in
        enumerate(((0.5, 0.25, 0.1), (0.51, 0.25, 0.1)))]
    out = reference.write_reference(runs, ["1 thread", "2 threads"], tmp_path / "ref.json")
    document = json.loads(out.read_text())
    assert document["columns"][TABLE]["acc_forget"]["typical_spread"] == pytest.approx(0.01)
    assert "time_s" not in document["columns"][TABLE] and list(document["tables"]) == [TABLE]
    assert "(1 thread; 2 threads)" in document["how"]
    assert reference.check(runs[1] / "results", out) == []
    tables, tolerance, unstable = reference.read_reference(out)
    assert unstable == {} and tolerance[TABLE]["acc_forget"] == pytest.approx([reference.SAFETY * 0.01] * 3)
    assert tables[TABLE]["zrf"].isna().tolist() == [True, False, False]


def test_ranked_tables_are_aligned_by_what_each_row_is(tmp_path):
    ranked = pd.DataFrame({"scenario": ["one class"] * 2, "method": ["a", "b"], "rank": [1, 2],
                           "avg_gap_mean": [0.1, 0.2]})
    swapped = ranked.iloc[::-1].assign(rank=[1, 2])
    for i, frame in enumerate((ranked, swapped)):
        results = tmp_path / f"r{i}" / "results"
        results.mkdir(parents=True)
        frame.to_csv(results / "05-leaderboard-ranked.csv", index=False)
    first, second = (reference.results_tables(tmp_path / f"r{i}" / "results")["05-leaderboard-ranked"]
                     for i in (0, 1))
    assert first.method.tolist() == second.method.tolist() == ["a", "b"]
    assert second["rank"].tolist() == [2, 1], "a swap of ranks is two changed rank cells"
