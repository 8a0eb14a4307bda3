"""Figures a reviewer accepts: at most a page wide, no text under 7 pt, every method in
its colour, each committed figure captioned and indexed in docs/figures.md, and
notebooks that leave the drawing to the library."""

from __future__ import annotations

import ast
import json
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from unlearnlab import captions, execute, plots


def _saved_facts(fig, tmp_path) -> dict:
    plots.save(fig, "f", tmp_path)
    plt.close(fig)
    return json.loads((tmp_path / plots.PROVENANCE).read_text())["f"]


def test_a_figure_in_the_paper_theme_passes_and_each_fault_is_named(tmp_path):
    plots.set_theme()
    fig, ax = plt.subplots(figsize=(plots.COLUMN, 2))
    ax.plot([0, 1], color=plots.method_color("finetune"), label="finetune")
    ax.legend()
    assert plots.figure_problems(_saved_facts(fig, tmp_path)) == []

    fig, ax = plt.subplots(figsize=(9, 2))
    ax.plot([0, 1], color="red", label="finetune")
    ax.set_title("small", fontsize=5)
    ax.legend()
    problems = plots.figure_problems(_saved_facts(fig, tmp_path))
    assert len(problems) == 3
    assert "in wide" in problems[0] and "5.0 pt" in problems[1] and problems[2].startswith("finetune: #ff0000")


def test_legend_colours_read_lines_bars_markers_and_error_bars():
    fig, ax = plt.subplots()
    ax.plot([0, 1], color="#123456", label="a")
    ax.bar([0], [1], color="#654321", label="b")
    ax.scatter([0], [1], color="#aabbcc", label="c")
    ax.errorbar([0], [1], yerr=[0.1], color="#010203", marker="o", label="d")
    ax.legend()
    assert plots.legend_colours(fig) == {"a": "#123456", "b": "#654321", "c": "#aabbcc", "d": "#010203"}
    plt.close(fig)


def _ranked() -> pd.DataFrame:
    rows = []
    for scenario in ("one class", "3 classes"):
        for method, forget, test in (("retrain", 0.0, 0.9), ("retrain (other seed)", 0.01, 0.89),
                                     ("original", 0.98, 0.91), ("finetune", 0.4, 0.88), ("salun", 0.02, 0.87),
                                     ("unsir (no noise)", 0.05, 0.7), ("unsir", 0.03, 0.86)):
            rows.append({"scenario": scenario, "method": method, "acc_forget_mean": forget, "acc_forget_std": 0.01,
                         "acc_test_retain_mean": test, "acc_test_retain_std": 0.01, "avg_gap_mean": abs(forget) / 3,
                         "avg_gap_std": 0.01, "time_s_mean": 1 + len(method), "flag": ""})
    return pd.DataFrame(rows)


def test_the_leaderboard_zooms_on_retrain_with_the_noise_floor_and_its_references_on_top(tmp_path):
    plots.set_theme()
    fig = plots.leaderboard_accuracy(_ranked())
    full, zoom = fig.axes[0], fig.axes[len(fig.axes) // 2]
    assert full.get_xlim() == pytest.approx((-0.02, 1.02))
    assert zoom.get_xlim()[0] > 0.5 and zoom.get_ylim()[1] < 0.5, "the zoom holds retrain's neighbourhood"
    floor = [p for p in zoom.patches if p.get_label().startswith("noise floor")]
    assert len(floor) == 1 and floor[0].get_width() == pytest.approx(2 * (0.01 + 0.01))
    retrain = [c for c in zoom.containers if c.get_label() == "retrain"][0]
    others = [c for c in zoom.containers if c.get_label() not in ("retrain",)]
    assert retrain.lines[0].get_zorder() > max(c.lines[0].get_zorder() for c in others)
    assert plots.figure_problems(_saved_facts(fig, tmp_path)) == []


def test_method_lines_tell_variants_apart_by_shade_dash_and_marker():
    table = pd.DataFrame({"method": ["l2ul", "l2ul (tuned)", "l2ul (reference loop)", "retrain"] * 2,
                          "x": [1] * 4 + [2] * 4, "y": [0.1, 0.2, 0.3, 0.0] * 2})
    fig, ax = plt.subplots()
    plots.method_lines(ax, table, "x", "y")
    lines = {line.get_label(): line for line in ax.get_lines()}
    variants = [lines[m] for m in ("l2ul", "l2ul (tuned)", "l2ul (reference loop)")]
    for attribute in ("get_color", "get_linestyle", "get_marker"):
        assert len({getattr(line, attribute)() for line in variants}) == 3, attribute
    assert lines["retrain"].get_zorder() > max(line.get_zorder() for line in variants)
    plt.close(fig)


def test_the_k_sweep_names_the_arms_and_draws_the_step_cap():
    table = pd.DataFrame([{"k": k, "method": m, "acc_retain": 0.9, "acc_test": 0.8, "steps": 10.0 * k,
                           "step_cap": 1000.0} for k in (1, 16) for m in ("original", "retrain", "neggrad",
                                                                         "l2ul (full)")])
    table.loc[table.method.isin(["original", "retrain"]), ["steps", "step_cap"]] = float("nan")
    fig = plots.k_sweep(table)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert plots.P3_ARMS["neggrad"] in labels and "l2ul" in labels and "step cap" in labels
    assert "neggrad" not in labels, "an l2ul ablation is never labelled as the neggrad method"
    plt.close(fig)


def test_pixel_relevance_is_zero_on_black_pixels(smoke, digits):
    from unlearnlab import experiment
    from unlearnlab.methods import lrp

    model = experiment.build_model(smoke, digits).eval()
    pixels = digits.x_test[:4].float() / 255
    relevance = lrp.pixel_relevance(model, pixels, digits.mean, digits.std)
    black = pixels == 0
    assert black.any() and (relevance[black] == 0).all()
    assert (relevance[~black] != 0).float().mean() > 0.5
    # on normalised inputs the black background does carry relevance
    assert (lrp.input_relevance(model, digits.normalize(pixels))[black] != 0).any()


def test_every_committed_figure_is_captioned_and_fits_a_page_in_the_method_palette():
    found = captions.committed_figures()
    assert found, "figures/ holds the canonical figures"
    problems = []
    for notebook, figure, _, record in found:
        captions.caption(notebook, figure)
        if "width_in" not in record:
            problems.append(f"{notebook}/{figure}: no measurements in its provenance sidecar")
        else:
            problems += [f"{notebook}/{figure}: {p}" for p in plots.figure_problems(record)]
    assert not problems, "\n".join(problems)


def test_the_figure_index_is_generated_from_the_captions_and_the_sidecars():
    assert captions.FIGURES_DOC.read_text() == captions.markdown(), "docs/figures.md is stale: run `make report`"


@pytest.mark.parametrize("notebook", execute.list_notebooks(), ids=lambda p: p.stem)
def test_notebooks_are_thin_and_leave_every_figure_to_the_library(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 105, f"{len(code)} code lines"
    drawing = [line for line in code if re.search(r"\b(sns|plt)\.|import (seaborn|matplotlib)", line)]
    assert not drawing, drawing
    tree = ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
    saved = {node.args[1].value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "save"
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "lab"}
    assert saved == set(captions.CAPTIONS[notebook.stem]), "every figure drawn is captioned, and only those"
    assert sum("notebook.setup(" in line for line in code) == 1


def test_a_step_cap_that_depends_on_k_is_drawn_at_each_k():
    table = pd.DataFrame([{"k": k, "method": m, "acc_retain": 0.9, "acc_test": 0.8, "steps": 5.0,
                           "step_cap": float(cap)} for k, cap in ((1, 1000), (16, 400), (128, 200))
                          for m in ("neggrad", "l2ul (full)")])
    fig = plots.k_sweep(table)
    marks = [c for c in fig.axes[2].collections if c.get_label() == "step cap"]
    assert len(marks) == 1 and sorted(map(tuple, marks[0].get_offsets().tolist())) == [
        (1.0, 1000.0), (16.0, 400.0), (128.0, 200.0)]
    assert "step cap" not in [line.get_label() for line in fig.axes[2].get_lines()]
    plt.close(fig)
