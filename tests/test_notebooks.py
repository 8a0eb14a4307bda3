"""Every notebook runs at the smoke preset with papermill, then nbval re-executes the
run and checks that the cells marked ``# NBVAL_CHECK_OUTPUT`` reproduce exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearnlab import paths, run

NOTEBOOKS = run.list_notebooks()
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def test_there_are_notebooks():
    assert [nb.stem for nb in NOTEBOOKS][:1] == ["00-train-original"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_stripped(notebook):
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, notebook.name
    assert "papermill" not in nb.get("metadata", {})


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_tagged_parameters(notebook):
    nb = json.loads(notebook.read_text())
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "parameters" in first.get("metadata", {}).get("tags", [])
    assert 'PRESET = "cpu"  # type: str' in "".join(first["source"])


def _strip_args() -> list[str]:
    """The nbstripout arguments of ``make strip`` and of the git filter (the Makefile's)."""
    import shlex

    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if ln.startswith("STRIP_ARGS :="))
    return shlex.split(line.split(":=", 1)[1])


def test_git_filter_is_declared_for_the_notebooks_with_the_strip_arguments():
    attributes = (paths.REPO_ROOT / ".gitattributes").read_text()
    assert "notebooks/*.ipynb filter=nbstripout" in attributes
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert "-m nbstripout $(STRIP_ARGS)" in makefile and "nbstripout $(STRIP_ARGS) notebooks" in makefile


def test_what_jupyterlab_writes_is_stripped_back_to_the_committed_notebook(tmp_path):
    """Open-run-save in Lab adds outputs, counts, language_info and execution timings; the
    filter must give back the committed bytes, cell ids included."""
    committed = NOTEBOOKS[0].read_text()
    nb = json.loads(committed)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
    code["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    edited = tmp_path / NOTEBOOKS[0].name
    edited.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    subprocess.run([sys.executable, "-m", "nbstripout", *_strip_args(), str(edited)], check=True)
    assert edited.read_text() == committed


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_and_reproduces_under_nbval(notebook, tmp_path, runs_dir):
    executed = run.execute(notebook, "smoke", output_dir=tmp_path, progress=False)
    outputs = json.loads(executed.output.read_text())
    assert any("NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in outputs["cells"]), \
        "each notebook checks at least its key numbers"
    figures = paths.figures_dir(notebook.stem, "smoke")
    assert figures.is_relative_to(runs_dir) and list(figures.glob("*.png"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--sanitize-with", str(SANITIZE),
         "-p", "no:cacheprovider", "-q", str(executed.output)],
        cwd=tmp_path, env=os.environ.copy(), capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.notebooks
def test_smoke_results_are_what_the_committed_code_produces(runs_dir):
    """The notebooks above wrote their smoke tables; they must match the committed
    fingerprint, so results that the code no longer produces cannot stay committed."""
    from unlearnlab import report

    if os.environ["UNLEARNLAB_DEVICE"] != "cpu":
        pytest.skip("the committed fingerprint is the CPU's; other devices give other last digits")
    committed = json.loads(report.FINGERPRINT_FILE.read_text())
    produced = report.results_fingerprint(paths.preset_dir("smoke") / "results")
    assert produced == committed["tables"], (
        "the smoke results differ from tests/smoke_results.json: if the change is intended, "
        "run `make fingerprint`, then `make reproduce` for the committed results and figures")
