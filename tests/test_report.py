"""Results text is generated from the executed notebooks, never typed."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from unlearnlab import claims, methods, paths, report


def _record(folder, notebook, verdicts):
    """What a notebook run records: its verdicts in results/<notebook>-claims.json."""
    import dataclasses
    import json

    path = report.claims_file(folder, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": claims.CLAIMS_FORMAT, "notebook": notebook,
                                "claims": [dataclasses.asdict(v) for v in verdicts]}))


def _fast(speedup, evidence=""):
    return claims.judge("P2.2", {"speedup": speedup}, evidence)


def _comparable(forget_gap, other_gap, original_forget=0.9, evidence=""):
    return claims.judge("P2.1r", {"forget_gap": forget_gap, "other_gap": other_gap,
                                  "original_forget": original_forget}, evidence)


def _executed(path, duration, text, checked=True):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": duration}
    nb.cells = [nbformat.v4.new_markdown_cell("# 07 · A paper (Someone 2025)\n\nIntro."),
                nbformat.v4.new_code_cell(("# NBVAL_CHECK_OUTPUT\n" if checked else "") + "print(...)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nbformat.write(nb, path)


def test_results_come_from_the_executed_notebooks_and_their_claims_files(runs_dir):
    folder = paths.preset_dir("fake")
    folder.mkdir(parents=True, exist_ok=True)
    _executed(folder / "07-a-paper.ipynb", 12.3, "a checked table\n")
    untestable = claims.judge("P1.2", {"conv_stages": 2, "weight_ratio": 3.0, "function_ratio": 3.0}, "2 stages")
    _record(folder, "07-a-paper", [_fast(32.0, "0.9 s vs 29 s"), _comparable(0.01, -0.2), untestable])
    written = report.write("fake")
    assert written == [folder / "RESULTS.md"], "only the cpu preset writes into the repository"
    text = written[0].read_text()
    assert "## 07 · A paper (Someone 2025)" in text and "| 07-a-paper | 12 |" in text
    assert "- [HOLDS] P2.2 It is much faster than retrain. — 0.9 s vs 29 s — checks: speed-up over retrain = 32" in text
    assert "- [MIXED] P2.1r " in text, "a claim of parts with one part failing"
    assert ("- [UNTESTABLE HERE] P1.2 Label reassignment's changes concentrate in the last stage and the FC "
            "layer. — precondition not met: convolutional stages of the model = 2 (needs >= 4)") in text
    assert "a checked table" in text and "preset `fake`" in text


def test_the_readme_headline_is_spliced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold numbers\n{report.README_END}\noutro\n")
    report.splice_readme(readme, "new numbers")
    assert readme.read_text() == f"intro\n{report.README_START}\nnew numbers\n{report.README_END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        report.splice_readme(readme, "x")


def test_leaderboard_markdown_shows_ranks_reference_rows_flags_and_greyed_attacks():
    from tests.test_leaderboard import _board, _requests
    from unlearnlab import leaderboard

    board = _board(_requests(4, good=(0.05, 0.0), idle=(0.95, 0.0)))
    ranked = leaderboard.rank_methods(board)
    attacks = leaderboard.attack_separation(board)
    text = report.leaderboard_markdown(ranked, attacks)
    assert "| 1 (1-1) | good |" in text and "| ref. | original |" in text
    assert "| ref. | retrain (other seed) |" in text
    assert "no better than doing nothing" in text
    # the entropy attack is constant here: it cannot separate the original from retrain
    assert "MIA entropy (D_f as member) in parentheses: does not separate" in text
    assert "noise floor (Avg. Gap of a retrain from another initialisation): 0.008; 4 requests" in text
    assert "- good: one class: #1 (1-1)" in text
    summary = report.leaderboard_summary(ranked)
    assert "| one class | 1 (1-1) | good |" in summary and "| one class | ref. | original |" in summary
    assert "No method comes as close to retrain" in summary  # good's gap 0.025 > floor 0.0075


def test_the_instance_scenario_shows_each_methods_pool_score_where_a_pool_exists():
    from tests.test_leaderboard import _board, _requests
    from unlearnlab import leaderboard

    board = _board(_requests(4, good=(0.05, 0.0), idle=(0.95, 0.0)))
    board["scenario"] = leaderboard.instance_scenario(0.1)
    ranked = leaderboard.rank_methods(board)
    privacy = pd.DataFrame({"method": ["original", "good"], "final_score": [0.05, 0.61], "n_models": [16, 16]})
    text = report.leaderboard_markdown(ranked, privacy=privacy)
    assert "pool score (N per side)" in text and "| 0.610 (16) |" in text and "| 0.050 (16) |" in text
    assert "NeurIPS 2023 unlearning challenge's final score" in text
    assert "pool score" not in report.leaderboard_markdown(ranked), "no pool, no column"


def test_seed_runs_of_older_notebook_code_are_named_stale(runs_dir):
    from unlearnlab import grid

    notebook = paths.NOTEBOOKS_DIR / "01-relabel-vs-reset.ipynb"
    for seed, code in {0: grid.notebook_code(notebook), 1: "older", 2: None}.items():
        run = grid.GridRun(notebook, "stale-check", {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _record(run.folder, run.name, [_fast(30.0)])
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": "stale-check", "status": "done",
                                         "parameters": run.parameters, "executed": f"{run.name}.ipynb",
                                         **({"notebook_code": code} if code else {})})
    assert report.stale_seeds("stale-check", run.name) == [1, 2]
    assert "**Stale**: seed(s) 1, 2 ran an older version" in report.seeds_markdown("stale-check")


def test_the_methods_document_is_generated_from_the_current_code():
    text = report.methods_markdown()
    for name in methods.list_methods():
        assert f"### `{name}`" in text
    assert "Cha et al." in text and "arXiv 2111.08947" in text, "the papers are cited"
    assert report.METHODS_DOC.read_text() == text, \
        "docs/methods.md is stale: run `python -m unlearnlab.report --methods`"


def _seed_grid(runs_dir, preset: str, verdicts: dict[int, list]) -> None:
    from unlearnlab import grid

    for seed, recorded in verdicts.items():
        run = grid.GridRun(paths.NOTEBOOKS_DIR / "07-seeded.ipynb", preset, {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _record(run.folder, "07-seeded", recorded)
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": preset, "status": "done",
                                         "parameters": run.parameters, "executed": "07-seeded.ipynb"})


def test_verdicts_over_seeds_agree_only_when_every_seed_does(runs_dir):
    from unlearnlab import grid

    _seed_grid(runs_dir, "seeded", {0: [_fast(30, "seed 0"), _comparable(0.2, -0.2)],
                                    1: [_fast(40, "seed 1"), _comparable(0.0, 0.0)],
                                    2: [_fast(50, "seed 2"), _comparable(0.01, -0.2)]})
    other = grid.GridRun(paths.NOTEBOOKS_DIR / "07-seeded.ipynb", "seeded", {"SEED": 0, "K": 5}, runs_dir)
    other.folder.mkdir(parents=True)  # a hyperparameter grid's run: not a seed of the notebook
    _record(other.folder, "07-seeded", [_fast(1.0)])
    grid.write_manifest(other.folder, {"notebook": other.name, "status": "done",
                                       "parameters": other.parameters, "executed": "07-seeded.ipynb"})

    found = report.seed_verdicts("seeded")
    assert {c: {s: v.status for s, v in per.items()} for c, per in found["07-seeded"].items()} == {
        "P2.2": {0: "HOLDS", 1: "HOLDS", 2: "HOLDS"},
        "P2.1r": {0: "DOES NOT HOLD", 1: "HOLDS", 2: "MIXED"}}
    text = report.seeds_markdown("seeded")
    assert ("- [HOLDS in all 3 seeds, beyond the spread] P2.2 It is much faster than retrain.\n"
            "  - mean ± std over seeds: speed-up over retrain 40 ± 10 (needs >= 10): passes\n"
            "  - seed 0: HOLDS — seed 0") in text
    assert "- [MIXED: DOES NOT HOLD in 1, HOLDS in 1, MIXED in 1 of 3 seeds] P2.1r" in text
    assert "Stale" not in text, "a notebook that is not in notebooks/ cannot be stale"
    assert report.agreement({0: "HOLDS", 1: "HOLDS"}) == "TOO FEW SEEDS (2 of 3)"
    assert report.seeds_markdown("nothing-here") is None


def test_a_claim_holds_over_seeds_only_beyond_the_spread_of_its_checks(runs_dir):
    # every seed's gap clears -0.05, but mean -0.0197 - std 0.0432 < -0.05: not beyond the spread
    _seed_grid(runs_dir, "spread", {s: [_comparable(0.0, gap, evidence=f"gap {gap}")]
                                    for s, gap in enumerate([-0.049, -0.04, 0.03])})
    text = report.seeds_markdown("spread")
    assert "- [WITHIN THE SPREAD: HOLDS in all 3 seeds, not carried by mean ± std] P2.1r" in text
    assert "other-class test accuracy gap to retrain -0.0197 ± 0.043 (needs >= -0.05): within the spread" in text
    assert "  - seed 0: HOLDS — gap -0.049\n" in text, "the per-seed lines give the evidence"

    _seed_grid(runs_dir, "apart", {s: [_comparable(0.0, gap), _fast(speed)]
                                   for s, (gap, speed) in enumerate([(-0.2, 5), (-0.1, 6), (-0.15, 7)])})
    text = report.seeds_markdown("apart")
    assert "- [MIXED in all 3 seeds, beyond the spread] P2.1r" in text, "one part passes, one fails, in every seed"
    assert "- [DOES NOT HOLD in all 3 seeds, beyond the spread] P2.2" in text


def test_a_claim_untestable_in_any_seed_is_untestable_over_seeds(runs_dir):
    _seed_grid(runs_dir, "floor", {0: [_comparable(0.0, 0.0, original_forget=0.2)],
                                   1: [_comparable(0.0, 0.0, original_forget=0.4)],
                                   2: [_comparable(0.0, 0.0)]})
    text = report.seeds_markdown("floor")
    assert ("- [UNTESTABLE HERE in 2 of 3 seed(s): original's forget-class accuracy 0.3 (needs >= 0.5)] "
            "P2.1r") in text
    assert report.regime_verdicts("floor")["P2.1r"].startswith("UNTESTABLE HERE")


def test_claims_are_judged_from_their_declarations():
    assert _fast(32).status == "HOLDS" and _fast(9).status == "DOES NOT HOLD"
    assert _fast(float("nan")).status == "DOES NOT HOLD", "NaN never clears a threshold"
    assert _comparable(0.01, 0.0).status == "HOLDS" and _comparable(0.2, 0.0).status == "MIXED"
    assert _comparable(0.2, -0.3).status == "DOES NOT HOLD"
    untestable = _comparable(0.0, 0.0, original_forget=0.1)
    assert untestable.status == "UNTESTABLE HERE", "a failed precondition wins over passing checks"
    assert "precondition not met: original's forget-class accuracy = 0.1 (needs >= 0.5)" in str(untestable)
    with pytest.raises(ValueError, match="missing measurements"):
        claims.judge("P2.2", {})
    with pytest.raises(ValueError, match="unknown"):
        claims.judge("P2.2", {"speedup": 1, "typo": 2})
    with pytest.raises(ValueError, match="source starts with"):
        claims.Threshold("x", "x", ">=", 1, "because")
    with pytest.raises(ValueError, match="op must be one of"):
        claims.Threshold("x", "x", "==", 1, "ours: r")
    for claim in claims.CLAIMS.values():  # every threshold and precondition has a source
        assert claim.checks and all(t.source for t in claim.checks + claim.preconditions)


def test_claims_round_trip_through_their_file(runs_dir):
    verdicts = [_fast(32.123456789, "numbers"), _comparable(0.0, 0.0, original_forget=0.1)]
    path = claims.record("07-a-paper", "fake", verdicts, seed=3)
    assert path == paths.preset_dir("fake") / "results" / "07-a-paper-claims.json"
    assert claims.load(path) == verdicts, "every number at full precision"


def test_the_claims_document_is_generated_from_the_declarations():
    text = claims.markdown()
    for claim_id in claims.CLAIMS:
        assert f"## {claim_id} (" in text
    assert report.CLAIMS_DOC.read_text() == text, "docs/claims.md is stale: run `make report`"


def test_the_canonical_run_is_seed_0_of_a_seed_grid_only_while_its_code_is_current(runs_dir, tmp_path,
                                                                                   monkeypatch):
    from unlearnlab import grid

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", notebooks)
    source = notebooks / "07-canon.ipynb"
    _executed(source, 1.0, "")
    canonical = paths.preset_dir("canon") / source.name
    canonical.parent.mkdir(parents=True)
    _executed(canonical, 1.0, "")
    _record(canonical.parent, "07-canon", [_fast(30, "at seed 0")])
    executed = nbformat.read(canonical, as_version=4)  # papermill's injected cell does not count
    executed.cells.insert(1, nbformat.v4.new_code_cell("PRESET = 'canon'", metadata={"tags": ["injected-parameters"]}))
    nbformat.write(executed, canonical)
    for seed in (1, 2):
        run = grid.GridRun(source, "canon", {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _executed(run.folder / f"{run.name}.ipynb", 1.0, "")
        _record(run.folder, run.name, [_fast(30, f"at seed {seed}")])
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": "canon", "status": "done",
                                         "parameters": run.parameters, "executed": f"{run.name}.ipynb",
                                         "notebook_code": grid.notebook_code(source)})
    found = report.seed_verdicts("canon")["07-canon"]["P2.2"]
    assert {s: v.evidence for s, v in found.items()} == {1: "at seed 1", 2: "at seed 2", 0: "at seed 0"}
    nb = nbformat.read(source, as_version=4)
    nb.cells[1].source += "\nprint('edited')"
    nbformat.write(nb, source)
    assert set(report.seed_verdicts("canon")["07-canon"]["P2.2"]) == {1, 2}, "stale canonical run"


def test_the_claims_table_sets_the_regimes_side_by_side(runs_dir):
    folder = paths.preset_dir("cpu")
    folder.mkdir(parents=True, exist_ok=True)
    _executed(folder / "07-a-paper.ipynb", 5.0, "a table\n")
    stages = {"weight_ratio": 3.0, "function_ratio": 3.0}
    _record(folder, "07-a-paper", [claims.judge("P1.2", {"conv_stages": 2, **stages})])
    deep = paths.preset_dir("deep")
    deep.mkdir(parents=True)
    _executed(deep / "07-a-paper.ipynb", 50.0, "a table\n")
    _record(deep, "07-a-paper", [claims.judge("P1.2", {"conv_stages": 5, **stages}, "five stages")])
    results, headline = report.results_markdown("cpu")
    row = next(line for line in headline.splitlines() if line.startswith("| P1.2 "))
    assert ("| UNTESTABLE HERE: convolutional stages of the model 2 (needs >= 4) (rests on one seed) | "
            "HOLDS (rests on one seed) |") in row
    # the README's table links to RESULTS.md once; RESULTS.md's links every claim to its section
    assert "| claim | paper | verdict at `cpu` | verdict at `deep` |\n" in headline
    assert "| claim | paper | verdict at `cpu` | verdict at `deep` | details |" in results
    assert "## Verdicts at `deep`" in results and "| 07-a-paper | 50 |" in results
    assert "- [HOLDS] P1.2 " in results and "five stages" in results
    assert all("P2.2" not in line for line in headline.splitlines()), "claims no regime ran are left out"


def test_another_regimes_leaderboard_has_its_own_section(runs_dir):
    from tests.test_leaderboard import _board, _requests
    from unlearnlab import leaderboard

    deep = paths.preset_dir("deep")
    (deep / "results").mkdir(parents=True, exist_ok=True)
    _executed(deep / "08-b-paper.ipynb", 50.0, "a table\n")
    _record(deep, "08-b-paper", [_fast(30, "at deep")])
    assert "Leaderboard at `deep`" not in report.regime_markdown("deep")
    board = _board(_requests(4, good=(0.05, 0.0), idle=(0.95, 0.0)))
    leaderboard.rank_methods(board).to_csv(deep / "results" / "05-leaderboard-ranked.csv", index=False)
    text = report.regime_markdown("deep")
    section = text.split("### Leaderboard at `deep`", 1)[1]
    assert "| 1 (1-1) | good |" in section and "| ref. | original |" in section
