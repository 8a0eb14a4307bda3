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
