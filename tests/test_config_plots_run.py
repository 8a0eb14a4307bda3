"""Presets, figure saving, and the papermill runner's error reporting."""

from __future__ import annotations

import hashlib
import json

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
import seaborn as sns

from unlearnlab import config, execute, paths, plots, run


def test_presets_are_complete_and_overridable():
    for name in config.PRESET_NAMES:
        preset = config.get_preset(name)
        assert preset.name == name and preset.train.epochs > 0
    cpu = config.get_preset("cpu", model="allcnn", epochs=2, seed=3)
    assert (cpu.model, cpu.train.epochs, cpu.seed, cpu.dataset) == ("allcnn", 2, 3, "fashion_mnist")
    assert config.get_preset("cpu").train.epochs != 2, "overrides never leak into the preset"
    assert len(config.get_preset("paper").seeds) == 5
    gpu = config.get_preset("gpu")  # the papers' regime: the whole training set, ResNet-18
    assert (gpu.dataset, gpu.model, gpu.train_subset, gpu.train.augment) == (
        "fashion_mnist", "resnet18", None, "none")
    deep = config.get_preset("deep")  # the papers' kind of network on a CPU: a narrow ResNet-18
    assert (deep.model, deep.model_options, deep.train_subset, deep.test_subset) == (
        "resnet18", {"width": 8}, 3_000, 2_000)
    assert config.get_preset("deep", model="small_cnn").model_options == {}, "a width means nothing there"


def test_a_notebook_without_a_preset_takes_the_environments_then_cpu(monkeypatch):
    monkeypatch.delenv("UNLEARNLAB_PRESET", raising=False)
    assert config.get_preset(None).name == "cpu"
    monkeypatch.setenv("UNLEARNLAB_PRESET", "smoke")  # make lab PRESET=smoke
    assert config.get_preset(None).name == "smoke"
    assert config.get_preset("cpu").name == "cpu", "a PRESET the run injects wins over the environment"


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="smoke, cpu, deep, gpu, paper"):
        config.get_preset("tpu")


def test_smoke_figures_stay_out_of_committed_folder(runs_dir):
    assert paths.figures_dir("00-x", "smoke") == runs_dir / "smoke" / "figures" / "00-x"
    assert paths.figures_dir("00-x", "cpu") == paths.FIGURES_DIR / "00-x"
    assert paths.figures_dir("00-x", "paper") == paths.FIGURES_DIR / "00-x" / "paper"


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 4], label="a")
    ax.legend()
    return fig


def test_save_writes_identical_png_and_pdf_on_rerun(tmp_path):
    plots.set_theme()
    digests = []
    for _ in range(2):
        fig = _figure()
        written = plots.save(fig, "demo", tmp_path)
        plt.close(fig)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in written])
    assert [p.suffix for p in written] == [".png", ".pdf"]
    assert digests[0] == digests[1]


def test_strip_plot_jitter_is_the_same_on_every_run():
    table = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 5, "accuracy": [0.5] * 10})
    offsets = []
    for _ in range(2):
        plots.set_theme()
        ax = sns.stripplot(data=table, x="method", y="accuracy")
        offsets.append(ax.collections[0].get_offsets().copy())
        plt.close(ax.figure)
    assert (offsets[0] == offsets[1]).all()
    assert len(set(offsets[0][:, 0].round(6))) > 1, "the points are jittered"


def test_saved_figures_carry_no_commit_and_their_folder_names_it(tmp_path):
    from PIL import Image

    fig = _figure()
    png, pdf = plots.save(fig, "demo", tmp_path)
    plt.close(fig)
    assert "Source" not in Image.open(png).text and b"unlearnlab commit" not in pdf.read_bytes()
    record = json.loads((tmp_path / plots.PROVENANCE).read_text())["demo"]
    assert record["commit"] == paths.commit_stamp()
    assert set(record) == {"commit", "width_in", "height_in", "smallest_text_pt", "legend_colours"}


def test_save_without_a_directory_writes_nothing(tmp_path):
    fig = _figure()
    assert plots.save(fig, "demo", None) == []
    plt.close(fig)


def test_resolve_notebooks_by_prefix_and_stem():
    found = run.resolve_notebooks(["00"])
    assert [nb.stem for nb in found] == ["00-train-original"]
    assert run.resolve_notebooks(["00-train-original"]) == found
    with pytest.raises(SystemExit, match="available"):
        run.resolve_notebooks(["77"])


def test_failing_notebook_is_reported_with_its_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('PRESET = "cpu"\nSEED = 0', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom in cell two')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "01-broken.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(run.NotebookFailed, match=r"01-broken.ipynb failed in cell \d+.*ValueError: boom in cell two"):
        execute.run_notebook(source, "smoke", output_dir=tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "01-broken.ipynb").exists(), "the executed copy is kept to inspect"
