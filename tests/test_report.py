"""Results text is generated from the executed notebooks, never typed."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from unlearnlab import methods, paths, report


def _executed(path, duration, text, checked=True):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": duration}
    nb.cells = [nbformat.v4.new_markdown_cell("# 07 · A paper (Someone 2025)\n\nIntro."),
                nbformat.v4.new_code_cell(("# NBVAL_CHECK_OUTPUT\n" if checked else "") + "print(...)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nbformat.write(nb, path)


def test_results_come_from_the_executed_notebooks(runs_dir):
    folder = paths.preset_dir("fake")
    folder.mkdir(parents=True, exist_ok=True)
    _executed(folder / "07-a-paper.ipynb", 12.3,
              "[HOLDS] Forgetting is fast\n    0.2 s vs 9 s\n[MIXED] Keeps the rest\n    holds: a. Fails: b.\n    -0.04\n"
              "[UNTESTED] Beats X\n    no run met its goal\n")
    written = report.write("fake")
    assert written == [folder / "RESULTS.md"], "only the cpu preset writes into the repository"
    text = written[0].read_text()
    assert "## 07 · A paper (Someone 2025)" in text and "| 07-a-paper | 12 |" in text
    assert "- [HOLDS] Forgetting is fast — 0.2 s vs 9 s" in text
    assert "- [MIXED] Keeps the rest — holds: a. Fails: b. -0.04" in text, "every evidence line"
    assert "preset `fake`" in text
    assert "- [UNTESTED] Beats X — no run met its goal" in text


def test_the_readme_headline_is_spliced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold numbers\n{report.README_END}\noutro\n")
    report.splice_readme(readme, "new numbers")
    assert readme.read_text() == f"intro\n{report.README_START}\nnew numbers\n{report.README_END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        report.splice_readme(readme, "x")


def test_leaderboard_markdown_shows_flags_and_lines():
    ranked = pd.DataFrame([
        {"scenario": "one class", "method": m, "rank": r, "flag": f,
         **{f"{c}_{s}": v for c in ("acc_forget", "acc_retain", "acc_test", "acc_test_retain", "avg_gap",
                                    "mia_entropy_lr_member", "mia_svc_nonmember", "mia_loss_lr_acc",
                                    "time_s", "speedup") for s, v in (("mean", val), ("std", 0.01))}}
        for m, r, f, val in (("retrain", float("nan"), "", 0.0), ("good", 1.0, "", 0.02),
                             ("bad", float("nan"), "COLLAPSED in 2/3 seeds", 0.5))])
    text = report.leaderboard_markdown(ranked)
    assert "| 1 | good |" in text and "| — | bad |" in text and "COLLAPSED in 2/3 seeds" in text
    assert "- good: one class: #1/1" in text


def test_seed_runs_of_older_notebook_code_are_named_stale(runs_dir):
    from unlearnlab import grid

    notebook = paths.NOTEBOOKS_DIR / "01-relabel-vs-reset.ipynb"
    for seed, code in {0: grid.notebook_code(notebook), 1: "older", 2: None}.items():
        run = grid.GridRun(notebook, "stale-check", {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _executed(run.folder / f"{run.name}.ipynb", 1.0, "[HOLDS] A claim\n    numbers\n")
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


def test_verdicts_over_seeds_agree_only_when_every_seed_does(runs_dir):
    from unlearnlab import grid

    outcomes = {0: ("HOLDS", "DOES NOT HOLD"), 1: ("HOLDS", "HOLDS"), 2: ("HOLDS", "UNTESTED")}
    for seed, (first, second) in outcomes.items():
        run = grid.GridRun(paths.NOTEBOOKS_DIR / "07-seeded.ipynb", "seeded", {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _executed(run.folder / "07-seeded.ipynb", 1.0,
                  f"[{first}] Forgetting is fast\n    seed {seed}\n[{second}] Keeps the rest\n    x\n")
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": "seeded", "status": "done",
                                         "parameters": run.parameters, "executed": "07-seeded.ipynb"})
    other = grid.GridRun(paths.NOTEBOOKS_DIR / "07-seeded.ipynb", "seeded", {"SEED": 0, "K": 5}, runs_dir)
    other.folder.mkdir(parents=True)  # a hyperparameter grid's run: not a seed of the notebook
    _executed(other.folder / "07-seeded.ipynb", 1.0, "[DOES NOT HOLD] Forgetting is fast\n")
    grid.write_manifest(other.folder, {"notebook": other.name, "status": "done",
                                       "parameters": other.parameters, "executed": "07-seeded.ipynb"})

    found = report.seed_verdicts("seeded")
    assert found == {"07-seeded": {
        "Forgetting is fast": {0: ("HOLDS", "seed 0"), 1: ("HOLDS", "seed 1"), 2: ("HOLDS", "seed 2")},
        "Keeps the rest": {0: ("DOES NOT HOLD", "x"), 1: ("HOLDS", "x"), 2: ("UNTESTED", "x")}}}
    text = report.seeds_markdown("seeded")
    assert "- [HOLDS in all 3 seeds] Forgetting is fast\n  - seed 0: HOLDS — seed 0\n  - seed 1: HOLDS — seed 1" in text
    assert "- [MIXED: DOES NOT HOLD in 1, HOLDS in 1, UNTESTED in 1 of 3 seeds] Keeps the rest" in text
    assert "Stale" not in text, "a notebook that is not in notebooks/ cannot be stale"
    assert report.agreement({0: "HOLDS", 1: "HOLDS"}) == "TOO FEW SEEDS (2 of 3)"
    assert report.seeds_markdown("nothing-here") is None


def _seed_grid(runs_dir, preset: str, outputs: dict[int, str]) -> None:
    from unlearnlab import grid

    for seed, text in outputs.items():
        run = grid.GridRun(paths.NOTEBOOKS_DIR / "07-seeded.ipynb", preset, {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _executed(run.folder / "07-seeded.ipynb", 1.0, text)
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": preset, "status": "done",
                                         "parameters": run.parameters, "executed": "07-seeded.ipynb"})


def test_a_claim_holds_over_seeds_only_beyond_the_spread_of_its_checks(runs_dir):
    from unlearnlab.experiment import Check, claim, claim_of_parts

    def outputs(gaps, speedups):
        # what a notebook prints: every seed's gap clears -0.05; the speed-up clears 10x
        return {seed: claim("Keeps the rest", Check("test gap to retrain", gap, ">=", -0.05), f"gap {gap}")
                + "\n" + claim_of_parts("Fast and forgets", {
                    "fast": Check("speed-up", speed, ">=", 10), "forgets": Check("forget acc", 0.0, "<=", 0.05)},
                    f"{speed}x") + "\n"
                for seed, (gap, speed) in enumerate(zip(gaps, speedups, strict=True))}

    _seed_grid(runs_dir, "spread", outputs([-0.049, -0.04, 0.03], [30, 40, 50]))
    text = report.seeds_markdown("spread")
    # every seed holds, but mean -0.0197 - std 0.0432 < -0.05: not beyond the spread
    assert "- [WITHIN THE SPREAD: HOLDS in all 3 seeds, not carried by mean ± std] Keeps the rest" in text
    assert "  - mean ± std over seeds: test gap to retrain -0.0197 ± 0.043 (needs >= -0.05): within the spread" in text
    assert "- [HOLDS in all 3 seeds, beyond the spread] Fast and forgets" in text
    assert "speed-up 40 ± 10 (needs >= 10): passes; forget acc 0 ± 0 (needs <= 0.05): passes" in text
    assert "  - seed 0: HOLDS — gap -0.049\n" in text, "the per-seed numbers keep no checks line"

    _seed_grid(runs_dir, "apart", outputs([-0.2, -0.1, -0.15], [5, 6, 7]))
    text = report.seeds_markdown("apart")
    assert "- [DOES NOT HOLD in all 3 seeds, beyond the spread] Keeps the rest" in text
    assert "- [MIXED in all 3 seeds, beyond the spread] Fast and forgets" in text


def test_checks_print_and_parse_back():
    from unlearnlab.experiment import Check, claim

    check = Check("other-class gap", -0.0631, ">=", -0.05)
    assert not check and Check("x", 0.2, ">", 0.1) and not Check("x", float("nan"), "<=", 1)
    line = claim("Keeps the rest", [check, Check("speed-up", 94.2, ">=", 10)], "numbers")
    assert line.startswith("[DOES NOT HOLD] Keeps the rest\n    numbers\n    checks (all): ")
    evidence = " ".join(part.strip() for part in line.splitlines()[1:])
    assert report.split_checks(evidence) == (
        "numbers", "all", [("other-class gap", -0.0631, ">=", -0.05), ("speed-up", 94.2, ">=", 10.0)])
    assert report.split_checks("no checks here") == ("no checks here", None, [])
    assert claim("X", check, "n", untested=True) == "[UNTESTED] X\n    n", "an untested claim tests nothing"
    with pytest.raises(ValueError, match="op must be one of"):
        Check("x", 1, "==", 1)
    with pytest.raises(ValueError, match="without ';'"):
        Check("a; b", 1, ">=", 1)


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
    _executed(canonical, 1.0, "[HOLDS] A claim\n    at seed 0\n")
    executed = nbformat.read(canonical, as_version=4)  # papermill's injected cell does not count
    executed.cells.insert(1, nbformat.v4.new_code_cell("PRESET = 'canon'", metadata={"tags": ["injected-parameters"]}))
    nbformat.write(executed, canonical)
    for seed in (1, 2):
        run = grid.GridRun(source, "canon", {"SEED": seed}, runs_dir)
        run.folder.mkdir(parents=True)
        _executed(run.folder / f"{run.name}.ipynb", 1.0, f"[HOLDS] A claim\n    at seed {seed}\n")
        grid.write_manifest(run.folder, {"notebook": run.name, "preset": "canon", "status": "done",
                                         "parameters": run.parameters, "executed": f"{run.name}.ipynb",
                                         "notebook_code": grid.notebook_code(source)})
    found = report.seed_verdicts("canon")["07-canon"]["A claim"]
    assert found == {1: ("HOLDS", "at seed 1"), 2: ("HOLDS", "at seed 2"), 0: ("HOLDS", "at seed 0")}
    nb = nbformat.read(source, as_version=4)
    nb.cells[1].source += "\nprint('edited')"
    nbformat.write(nb, source)
    assert set(report.seed_verdicts("canon")["07-canon"]["A claim"]) == {1, 2}, "stale canonical run"
