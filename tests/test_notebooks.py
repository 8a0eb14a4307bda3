"""Every notebook runs at the smoke preset with papermill, then nbval re-executes the
run and checks that the cells marked ``# NBVAL_CHECK_OUTPUT`` reproduce exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearnlab import execute, lab, paths

NOTEBOOKS = execute.list_notebooks()
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
    assert 'PRESET = None  # type: Optional[str]' in "".join(first["source"])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_line_is_one_papermill_reads(notebook):
    """papermill skips a line it cannot parse (an "=" in the help text, for one): that
    parameter would silently lose its type check and its help."""
    import re

    nb = json.loads(notebook.read_text())
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assigned = [m.group(1) for line in "".join(first["source"]).splitlines()
                if (m := re.match(r"^(\w+)\s*=", line))]
    assert list(execute.notebook_parameters(notebook)) == assigned


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_are_what_stripping_gives(notebook):
    text = notebook.read_text()
    assert lab.stripped_text(text) == text


def test_git_filter_and_make_targets_strip_with_the_library():
    attributes = (paths.REPO_ROOT / ".gitattributes").read_text()
    assert "notebooks/*.ipynb filter=nbstripout diff=ipynb" in attributes
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert "STRIP := \"$(abspath $(PY))\" -m unlearnlab.lab strip" in makefile
    for use in ("filter.nbstripout.clean '$(STRIP)'", "diff.ipynb.textconv '$(STRIP) --textconv'",
                "unlearnlab.lab strip notebooks/*.ipynb", "pre_save_hook=unlearnlab.lab.strip_before_save"):
        assert use in makefile


def _as_lab_saves_it(text: str) -> dict:
    """What open-run-save in Lab adds: outputs (a widget among them), counts,
    language_info, widget state and execution timings."""
    nb = json.loads(text)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]},
                       {"output_type": "display_data", "metadata": {},
                        "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "a1"},
                                 "text/plain": ["HBox()"]}}]
    code["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    return nb


def test_what_jupyterlab_writes_is_stripped_back_to_the_committed_notebook(tmp_path):
    committed = NOTEBOOKS[0].read_text()
    edited = tmp_path / NOTEBOOKS[0].name
    edited.write_text(json.dumps(_as_lab_saves_it(committed), indent=1, ensure_ascii=False) + "\n")
    subprocess.run([sys.executable, "-m", "unlearnlab.lab", "strip", str(edited)], check=True)
    assert edited.read_text() == committed


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_saving_in_a_jupyter_server_leaves_git_status_clean(tmp_path):
    """A real Jupyter server with ``make lab``'s pre-save hook, sent the PUT that Lab's
    save sends, in a clone with ``make setup``'s git filter: the saved notebook is the
    committed one, byte for byte, and ``git status`` shows nothing."""
    import socket
    import time
    import urllib.request

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    notebook = repo / "notebooks" / NOTEBOOKS[0].name
    notebook.write_text(NOTEBOOKS[0].read_text())
    for name in (".gitattributes", ".gitignore"):
        (repo / name).write_text((paths.REPO_ROOT / name).read_text())
    strip = f'"{sys.executable}" -m unlearnlab.lab strip'
    _git(repo, "init", "-q")
    for key, value in (("filter.nbstripout.clean", strip), ("filter.nbstripout.smudge", "cat"),
                       ("diff.ipynb.textconv", f"{strip} --textconv"),
                       ("user.email", "t@example.org"), ("user.name", "t")):
        _git(repo, "config", key, value)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "notebook")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", f"--ServerApp.root_dir={repo}", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=t", "--no-browser", "--allow-root",
         "--FileContentsManager.pre_save_hook=unlearnlab.lab.strip_before_save"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/contents/notebooks/{notebook.name}"
    headers = {"Authorization": "token t", "Content-Type": "application/json"}
    try:
        for _ in range(120):
            try:
                model = json.load(urllib.request.urlopen(urllib.request.Request(url, headers=headers)))
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Jupyter server did not answer within 60 s")
        body = json.dumps({"type": "notebook", "format": "json",
                           "content": _as_lab_saves_it(json.dumps(model["content"]))}).encode()
        for target in (url, url.replace(f"notebooks/{notebook.name}", "scratch.ipynb")):
            urllib.request.urlopen(urllib.request.Request(target, data=body, method="PUT", headers=headers))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert notebook.read_text() == NOTEBOOKS[0].read_text()
    assert _git(repo, "status", "--porcelain") == "?? scratch.ipynb\n"
    scratch = json.loads((repo / "scratch.ipynb").read_text())  # outside notebooks/: kept as saved
    assert any(c.get("outputs") for c in scratch["cells"]) and "language_info" in scratch["metadata"]


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_and_reproduces_under_nbval(notebook, tmp_path, runs_dir):
    executed = execute.run_notebook(notebook, "smoke", output_dir=tmp_path, progress=False)
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
def test_every_figure_of_the_smoke_run_fits_a_page_in_the_method_palette(runs_dir):
    """The notebooks above drew every figure at smoke; each one's measurements (in its
    folder's provenance sidecar) show it at most 7 in wide, no text under 7 pt, and
    every method in the palette's colour for it."""
    from unlearnlab import captions, plots

    drawn = captions.committed_figures(runs_dir / "smoke" / "figures")
    assert {(notebook, figure) for notebook, figure, _, _ in drawn} == {
        (notebook.stem, figure) for notebook in NOTEBOOKS for figure in captions.CAPTIONS[notebook.stem]}
    problems = [f"{notebook}/{figure}: {problem}" for notebook, figure, _, record in drawn
                for problem in plots.figure_problems(record)]
    assert not problems, "\n".join(problems)


@pytest.mark.notebooks
def test_smoke_results_are_what_the_committed_code_produces(runs_dir):
    """The notebooks above wrote their smoke tables; every number must lie within its
    column's measured tolerance of the committed reference (tests/smoke_results.json,
    :mod:`unlearnlab.reference`), so results the code no longer produces cannot stay
    committed, on any CPU."""
    from unlearnlab import reference

    if os.environ["UNLEARNLAB_DEVICE"] != "cpu":
        pytest.skip("the reference and its tolerances are measured on CPUs")
    problems = reference.check(paths.preset_dir("smoke") / "results")
    assert not problems, (
        f"{len(problems)} smoke result(s) differ from tests/smoke_results.json beyond their "
        "tolerance:\n  " + "\n  ".join(problems[:40]) + "\nIf the change of results is intended, "
        "run `make smoke-reference`, then `make reproduce` for the committed results and figures")


@pytest.mark.notebooks
def test_paper_notebooks_record_a_verdict_on_every_claim_they_declare(runs_dir):
    """The smoke runs above recorded results/<notebook>-claims.json: one verdict per
    declared claim (the tuned variants only where a tuned setting exists), each with a
    status and every check and precondition measured."""
    from unlearnlab import claims

    for notebook in sorted({c.notebook for c in claims.CLAIMS.values()}):
        recorded = {v.claim: v for v in claims.load(claims.claims_path(notebook, "smoke"))}
        declared = {c.id for c in claims.of_notebook(notebook)}
        assert set(recorded) <= declared and {c for c in declared if not c.endswith("t")} <= set(recorded), notebook
        for verdict in recorded.values():
            claim = claims.CLAIMS[verdict.claim]
            assert verdict.status in claims.STATUSES
            assert [c["key"] for c in verdict.checks] == [t.key for t in claim.checks]
            assert [p["key"] for p in verdict.preconditions] == [t.key for t in claim.preconditions]
