"""Results text is generated from the executed notebooks, never typed."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from unlearnlab import paths, report


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
              "[HOLDS] Forgetting is fast\n    0.2 s vs 9 s\n[MIXED] Keeps the rest\n    -0.04\n")
    written = report.write("fake")
    assert written == [folder / "RESULTS.md"], "only the cpu preset writes into the repository"
    text = written[0].read_text()
    assert "## 07 · A paper (Someone 2025)" in text and "| 07-a-paper | 12 |" in text
    assert "- [HOLDS] Forgetting is fast — 0.2 s vs 9 s" in text
    assert "[MIXED] Keeps the rest" in text and "preset `fake`" in text


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
